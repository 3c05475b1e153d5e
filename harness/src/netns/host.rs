//! One real host: a network namespace whose only interface is a TUN device
//! kasim holds, its kernel's TCP settings, and the programs running in it.
//!
//! A host is made fresh for every run (and again when it reboots), so no
//! kernel state crosses runs: Linux caches a peer's RTT in `tcp_metrics`,
//! which would otherwise change how long the next run's retransmissions
//! take to give up. Programs are started directly inside the namespace
//! (`setns` before `exec`), in their own process group so a fault reaches
//! their children too, and with `PR_SET_PDEATHSIG` so that a killed kasim
//! takes them with it. Each line they print is stamped when it is read.

use super::judge::{parse_table, TableEntry};
use super::tun::Tun;
use super::NetnsError;
use crate::calibrate::netns::Netns;
use sim::tcp::TcpConfig;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// The interface name inside every host's namespace.
const TUN_NAME: &str = "kasim0";

/// A line a host's program printed, stamped when kasim read it.
#[derive(Debug)]
pub struct Line {
    /// The host (clients `0..n`, then the server, then the proxy).
    pub host: usize,
    /// The connection slot whose program printed it, when a client host
    /// runs one program per slot (`[client] connections` > 1).
    pub slot: Option<usize>,
    /// When it was read.
    pub at: std::time::Instant,
    /// The line, without its end of line.
    pub text: String,
}

struct Running {
    child: Child,
    argv0: String,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// The thread reading its stderr (finished once the pipe closes).
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

/// A namespace with its TUN device and its programs.
pub struct RealHost {
    ns: Netns,
    /// The host's end of the network.
    pub tun: Tun,
    holder: Child,
    programs: Vec<Running>,
}

/// The `/proc/sys` writes that make a namespace's stack the scenario's `[tcp]`.
fn sysctls(tcp: &TcpConfig) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("net/ipv4/tcp_retries2", tcp.retries2.to_string()),
        ("net/ipv4/tcp_syn_retries", tcp.syn_retries.to_string()),
        ("net/ipv4/tcp_synack_retries", tcp.synack_retries.to_string()),
        // Linux's default (3) enables the tail-loss probe; 0 turns it off.
        ("net/ipv4/tcp_early_retrans", if tcp.tail_loss_probe { "3" } else { "0" }.to_string()),
        ("net/ipv4/tcp_no_metrics_save", u8::from(tcp.no_metrics_save).to_string()),
        ("net/ipv6/conf/all/disable_ipv6", "1".to_string()),
    ];
    if std::path::Path::new("/proc/sys/net/ipv4/tcp_syn_linear_timeouts").exists() {
        v.push(("net/ipv4/tcp_syn_linear_timeouts", tcp.syn_linear_timeouts.to_string()));
    }
    v
}

fn spawn_in(ns: &Netns, argv: &[String], env: &[(String, String)], piped: bool, stdin: bool) -> Result<Child, NetnsError> {
    let path = format!("/run/netns/{}", ns.name);
    let ns_file = std::fs::File::open(&path).map_err(|source| NetnsError::Namespace { what: format!("open {path}"), source })?;
    let fd = ns_file.as_raw_fd();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdin(if stdin { Stdio::piped() } else { Stdio::null() });
    if piped {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 || libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| NetnsError::Spawn { program: argv[0].clone(), source });
    drop(ns_file);
    child
}

impl RealHost {
    /// A fresh namespace (`tag` in its name) with address `addr`, its TUN
    /// device as the only route, and the scenario's TCP settings.
    pub fn new(tag: &str, addr: Ipv4Addr, tcp: &TcpConfig) -> Result<RealHost, NetnsError> {
        let ns = Netns::new_small(tag).map_err(NetnsError::Testbed)?;
        let settings = sysctls(tcp);
        let tun = ns
            .enter(|| {
                for (key, value) in &settings {
                    std::fs::write(format!("/proc/sys/{key}"), value)?;
                }
                Tun::create(TUN_NAME)
            })
            .map_err(NetnsError::Testbed)?;
        let cidr = format!("{addr}/32");
        for args in [
            &["addr", "add", &cidr, "dev", TUN_NAME][..],
            &["link", "set", TUN_NAME, "up", "mtu", "1500"],
            &["route", "add", "default", "dev", TUN_NAME],
        ] {
            ns.ip(args).map_err(NetnsError::Testbed)?;
        }
        let holder = spawn_in(&ns, &["sleep".to_string(), "infinity".to_string()], &[], false, false)?;
        Ok(RealHost { ns, tun, holder, programs: Vec::new() })
    }

