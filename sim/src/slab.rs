//! The one way the engine's slabs (segments and payloads in flight, NAT
//! flows, connection places) take an item: into the most recently freed
//! slot, else onto the end. Freed slots are reused most recent first, as
//! they are the likeliest still in cache.

/// Put `item` into `items`, reusing a slot from `free` if there is one: its index.
#[inline(always)]
pub(crate) fn put<T>(items: &mut Vec<T>, free: &mut Vec<u32>, item: T) -> u32 {
    match free.pop() {
        Some(i) => {
            items[i as usize] = item;
            i
        }
        None => {
            items.push(item);
            (items.len() - 1) as u32
        }
    }
}
