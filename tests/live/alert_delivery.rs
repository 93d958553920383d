//! Alert delivery against real servers in a network namespace each test creates: an HTTPS and
//! HTTP stand-in for ntfy, Telegram, Gotify and JSON webhooks (Python's `http.server` with a
//! certificate from a CA made with `openssl` at test time, trusted through `SSL_CERT_FILE`), and a
//! real SMTP server (aiosmtpd) with STARTTLS, implicit TLS and login. Every request is checked
//! against the service's documented API (method, path, headers, body); failures (refused, 500,
//! silent, untrusted) are retried, logged once per attempt with secrets masked, and never block
//! the caller.
//!
//! The servers listen on 192.0.2.10 (a documentation address) on the loopback of the test's own
//! namespace; the names the URLs use (ntfy.sh, api.telegram.org, notify.example.net,
//! mail.example.net) resolve to it through `/etc/netns/NAMESPACE/hosts` (and other names to no
//! DNS server: `resolv.conf` there names 127.0.0.1), which `ip netns exec` mounts over /etc for
//! the programs it starts (and only for them). Nothing leaves the namespace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nettraffic_sentinel::notify::target::basic_credentials;
use serde_json::{Value, json};

use super::support::TempDir;
use super::support::harness::CHILD;
use super::support::netns::{Netns, Spawned, clear_monitor_settings, ip, run, run_ok};

/// Where the stand-in servers listen, inside the namespace.
const SERVER: &str = "192.0.2.10";
/// The names the targets use, all pointing at [`SERVER`].
const NAMES: &str = "ntfy.sh api.telegram.org notify.example.net mail.example.net";

const SMTP_USER: &str = "nas@example.net";
const SMTP_PASSWORD: &str = "app pw&1";

/// The Python that runs `script`: for the SMTP server the one Debian's aiosmtpd is installed
/// for (its launcher's `#!` line; a `python3` earlier on PATH, e.g. pyenv's, lacks the module).
fn python_for(script: &str) -> String {
    if script.starts_with("smtp") {
        let launcher = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join("aiosmtpd"))
            .find(|path| path.is_file())
            .expect("aiosmtpd on PATH (Debian package python3-aiosmtpd)");
        let text = std::fs::read_to_string(&launcher).expect("read the aiosmtpd launcher");
        if let Some(interpreter) = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("#!"))
            .and_then(|line| line.split_whitespace().next())
        {
            return interpreter.to_string();
        }
    }
    "python3".to_string()
}

/// HTTP targets honour the proxy variables (ureq); the tests' requests go straight to the
/// stand-ins.
fn without_proxies(command: &mut Command) {
    for name in ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"] {
        command
            .env_remove(name)
            .env_remove(name.to_ascii_lowercase());
    }
}

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/alert_servers")
}

/// A namespace with the names above, a test CA and its server certificate.
struct Lab {
    servers: Vec<Spawned>,
    net: Netns,
    namespace: String,
    hosts_dir: PathBuf,
    dir: TempDir,
}

