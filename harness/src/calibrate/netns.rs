//! Network namespaces, made and removed by this process only.
//!
//! Every namespace is named `kasim-cal-<pid>-<tag>`, so it cannot collide with
//! anyone else's; each is registered when created and deleted when dropped,
//! and [`remove_all`] (called on Ctrl-C) deletes whatever this process still
//! has. Namespaces are connected only to each other, with veth pairs created
//! inside them (never in the root namespace).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A command of the testbed failed.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// A command (`ip`, `nft`, `sysctl`, `tc`) ran and exited with a failure.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status, as the OS reports it.
        status: String,
        /// What it wrote on stderr, trimmed.
        stderr: String,
    },
    /// A command could not be started, fed its stdin, or waited for.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A thread could not enter a namespace (`setns`) to make its sockets there.
    #[error("cannot enter namespace {name}: {source}")]
    Enter {
        /// The namespace (`kasim-cal-<pid>-<tag>`).
        name: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A socket call of a case failed (bind, connect, accept, write, an option).
    #[error("socket: {0}")]
    Socket(#[from] std::io::Error),
}

/// Run a command to completion; its failure is an error with its stderr.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<(), TestbedError> {
    let command = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| TestbedError::Spawn { command: command.clone(), source })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(|source| TestbedError::Spawn { command: command.clone(), source })?;
    }
    let out = child.wait_with_output().map_err(|source| TestbedError::Spawn { command: command.clone(), source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestbedError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// One network namespace of ours.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Result<Netns, TestbedError> {
        let name = format!("kasim-cal-{}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name], None)?;
        CREATED.lock().unwrap_or_else(|e| e.into_inner()).push(name.clone());
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A namespace for a host whose socket table is read often (`--engine
    /// netns`). `/proc/net/tcp` walks the whole TCP hash table of its
    /// namespace, which every namespace made from the root shares: 262,144
    /// buckets here, 2.4 ms per read, 0.5 CPU-seconds a second for two hosts
    /// polled every 10 ms. A namespace made from inside one whose
    /// `tcp_child_ehash_entries` is set gets a table of its own that size
    /// (Linux 6.1+), and a read costs microseconds. So this process keeps one
    /// such mother namespace and makes each host from a thread that entered it
    /// (`unshare`, then a bind mount at `/run/netns/NAME`, as `ip netns add`
    /// does). Kernels without the sysctl get a plain namespace.
    pub fn new_small(tag: &str) -> Result<Netns, TestbedError> {
        let Some(mother) = mother()? else { return Netns::new(tag) };
        let name = format!("kasim-cal-{}-{tag}", std::process::id());
        let path = format!("/run/netns/{name}");
        let fail = |source: std::io::Error| TestbedError::Enter { name: name.clone(), source };
        std::fs::File::create(&path).map_err(fail)?;
        let made = Netns { name: mother.clone() }.enter_keep(|| {
            // SAFETY: unshare and mount on this thread with valid, NUL-terminated paths.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let source = std::ffi::CString::new("/proc/thread-self/ns/net").unwrap_or_default();
                let target = std::ffi::CString::new(path.clone()).unwrap_or_default();
                if libc::mount(source.as_ptr(), target.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        CREATED.lock().unwrap_or_else(|e| e.into_inner()).push(name.clone());
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// [`enter`](Self::enter) without deleting anything afterwards (for a
    /// `Netns` value made only to name a namespace someone else owns).
    fn enter_keep<T: Send>(self, f: impl FnOnce() -> std::io::Result<T> + Send) -> Result<T, TestbedError> {
        let r = self.enter(f);
        std::mem::forget(self);
        r
    }

    /// `ip -n <ns> ARGS…`
    pub fn ip(&self, args: &[&str]) -> Result<(), TestbedError> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all, None)
    }

    /// `ip netns exec <ns> PROGRAM ARGS…`
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<(), TestbedError> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all, None)
    }

    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), TestbedError> {
        self.exec("sysctl", &["-q", "-w", &format!("{key}={value}")])
    }

    /// Load an nftables script in this namespace.
    pub fn nft(&self, script: &str) -> Result<(), TestbedError> {
        run("ip", &["netns", "exec", &self.name, "nft", "-f", "-"], Some(script))
    }

    /// Drop every packet in and out: a silent power-off.
    pub fn vanish(&self) -> Result<(), TestbedError> {
        self.nft(
            "table inet kasim_vanish {\n chain in { type filter hook input priority -300; policy drop; }\n \
             chain out { type filter hook output priority -300; policy drop; }\n}\n",
        )
    }

    /// Undo [`vanish`](Self::vanish).
    pub fn reappear(&self) -> Result<(), TestbedError> {
        self.nft("delete table inet kasim_vanish\n")
    }

    /// Run `f` on a thread that has entered this namespace: sockets it creates
    /// belong to the namespace and may be used from any thread afterwards.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> std::io::Result<T> + Send) -> Result<T, TestbedError> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).map_err(|source| TestbedError::Enter { name: self.name.clone(), source })?;
                // SAFETY: setns on this thread only, with a valid namespace fd we hold open.
                let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
                if rc != 0 {
                    return Err(TestbedError::Enter { name: self.name.clone(), source: std::io::Error::last_os_error() });
                }
                Ok(f()?)
            })
            .join()
            .unwrap_or_else(|_| Err(TestbedError::Enter { name: self.name.clone(), source: std::io::Error::other("thread panicked") }))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name], None);
        CREATED.lock().unwrap_or_else(|e| e.into_inner()).retain(|n| n != &self.name);
    }
}

