//! The ways README tells a NAS owner to run the monitor without Docker, checked for real:
//! the systemd unit in `packaging/` passes `systemd-analyze verify`, and the `setcap` route — a
//! plain binary with `cap_net_raw,cap_net_admin+eip` started by an unprivileged user — captures
//! and stores traffic (root: network namespaces, setcap, setpriv).

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::store::{Scope, Store};

use crate::support::netns::{Netns, clear_monitor_settings, run, run_ok, terminate};
use crate::support::{
    ETHERTYPE_IPV4, PCAP_MAGIC_MICROSECONDS, PcapWriter, TempDir, eth, ipv4_packet,
};

/// The user `nobody` on Debian.
const NOBODY: &str = "65534";

fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/nettraffic-sentinel.service"),
    )
    .expect("packaging/nettraffic-sentinel.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/nettraffic-sentinel run"));
    assert!(unit.contains("AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN"));
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = TempDir::new("unit");
    let unit = unit.replace(
        "/usr/local/bin/nettraffic-sentinel",
        env!("CARGO_BIN_EXE_nettraffic-sentinel"),
    );
    let path = dir.write("nettraffic-sentinel.service", unit.as_bytes());
    let output = run(
        Command::new("systemd-analyze").arg("verify").arg(&path),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "systemd-analyze verify: {stderr}");
    assert!(
        !stderr.contains(&*path.to_string_lossy()),
        "no warnings about the unit: {stderr}"
    );
}

fn a_setcap_binary_captures_as_an_unprivileged_user() {
    let mut lab = Netns::new("setcap");
    let a = lab.add("a");
    let b = lab.add("b");
    lab.veth((&a, "va"), (&b, "vb"));

    // The binary and its data where `nobody` may read and write; the capabilities on the file.
    let dir = TempDir::new("setcap");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let binary = dir.path().join("nettraffic-sentinel");
    std::fs::copy(env!("CARGO_BIN_EXE_nettraffic-sentinel"), &binary).expect("copy the binary");
    run_ok(
        Command::new("setcap")
            .arg("cap_net_raw,cap_net_admin+eip")
            .arg(&binary),
        Duration::from_secs(10),
    );
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    run_ok(
        Command::new("chown").arg(NOBODY).arg(&data),
        Duration::from_secs(10),
    );
    let db = data.join("traffic.redb");

    // 40 frames of IP length 600 to an "internet" peer (up) and 20 of 1,200 from one (down).
    let up_frame = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("192.168.7.2", "203.0.113.20", 580),
    );
    let down_frame = eth(
        ETHERTYPE_IPV4,
        &ipv4_packet("198.51.100.30", "192.168.7.2", 1180),
    );
    let mut writer = PcapWriter::new(PCAP_MAGIC_MICROSECONDS, false, 1);
    for i in 0..60u32 {
        let frame = if i % 3 == 2 { &down_frame } else { &up_frame };
        writer = writer.record(1_700_000_000, i, frame.len() as u32, frame);
    }
    let capture = dir.write("flow.pcap", &writer.finish());

    let log = dir.path().join("monitor.log");
    let mut command = lab.exec(&b, "setpriv");
    clear_monitor_settings(&mut command)
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(&binary)
        .arg("run")
        .env("MONITOR_IFACE", "vb")
        .env("TZ", "UTC")
        .env("DB_PATH", &db)
        .env("SAVE_INTERVAL", "3600")
        .env("AUTO_LOCAL_PREFIXES", "false")
        .env("WEB_BIND", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"));
    let mut child = command.spawn().expect("start the monitor as nobody");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = Instant::now();
    while !read_log().contains("interface vb: capturing") {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the monitor exited ({status}) as nobody: {}", read_log());
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not capturing: {}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status_file = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .expect("the monitor's /proc status");
    assert!(
        status_file.contains(&format!("Uid:\t{NOBODY}")),
        "runs as nobody: {status_file}"
    );

    lab.replay(&a, "va", &capture);
    terminate(&mut child, read_log);

    let store = Store::open(&db, Zone::utc(), 1000).expect("the history opens");
    let stored = store
        .read_stored()
        .expect("read")
        .totals(
            &Scope::All,
            Date::constant(2020, 1, 1),
            Date::constant(2200, 1, 1),
        )
        .expect("totals");
    assert_eq!(
        stored,
        UpDown {
            up: 40 * 600,
            down: 20 * 1200
        },
        "log: {}",
        read_log()
    );
}

fn repository_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn the_compose_file_is_valid_and_grants_only_what_capture_needs() {
    // docker-compose (Debian's, 1.29) validates and normalises the file without a Docker engine.
    let output = run(
        Command::new("docker-compose")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["-f", "docker-compose.yml", "config"]),
        Duration::from_secs(60),
    );
    let config = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for needle in [
        "network_mode: host",
        "cap_drop:\n    - ALL",
        "cap_add:\n    - NET_RAW\n    - NET_ADMIN",
        "DB_PATH: /data/traffic.redb",
        "- /usr/local/bin/nettraffic-sentinel\n      - healthcheck",
        "restart: unless-stopped",
    ] {
        assert!(config.contains(needle), "no {needle:?} in:\n{config}");
    }
    assert!(
        config
            .lines()
            .any(|line| line.trim().ends_with(":/data:rw")),
        "a volume at /data: {config}"
    );
}

fn the_image_is_built_by_the_script_ci_runs_and_ships_what_it_builds() {
    let dockerfile = repository_file("Dockerfile");
    let script = repository_file("scripts/build-release");
    let ci = repository_file("scripts/test");
    assert!(dockerfile.contains("RUN ./scripts/build-release"));
    assert!(ci.contains("./scripts/build-release"));
    assert!(script.contains("binary=target/dist/nettraffic-sentinel"));
    // The runtime stage copies from the build stage unless scripts/check-image (run by CI, which
    // cannot pull the base images) supplies the binary it built as BINARY_FROM.
    assert!(dockerfile.contains("ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12\n"));
    assert!(dockerfile.contains("ARG BINARY_FROM=build\n"));
    assert!(dockerfile.contains("FROM ${BINARY_FROM} AS binary\n"));
    assert!(
        dockerfile
            .contains("COPY --from=binary /src/target/dist/nettraffic-sentinel /usr/local/bin/")
    );
    assert!(ci.contains("./scripts/check-image"));
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/nettraffic-sentinel", "healthcheck"]"#));
    assert!(dockerfile.contains("ENV DB_PATH=/data/traffic.redb"));
    // What build-release builds is a working binary (CI runs it after the tests).
    let cargo = repository_file("Cargo.toml");
    let dist = cargo
        .split("[profile.dist]")
        .nth(1)
        .expect("a dist profile in Cargo.toml");
    assert!(
        dist.contains(r#"panic = "unwind""#),
        "the web server turns handler panics into 500s: the shipped binary must unwind"
    );
}

tests! {
    #[needs(Tool("systemd-analyze"))]
    the_systemd_unit_verifies,
    #[needs(Netns, Tool("tcpreplay"), Tool("setcap"), Tool("setpriv"), Tool("kill"))]
    a_setcap_binary_captures_as_an_unprivileged_user,
    #[needs(Tool("docker-compose"))]
    the_compose_file_is_valid_and_grants_only_what_capture_needs,
    the_image_is_built_by_the_script_ci_runs_and_ships_what_it_builds,
}
