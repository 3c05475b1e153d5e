//! A namespace's socket table, as `/proc/<pid>/net/tcp` prints it: how the
//! judge sees a socket leave ESTABLISHED.

use std::net::SocketAddrV4;

/// A socket of a namespace's table, as `/proc/net/tcp` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableEntry {
    /// Its local address and port.
    pub local: SocketAddrV4,
    /// Its peer's.
    pub remote: SocketAddrV4,
    /// Linux's TCP state number (1 = ESTABLISHED).
    pub state: u8,
}

/// Linux's number for ESTABLISHED in `/proc/net/tcp`.
pub const ESTABLISHED: u8 = 1;

/// Parse `/proc/<pid>/net/tcp` (addresses as the kernel prints a `__be32`
/// with `%08X` on a little-endian machine, ports in host order).
pub fn parse_table(text: &str) -> Vec<TableEntry> {
    let addr = |s: &str| -> Option<SocketAddrV4> {
        let (ip, port) = s.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(SocketAddrV4::new(ip.to_le_bytes().into(), port))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace().skip(1);
            let local = addr(f.next()?)?;
            let remote = addr(f.next()?)?;
            let state = u8::from_str_radix(f.next()?, 16).ok()?;
            Some(TableEntry { local, remote, state })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proc_table_is_read_as_the_kernel_prints_it() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
                    0: 020012C6:9C40 0A7100CB:1F40 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0\n";
        let e = parse_table(text);
        assert_eq!(
            e,
            vec![TableEntry {
                local: "198.18.0.2:40000".parse().unwrap(),
                remote: "203.0.113.10:8000".parse().unwrap(),
                state: ESTABLISHED
            }]
        );
    }
}
