//! What runs in each host: a `program` strategy's command lines with their
//! placeholders filled in, or kasim's own agent (which gets the scenario's
//! text on stdin; it is also the client of a program strategy that names
//! only a server); and which printed lines are declarations. Behind a
//! `[proxy]`, the proxy host runs the strategy's `proxy` command line, or
//! else the agent's relay, which runs the event engine's proxy model.

use super::{agent, NetnsConfig, NetnsError, PORT};
use crate::scenario::Scenario;
use crate::strategy::{StrategyKind, StrategySpec};
use sim::packet::addr;

/// What runs in the hosts, with placeholders filled in.
pub(super) struct Programs {
    /// A client program's command line per client host, or else an agent
    /// per connection slot (client host `slot / connections`).
    pub(super) client: Vec<Vec<String>>,
    pub(super) server: Vec<String>,
    /// The proxy host's, when the scenario has a `[proxy]`.
    pub(super) proxy: Option<Vec<String>>,
    pub(super) env: Vec<(String, String)>,
    /// A line matching it is a declaration; its cause is the line (the
    /// agent's: the cause after its prefix).
    declare: Option<regex::Regex>,
    /// The agent's stdin (the scenario's text) when it runs the hosts.
    agent_input: Option<String>,
}

impl Programs {
    pub(super) fn of(scenario: &Scenario, strategy: &StrategySpec, seed: u64, cfg: &NetnsConfig) -> Result<Programs, NetnsError> {
        let server_ip = addr::SERVER.ip().to_string();
        let backend_ip = addr::BACKEND.ip().to_string();
        let fill = |argv: &[String], client: u32| -> Vec<String> {
            argv.iter()
                .map(|a| {
                    a.replace("{server}", &server_ip)
                        .replace("{backend}", &backend_ip)
                        .replace("{port}", &PORT.to_string())
                        .replace("{client}", &client.to_string())
                        .replace("{seed}", &seed.to_string())
                })
                .collect()
        };
        let agent = |role: &str, target: String, slot: u32| -> Vec<String> {
            let mut argv = vec![cfg.agent.display().to_string(), "agent".into(), role.into(), target];
            argv.extend(["--strategy".into(), strategy.name.clone(), "--seed".into(), seed.to_string(), "--slot".into(), slot.to_string()]);
            argv
        };
        let port = super::service_port(strategy);
        let agent_server = || agent("server", port.to_string(), 0);
        let agent_proxy = || scenario.proxy().is_some().then(|| agent("proxy", addr::BACKEND.to_string(), 0));
        let per_host = scenario.connections;
        let client_agent = |slot: u32| {
            let mut argv = agent("client", std::net::SocketAddrV4::new(*addr::SERVER.ip(), port).to_string(), slot);
            if per_host > 1 {
                // The slot's own source ports, which tell the judge its connections apart.
                argv.extend(["--port-base".into(), agent::port_base(slot % per_host).to_string()]);
            }
            argv
        };
        if let StrategyKind::Program { client, server, proxy, declare, env, .. } = &strategy.kind() {
            return Ok(Programs {
                client: match client {
                    Some(client) => (0..scenario.clients).map(|i| fill(client, i)).collect(),
                    // The agent as a server program's client, one per slot.
                    None => (0..scenario.clients * per_host).map(client_agent).collect(),
                },
                server: server.as_ref().map_or_else(agent_server, |s| fill(s, 0)),
                proxy: match proxy {
                    Some(p) if scenario.proxy().is_some() => Some(fill(p, 0)),
                    _ => agent_proxy(),
                },
                env: env.clone(),
                declare: declare.as_deref().map(regex::Regex::new).transpose()?,
                agent_input: Some(scenario_text(scenario)?),
            });
        }
        Ok(Programs {
            client: (0..scenario.clients * per_host).map(client_agent).collect(),
            server: agent_server(),
            proxy: agent_proxy(),
            env: Vec::new(),
            declare: None,
            agent_input: Some(scenario_text(scenario)?),
        })
    }

    /// What to write on a host's program's stdin: the scenario, for the agent.
    pub(super) fn stdin_of(&self, argv: &[String], cfg: &NetnsConfig) -> Option<&str> {
        let is_agent = argv.first().is_some_and(|p| *p == cfg.agent.display().to_string()) && argv.get(1).is_some_and(|a| a == "agent");
        self.agent_input.as_deref().filter(|_| is_agent)
    }

    /// The declaration a line makes, if any.
    pub(super) fn declaration(&self, line: &str) -> Option<String> {
        if let Some(cause) = line.strip_prefix(agent::DEAD) {
            return Some(cause.trim().to_string());
        }
        if line.starts_with("kasim-agent: ") {
            return None;
        }
        self.declare.as_ref().filter(|re| re.is_match(line)).map(|_| line.trim().to_string())
    }
}

/// The scenario's text, for the agent (a bundled scenario's from the binary).
fn scenario_text(s: &Scenario) -> Result<String, NetnsError> {
    crate::catalogue::source_text(&s.path)
        .map_err(|e| NetnsError::Namespace { what: format!("read {}", s.path.display()), source: std::io::Error::other(e.to_string()) })
}
