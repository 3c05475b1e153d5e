//! `kasim replay --pcap` read back by tshark: the packet count, the SYN, FIN
//! and RST flags, the keepalive probes (Wireshark's own "TCP Keep-Alive"
//! analysis) and every checksum must agree with the simulator's trace.
//! tshark comes from Debian's packages, so the test is ignored by a plain
//! `cargo test`; `.ci/run` installs tshark and runs it with `--include-ignored`.

mod common;

use sim::packet::{Flags, SegmentKind};
use std::path::Path;
use std::process::Command;

const SCENARIO: &str = r#"
name = "pcap"
horizon = "2h"
[client.link]
delay = "5ms"
[nat]
idle_timeout = "10m"
on_expired = "drop"
[[traffic]]
kind = "requests"
from = "client"
every = "7m"
size = "3000B"
reply = "200B"
[[fault]]
kind = "crash"
target = "server"
at = "30m"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
sides = ["client"]
idle = "60s"
interval = "10s"
count = 3
"#;

fn tshark(args: &[&str]) -> Option<String> {
    let out = Command::new("tshark").args(args).output().ok()?;
    assert!(out.status.success(), "tshark {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).to_string())
}

#[test]
#[ignore = "needs tshark: cargo test -- --include-ignored (as .ci/run does, after installing it)"]
fn tshark_reads_the_pcap_and_agrees_with_the_trace() {
    assert!(Command::new("tshark").arg("--version").output().is_ok(), "tshark is not installed (apt-get install tshark; .ci/run does)");
    let dir = common::temp_folder("pcap", "tcp");
    let scenario = dir.join("pcap.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let pcap = dir.join("run.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_kasim"))
        .args(["replay", scenario.to_str().unwrap(), "--strategy", "ka", "--seed", "0", "--pcap", pcap.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The same run, from the library: what the trace says went on the wire.
    let s = harness::scenario::parse(Path::new("pcap.toml"), SCENARIO).unwrap();
    let r = harness::runner::run_one(&s, &s.strategies[0], 0, true);
    let wire = reports::pcap::wire_packets(&r.outcome.trace);
    let count = |f: &dyn Fn(&sim::packet::Segment) -> bool| wire.iter().filter(|(_, s)| f(s)).count();
    let syn = count(&|s| s.flags.contains(Flags::SYN));
    let fin = count(&|s| s.flags.contains(Flags::FIN));
    let rst = count(&|s| s.flags.contains(Flags::RST));
    let probes = count(&|s| s.kind == SegmentKind::KeepaliveProbe);
    // The faults and features under test did happen.
    assert!(syn == 4 && fin >= 2 && rst >= 2 && probes >= 10, "syn {syn} fin {fin} rst {rst} probes {probes}");

    let p = pcap.to_str().unwrap();
    let fields = tshark(&["-r", p, "-T", "fields", "-e", "tcp.flags.syn", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset"]).unwrap();
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('\t').collect()).collect();
    let set = |i: usize| rows.iter().filter(|r| matches!(r[i], "1" | "True")).count();
    assert_eq!(rows.len(), wire.len(), "packet count");
    assert_eq!((set(0), set(1), set(2)), (syn, fin, rst), "SYN, FIN, RST");
    let ka = tshark(&["-r", p, "-Y", "tcp.analysis.keep_alive"]).unwrap();
    assert_eq!(ka.lines().count(), probes, "keepalive probes as Wireshark sees them");
    let bad = tshark(&[
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-r",
        p,
        "-Y",
        "tcp.checksum.status == 0 || ip.checksum.status == 0 || _ws.malformed",
    ])
    .unwrap();
    assert_eq!(bad.lines().count(), 0, "bad checksums or malformed packets:\n{bad}");
    // The model has no SACK, so no SYN may offer it.
    let sack = tshark(&["-r", p, "-Y", "tcp.options.sack_perm"]).unwrap();
    assert_eq!(sack.lines().count(), 0, "SYNs offering SACK:\n{sack}");
    // Wireshark decodes the server's port as plain TCP: on 443 it read the
    // stand-in payloads as broken TLS ("SSL" in its protocol column).
    let protocols = tshark(&["-r", p, "-T", "fields", "-e", "_ws.col.Protocol"]).unwrap();
    let not_tcp: Vec<&str> = protocols.lines().filter(|l| *l != "TCP").collect();
    assert!(not_tcp.is_empty(), "{} packets decoded as something else, first {:?}", not_tcp.len(), not_tcp.first());
    // The NAT's public address shows on the server side: exactly the packets
    // the trace has leaving the NAT translated (and there are some).
    let translated = count(&|s| *s.src.ip() == std::net::Ipv4Addr::new(198, 51, 100, 1));
    let outside = tshark(&["-r", p, "-Y", "ip.src == 198.51.100.1"]).unwrap();
    assert!(translated > 0);
    assert_eq!(outside.lines().count(), translated, "packets from the NAT's public address");
}

const QUIC_SCENARIO: &str = r#"
name = "pcap-quic"
horizon = "10m"
[client.link]
delay = "5ms"
[nat]
idle_timeout = "10m"
on_expired = "new_port"
udp_idle_timeout = "30s"
[[traffic]]
kind = "requests"
from = "client"
every = "2m"
size = "3000B"
reply = "200B"
[[strategy]]
name = "quic"
kind = "quic"
keep_alive_interval = "0s"
max_idle_timeout = "5m"
"#;

#[test]
#[ignore = "needs tshark: cargo test -- --include-ignored (as .ci/run does, after installing it)"]
fn tshark_reads_quic_datagrams_as_udp_on_their_ports() {
    let dir = common::temp_folder("pcap", "quic");
    let scenario = dir.join("pcap-quic.toml");
    std::fs::write(&scenario, QUIC_SCENARIO).unwrap();
    let pcap = dir.join("run.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_kasim"))
        .args(["replay", scenario.to_str().unwrap(), "--strategy", "quic", "--seed", "0", "--pcap", pcap.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = harness::scenario::parse(Path::new("pcap-quic.toml"), QUIC_SCENARIO).unwrap();
    let r = harness::runner::run_one(&s, &s.strategies[0], 0, true);
    let wire = reports::pcap::wire_packets(&r.outcome.trace);
    // Each 2-minute gap outlives the 30 s mapping: new public ports appear.
    let public_ports: std::collections::BTreeSet<u16> =
        wire.iter().filter(|(_, s)| *s.src.ip() == sim::packet::addr::NAT_PUBLIC_IP).map(|(_, s)| s.src.port()).collect();
    assert!(public_ports.len() >= 3, "rebindings to new ports: {public_ports:?}");

    let p = pcap.to_str().unwrap();
    let fields =
        tshark(&["-r", p, "--disable-protocol", "quic", "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length"])
            .unwrap();
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), wire.len(), "packet count");
    for ((_, seg), row) in wire.iter().zip(&rows) {
        assert_eq!(row[..], [seg.src.port().to_string(), seg.dst.port().to_string(), (seg.len + 8).to_string()][..], "{seg}");
    }
    let bad = tshark(&[
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "--disable-protocol",
        "quic",
        "-r",
        p,
        "-Y",
        "udp.checksum.status == 0 || ip.checksum.status == 0 || _ws.malformed || !udp",
    ])
    .unwrap();
    assert_eq!(bad.lines().count(), 0, "bad checksums, malformed or non-UDP packets:\n{bad}");
}
