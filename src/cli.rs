//! The command line: subcommands, flags, messages and exit codes.
//!
//! The commands ([`crate::commands`]) return their own error types; this module alone turns them
//! into exit codes. 0 success; 1 ([`EXIT_FAILED`]) a file could not be counted, imported or
//! migrated, or rows of the original's history were skipped as bad (the others still were taken),
//! `run`'s capture could not start (no CAP_NET_RAW) or its last commit failed, or `healthcheck`
//! found the monitor unreachable or unhealthy, or `alert-test` could not deliver to a target, or
//! `export` could not write its output; 2 ([`EXIT_USAGE`]) a usage or configuration
//! error, or a database (`DB_PATH`) that cannot be used.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::commands::alert_test::{self, AlertTestError};
use crate::commands::export::{self, ExportArgs, ExportCommandError};
use crate::commands::healthcheck::{self, HealthError};
use crate::commands::import::{self, ImportError};
use crate::commands::migrate_sqlite::{self, MigrateSqliteError};
use crate::commands::report::{self, ReportError};
use crate::commands::run::{self, RunError};
use crate::config::{self, RawSettings, setting_for_flag};

/// Something could not be done: a file, rows of the original, capture, the last commit, or the
/// monitor asked by `healthcheck`.
pub const EXIT_FAILED: u8 = 1;
/// The command line, a setting or the database at `DB_PATH` cannot be used.
pub const EXIT_USAGE: u8 = 2;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run,
    Report {
        json: bool,
        top: usize,
        files: Vec<PathBuf>,
    },
    Import {
        files: Vec<PathBuf>,
    },
    MigrateSqlite {
        database: PathBuf,
    },
    Healthcheck,
    AlertTest,
    Export(ExportArgs),
    Help,
    Version,
}

/// Run the program with `args` (without the program name) and an environment lookup.
pub fn main(args: Vec<OsString>, env: impl Fn(&str) -> Option<OsString>) -> ExitCode {
    // As with a flag that is not text: a set variable that cannot be read stops every command.
    let mut settings = match RawSettings::from_env(env) {
        Ok(settings) => settings,
        Err(error) => return config_failed(&error),
    };
    let command = match parse_args(args, &mut settings) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("nettraffic-sentinel: {message}");
            eprintln!("Run 'nettraffic-sentinel --help' for usage.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match command {
        Command::Help => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("nettraffic-sentinel {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Report { json, top, files } => {
            report_failed(report::command(&settings, json, top, &files))
        }
        Command::Run => match settings.resolve() {
            Err(error) => config_failed(&error),
            Ok(config) => {
                run::init_logging(config.log_level);
                run_failed(run::run(&config))
            }
        },
        Command::Import { files } => match settings.resolve() {
            Err(error) => config_failed(&error),
            Ok(config) => import_failed(import::command(&config, &files)),
        },
        Command::MigrateSqlite { database } => match settings.resolve() {
            Err(error) => config_failed(&error),
            Ok(config) => migrate_failed(migrate_sqlite::command(&config, &database)),
        },
        Command::Healthcheck => match settings.resolve() {
            Err(error) => config_failed(&error),
            Ok(config) => health_failed(healthcheck::command(&config)),
        },
        Command::AlertTest => match settings.resolve() {
            Err(error) => config_failed(&error),
            Ok(config) => alert_test_failed(alert_test::command(&config)),
        },
        Command::Export(args) => export_failed(export::command(&settings, &args), &args),
    }
}

/// Say `error` on stderr the way every command does, and exit with `code`.
fn say(error: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("nettraffic-sentinel: {error}");
    ExitCode::from(code)
}

fn report_failed(outcome: Result<(), ReportError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(ReportError::Settings(error)) => config_failed(&error),
        Err(error @ ReportError::GeoIp(_)) => say(&error, EXIT_USAGE),
        // Each file was named as it failed.
        Err(ReportError::FilesFailed) => ExitCode::from(EXIT_FAILED),
    }
}

fn run_failed(outcome: Result<(), RunError>) -> ExitCode {
    let code = match &outcome {
        Ok(()) => return ExitCode::SUCCESS,
        Err(RunError::Settings(_) | RunError::History(_)) => EXIT_USAGE,
        Err(RunError::Capture(_) | RunError::LastCommit(_)) => EXIT_FAILED,
    };
    if let Err(error) = outcome {
        // The monitor speaks through its log, also when it stops.
        log::error!("{error}");
    }
    ExitCode::from(code)
}

