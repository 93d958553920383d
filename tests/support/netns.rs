//! Network namespaces, veth pairs and tun devices for the live-capture tests, and running
//! commands with a time limit.
//!
//! Network rule: everything a test creates lives inside namespaces it created (named
//! `ntslive-PID-LABEL-NAME`, so parallel tests and parallel runs never collide); no command here
//! touches an interface of the host. A [`Netns`] deletes its namespaces when dropped, also when the
//! test panics; deleting a namespace destroys the veth ends and tun devices inside it once the
//! last process in it has exited. Namespaces left behind by a run that was killed (whose process
//! id no longer exists) are deleted by the next run.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Once;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Prefix of every namespace these tests create.
const PREFIX: &str = "ntslive";
/// Time limit of one `ip` command.
const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// Clear every setting the monitor reads from the environment (the crate's own list), so the
/// environment of whoever runs the tests cannot leak into a test's monitor.
pub fn clear_monitor_settings(command: &mut Command) -> &mut Command {
    for setting in nettraffic_sentinel::config::setting::ALL {
        command.env_remove(setting.env);
    }
    command
}

/// A spawned child whose stdout and stderr are read by threads, so it never blocks on a pipe.
pub struct Spawned {
    pub child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    })
}

impl Spawned {
    /// Spawn `command` with stdout and stderr piped (stdin from /dev/null unless set otherwise).
    pub fn new(command: &mut Command) -> Spawned {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        let stdout = reader(child.stdout.take());
        let stderr = reader(child.stderr.take());
        Spawned {
            child,
            stdout,
            stderr,
        }
    }

    /// Wait up to `timeout` for the child to exit; on timeout kill it and panic naming `what`.
    pub fn finish(mut self, timeout: Duration, what: &str) -> Output {
        let status = match wait_until(&mut self.child, timeout) {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let output = self.collect(ExitStatus::default());
                panic!(
                    "{what} did not finish within {timeout:?}; stderr: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        };
        self.collect(status)
    }

    fn collect(&mut self, status: ExitStatus) -> Output {
        let join = |handle: Option<JoinHandle<Vec<u8>>>| {
            handle
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default()
        };
        Output {
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `child` until it exits or `timeout` passes (`None` then; the child is left running).
pub fn wait_until(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => panic!("waiting for a child failed: {error}"),
        }
    }
}

/// Run `command` to its end within `timeout`, stdin from /dev/null.
pub fn run(command: &mut Command, timeout: Duration) -> Output {
    let what = format!("{command:?}");
    Spawned::new(command.stdin(Stdio::null())).finish(timeout, &what)
}

/// [`run`] and assert that the command succeeded.
pub fn run_ok(command: &mut Command, timeout: Duration) -> Output {
    let what = format!("{command:?}");
    let output = run(command, timeout);
    assert!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// SIGTERM to a monitor started by hand: it must exit 0 within 5 s (`log` tells what it said).
pub fn terminate(child: &mut Child, log: impl Fn() -> String) {
    run_ok(
        Command::new("kill").args(["-TERM", &child.id().to_string()]),
        Duration::from_secs(5),
    );
    let status = wait_until(child, Duration::from_secs(5)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("still running 5 s after SIGTERM: {}", log())
    });
    assert!(status.success(), "exit {status}: {}", log());
}

/// `ip ARGS`, which must succeed.
pub fn ip(args: &[&str]) {
    run_ok(Command::new("ip").args(args), IP_TIMEOUT);
}

/// Delete namespaces of earlier runs whose process no longer exists.
fn remove_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(Command::new("ip").args(["netns", "del", &name]), IP_TIMEOUT);
        }
    }
}

/// A set of network namespaces owned by one test, deleted (with everything in them) on drop.
pub struct Netns {
    label: String,
    namespaces: Vec<String>,
}

impl Netns {
    /// An empty set; `label` (short, distinct per test) goes into every namespace name.
    pub fn new(label: &str) -> Netns {
        static CLEANUP: Once = Once::new();
        CLEANUP.call_once(remove_stale_namespaces);
        Netns {
            label: label.to_string(),
            namespaces: Vec::new(),
        }
    }

    /// Create a namespace `ntslive-PID-LABEL-SHORT` with IPv6 off (so its kernel sends no ND or
    /// MLD frames of its own) and return its name.
    pub fn add(&mut self, short: &str) -> String {
        let name = format!("{PREFIX}-{}-{}-{short}", std::process::id(), self.label);
        ip(&["netns", "add", &name]);
        self.namespaces.push(name.clone());
        for scope in ["all", "default"] {
            run_ok(
                Command::new("ip").args([
                    "netns",
                    "exec",
                    &name,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{scope}.disable_ipv6=1"),
                ]),
                IP_TIMEOUT,
            );
        }
        name
    }