/// The name of this process's mother namespace (see [`Netns::new_small`]),
/// made on first use; `None` when the kernel has no `tcp_child_ehash_entries`.
fn mother() -> Result<Option<String>, TestbedError> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !Path::new("/proc/sys/net/ipv4/tcp_child_ehash_entries").exists() {
        return Ok(None);
    }
    let name = format!("kasim-cal-{}-mother", std::process::id());
    if Path::new(&format!("/run/netns/{name}")).exists() {
        return Ok(Some(name));
    }
    let ns = Netns::new("mother")?;
    ns.enter(|| std::fs::write("/proc/sys/net/ipv4/tcp_child_ehash_entries", "256"))?;
    let name = ns.name.clone();
    // Registered in CREATED: `remove_all` deletes it with the rest.
    std::mem::forget(ns);
    Ok(Some(name))
}

/// Delete every namespace this process still has (Ctrl-C).
pub fn remove_all() {
    let names: Vec<String> = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|e| e.into_inner()));
    for n in names {
        let _ = run("ip", &["netns", "del", &n], None);
    }
}

/// Delete the namespaces of earlier `kasim calibrate` processes that are gone
/// (a SIGKILL leaves them behind: `kasim-cal-<pid>-<tag>` whose pid no longer
/// runs); returns their names. A live process's namespaces are left alone.
pub fn reap_stale() -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return Vec::new() };
    let mut reaped = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name.strip_prefix("kasim-cal-").and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let gone = pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
        if gone && run("ip", &["netns", "del", name], None).is_ok() {
            reaped.push(name.to_string());
        }
    }
    reaped
}

/// Can this process make namespaces? (Root, and `ip` present.)
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root: network namespaces need CAP_SYS_ADMIN".into());
    }
    for tool in ["ip", "nft", "tc", "sysctl"] {
        if Command::new(tool).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err()
            && Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err()
        {
            return Err(format!("`{tool}` is not installed (apt-get install iproute2 nftables procps)"));
        }
    }
    let probe = Netns::new("probe").map_err(|e| format!("cannot create a network namespace: {e}"))?;
    drop(probe);
    Ok(())
}

/// Client — router — server, connected only to each other:
/// client eth0 10.200.1.2/24 ↔ router c0 10.200.1.1/24; router s0 10.200.2.1/24 ↔ server eth0 10.200.2.2/24.
pub struct Testbed {
    pub client: Netns,
    pub router: Netns,
    pub server: Netns,
}

pub const SERVER_ADDR: &str = "10.200.2.2";

impl Testbed {
    pub fn new(tag: &str) -> Result<Testbed, TestbedError> {
        let client = Netns::new(&format!("{tag}-c"))?;
        let router = Netns::new(&format!("{tag}-r"))?;
        let server = Netns::new(&format!("{tag}-s"))?;
        client.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "c0", "netns", &router.name])?;
        server.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "s0", "netns", &router.name])?;
        client.ip(&["addr", "add", "10.200.1.2/24", "dev", "eth0"])?;
        server.ip(&["addr", "add", "10.200.2.2/24", "dev", "eth0"])?;
        router.ip(&["addr", "add", "10.200.1.1/24", "dev", "c0"])?;
        router.ip(&["addr", "add", "10.200.2.1/24", "dev", "s0"])?;
        for (ns, dev) in [(&client, "eth0"), (&server, "eth0"), (&router, "c0"), (&router, "s0")] {
            ns.ip(&["link", "set", dev, "up"])?;
        }
        client.ip(&["route", "add", "default", "via", "10.200.1.1"])?;
        server.ip(&["route", "add", "default", "via", "10.200.2.1"])?;
        router.sysctl("net.ipv4.ip_forward", "1")?;
        Ok(Testbed { client, router, server })
    }
}
