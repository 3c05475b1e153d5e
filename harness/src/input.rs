//! Reading files a user (or anyone) hands kasim: scenario files and partial
//! results. They are untrusted, so reading one must stay harmless: only
//! regular files are opened (a FIFO named `x.toml` would block a read for
//! ever, a link to `/dev/zero` would fill memory), each kind of file has a
//! size limit checked before and while reading, and text that is not UTF-8
//! is refused with the line and column where it stops being text.
//!
//! The file is opened non-blocking and then checked through its own handle
//! (`fstat`), so a file swapped for a FIFO between a check and the open
//! cannot block either.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// The largest scenario file read: 16 MiB (the bundled ones are 1-6 KiB; a
/// file of 40 000 `[[expect]]`s is 3.4 MiB).
pub const MAX_SCENARIO_BYTES: u64 = 16 << 20;

/// The largest partial result (`--shard`) read: 1 GiB (a million seeds of a
/// one-connection scenario are about 60 MB).
pub const MAX_PARTIAL_BYTES: u64 = 1 << 30;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing is there.
    NotFound,
    /// Something is there that is not a regular file (a FIFO, a device, a socket, a folder).
    NotRegular {
        /// What it is, in words ("a FIFO", "a character device", …).
        what: &'static str,
    },
    /// The file is larger than the limit for its kind.
    TooLarge {
        /// Its size in bytes (at least; a growing file is cut off at the limit).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Its bytes are not UTF-8 text from this 1-based line and column on.
    NotText {
        /// The line of the first byte that is not UTF-8.
        line: usize,
        /// Its column (characters before it on its line, plus one).
        column: usize,
    },
    /// The operating system refused (permissions, I/O).
    Io(std::io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotFound => f.write_str("no such file or folder"),
            ReadError::NotRegular { what } => write!(f, "is {what}, not a regular file; allowed: a file, or a folder of files"),
            ReadError::TooLarge { size, limit } => {
                write!(f, "is {size} bytes, more than the {limit} bytes a file of this kind may have")
            }
            ReadError::NotText { line, column } => {
                write!(f, "is not UTF-8 text from line {line}, column {column} on; allowed: UTF-8 text")
            }
            ReadError::Io(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// What a file that is not regular is, in words.
fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match () {
        _ if t.is_dir() => "a folder",
        _ if t.is_fifo() => "a FIFO",
        _ if t.is_char_device() => "a character device",
        _ if t.is_block_device() => "a block device",
        _ if t.is_socket() => "a socket",
        _ => "not a regular file",
    }
}

/// Is `path` (following links) a regular file? `Err` says what it is instead.
pub fn check_regular(path: &Path) -> Result<(), ReadError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(ReadError::NotRegular { what: kind_of(m.file_type()) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ReadError::NotFound),
        Err(e) => Err(ReadError::Io(e)),
    }
}

/// The text of the regular file at `path`, at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Io(e),
    })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular { what: kind_of(meta.file_type()) });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { size: meta.len(), limit });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte past the limit tells a file that grew while it was read.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { size: bytes.len() as u64, limit });
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let text = std::str::from_utf8(good).unwrap_or_default();
        let line_start = text.rfind('\n').map_or(0, |i| i + 1);
        ReadError::NotText { line: text.matches('\n').count() + 1, column: text[line_start..].chars().count() + 1 }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder, removed when dropped.
    fn dir() -> tempfile::TempDir {
        tempfile::Builder::new().prefix("kasim-input-").tempdir().unwrap()
    }

    #[test]
    fn a_fifo_and_a_device_are_refused_without_blocking_and_a_big_file_by_its_size() {
        let folder = dir();
        let d = folder.path();
        let fifo = d.join("x.toml");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(read_text(&fifo, 100), Err(ReadError::NotRegular { what: "a FIFO" })));
        assert_eq!(check_regular(&fifo).unwrap_err().to_string(), "is a FIFO, not a regular file; allowed: a file, or a folder of files");
        let zero = d.join("z.toml");
        let _ = std::fs::remove_file(&zero);
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(read_text(&zero, 100), Err(ReadError::NotRegular { what: "a character device" })));
        let big = d.join("big.toml");
        std::fs::write(&big, vec![b'#'; 101]).unwrap();
        assert!(matches!(read_text(&big, 100), Err(ReadError::TooLarge { size: 101, limit: 100 })));
        assert_eq!(read_text(&big, 101).unwrap().len(), 101);
        assert!(matches!(read_text(&d.join("none.toml"), 100), Err(ReadError::NotFound)));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_placed_by_line_and_column() {
        let folder = dir();
        let d = folder.path();
        let f = d.join("latin1.toml");
        // Line 2, after "é = " (4 characters): a lone 0xE9 (Latin-1 é).
        std::fs::write(&f, b"name = \"x\"\n\xc3\xa9 = \xe9\n").unwrap();
        let e = read_text(&f, 100).unwrap_err();
        assert!(matches!(e, ReadError::NotText { line: 2, column: 5 }), "{e:?}");
    }
}