    /// A veth pair `a_if` in namespace `a` and `b_if` in namespace `b`, MTU 9000, both up.
    pub fn veth(&self, (a, a_if): (&str, &str), (b, b_if): (&str, &str)) {
        ip(&[
            "link", "add", a_if, "netns", a, "mtu", "9000", "type", "veth", "peer", "name", b_if,
            "netns", b, "mtu", "9000",
        ]);
        ip(&["-n", a, "link", "set", a_if, "up"]);
        ip(&["-n", b, "link", "set", b_if, "up"]);
    }

    /// Delete an interface (for a veth, both ends go).
    pub fn delete_link(&self, namespace: &str, interface: &str) {
        ip(&["-n", namespace, "link", "del", interface]);
    }

    /// A persistent tun device (raw IP, no packet information header) in `namespace`, up.
    pub fn tun(&self, namespace: &str, interface: &str) {
        ip(&[
            "-n", namespace, "tuntap", "add", "dev", interface, "mode", "tun",
        ]);
        ip(&["-n", namespace, "link", "set", interface, "up"]);
    }

    /// `ip netns exec NAMESPACE PROGRAM`, to add arguments to.
    pub fn exec(&self, namespace: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        assert!(
            self.namespaces.iter().any(|n| n == namespace),
            "{namespace} is not a namespace of this test"
        );
        let mut command = Command::new("ip");
        command.args(["netns", "exec", namespace]).arg(program);
        command
    }

    /// Replay a capture file into `interface` of `namespace` with tcpreplay at 20000 packets/s.
    pub fn replay(&self, namespace: &str, interface: &str, file: &Path) -> Output {
        let mut command = self.exec(namespace, "tcpreplay");
        command
            .args(["-q", "-i", interface, "--pps", "20000"])
            .arg(file);
        run_ok(&mut command, Duration::from_secs(30))
    }

    /// Start [`Netns::replay`] without waiting for it.
    pub fn spawn_replay(&self, namespace: &str, interface: &str, file: &Path) -> Spawned {
        let mut command = self.exec(namespace, "tcpreplay");
        command
            .args(["-q", "-i", interface, "--pps", "20000"])
            .arg(file)
            .stdin(Stdio::null());
        Spawned::new(&mut command)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for name in self.namespaces.iter().rev() {
            let _ = run(Command::new("ip").args(["netns", "del", name]), IP_TIMEOUT);
        }
    }
}

/// /etc/netns/NAME/{hosts,resolv.conf} for a namespace of a test: `ip netns exec` puts them over
/// /etc/hosts and /etc/resolv.conf, so programs in it ask the DNS server on its own 127.0.0.1
/// (none, or dnsmasq with [`NamespaceResolver::dnsmasq`]). Removed, and dnsmasq stopped, on drop.
pub struct NamespaceResolver {
    dir: std::path::PathBuf,
    server: Option<Spawned>,
}

impl NamespaceResolver {
    /// The files alone: whatever listens on the namespace's 127.0.0.1:53 answers (or nothing).
    pub fn new(namespace: &str) -> NamespaceResolver {
        let dir = Path::new("/etc/netns").join(namespace);
        std::fs::create_dir_all(&dir).expect("create /etc/netns/NAME");
        std::fs::write(dir.join("hosts"), "127.0.0.1 localhost\n").expect("hosts");
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").expect("resolv.conf");
        NamespaceResolver { dir, server: None }
    }

    /// The files and dnsmasq on the namespace's 127.0.0.1 (its loopback brought up), answering
    /// only from `records` (dnsmasq options such as `--ptr-record=…` or `--synth-domain=…`).
    pub fn dnsmasq(lab: &Netns, namespace: &str, records: &[String]) -> NamespaceResolver {
        let mut resolver = NamespaceResolver::new(namespace);
        ip(&["-n", namespace, "link", "set", "lo", "up"]);
        let mut command = lab.exec(namespace, "dnsmasq");
        command
            .args([
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--user=root",
            ])
            .args(records);
        resolver.server = Some(Spawned::new(command.stdin(Stdio::null())));
        resolver
    }
}

impl Drop for NamespaceResolver {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.child.kill();
            let _ = server.finish(Duration::from_secs(5), "dnsmasq");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
