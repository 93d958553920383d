//! A NAS whose address sits on a bridge (Unraid's br0, Proxmox's vmbr0) while the monitor
//! captures the physical port under it: the bridge's global addresses are the NAS's own and must
//! count as local (`AUTO_LOCAL_PREFIXES`), although the captured port has no address of its own
//! (root: network namespaces, a real Linux bridge).

use std::fs::File;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::TempDir;
use crate::support::netns::{Netns, clear_monitor_settings, ip, terminate};

fn a_bridge_port_takes_the_bridges_own_prefixes_as_local() {
    let mut lab = Netns::new("bridge");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));
    ip(&["-n", &b, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &b, "link", "set", "vb", "master", "br0"]);
    ip(&["-n", &b, "link", "set", "br0", "up"]);
    ip(&["-n", &b, "addr", "add", "203.0.113.50/24", "dev", "br0"]);

    let dir = TempDir::new("bridge");
    let log = dir.path().join("monitor.log");
    let mut command = lab.exec(&b, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    clear_monitor_settings(&mut command)
        .arg("run")
        .env("MONITOR_IFACE", "vb")
        .env("TZ", "UTC")
        .env("DB_PATH", dir.path().join("traffic.redb"))
        .env("AUTO_LOCAL_PREFIXES", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"));
    let mut child = command.spawn().expect("start the monitor");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = Instant::now();
    let wanted = "own prefixes count as local: 203.0.113.50/32";
    while !read_log().contains(wanted) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the monitor exited ({status}): {}", read_log());
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("no {wanted:?} within 20 s: {}", read_log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    terminate(&mut child, read_log);
}

tests! {
    #[needs(Netns, Tool("kill"))]
    a_bridge_port_takes_the_bridges_own_prefixes_as_local,
}
