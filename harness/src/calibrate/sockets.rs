//! The real side of a calibration case: a client socket with the options the
//! case sets, and what it reads back from the kernel (an errno and when, a
//! RST seen through TCP_INFO, bytes delivered), each timed from the case's
//! reference instant.

use super::netns::SERVER_ADDR;
use super::Measured;
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A client socket to the testbed's server (port 5000), with kernel keepalive
/// 2 s / 1 s / 3 when asked, and TCP_USER_TIMEOUT when given.
pub(super) fn connect(keepalive: bool, user_timeout: Option<Duration>) -> std::io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_tcp_nodelay(true)?;
    if keepalive {
        s.set_keepalive(true)?;
        s.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(2)).with_interval(Duration::from_secs(1)).with_retries(3))?;
    }
    if let Some(ut) = user_timeout {
        s.set_tcp_user_timeout(Some(ut))?;
    }
    let addr: SocketAddr = format!("{SERVER_ADDR}:5000").parse().expect("a valid address");
    s.connect(&addr.into())?;
    // A safety net: no case waits more than a minute.
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    Ok(s.into())
}

/// Read until the socket fails; the error's name and when, after `t0`.
pub(super) fn wait_error(stream: &mut TcpStream, t0: Instant) -> Measured {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Measured { seconds: t0.elapsed().as_secs_f64(), outcome: "EOF".into() },
            Ok(_) => continue,
            // A signal interrupted the read. With SO_RCVTIMEO set the kernel
            // never restarts it (signal(7)), even under SA_RESTART; seen once
            // in 30 repetitions of the retries2 case. The connection is fine.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                let seconds = t0.elapsed().as_secs_f64();
                let outcome = match e.raw_os_error() {
                    Some(libc::ETIMEDOUT) => "ETIMEDOUT".to_string(),
                    Some(libc::ECONNRESET) => "ECONNRESET".to_string(),
                    _ if e.kind() == ErrorKind::WouldBlock => "no error within 60 s".to_string(),
                    _ => e.to_string(),
                };
                return Measured { seconds, outcome };
            }
        }
    }
}

/// Wait (without reading: the FIN already made a read return 0) until the
/// socket leaves CLOSE_WAIT for CLOSE, which only a RST does; when, after `t0`.
pub(super) fn wait_reset(stream: &TcpStream, t0: Instant) -> Measured {
    use std::os::fd::AsRawFd;
    while t0.elapsed() < Duration::from_secs(5) {
        let state = match tcp_state(stream.as_raw_fd()) {
            Ok(state) => state,
            Err(e) => return Measured { seconds: t0.elapsed().as_secs_f64(), outcome: e.to_string() },
        };
        if state == TCP_CLOSE {
            return Measured { seconds: t0.elapsed().as_secs_f64(), outcome: "RST".into() };
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Measured { seconds: t0.elapsed().as_secs_f64(), outcome: "no RST".into() }
}

/// The kernel's `enum tcp_state` (include/net/tcp_states.h), as far as the cases read it.
pub(super) const TCP_ESTABLISHED: u8 = 1;
pub(super) const TCP_CLOSE: u8 = 7;
pub(super) const TCP_CLOSE_WAIT: u8 = 8;

/// A socket's TCP_INFO.
pub(super) fn tcp_info(fd: std::os::fd::RawFd) -> std::io::Result<libc::tcp_info> {
    // SAFETY: TCP_INFO fills at most `len` bytes of a zeroed `tcp_info`.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, (&mut info as *mut libc::tcp_info).cast(), &mut len);
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(info)
    }
}

/// A socket's TCP state from TCP_INFO.
pub(super) fn tcp_state(fd: std::os::fd::RawFd) -> std::io::Result<u8> {
    Ok(tcp_info(fd)?.tcpi_state)
}

/// Has the socket connected (TCP_INFO state ESTABLISHED, or CLOSE_WAIT past it)?
pub(super) fn established(fd: std::os::fd::RawFd) -> std::io::Result<bool> {
    Ok(matches!(tcp_state(fd)?, TCP_ESTABLISHED | TCP_CLOSE_WAIT))
}

/// Read `n` bytes; when the last arrived, after `t0`.
pub(super) fn read_exactly(stream: &mut TcpStream, n: usize, t0: Instant) -> Measured {
    let mut buf = vec![0u8; n];
    match stream.read_exact(&mut buf) {
        Ok(()) => Measured { seconds: t0.elapsed().as_secs_f64(), outcome: "delivered".into() },
        Err(e) => Measured { seconds: t0.elapsed().as_secs_f64(), outcome: format!("not delivered ({e})") },
    }
}
