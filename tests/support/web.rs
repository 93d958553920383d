//! The real monitor with its web server inside a test's network namespace, and a small HTTP/1.1
//! client that reaches it there.
//!
//! The client thread joins the namespace (`setns`) only to create its socket: a socket belongs to
//! the namespace it was made in, so the test itself never leaves the host's namespace and nothing
//! is sent outside the namespaces the test created.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::Client;
use super::netns::{Netns, run_ok, wait_until};

/// The port the monitor's web server listens on inside its namespace.
pub const PORT: u16 = 8080;
/// Longest wait for a log line.
const LOG_TIMEOUT: Duration = Duration::from_secs(20);
/// The monitor must be gone this soon after SIGTERM.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

pub use super::http::Answer;

/// Run `make` on a thread that has joined `namespace`, so the sockets it creates live there.
pub fn in_namespace<T: Send + 'static>(
    namespace: &str,
    make: impl FnOnce() -> T + Send + 'static,
) -> T {
    let path = format!("/run/netns/{namespace}");
    std::thread::spawn(move || {
        let handle = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        nix::sched::setns(&handle, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        make()
    })
    .join()
    .expect("the thread in the namespace")
}

/// A TCP connection to `port` on the loopback of `namespace`.
pub fn connect(namespace: &str, port: u16) -> TcpStream {
    in_namespace(namespace, move || TcpStream::connect(("127.0.0.1", port)))
        .unwrap_or_else(|error| panic!("connect to 127.0.0.1:{port} in {namespace}: {error}"))
}

/// A listener on 127.0.0.1:`port` in `namespace` (to make the port busy).
pub fn listen(namespace: &str, port: u16) -> std::net::TcpListener {
    super::netns::ip(&["-n", namespace, "link", "set", "lo", "up"]);
    in_namespace(namespace, move || {
        std::net::TcpListener::bind(("127.0.0.1", port))
    })
    .unwrap_or_else(|error| panic!("listen on 127.0.0.1:{port} in {namespace}: {error}"))
}

/// Whether `promtool check metrics` accepts `text`: `Err` with its complaints otherwise.
pub fn promtool_check(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package prometheus; scripts/test installs it)");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("promtool finishes");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// `GET target` with extra header lines; one request per connection.
pub fn get_with(namespace: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
    let mut client = Client::over(connect(namespace, PORT));
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    client
        .send(request.as_bytes())
        .reply(false)
        .unwrap_or_else(|error| panic!("{target}: no HTTP answer: {error}"))
}

/// `GET target`.
pub fn get(namespace: &str, target: &str) -> Answer {
    get_with(namespace, target, &[])
}

/// The monitor (`run`) in a namespace, its stderr collected line by line.
pub struct Monitor {
    pub child: Child,
    pub namespace: String,
    /// Names it in failures.
    what: String,
    log: Arc<Mutex<Vec<String>>>,
    stderr: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<String>>,
}

impl Monitor {
    /// Start `run` in `namespace` capturing `interfaces`, history in `db`, zone UTC, one commit an
    /// hour (so nothing is committed during a test unless it stops the monitor), web server on
    /// 127.0.0.1:[`PORT`]; `settings` override.
    pub fn start(
        lab: &Netns,
        namespace: &str,
        interfaces: &str,
        db: &Path,
        settings: &[(&str, &str)],
    ) -> Monitor {
        super::netns::ip(&["-n", namespace, "link", "set", "lo", "up"]);
        let mut command = lab.exec(namespace, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        command.arg("run");
        super::netns::clear_monitor_settings(&mut command);
        command
            .env("MONITOR_IFACE", interfaces)
            .env("TZ", "UTC")
            .env("DB_PATH", db)
            .env("SAVE_INTERVAL", "3600")
            .env("AUTO_LOCAL_PREFIXES", "false")
            .env("WEB_BIND", "127.0.0.1")
            .env("WEB_PORT", PORT.to_string())
            .env("LOG_LEVEL", "info")
            .envs(settings.iter().copied());
        Monitor::spawn(command, namespace, "the monitor")
    }

    /// Spawn `command` (a monitor started by a test's own settings), collecting its stderr line
    /// by line and its stdout whole; `what` names it in failures.
    pub fn spawn(mut command: Command, namespace: &str, what: &str) -> Monitor {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start the monitor");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&log);
        let stderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        let mut stdout = child.stdout.take().expect("piped stdout");
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        Monitor {
            child,
            namespace: namespace.to_string(),
            what: what.to_string(),
            log,
            stderr: Some(stderr),
            stdout: Some(stdout),
        }
    }

    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    /// How many log lines contain `needle`.
    pub fn lines_containing(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Wait for a log line containing `needle`.
    pub fn wait_for(&mut self, needle: &str) {
        self.wait_for_count(needle, 1, LOG_TIMEOUT);
    }

    /// Wait up to `timeout` until `count` log lines contain `needle`; returns how long it took.
    pub fn wait_for_count(&mut self, needle: &str, count: usize, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.lines_containing(needle) >= count {
                return start.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) while waiting for {count} x {needle:?}; log:\n{}",
                    self.what,
                    self.log()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "{}: no {count} x {needle:?} within {timeout:?}; log:\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until `interface` is captured and the web server answers.
    pub fn wait_ready(&mut self, interface: &str) {
        self.wait_for(&format!("interface {interface}: capturing"));
        self.wait_for("dashboard and API at http://");
    }

    pub fn get(&self, target: &str) -> Answer {
        get(&self.namespace, target)
    }

    /// Wait for the monitor to exit by itself within `timeout`: (status, stdout, log).
    pub fn exit_within(mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let status = wait_until(&mut self.child, timeout).unwrap_or_else(|| {
            panic!(
                "{} is still running after {timeout:?}; log:\n{}",
                self.what,
                self.log()
            )
        });
        if let Some(thread) = self.stderr.take() {
            let _ = thread.join();
        }
        let stdout = self
            .stdout
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        let log = self.log();
        (status, stdout, log)
    }

    /// SIGTERM; the monitor must exit 0 within [`EXIT_TIMEOUT`]. Returns its log.
    pub fn stop(self) -> String {
        let pid = self.child.id().to_string();
        run_ok(
            Command::new("kill").args(["-TERM", &pid]),
            Duration::from_secs(5),
        );
        let (status, _, log) = self.exit_within(EXIT_TIMEOUT);
        assert!(status.success(), "exit {status} after SIGTERM; log:\n{log}");
        log
    }
}

impl Monitor {
    /// SIGKILL, if it is still running.
    pub fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The API's totals object (`summary`, `today`, `month`...) for `(up, down)` bytes.
pub fn totals((up, down): (u64, u64)) -> serde_json::Value {
    serde_json::json!({
        "up_bytes": up,
        "down_bytes": down,
        "total_bytes": up + down,
        "up_fmt": nettraffic_sentinel::units::format_bytes(up),
        "down_fmt": nettraffic_sentinel::units::format_bytes(down),
        "total_fmt": nettraffic_sentinel::units::format_bytes(up + down),
    })
}

/// A history file path in `dir`.
pub fn db_in(dir: &Path) -> PathBuf {
    dir.join("traffic.redb")
}

/// A history in `dir` made by the real `import` of `capture` (zone UTC); its path.
pub fn import_into(dir: &Path, capture: &Path) -> PathBuf {
    let db = db_in(dir);
    let mut import = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
    super::netns::clear_monitor_settings(&mut import);
    import
        .arg("import")
        .arg(capture)
        .env("TZ", "UTC")
        .env("DB_PATH", &db);
    run_ok(&mut import, Duration::from_secs(60));
    db
}