fn import_failed(outcome: Result<(), ImportError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ (ImportError::History(_) | ImportError::NothingImported(_))) => {
            say(&error, EXIT_USAGE)
        }
        // Each file was named as it failed; the others were imported.
        Err(ImportError::FilesFailed) => ExitCode::from(EXIT_FAILED),
    }
}

fn migrate_failed(outcome: Result<(), MigrateSqliteError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ MigrateSqliteError::Original(_)) => say(&error, EXIT_FAILED),
        // Each bad row was named; the good ones were taken.
        Err(MigrateSqliteError::RowsSkipped) => ExitCode::from(EXIT_FAILED),
        Err(error @ MigrateSqliteError::History(_)) => say(&error, EXIT_USAGE),
    }
}

fn health_failed(outcome: Result<(), HealthError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nettraffic-sentinel: unhealthy: {error}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn alert_test_failed(outcome: Result<(), AlertTestError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ AlertTestError::NoTargets) => say(&error, EXIT_USAGE),
        // Each target was named with what happened.
        Err(error @ AlertTestError::Failed { .. }) => say(&error, EXIT_FAILED),
    }
}

fn export_failed(outcome: Result<u64, ExportCommandError>, args: &ExportArgs) -> ExitCode {
    match outcome {
        Ok(rows) => {
            if let Some(file) = args.output.as_ref().filter(|file| file.as_os_str() != "-") {
                eprintln!(
                    "nettraffic-sentinel: exported {rows} rows to {}",
                    file.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(error @ ExportCommandError::Output { .. }) => say(&error, EXIT_FAILED),
        Err(
            error @ (ExportCommandError::Usage(_)
            | ExportCommandError::Settings(_)
            | ExportCommandError::History(_)),
        ) => say(&error, EXIT_USAGE),
    }
}

fn config_failed(error: &config::ConfigError) -> ExitCode {
    say(error, EXIT_USAGE)
}

fn parse_args(args: Vec<OsString>, settings: &mut RawSettings) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut subcommand: Option<String> = None;
    let mut positional: Vec<PathBuf> = Vec::new();
    let mut json = false;
    let mut top = 10usize;
    let mut help = false;
    let mut wanted = ExportArgs::default();
    // Flags that only `export` takes, by name, to refuse them elsewhere.
    let mut export_flags: Vec<&'static str> = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("json") => json = true,
            // `report --geoip FILE`: the same files as `--geoip-db` (GEOIP_DB).
            Long("geoip") => {
                let value = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .string()
                    .map_err(|_| "--geoip expects a file name (UTF-8)".to_string())?;
                settings.set_flag(config::setting::GEOIP_DB, value);
            }
            Long("top") => {
                let value = parser.value().map_err(|e| e.to_string())?;
                top = value
                    .string()
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--top expects a whole number of addresses")?;
            }
            Long("output") => {
                wanted.output = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?));
                export_flags.push("--output");
            }
            Long(flag @ ("start" | "end" | "granularity" | "format")) => {
                let (name, slot): (&'static str, &mut Option<String>) = match flag {
                    "start" => ("--start", &mut wanted.start),
                    "end" => ("--end", &mut wanted.end),
                    "granularity" => ("--granularity", &mut wanted.granularity),
                    _ => ("--format", &mut wanted.format),
                };
                let value = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .string()
                    .map_err(|_| format!("{name} expects text (UTF-8)"))?;
                *slot = Some(value);
                export_flags.push(name);
            }
            Long("db") => {
                let value = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .string()
                    .map_err(|_| "--db expects a file path (UTF-8)".to_string())?;
                settings.set_flag(config::setting::DB_PATH, value);
            }
            Long(flag) => {
                let name = format!("--{flag}");
                let setting =
                    setting_for_flag(&name).ok_or_else(|| format!("unknown flag '{name}'"))?;
                let value = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .string()
                    .map_err(|_| format!("{name} expects text (UTF-8)"))?;
                if setting == config::setting::MONITOR_IFACE {
                    // `export --iface` names the one interface to export.
                    wanted.iface = Some(value.clone());
                }
                settings.set_flag(setting, value);
            }
            Value(value) if subcommand.is_none() => {
                let name = value
                    .string()
                    .map_err(|_| "the command must be text".to_string())?;
                subcommand = Some(name);
            }
            Value(value) => positional.push(PathBuf::from(value)),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if help {
        return Ok(Command::Help);
    }
    let command = match subcommand.as_deref() {
        None | Some("run") => Command::Run,
        Some("report") => Command::Report {
            json,
            top,
            files: std::mem::take(&mut positional),
        },
        Some("import") => Command::Import {
            files: std::mem::take(&mut positional),
        },
        Some("migrate-sqlite") => {
            let mut files = positional.drain(..);
            match (files.next(), files.next()) {
                (Some(database), None) => Command::MigrateSqlite { database },
                _ => {
                    return Err(
                        "migrate-sqlite expects exactly one file: the original's SQLite database"
                            .into(),
                    );
                }
            }
        }
        Some("healthcheck") => Command::Healthcheck,
        Some("alert-test") => Command::AlertTest,
        Some("export") => Command::Export(std::mem::take(&mut wanted)),
        Some(other) => {
            return Err(format!(
                "unknown command '{other}': expected run, report, import, migrate-sqlite, export, healthcheck or alert-test"
            ));
        }
    };
    if let Some(flag) = export_flags.first()
        && !matches!(command, Command::Export(_))
    {
        return Err(format!("{flag} belongs to 'export'"));
    }
    match &command {
        Command::Report { files, .. } | Command::Import { files } if files.is_empty() => {
            Err("name at least one capture file (pcap or pcapng)".into())
        }
        Command::Run | Command::Healthcheck | Command::AlertTest | Command::Export(_)
            if !positional.is_empty() =>
        {
            Err(format!(
                "'{}' takes no file arguments (got '{}')",
                match command {
                    Command::Run => "run",
                    Command::Healthcheck => "healthcheck",
                    Command::Export(_) => "export (name the output file with --output)",
                    _ => "alert-test",
                },
                positional[0].display()
            ))
        }
        _ if json && !matches!(command, Command::Report { .. }) => {
            Err("--json belongs to 'report'".into())
        }
        _ => Ok(command),
    }
}

