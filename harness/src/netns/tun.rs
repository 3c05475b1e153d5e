//! A TUN device: the one interface of a host's namespace, whose other end is
//! a file descriptor kasim reads and writes.
//!
//! The device is created from a thread that has entered the host's namespace,
//! so it exists only there (nothing is ever added to the root namespace); the
//! descriptor works from any thread afterwards. No packet-information prefix
//! (`IFF_NO_PI`): every read is one whole IP packet, every write one.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// `TUNSETIFF` = `_IOW('T', 202, int)` from `<linux/if_tun.h>`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// `struct ifreq` as `TUNSETIFF` reads it: a name and the flags.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// An open TUN device.
pub struct Tun {
    file: File,
}

impl Tun {
    /// Create the device `name` in the calling thread's network namespace,
    /// non-blocking.
    pub fn create(name: &str) -> io::Result<Tun> {
        let file =
            std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open("/dev/net/tun")?;
        let mut req = IfReq { name: [0; libc::IFNAMSIZ], flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short, _pad: [0; 22] };
        let n = name.len().min(libc::IFNAMSIZ - 1);
        req.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        // SAFETY: a valid fd and a properly sized, initialised ifreq for TUNSETIFF.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun { file })
    }

    /// The next packet the namespace sent, if one waits.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.file.read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hand a packet to the namespace's stack.
    pub fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.file.write_all(packet)
    }

    /// Its descriptor, for `poll`.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