    /// Start a program in the namespace; its output lines go to `lines`.
    /// `stdin`: text written to its standard input, which is then closed (else /dev/null).
    pub fn spawn(
        &mut self,
        (host, slot): (usize, Option<usize>),
        argv: &[String],
        env: &[(String, String)],
        stdin: Option<&str>,
        lines: &Sender<Line>,
    ) -> Result<(), NetnsError> {
        let mut child = spawn_in(&self.ns, argv, env, true, stdin.is_some())?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let text = text.to_string();
            // A thread: a large text must not block the run while the program starts.
            std::thread::spawn(move || {
                let _ = std::io::Write::write_all(&mut pipe, text.as_bytes());
            });
        }
        let stderr_tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let out = child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        let err = child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        let mut stderr_reader = None;
        for (stream, tail) in [(out, None), (err, Some(stderr_tail.clone()))] {
            let Some(stream) = stream else { continue };
            let tx = lines.clone();
            let is_stderr = tail.is_some();
            let reader = std::thread::spawn(move || {
                for text in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(tail) = &tail {
                        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                        if t.len() == 10 {
                            t.pop_front();
                        }
                        t.push_back(text.clone());
                    }
                    if tx.send(Line { host, slot, at: std::time::Instant::now(), text }).is_err() {
                        break;
                    }
                }
            });
            if is_stderr {
                stderr_reader = Some(reader);
            }
        }
        self.programs.push(Running { child, argv0: argv[0].clone(), stderr_tail, stderr_reader });
        Ok(())
    }

    fn signal_all(&self, signal: libc::c_int) {
        for p in &self.programs {
            // SAFETY: a signal to the process group we made for the child.
            unsafe {
                libc::kill(-(p.child.id() as i32), signal);
            }
        }
    }

    /// Freeze the programs (a vanished or suspended host).
    pub fn stop(&self) {
        self.signal_all(libc::SIGSTOP);
    }

    /// Ask them to end (SIGTERM): kasim's agent then prints what it kept.
    pub fn terminate(&self) {
        self.signal_all(libc::SIGTERM);
    }

    /// Let them run again.
    pub fn resume(&self) {
        self.signal_all(libc::SIGCONT);
    }

    /// Kill every program (a crash, a reboot, the end of the run).
    pub fn kill(&mut self) {
        self.signal_all(libc::SIGKILL);
        for mut p in self.programs.drain(..) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// Programs that have exited since the last call: their name, status and
    /// the last lines of their stderr.
    pub fn exited(&mut self) -> Vec<(String, String, Vec<String>)> {
        let mut gone = Vec::new();
        self.programs.retain_mut(|p| match p.child.try_wait() {
            Ok(Some(status)) => {
                // Its last words may still be in the pipe: give the reader up to 200 ms
                // (a child it left behind may hold the pipe open for longer).
                let waited = std::time::Instant::now();
                while p.stderr_reader.as_ref().is_some_and(|r| !r.is_finished()) && waited.elapsed() < std::time::Duration::from_millis(200)
                {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                let tail = p.stderr_tail.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
                gone.push((p.argv0.clone(), status.to_string(), tail));
                false
            }
            _ => true,
        });
        gone
    }

    /// The namespace's TCP sockets now.
    pub fn table(&self) -> Vec<TableEntry> {
        self.read_table("tcp")
    }

    /// The namespace's UDP sockets now (the same format; no connection states).
    pub fn udp_table(&self) -> Vec<TableEntry> {
        self.read_table("udp")
    }

    fn read_table(&self, proto: &str) -> Vec<TableEntry> {
        std::fs::read_to_string(format!("/proc/{}/net/{proto}", self.holder.id())).map(|t| parse_table(&t)).unwrap_or_default()
    }
}

impl Drop for RealHost {
    fn drop(&mut self) {
        self.kill();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
