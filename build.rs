//! Builds the dashboard (`www/`) into the binary, so the page works on a LAN without internet.
//!
//! With the `dashboard` feature (off by default; scripts/build-release, the Docker image and
//! scripts/test turn it on): copies the page's sources (`www/`) to
//! `OUT_DIR/dashboard`, installs the pinned npm packages there when they are missing or the
//! lockfile changed (`npm ci`, with npm's cache in `OUT_DIR/npm-cache` unless `npm_config_cache`
//! names one), runs its `build.mjs` (esbuild) into `OUT_DIR/www`, gzips each file, and writes
//! `OUT_DIR/assets.rs`: the table `src/serve/assets.rs` includes. Nothing is written outside
//! `OUT_DIR`, so the source tree stays as checked out (and `cargo package` accepts the crate).
//! Without the feature the table is empty and no Node.js is needed. See
//! `www/README.md` for why it is built this way.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};

use flate2::Compression;
use flate2::write::GzEncoder;

/// The oldest Node.js esbuild supports.
const NODE_MIN_MAJOR: u32 = 18;
/// The files and folders of `www/` the page is built from, copied to `OUT_DIR/dashboard`.
const SOURCES: [&str; 5] = [
    "index.html",
    "src",
    "build.mjs",
    "package.json",
    "package-lock.json",
];
/// Where `npm ci` leaves a copy of the lockfile it installed, to tell when it must run again.
const INSTALLED_LOCK: &str = "node_modules/.nettraffic-sentinel-installed-lock.json";
/// Long-lived caching for files whose name carries a hash of their content.
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The page and the license text: revalidated each time (cheap with the ETag), so a new binary's
/// page, naming new assets, is seen at once.
const CACHE_REVALIDATE: &str = "no-cache";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let table = if std::env::var_os("CARGO_FEATURE_DASHBOARD").is_some() {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it");
        let www = Path::new(&manifest_dir).join("www");
        for input in SOURCES {
            println!("cargo:rerun-if-changed={}", www.join(input).display());
        }
        println!("cargo:rerun-if-env-changed=npm_config_cache");
        println!("cargo:rerun-if-env-changed=NPM_CONFIG_CACHE");
        match build_dashboard(&www, &out_dir) {
            Ok(table) => table,
            Err(message) => {
                eprintln!("error: {message}");
                std::process::exit(1);
            }
        }
    } else {
        table_source(&[])
    };
    let target = out_dir.join("assets.rs");
    if let Err(error) = fs::write(&target, table) {
        eprintln!("error: cannot write {}: {error}", target.display());
        std::process::exit(1);
    }
}

/// One built file as the table will hold it.
struct Built {
    url: String,
    file: PathBuf,
    gzip: Option<PathBuf>,
    content_type: &'static str,
    cache_control: &'static str,
    etag: String,
}

fn build_dashboard(www: &Path, out_dir: &Path) -> Result<String, String> {
    check_node()?;
    let work = out_dir.join("dashboard");
    copy_sources(www, &work)?;
    install_packages(&work, out_dir)?;
    let out = out_dir.join("www");
    run(
        Command::new("node").arg(work.join("build.mjs")).arg(&out),
        "node www/build.mjs (the dashboard build) failed",
    )?;

    let manifest_path = out.join("manifest.json");
    let manifest = fs::read_to_string(&manifest_path)
        .map_err(|error| format!("cannot read {}: {error}", manifest_path.display()))?;
    let entries: Vec<ManifestEntry> = parse_manifest(&manifest)?;
    let mut built = Vec::new();
    for entry in entries {
        let file = out.join(&entry.file);
        let bytes =
            fs::read(&file).map_err(|error| format!("cannot read {}: {error}", file.display()))?;
        built.push(Built {
            content_type: content_type(&entry.file)?,
            cache_control: if entry.immutable {
                CACHE_IMMUTABLE
            } else {
                CACHE_REVALIDATE
            },
            etag: format!("\"{}\"", &entry.sha256[..16]),
            gzip: gzip_if_smaller(&file, &bytes)?,
            url: entry.url,
            file,
        });
    }
    Ok(table_source(&built))
}

fn check_node() -> Result<(), String> {
    const INSTALL: &str = "the dashboard feature needs Node.js 18 or newer with npm on PATH: \
        install them (Debian/Ubuntu, as root: apt-get install nodejs npm), or build without the \
        dashboard by leaving out --features dashboard (e.g. cargo build --release)";
    let version = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|_| INSTALL.to_string())?;
    let text = String::from_utf8_lossy(&version.stdout);
    let major = text
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    match major {
        Some(major) if major >= NODE_MIN_MAJOR => {}
        _ => return Err(format!("{INSTALL}; found node {}", text.trim())),
    }
    let npm = Command::new("npm").arg("--version").output();
    if !npm.is_ok_and(|output| output.status.success()) {
        return Err(INSTALL.to_string());
    }
    Ok(())
}

/// A fresh copy of the page's sources in `work` (its `node_modules` is kept), so a file removed
/// from `www/` is gone from the build too.
fn copy_sources(www: &Path, work: &Path) -> Result<(), String> {
    fs::create_dir_all(work)
        .map_err(|error| format!("cannot create {}: {error}", work.display()))?;
    for name in SOURCES {
        let target = work.join(name);
        if target.is_dir() {
            fs::remove_dir_all(&target)
                .map_err(|error| format!("cannot remove {}: {error}", target.display()))?;
        }
        copy_tree(&www.join(name), &target)?;
    }
    Ok(())
}