impl Lab {
    fn new(label: &str) -> Lab {
        let mut net = Netns::new(label);
        let namespace = net.add("a");
        ip(&["-n", &namespace, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &namespace,
            "addr",
            "add",
            &format!("{SERVER}/32"),
            "dev",
            "lo",
        ]);
        let hosts_dir = Path::new("/etc/netns").join(&namespace);
        std::fs::create_dir_all(&hosts_dir).expect("create /etc/netns/NAMESPACE");
        std::fs::write(
            hosts_dir.join("hosts"),
            format!("127.0.0.1 localhost\n{SERVER} {NAMES}\n"),
        )
        .expect("write the namespace's hosts file");
        // Any other name is asked of a DNS server on the namespace's own loopback (none).
        std::fs::write(hosts_dir.join("resolv.conf"), "nameserver 127.0.0.1\n")
            .expect("write the namespace's resolv.conf");
        let dir = TempDir::new(label);
        let lab = Lab {
            servers: Vec::new(),
            net,
            namespace,
            hosts_dir,
            dir,
        };
        lab.make_certificates();
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A CA (`ca.pem`) and a server certificate for every name and the address, signed by it.
    fn make_certificates(&self) {
        let names: Vec<String> = NAMES.split(' ').map(|n| format!("DNS:{n}")).collect();
        std::fs::write(
            self.path("ca.cnf"),
            "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n\
             [dn]\nCN = NetTraffic-Sentinel test CA\n\
             [v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
        )
        .expect("write ca.cnf");
        std::fs::write(
            self.path("server.cnf"),
            format!(
                "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = notify.example.net\n\
                 [v3_server]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                 extendedKeyUsage = serverAuth\nsubjectAltName = {},IP:{SERVER}\n",
                names.join(",")
            ),
        )
        .expect("write server.cnf");
        let openssl = |args: &[&str]| {
            run_ok(
                Command::new("openssl")
                    .args(args)
                    .current_dir(self.dir.path()),
                Duration::from_secs(30),
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-config", "ca.cnf", "-days", "2"];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
        openssl(&ca);
        let mut csr = vec!["req", "-new", "-config", "server.cnf"];
        csr.extend(ec);
        csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(&csr);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.cnf",
            "-extensions",
            "v3_server",
            "-out",
            "server.pem",
        ]);
    }

    /// Start a stand-in (a script of `alert_servers/`) in the namespace and wait until it
    /// listens.
    fn start(&mut self, script: &str, record: &str, extra: &[&str]) {
        let ready = self.path(&format!("{record}.ready"));
        let mut command = self.net.exec(&self.namespace, python_for(script));
        command
            .arg(servers_dir().join(script))
            .arg(self.path(record))
            .arg(self.path("server.pem"))
            .arg(self.path("server.key"))
            .arg(SERVER)
            .args(extra)
            .arg(&ready);
        let mut server = Spawned::new(&mut command);
        let started = Instant::now();
        while !ready.exists() {
            if let Ok(Some(status)) = server.child.try_wait() {
                let output = server.finish(Duration::from_secs(5), script);
                panic!(
                    "{script} exited ({status}): {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{script} not ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.servers.push(server);
    }

    fn start_http(&mut self) {
        self.start("http_standin.py", "http.jsonl", &[]);
    }

    /// The program in the namespace with only `settings` (and TZ) set.
    fn program(&self, args: &[&str], settings: &[(&str, &str)]) -> Command {
        let mut command = self
            .net
            .exec(&self.namespace, env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        command.args(args);
        clear_monitor_settings(&mut command);
        without_proxies(&mut command);
        command
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env("TZ", "UTC")
            .envs(settings.iter().copied());
        command
    }

    /// `alert-test` with `settings`: its exit status and what it printed.
    fn alert_test(&self, settings: &[(&str, &str)]) -> (std::process::Output, String, String) {
        let output = run(
            self.program(&["alert-test"], settings)
                .stdin(std::process::Stdio::null()),
            Duration::from_secs(60),
        );
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        (output, stdout, stderr)
    }

    /// Every request or message a stand-in recorded.
    fn recorded(&self, record: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path(record)).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The servers go first (their fields drop after this), then the namespace.
        for server in &mut self.servers {
            let _ = server.child.kill();
        }
        let _ = std::fs::remove_dir_all(&self.hosts_dir);
        // /etc/netns itself only if this left it empty (remove_dir refuses otherwise).
        if let Some(parent) = self.hosts_dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret:?}:\n{text}"
        );
    }
}

/// The one request recorded for `path` on `host`.
fn request<'a>(requests: &'a [Value], host: &str, path: &str) -> &'a Value {
    let found: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"] == path && r["headers"]["host"].as_str() == Some(host))
        .collect();
    assert_eq!(found.len(), 1, "one request to {host}{path}: {requests:#?}");
    found[0]
}

fn body(request: &Value) -> Value {
    serde_json::from_str(request["body"].as_str().expect("a body")).expect("a JSON body")
}

const TITLE: &str = "NetTraffic-Sentinel test alert";

