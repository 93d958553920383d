//! The test runner of every integration test binary (`harness = false`, built on libtest-mimic):
//! each module lists its tests with [`tests!`](crate::tests), naming what a test needs beyond
//! Rust (root, a program, the dashboard feature, the browser driver). A test whose prerequisite
//! is missing is reported as *ignored* with the reason, and the run says before it starts (and
//! again at the end) how many tests it skips and why, so `cargo test` as an ordinary user with
//! only Rust installed passes and says what it left out.
//!
//! With `NETTRAFFIC_TEST_ALL=1` (set by `scripts/test`) a missing prerequisite fails the test
//! instead: the full run proves that nothing was skipped.
//!
//! Names are `module::function`, so `cargo test --test web http_auth` or
//! `cargo test live_capture::two_interfaces` select as before; libtest's usual flags
//! (`--exact`, `--skip`, `--test-threads`, `--list`, `--nocapture`...) work too. Unlike libtest,
//! libtest-mimic does not capture a test's output: what a test prints is shown as it runs.
//!
//! A *child* (`#[child] name`) is not a test: it is the half of a test that runs in a child
//! process of the test binary ([`child_command`]), found by the variable [`CHILD`].

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Set by `scripts/test`: a missing prerequisite fails the test instead of skipping it.
pub const ALL: &str = "NETTRAFFIC_TEST_ALL";
/// Names the child to run when the test binary is started by [`child_command`].
pub const CHILD: &str = "NETTRAFFIC_TEST_CHILD";

/// What a test needs beyond Rust and the crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Running as root (network namespaces, packet sockets, mounts).
    Root,
    /// A program on `PATH`.
    Tool(&'static str),
    /// Network namespaces: root, `ip` (iproute2) and `sysctl` (procps).
    Netns,
    /// The crate built with the `dashboard` feature (the page compiled in).
    Dashboard,
    /// The browser tests' driver: playwright-core in `tests/dashboard/node_modules`.
    Playwright,
    /// At least this many open files for the test process (its hard limit, or root to raise it).
    OpenFiles(u64),
    /// The Python of [`geo_python`], with the PyPI packages maxminddb, maxminddb-geolite2 and
    /// mmdb-writer (GeoIP reference lookups and test databases).
    GeoPython,
}

use Need::{Dashboard, GeoPython, Netns, OpenFiles, Playwright, Root, Tool};

/// The virtual environment scripts/test makes for the GeoIP tests (`NETTRAFFIC_GEO_PYTHON`
/// names another Python with the same packages).
pub fn geo_python() -> std::path::PathBuf {
    std::env::var_os("NETTRAFFIC_GEO_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-python/bin/python3"),
        std::path::PathBuf::from,
    )
}

impl Need {
    /// The prerequisites this one stands for (only [`Need::Netns`] stands for several).
    fn basic(self) -> Vec<Need> {
        match self {
            Netns => vec![Root, Tool("ip"), Tool("sysctl")],
            other => vec![other],
        }
    }

    fn is_met(self) -> bool {
        match self {
            Root => nix::unistd::geteuid().is_root(),
            Tool(name) => on_path(name),
            Netns => self.basic().into_iter().all(Need::is_met),
            Dashboard => cfg!(feature = "dashboard"),
            Playwright => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/dashboard/node_modules/playwright-core/package.json")
                .is_file(),
            OpenFiles(wanted) => {
                Root.is_met()
                    || nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                        .is_ok_and(|(_, hard)| hard >= wanted)
            }
            GeoPython => std::process::Command::new(geo_python())
                .args(["-c", "import maxminddb, mmdb_writer, _maxminddb_geolite2"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success()),
        }
    }

    /// Why a test is skipped without it, and how to get it.
    fn reason(self) -> String {
        match self {
            Root => "needs root (run as root: sudo ./scripts/test)".to_string(),
            Tool(name) => format!(
                "needs {name} (Debian package {}; sudo ./scripts/test installs it)",
                package(name)
            ),
            Netns => "needs network namespaces (root, ip, sysctl)".to_string(),
            Dashboard => "needs the dashboard feature (cargo test --features dashboard, with \
                          Node.js and npm installed)"
                .to_string(),
            Playwright => "needs playwright-core in tests/dashboard/node_modules (./scripts/test \
                           installs it with npm ci there)"
                .to_string(),
            OpenFiles(wanted) => format!(
                "needs {wanted} open files (raise the hard limit: ulimit -Hn {wanted} as root, or \
                 run as root)"
            ),
            GeoPython => format!(
                "needs {} with the PyPI packages maxminddb, maxminddb-geolite2 and mmdb-writer \
                 (./scripts/test makes it)",
                geo_python().display()
            ),
        }
    }
}

/// The Debian package that brings `tool`.
fn package(tool: &str) -> &str {
    match tool {
        "ip" => "iproute2",
        "sysctl" | "kill" => "procps",
        "trafgen" => "netsniff-ng",
        "setcap" | "capsh" => "libcap2-bin",
        "setpriv" | "mount" => "util-linux",
        "systemd-analyze" => "systemd",
        "promtool" => "prometheus",
        "node" => "nodejs",
        "mkfs.ext4" | "e2fsck" => "e2fsprogs",
        "ab" => "apache2-utils",
        "aiosmtpd" => "python3-aiosmtpd",
        "dnsmasq" => "dnsmasq-base",
        other => other,
    }
}

/// Whether an executable file `name` is in a folder of `PATH`.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}

/// One entry of a module's [`tests!`](crate::tests) list.
pub struct Test {
    /// `module::function`.
    pub name: String,
    pub needs: Vec<Need>,
    pub child: bool,
    pub run: fn(),
}

impl Test {
    /// Used by [`tests!`](crate::tests): `module_path` is the caller's `module_path!()`.
    pub fn new(module_path: &str, function: &str, run: fn()) -> Test {
        // Drop the crate (the binary's) name: `web::http_auth` names the module `http_auth`.
        let module = module_path.split_once("::").map_or("", |(_, rest)| rest);
        let name = if module.is_empty() {
            function.to_string()
        } else {
            format!("{module}::{function}")
        };
        Test {
            name,
            needs: Vec::new(),
            child: false,
            run,
        }
    }

