//! Embeds the bundled catalogue (`../scenarios/*.toml`) and calibration set
//! (`../calibration/*.toml`) in the binary, so an installed `kasim` runs
//! them from any directory; and names the build: a
//! fingerprint of every source file of the model and the locked
//! dependencies (`KASIM_BUILD_ID`), so partial results of two builds that
//! both say "0.1.0" are not merged into a result that matches neither.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("..");
    let mut out = String::new();
    for (dir, name, what) in [
        ("scenarios", "CATALOGUE", "The bundled scenarios"),
        ("calibration", "CALIBRATION", "The bundled calibration set (`kasim calibrate` with no PATH)"),
    ] {
        out.push_str(&embed(&root.join(dir), name, what));
    }
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets it")).join("catalogue.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
    println!("cargo:rustc-env=KASIM_BUILD_ID={}", build_id());
}

/// A `const NAME: &[(&str, &str)]` of every `.toml` in `dir`: (file name, text).
fn embed(dir: &Path, name: &str, what: &str) -> String {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = format!("/// {what}: (file name, text).\npub const {name}: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let file = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let abs = f.canonicalize().unwrap_or_else(|_| f.clone());
        let _ = writeln!(out, "    ({file:?}, include_str!({:?})),", abs.display().to_string());
    }
    out.push_str("];\n");
    out
}

/// FNV-1a 64 over the relative path and bytes of every file of the crates
/// whose code makes the figures (sim, harness, reports: sources and
/// manifests), the catalogue and `Cargo.lock`, in sorted order.
fn build_id() -> String {
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("..");
    let mut files = Vec::new();
    for dir in ["sim/src", "harness/src", "reports/src", "scenarios"] {
        let d = root.join(dir);
        println!("cargo:rerun-if-changed={}", d.display());
        collect(&d, &mut files);
    }
    for f in ["Cargo.lock", "Cargo.toml", "sim/Cargo.toml", "harness/Cargo.toml", "reports/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
        files.push(root.join(f));
    }
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        feed(rel.to_string_lossy().as_bytes());
        feed(&[0]);
        feed(&std::fs::read(f).unwrap_or_default());
        feed(&[0]);
    }
    format!("{h:016x}")
}

/// Every file under `dir`, recursively.
fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}