fn alert_test_delivers_to_each_http_service_as_documented() {
    let mut lab = Lab::new("alert-http");
    lab.start_http();
    let urls = [
        "ntfy://nas_quota_alerts",
        "ntfys://alice:pa%40ss@notify.example.net/nas-ntfy",
        "ntfy://tk_testtoken123@notify.example.net/nas-plain",
        "tgram://123456789:AAE-test_token/-1001234567",
        "gotifys://notify.example.net/gotify/GotifyAppToken",
        "jsons://ha:hapw@notify.example.net/api/webhook/nas-quota-hook",
    ];
    let ca = lab.path("ca.pem");
    let (output, stdout, stderr) = lab.alert_test(&[
        ("ALERT_URLS", &urls.join(" ")),
        ("SSL_CERT_FILE", ca.to_str().expect("UTF-8 path")),
    ]);
    assert!(
        output.status.success(),
        "{}: {stdout}{stderr}",
        output.status
    );
    assert_eq!(stdout.matches("  ok  ").count(), 6, "{stdout}");
    assert!(stdout.contains("from SSL_CERT_FILE="), "{stdout}");
    for shown in [
        "ntfys://ntfy.sh/nas****",
        "ntfys://alice:****@notify.example.net/nas-ntfy",
        "ntfy://****@notify.example.net/nas-plain",
        "tgram://****/-1001234567",
        "gotifys://notify.example.net/gotify/****",
        "jsons://ha:****@notify.example.net/api/webhook/nas****",
    ] {
        assert!(stdout.contains(shown), "{shown} in {stdout}");
    }
    let secrets = [
        "pa@ss",
        "pa%40ss",
        "tk_testtoken123",
        "AAE-test_token",
        "GotifyAppToken",
        "hapw",
        "nas-quota-hook",
        "nas_quota_alerts",
    ];
    assert_no_secret("alert-test", &format!("{stdout}{stderr}"), &secrets);

    let requests = lab.recorded("http.jsonl");
    assert_eq!(requests.len(), 6, "{requests:#?}");
    for request in &requests {
        assert_eq!(request["method"], "POST");
        assert_eq!(request["headers"]["content-type"], "application/json");
        let agent = request["headers"]["user-agent"]
            .as_str()
            .unwrap_or_default();
        assert!(agent.starts_with("nettraffic-sentinel/"), "{agent}");
    }
    let message = "This is a test message from nettraffic-sentinel alert-test";

    // ntfy, "publish as JSON": POST to the server's root, the topic in the body.
    let cloud = request(&requests, "ntfy.sh", "/");
    assert_eq!(
        cloud["scheme"], "https",
        "ntfy:// with a bare topic is ntfy.sh over HTTPS"
    );
    assert!(cloud["headers"].get("authorization").is_none());
    let sent = body(cloud);
    assert_eq!(sent["topic"], "nas_quota_alerts");
    assert_eq!(sent["title"], TITLE);
    assert!(
        sent["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with(message)
    );
    assert_eq!(sent["priority"], 3);
    assert_eq!(sent["tags"], json!(["white_check_mark"]));
    let own: Vec<&Value> = requests
        .iter()
        .filter(|r| r["headers"]["host"] == "notify.example.net" && r["path"] == "/")
        .collect();
    assert_eq!(own.len(), 2, "{own:#?}");
    let basic = own
        .iter()
        .find(|r| r["scheme"] == "https")
        .expect("ntfys://");
    assert_eq!(
        basic["headers"]["authorization"],
        format!("Basic {}", basic_credentials("alice", "pa@ss"))
    );
    assert_eq!(body(basic)["topic"], "nas-ntfy");
    let bearer = own
        .iter()
        .find(|r| r["scheme"] == "http")
        .expect("ntfy:// on port 80");
    assert_eq!(bearer["headers"]["authorization"], "Bearer tk_testtoken123");
    assert_eq!(body(bearer)["topic"], "nas-plain");

    // Telegram Bot API: POST /bot<token>/sendMessage with chat_id and text.
    let telegram = request(
        &requests,
        "api.telegram.org",
        "/bot123456789:AAE-test_token/sendMessage",
    );
    assert_eq!(telegram["scheme"], "https");
    let sent = body(telegram);
    assert_eq!(sent["chat_id"], -1001234567_i64);
    let text = sent["text"].as_str().unwrap_or_default();
    assert!(text.starts_with(&format!("{TITLE}\n\n{message}")), "{text}");
    assert_eq!(sent["disable_notification"], false);

    // Gotify: POST /message (under the path prefix), the app token in X-Gotify-Key.
    let gotify = request(&requests, "notify.example.net", "/gotify/message");
    assert_eq!(gotify["scheme"], "https");
    assert_eq!(gotify["headers"]["x-gotify-key"], "GotifyAppToken");
    let sent = body(gotify);
    assert_eq!(sent["title"], TITLE);
    assert_eq!(sent["priority"], 5);
    assert!(
        sent["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with(message)
    );

    // JSON (Apprise's body), e.g. a Home Assistant webhook, with basic auth.
    let webhook = request(
        &requests,
        "notify.example.net",
        "/api/webhook/nas-quota-hook",
    );
    assert_eq!(webhook["scheme"], "https");
    assert_eq!(
        webhook["headers"]["authorization"],
        format!("Basic {}", basic_credentials("ha", "hapw"))
    );
    let sent = body(webhook);
    assert_eq!(sent["version"], "1.0");
    assert_eq!(sent["title"], TITLE);
    assert_eq!(sent["type"], "info");
    assert_eq!(sent["attachments"], json!([]));
    assert!(
        sent["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with(message)
    );
}

fn alert_test_names_each_failure_and_exits_1() {
    let mut lab = Lab::new("alert-fail");
    lab.start_http();
    let urls = [
        "ntfy://notify.example.net/still-works",
        "json://notify.example.net:9/refused",
        "json://notify.example.net/fail500",
        // No SSL_CERT_FILE: the test CA is not trusted.
        "gotifys://notify.example.net/UntrustedToken",
        "json://nowhere.invalid/x",
    ];
    let output = run(
        lab.program(&["alert-test"], &[("ALERT_URLS", &urls.join(","))])
            .stdin(std::process::Stdio::null()),
        Duration::from_secs(60),
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("4 of 5 alert target(s) failed"), "{stderr}");
    let line = |needle: &str| -> String {
        stdout
            .lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no line for {needle}: {stdout}"))
            .to_string()
    };
    assert!(line("still-works").contains("  ok  "), "{stdout}");
    assert!(
        line(":9/").contains("FAILED") && line(":9/").contains("connection refused"),
        "{stdout}"
    );
    assert!(line("/fai****").contains("HTTP 500"), "{stdout}");
    let untrusted = line("gotifys://");
    assert!(
        untrusted.contains("FAILED") && untrusted.to_lowercase().contains("certificate"),
        "{untrusted}"
    );
    assert!(line("nowhere.invalid").contains("FAILED"), "{stdout}");
    assert_no_secret(
        "alert-test",
        &format!("{stdout}{stderr}"),
        &["UntrustedToken"],
    );
    // Nothing was sent to the untrusted server: the handshake failed first.
    let requests = lab.recorded("http.jsonl");
    assert!(
        requests.iter().all(|r| r["scheme"] == "http"),
        "{requests:#?}"
    );
}

fn alert_test_sends_mail_over_starttls_and_implicit_tls_with_login() {
    let mut lab = Lab::new("alert-smtp");
    lab.start("smtp_standin.py", "smtp.jsonl", &[SMTP_USER, SMTP_PASSWORD]);
    let ca = lab.path("ca.pem");
    let ca = ca.to_str().expect("UTF-8 path");
    // The password holds a space and '&': percent-encoded in the URL.
    let login = "nas%40example.net:app%20pw%261";
    let urls = format!(
        "mailtos://{login}@mail.example.net?to=owner@example.org,second@example.org \
         mailtos://{login}@mail.example.net:465?to=owner@example.org&from=alerts@example.net"
    );
    let (output, stdout, stderr) = lab.alert_test(&[("ALERT_URLS", &urls), ("SSL_CERT_FILE", ca)]);
    assert!(
        output.status.success(),
        "{}: {stdout}{stderr}",
        output.status
    );
    assert_eq!(stdout.matches("  ok  ").count(), 2, "{stdout}");
    assert_no_secret(
        "alert-test",
        &format!("{stdout}{stderr}"),
        &["app pw", "app%20pw"],
    );

    let mails = lab.recorded("smtp.jsonl");
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let starttls = mails
        .iter()
        .find(|m| m["port"] == 587)
        .expect("a mail on 587");
    assert_eq!(starttls["tls"], true, "STARTTLS was used");
    assert_eq!(starttls["authenticated"], true);
    assert_eq!(starttls["mail_from"], SMTP_USER);
    assert_eq!(
        starttls["rcpt_tos"],
        json!(["owner@example.org", "second@example.org"])
    );
    assert_eq!(starttls["from"], SMTP_USER);
    assert_eq!(starttls["to"], "owner@example.org, second@example.org");
    assert_eq!(starttls["subject"], TITLE);
    let said = starttls["body"].as_str().unwrap_or_default();
    assert!(
        said.starts_with("This is a test message from nettraffic-sentinel alert-test"),
        "{said}"
    );
    let implicit = mails
        .iter()
        .find(|m| m["port"] == 465)
        .expect("a mail on 465");
    assert_eq!(implicit["tls"], true, "TLS from the first byte");
    assert_eq!(implicit["authenticated"], true);
    assert_eq!(implicit["mail_from"], "alerts@example.net");
    assert_eq!(implicit["rcpt_tos"], json!(["owner@example.org"]));
    assert_eq!(implicit["subject"], TITLE);

    // A wrong password is refused by the server, said per target, and masked.
    let wrong = "mailtos://nas%40example.net:WrongPass1@mail.example.net?to=owner@example.org";
    let (output, stdout, stderr) = lab.alert_test(&[("ALERT_URLS", wrong), ("SSL_CERT_FILE", ca)]);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("FAILED") && stdout.contains("535"),
        "{stdout}"
    );
    assert_no_secret("alert-test", &format!("{stdout}{stderr}"), &["WrongPass1"]);
    assert_eq!(
        lab.recorded("smtp.jsonl").len(),
        2,
        "nothing more was accepted"
    );
}

/// The outbox in the namespace: one message to targets that recover, refuse, stay silent and
/// answer 500. Run by [`the_outbox_retries_logs_each_failure_and_never_blocks`].
fn outbox_child() {
    use nettraffic_sentinel::notify::{
        Message, Outbox, RetryPolicy, Timeouts, Trust, parse_targets,
    };
    use std::sync::mpsc;
    nettraffic_sentinel::commands::run::init_logging(log::LevelFilter::Info);
    let policy = RetryPolicy {
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_millis(400),
        give_up_after: Duration::from_millis(2500),
    };
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        whole: Duration::from_secs(1),
    };
    let start = |urls: &str| {
        let targets = parse_targets(urls).expect("valid targets");
        Outbox::start_with(targets, Trust::load(), policy, timeouts).expect("the outbox thread")
    };
    let recovers = start("jsons://hook:HookSecret1@notify.example.net/flaky");
    let failing = start(
        "jsons://hook:HookSecret1@notify.example.net/fine \
         json://notify.example.net:9/refused \
         json://notify.example.net:8009/silent \
         gotifys://notify.example.net/fail500/GotifySecret2",
    );
    let dripping =
        start("mailto://notify.example.net:8025?from=nas@example.net&to=owner@example.org");
    let (tx, rx) = mpsc::channel();
    let began = Instant::now();
    for (name, outbox) in [
        ("recovers", &recovers),
        ("failing", &failing),
        ("dripping", &dripping),
    ] {
        let tx = tx.clone();
        let posted = Instant::now();
        outbox.post(
            Message::new("Quota 90 %", "450 GB of 500 GB"),
            Box::new(move |delivered| {
                let _ = tx.send((name, delivered, began.elapsed()));
            }),
        );
        println!("POSTED {name} {}", posted.elapsed().as_micros());
    }
    for _ in 0..3 {
        let (name, delivered, after) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("every message is settled");
        println!("SETTLED {name} {delivered} {}", after.as_millis());
    }
}

fn the_outbox_retries_logs_each_failure_and_never_blocks() {
    let mut lab = Lab::new("alert-outbox");
    lab.start_http();
    let ca = lab.path("ca.pem");
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = lab.net.exec(&lab.namespace, exe);
    without_proxies(&mut command);
    command
        .env(CHILD, "alert_delivery::outbox_child")
        .env("SSL_CERT_FILE", &ca)
        .env_remove("SSL_CERT_DIR");
    let output = Spawned::new(command.stdin(std::process::Stdio::null()))
        .finish(Duration::from_secs(60), "the outbox child");
    let (stdout, log) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}{log}");
    assert_no_secret("the outbox's log", &log, &["HookSecret1", "GotifySecret2"]);

    // post returned at once, although the targets take seconds.
    for line in stdout.lines().filter(|l| l.starts_with("POSTED")) {
        let micros: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("µs");
        assert!(micros < 50_000, "post took {micros} µs: {line}");
    }
    let settled = |name: &str| -> (bool, u64) {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("SETTLED {name} ")))
            .unwrap_or_else(|| panic!("{name} not settled: {stdout}\n{log}"));
        let fields: Vec<&str> = line.split(' ').collect();
        (fields[2] == "true", fields[3].parse().expect("ms"))
    };
    // Two 500s, then 200 after the 200 ms and 400 ms waits.
    let (delivered, after) = settled("recovers");
    assert!(delivered, "{log}");
    assert!(
        (550..10_000).contains(&after),
        "recovered after {after} ms: {log}"
    );
    // The others give up after the first failure at or beyond 2.5 s.
    let (delivered, after) = settled("failing");
    assert!(!delivered, "{log}");
    assert!(
        (2500..20_000).contains(&after),
        "gave up after {after} ms: {log}"
    );

    // One log line per failed attempt, each naming the target (masked) and the reason.
    let lines = |needle: &str| -> Vec<&str> {
        log.lines()
            .filter(|l| {
                l.contains(needle) && (l.contains(" failed: ") || l.contains("not delivered to"))
            })
            .collect()
    };
    assert_eq!(lines("/fla****").len(), 2, "{log}");
    let refused = lines(":9/ref****");
    let silent = lines(":8009/sil****");
    let http500 = lines("gotifys://notify.example.net/fail500/****");
    let drip = lines("SMTP notify.example.net:8025");
    assert!(refused.len() >= 3, "{log}");
    assert!(drip.len() >= 3, "{log}");
    assert_eq!(refused.len(), silent.len(), "{log}");
    assert_eq!(refused.len(), http500.len(), "{log}");
    assert!(
        refused.iter().all(|l| l.contains("connection refused")),
        "{refused:#?}"
    );
    assert!(
        silent.iter().all(|l| l.contains("timed out")),
        "{silent:#?}"
    );
    assert!(
        http500.iter().all(|l| l.contains("HTTP 500")),
        "{http500:#?}"
    );
    let (delivered, after) = settled("dripping");
    assert!(!delivered, "{log}");
    assert!(
        (2500..20_000).contains(&after),
        "gave up after {after} ms: {log}"
    );
    // A server that answers a byte at a time is given up on after the 1 s for the whole
    // conversation, not held per read; once two such conversations are still running, the
    // next attempt is not started.
    assert!(
        drip.first()
            .is_some_and(|l| l.contains("took longer than 1 s")),
        "{drip:#?}"
    );
    assert!(
        drip.iter()
            .all(|l| l.contains("took longer than 1 s") || l.contains("have not ended yet")),
        "{drip:#?}"
    );
    for lines in [&refused, &silent, &http500, &drip] {
        let (last, earlier) = lines.split_last().expect("lines");
        assert!(last.contains("giving up after"), "{last}");
        assert!(
            earlier.iter().all(|l| l.contains("next try in")),
            "{earlier:#?}"
        );
    }
    assert!(
        lines("/fin****").is_empty(),
        "the target that took it is not retried: {log}"
    );
    // The server saw exactly one request per logged 500 failure, and the good target once.
    let requests = lab.recorded("http.jsonl");
    let to = |path: &str| requests.iter().filter(|r| r["path"] == path).count();
    assert_eq!(to("/fail500/message"), http500.len());
    assert_eq!(to("/fine"), 1);
    assert_eq!(to("/flaky"), 3);
}