    /// `#[needs(...)]`.
    pub fn needs(mut self, needs: &[Need]) -> Test {
        self.needs.extend_from_slice(needs);
        self
    }

    /// `#[child]`.
    pub fn child(mut self, _: &[Need]) -> Test {
        self.child = true;
        self
    }

    /// The prerequisites of this test that are missing here, each once.
    fn missing(&self) -> Vec<Need> {
        let mut missing: Vec<Need> = self
            .needs
            .iter()
            .flat_map(|need| need.basic())
            .filter(|need| !need.is_met())
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }
}

/// Lists the tests of a module: `pub fn tests() -> Vec<Test>` for the binary's `main`. In scope in
/// every module of a test binary (`#[macro_use]` on `support` and on `harness`).
///
/// ```ignore
/// tests! {
///     counts_a_plain_frame,
///     #[needs(Netns, Tool("tcpreplay"))]
///     replayed_captures_count_exactly,
///     #[child]
///     server_child,
/// }
/// ```
///
/// The functions stay ordinary `fn name()` items of the module (so rustfmt formats them); a
/// function left out of the list is unused, which the lints (`-D warnings`) refuse.
macro_rules! tests {
    ($( $(#[$attr:ident $( ( $($arg:tt)* ) )?])* $name:ident ),* $(,)?) => {
        pub fn tests() -> Vec<$crate::support::harness::Test> {
            #[allow(unused_imports)]
            use $crate::support::harness::Need::*;
            vec![$(
                $crate::support::harness::Test::new(module_path!(), stringify!($name), $name)
                    $( .$attr(&[$($($arg)*)?]) )*
            ),*]
        }
    };
}

/// The command that runs the child `name` (`module::function`) of this test binary.
pub fn child_command(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.env(CHILD, name);
    command
}

/// The `main` of a test binary: the tests of `modules`, run as libtest would.
pub fn main(modules: &[fn() -> Vec<Test>]) {
    let tests: Vec<Test> = modules.iter().flat_map(|module| module()).collect();
    if let Some(child) = std::env::var_os(CHILD) {
        let child = child.to_string_lossy();
        let test = tests
            .iter()
            .find(|test| test.child && test.name == child)
            .unwrap_or_else(|| panic!("{CHILD}={child}: no such child in this binary"));
        (test.run)();
        return;
    }
    let args = Arguments::from_args();
    let all = std::env::var_os(ALL).is_some_and(|value| value == "1");

    let mut trials = Vec::new();
    // Reason -> how many selected tests it skips.
    let mut skipped: BTreeMap<Need, usize> = BTreeMap::new();
    let mut skipped_tests = 0;
    for test in tests.into_iter().filter(|test| !test.child) {
        let missing = test.missing();
        if !missing.is_empty() && is_selected(&args, &test.name) {
            skipped_tests += 1;
            for need in &missing {
                *skipped.entry(*need).or_default() += 1;
            }
        }
        let run = test.run;
        let trial = if missing.is_empty() {
            Trial::test(test.name, move || {
                run();
                Ok(())
            })
        } else {
            let reasons: Vec<String> = missing.iter().map(|need| need.reason()).collect();
            let reasons = reasons.join("; ");
            Trial::ignorable_test(test.name, move || {
                if all {
                    Err(Failed::from(format!(
                        "prerequisite missing with {ALL}=1: {reasons}"
                    )))
                } else {
                    Ok(Completion::ignored_with(reasons))
                }
            })
        };
        trials.push(trial);
    }

    let report = |when: &str| {
        if args.list || skipped_tests == 0 {
            return;
        }
        let verb = if all { "failing" } else { "skipping" };
        for (need, count) in &skipped {
            println!("{verb} {count} {}: {}", tests_word(*count), need.reason());
        }
        println!(
            "{when}{skipped_tests} {} {} for missing prerequisites{}",
            tests_word(skipped_tests),
            if all { "fail" } else { "ignored" },
            if all {
                ""
            } else {
                " (sudo ./scripts/test runs everything)"
            }
        );
    };
    report("");
    let conclusion = libtest_mimic::run(&args, trials);
    report("recap: ");
    conclusion.exit();
}

fn tests_word(count: usize) -> &'static str {
    if count == 1 { "test" } else { "tests" }
}

/// Whether libtest-mimic will run (or list) a test of this name, by its filter and skip rules.
fn is_selected(args: &Arguments, name: &str) -> bool {
    let matches = |pattern: &str| {
        if args.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    !args.ignored
        && args.filter.as_deref().is_none_or(matches)
        && !args.skip.iter().any(|skip| matches(skip))
}