fn copy_tree(source: &Path, target: &Path) -> Result<(), String> {
    let cannot = |what: &str, path: &Path, error: std::io::Error| {
        format!("cannot {what} {}: {error}", path.display())
    };
    if source.is_dir() {
        fs::create_dir_all(target).map_err(|error| cannot("create", target, error))?;
        let entries = fs::read_dir(source).map_err(|error| cannot("list", source, error))?;
        for entry in entries {
            let entry = entry.map_err(|error| cannot("list", source, error))?;
            copy_tree(&entry.path(), &target.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(source, target)
            .map(drop)
            .map_err(|error| cannot("copy", source, error))
    }
}

/// `npm ci` in `work` when its node_modules was not installed from this exact lockfile.
fn install_packages(work: &Path, out_dir: &Path) -> Result<(), String> {
    let lockfile = work.join("package-lock.json");
    let wanted = fs::read(&lockfile)
        .map_err(|error| format!("cannot read {}: {error}", lockfile.display()))?;
    let stamp = work.join(INSTALLED_LOCK);
    if fs::read(&stamp).is_ok_and(|installed| installed == wanted) {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.current_dir(work);
    // --ignore-scripts: no package runs code at install time (esbuild's binary arrives as an
    // optional dependency, its install script only double-checks it).
    npm.args([
        "ci",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
    ]);
    // npm's cache lives in OUT_DIR too, unless the builder shares one on purpose.
    if std::env::var_os("npm_config_cache").is_none()
        && std::env::var_os("NPM_CONFIG_CACHE").is_none()
    {
        npm.arg("--cache").arg(out_dir.join("npm-cache"));
    }
    run(
        &mut npm,
        "npm ci for the dashboard failed (a build directory's first build downloads the pinned \
         packages from the npm registry, later builds need no network)",
    )?;
    fs::write(&stamp, &wanted).map_err(|error| format!("cannot write {}: {error}", stamp.display()))
}

fn run(command: &mut Command, failure: &str) -> Result<Output, String> {
    let output = command
        .output()
        .map_err(|error| format!("{failure}: cannot start it: {error}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{failure} ({}):\n{}{}",
            describe(output.status),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_string(),
    }
}

/// The gzip file beside `file`, when compressing saves at least a tenth.
fn gzip_if_smaller(file: &Path, bytes: &[u8]) -> Result<Option<PathBuf>, String> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(bytes)
        .map_err(|error| format!("gzip {}: {error}", file.display()))?;
    let compressed = encoder
        .finish()
        .map_err(|error| format!("gzip {}: {error}", file.display()))?;
    if compressed.len() * 10 > bytes.len() * 9 {
        return Ok(None);
    }
    let mut target = file.as_os_str().to_owned();
    target.push(".gz");
    let target = PathBuf::from(target);
    fs::write(&target, compressed)
        .map_err(|error| format!("cannot write {}: {error}", target.display()))?;
    Ok(Some(target))
}

fn content_type(file: &str) -> Result<&'static str, String> {
    let extension = file.rsplit('.').next().unwrap_or_default();
    Ok(match extension {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        _ => {
            return Err(format!(
                "www/build.mjs produced {file}: no content type known for it"
            ));
        }
    })
}

/// The Rust source of the asset table, included by `src/serve/assets.rs`.
fn table_source(built: &[Built]) -> String {
    let mut source = String::from(
        "// Generated by build.rs from www/ (see www/build.mjs). Do not edit.\n\
         static ASSETS: &[(&str, Asset)] = &[\n",
    );
    for asset in built {
        let gzip = match &asset.gzip {
            Some(path) => format!("Some(include_bytes!({:?}))", path.display().to_string()),
            None => "None".to_string(),
        };
        let _ = writeln!(
            source,
            "    ({url:?}, Asset {{ content_type: {content_type:?}, body: include_bytes!({file:?}), \
             gzip: {gzip}, cache_control: {cache:?}, etag: {etag:?} }}),",
            url = asset.url,
            content_type = asset.content_type,
            file = asset.file.display().to_string(),
            cache = asset.cache_control,
            etag = asset.etag,
        );
    }
    source.push_str("];\n");
    source
}

/// One entry of `manifest.json`, which www/build.mjs writes.
struct ManifestEntry {
    url: String,
    file: String,
    immutable: bool,
    sha256: String,
}

fn parse_manifest(text: &str) -> Result<Vec<ManifestEntry>, String> {
    let bad = |why: &str| format!("www/build.mjs wrote a manifest this build cannot read: {why}");
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| bad(&error.to_string()))?;
    let list = value.as_array().ok_or_else(|| bad("not an array"))?;
    let mut entries = Vec::new();
    for item in list {
        let text_field = |name: &str| {
            item.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("an entry without {name}")))
        };
        let entry = ManifestEntry {
            url: text_field("url")?,
            file: text_field("file")?,
            immutable: item
                .get("immutable")
                .and_then(serde_json::Value::as_bool)
                .ok_or_else(|| bad("an entry without immutable"))?,
            sha256: text_field("sha256")?,
        };
        if entry.sha256.len() < 16 || !entry.sha256.is_ascii() {
            return Err(bad("a malformed sha256"));
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(bad("no files"));
    }
    Ok(entries)
}