/// A bad URL stops the monitor before anything starts: exit 2, one line naming ALERT_URLS and
/// what is wrong, the secret masked. (No network: it stops at the settings.)
fn a_bad_alert_url_stops_the_monitor_at_start_naming_the_setting() {
    for (urls, expected) in [
        (
            "ntfys://ntfy.example.net/nas tgram://123456:SecretTok3n",
            "target 2: no chat id",
        ),
        (
            "gotify://user:SecretPw1@push.example.net/x",
            "target 1: Gotify logs in with the application token",
        ),
        ("slack://SecretTok3n/x", "not a supported service"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nettraffic-sentinel"));
        command.arg("run");
        clear_monitor_settings(&mut command);
        command.env("TZ", "UTC").env("ALERT_URLS", urls);
        let output = run(&mut command, Duration::from_secs(20));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{urls}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("ALERT_URLS (--alert-urls) is '"),
            "{stderr}"
        );
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert_no_secret("the error", &stderr, &["SecretTok3n", "SecretPw1"]);
    }
}

tests! {
    a_bad_alert_url_stops_the_monitor_at_start_naming_the_setting,
    #[needs(Netns, Tool("python3"), Tool("openssl"))]
    alert_test_delivers_to_each_http_service_as_documented,
    #[needs(Netns, Tool("python3"), Tool("openssl"))]
    alert_test_names_each_failure_and_exits_1,
    #[needs(Netns, Tool("python3"), Tool("openssl"), Tool("aiosmtpd"))]
    alert_test_sends_mail_over_starttls_and_implicit_tls_with_login,
    #[needs(Netns, Tool("python3"), Tool("openssl"))]
    the_outbox_retries_logs_each_failure_and_never_blocks,
    #[child]
    outbox_child,
}
