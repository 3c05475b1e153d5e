//! kasim's own program for the built-in strategy kinds on real sockets
//! (`kasim agent`, a hidden subcommand of the same binary).
//!
//! Under `--engine netns` a scenario's `tcp_keepalive` or `none` strategy
//! runs as this program in each host's namespace: the client connects to the
//! server, the server accepts, and each side whose strategy asks for it sets
//! `SO_KEEPALIVE`/`TCP_KEEPIDLE`/`TCP_KEEPINTVL`/`TCP_KEEPCNT` and
//! `TCP_USER_TIMEOUT` on its socket, exactly the options the event engine's
//! model applies. Then each side blocks in `read`, as an idle application
//! does, and reports the socket error that ends it (`ETIMEDOUT`,
//! `ECONNRESET`, `EOF`: the names the event engine gives) on stdout as
//! `kasim-agent: dead CAUSE`. That line is the agent's declaration.

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use std::io::Read;
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

/// What the agent prints when its side declares the peer dead.
pub const DEAD: &str = "kasim-agent: dead ";

/// The socket options one side applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketPolicy {
    /// `SO_KEEPALIVE` with idle, interval and count.
    pub keepalive: Option<(Duration, Duration, u32)>,
    /// `TCP_USER_TIMEOUT`.
    pub user_timeout: Option<Duration>,
}

impl SocketPolicy {
    /// As command-line arguments of `kasim agent`.
    pub fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some((idle, interval, count)) = self.keepalive {
            a.extend(["--keepalive".to_string(), format!("{},{},{}", idle.as_secs(), interval.as_secs(), count)]);
        }
        if let Some(t) = self.user_timeout {
            a.extend(["--user-timeout-ms".to_string(), t.as_millis().to_string()]);
        }
        a
    }

    fn apply(&self, socket: &SockRef<'_>) -> std::io::Result<()> {
        if let Some((idle, interval, count)) = self.keepalive {
            socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle).with_interval(interval).with_retries(count))?;
        }
        if let Some(t) = self.user_timeout {
            socket.set_tcp_user_timeout(Some(t))?;
        }
        Ok(())
    }
}

/// The flags of `kasim agent`.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// `client ADDR:PORT` connects there; `server PORT` listens.
    #[arg(value_parser = ["client", "server"])]
    pub role: String,
    /// The server's address and port (client), or the port to listen on (server).
    pub target: String,
    /// SO_KEEPALIVE: "IDLE,INTERVAL,COUNT" in seconds.
    #[arg(long)]
    pub keepalive: Option<String>,
    /// TCP_USER_TIMEOUT in milliseconds.
    #[arg(long)]
    pub user_timeout_ms: Option<u64>,
}

fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ETIMEDOUT) => "ETIMEDOUT".into(),
        Some(libc::ECONNRESET) => "ECONNRESET".into(),
        Some(libc::EPIPE) => "EPIPE".into(),
        Some(libc::ECONNREFUSED) => "ECONNREFUSED".into(),
        Some(libc::EHOSTUNREACH) => "EHOSTUNREACH".into(),
        _ => e.to_string(),
    }
}

/// Block reading until the connection ends; say how.
fn hold(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    let cause = loop {
        match stream.read(&mut buf) {
            Ok(0) => break "EOF".to_string(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break errno_name(&e),
        }
    };
    println!("{DEAD}{cause}");
}

/// Run the agent; the exit code: 0 after a declaration, 1 when it could not start.
pub fn run(args: &AgentArgs) -> std::process::ExitCode {
    let mut policy = SocketPolicy::default();
    if let Some(k) = &args.keepalive {
        let v: Vec<u64> = k.split(',').filter_map(|x| x.parse().ok()).collect();
        if let [idle, interval, count] = v[..] {
            policy.keepalive = Some((Duration::from_secs(idle), Duration::from_secs(interval), count as u32));
        }
    }
    policy.user_timeout = args.user_timeout_ms.map(Duration::from_millis);
    let fail = |what: &str, e: std::io::Error| {
        eprintln!("kasim-agent: {what}: {e}");
        std::process::ExitCode::from(1)
    };
    if args.role == "client" {
        let Ok(addr) = args.target.parse::<SocketAddrV4>() else {
            return fail("bad address", std::io::Error::other(args.target.clone()));
        };
        let socket = match Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)) {
            Ok(s) => s,
            Err(e) => return fail("socket", e),
        };
        // Options first, as the model sets them before the handshake.
        if let Err(e) = policy.apply(&SockRef::from(&socket)) {
            return fail("socket options", e);
        }
        if let Err(e) = socket.connect(&SocketAddr::V4(addr).into()) {
            println!("{DEAD}{}", errno_name(&e));
            return std::process::ExitCode::SUCCESS;
        }
        hold(socket.into());
        return std::process::ExitCode::SUCCESS;
    }
    let Ok(port) = args.target.parse::<u16>() else {
        return fail("bad port", std::io::Error::other(args.target.clone()));
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => return fail("listen", e),
    };
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = policy.apply(&SockRef::from(&stream)) {
                    eprintln!("kasim-agent: socket options: {e}");
                }
                std::thread::spawn(move || hold(stream));
            }
            Err(e) => return fail("accept", e),
        }
    }
}