fn usage() -> String {
    let mut text = String::from(
        "nettraffic-sentinel: how much of your broadband a NAS really uses.\n\n\
         Usage:\n  \
         nettraffic-sentinel [run] [SETTINGS]       capture, store and serve (the monitor)\n  \
         nettraffic-sentinel report [--json] [--top N] [--geoip FILE] [SETTINGS] FILE...\n                                             \
         count pcap/pcapng files and print the totals\n  \
         nettraffic-sentinel import [SETTINGS] FILE...\n                                             \
         count capture files into the database (DB_PATH, TZ, TOP_IPS_PER_DAY;\n                                             \
         local addresses: LOCAL_PREFIXES, EXCLUDE_IPV6_PREFIX)\n  \
         nettraffic-sentinel migrate-sqlite [SETTINGS] OLD.db\n                                             \
         take over the original's SQLite history (DB_PATH, TZ)\n  \
         nettraffic-sentinel export --start DATE --end DATE [--granularity hour|day|month]\n                                             \
         [--iface NAME] [--format csv|jsonl] [--output FILE|-] [--db PATH]\n                                             \
         the history (read-only; stop the monitor first) as CSV or JSON Lines,\n                                             \
         the bytes of /api/export.csv (DB_PATH, TZ)\n  \
         nettraffic-sentinel healthcheck            exit 0 if the running monitor's /api/health answers 200\n  \
         nettraffic-sentinel alert-test [SETTINGS]  send a test message to every target of ALERT_URLS and\n                                             \
         say per target what happened (exit 1 if any failed)\n\n\
         Settings (flag, or environment variable; the flag wins):\n",
    );
    for setting in config::setting::ALL {
        let default = if setting.default.is_empty() {
            String::new()
        } else {
            format!(" [default: {}]", setting.default)
        };
        text.push_str(&format!(
            "  {:<24} {:<20} {}{}\n",
            format!("{} VALUE", setting.flag),
            setting.env,
            setting.help,
            default
        ));
    }
    text.push_str("\nExit codes: 0 ok, 1 a file could not be counted or migrated (or rows of it were skipped), or an alert target failed, or an export could not be written, 2 bad usage, settings or database.\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> (Result<Command, String>, RawSettings) {
        let mut settings = RawSettings::default();
        let args = args.iter().map(OsString::from).collect();
        (parse_args(args, &mut settings), settings)
    }

    #[test]
    fn no_arguments_means_run() {
        assert_eq!(parse(&[]).0, Ok(Command::Run));
    }

    #[test]
    fn healthcheck_takes_the_web_settings_and_no_files() {
        let (command, settings) = parse(&["healthcheck", "--web-port", "9100"]);
        assert_eq!(command, Ok(Command::Healthcheck));
        assert_eq!(settings.get(config::setting::WEB_PORT), "9100");
        assert!(parse(&["healthcheck", "extra"]).0.is_err());
    }

    #[test]
    fn report_takes_files_and_flags_in_any_order() {
        let (command, settings) = parse(&["report", "a.pcap", "--json", "--tz", "UTC", "b.pcapng"]);
        assert_eq!(
            command,
            Ok(Command::Report {
                json: true,
                top: 10,
                files: vec!["a.pcap".into(), "b.pcapng".into()],
            })
        );
        assert_eq!(settings.get(config::setting::TZ), "UTC");
    }

    #[test]
    fn repeated_local_flags_add_up() {
        let (_, settings) = parse(&[
            "report",
            "x",
            "--local",
            "10.1.0.0/16",
            "--local",
            "2001:db8::/32",
        ]);
        assert_eq!(settings.local_prefixes().map(|p| p.len()), Ok(2));
    }

    #[test]
    fn usage_names_the_settings_import_and_migrate_use() {
        let text = usage();
        let import = text
            .split("nettraffic-sentinel import")
            .nth(1)
            .and_then(|rest| rest.split("nettraffic-sentinel migrate-sqlite").next())
            .expect("import is listed before migrate-sqlite");
        for name in [
            "DB_PATH",
            "TZ",
            "TOP_IPS_PER_DAY",
            "LOCAL_PREFIXES",
            "EXCLUDE_IPV6_PREFIX",
        ] {
            assert!(
                import.contains(name),
                "import's usage names {name}: {import}"
            );
        }
        let migrate = text
            .split("nettraffic-sentinel migrate-sqlite")
            .nth(1)
            .and_then(|rest| rest.split("nettraffic-sentinel healthcheck").next())
            .expect("migrate-sqlite is listed before healthcheck");
        for name in ["DB_PATH", "TZ"] {
            assert!(
                migrate.contains(name),
                "migrate-sqlite's usage names {name}"
            );
        }
    }

    #[test]
    fn alert_test_takes_settings_and_no_files_and_is_in_the_usage() {
        let (command, settings) = parse(&["alert-test", "--alert-urls", "ntfy://nas_alerts"]);
        assert_eq!(command, Ok(Command::AlertTest));
        assert_eq!(
            settings.get(config::setting::ALERT_URLS),
            "ntfy://nas_alerts"
        );
        assert!(parse(&["alert-test", "extra"]).0.is_err());
        let text = usage();
        assert!(text.contains("nettraffic-sentinel alert-test"), "{text}");
        assert!(text.contains("ALERT_URLS"), "{text}");
    }

    #[test]
    fn export_takes_its_flags_and_iface_is_the_one_to_export() {
        let (command, settings) = parse(&[
            "export",
            "--start",
            "2024-01-01",
            "--end",
            "2024-12-31",
            "--granularity",
            "hour",
            "--iface",
            "eth0",
            "--format",
            "jsonl",
            "--output",
            "out.jsonl",
            "--db",
            "/data/t.redb",
        ]);
        assert_eq!(
            command,
            Ok(Command::Export(ExportArgs {
                start: Some("2024-01-01".into()),
                end: Some("2024-12-31".into()),
                granularity: Some("hour".into()),
                iface: Some("eth0".into()),
                format: Some("jsonl".into()),
                output: Some("out.jsonl".into()),
            }))
        );
        assert_eq!(settings.get(config::setting::DB_PATH), "/data/t.redb");
        assert_eq!(
            parse(&["run", "--start", "2024-01-01"]).0.unwrap_err(),
            "--start belongs to 'export'"
        );
        assert!(
            parse(&["export", "x.csv"])
                .0
                .unwrap_err()
                .contains("--output")
        );
        assert!(usage().contains("nettraffic-sentinel export"));
    }

    #[test]
    fn usage_errors_name_the_problem() {
        assert!(parse(&["report"]).0.unwrap_err().contains("capture file"));
        assert!(
            parse(&["frobnicate"])
                .0
                .unwrap_err()
                .contains("'frobnicate'")
        );
        assert!(
            parse(&["report", "x", "--nope", "1"])
                .0
                .unwrap_err()
                .contains("--nope")
        );
        assert!(parse(&["--json"]).0.unwrap_err().contains("report"));
        assert!(
            parse(&["migrate-sqlite"])
                .0
                .unwrap_err()
                .contains("exactly one")
        );
    }
}
