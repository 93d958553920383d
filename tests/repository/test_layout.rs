//! The layout of the integration tests, kept by a test: every test binary is `harness = false`
//! (tests/support/harness.rs runs it), so a libtest `#[test]` attribute would compile and never
//! run, and a module file its `main.rs` does not declare would never be built. Both are refused
//! here, as is a test binary Cargo.toml does not declare with `harness = false`.

use std::path::{Path, PathBuf};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
}

/// The folders of `tests/` that hold a test binary (`main.rs`).
fn binaries() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(tests_dir())
        .expect("tests/")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.join("main.rs").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn no_libtest_attribute_in_any_test_source() {
    // Spelled in two pieces so this file does not find itself.
    let attribute = concat!("#[", "test]");
    let mut offenders = Vec::new();
    let mut dirs = vec![tests_dir()];
    dirs.extend(
        std::fs::read_dir(tests_dir())
            .expect("tests/")
            .filter_map(|entry| {
                let path = entry.expect("directory entry").path();
                path.is_dir().then_some(path)
            }),
    );
    for dir in dirs {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).expect("read a test source");
            for (number, line) in text.lines().enumerate() {
                if line.trim_start().starts_with(attribute) {
                    offenders.push(format!("{}:{}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "{attribute} never runs in these harness = false binaries: list the function in its \
         module's tests! {{ }} instead: {offenders:?}"
    );
}

fn every_module_file_is_declared_and_run_by_its_binary() {
    for dir in binaries() {
        let main = std::fs::read_to_string(dir.join("main.rs")).expect("main.rs");
        for file in rust_files(&dir) {
            let module = file.file_stem().expect("a name").to_string_lossy();
            if module == "main" {
                continue;
            }
            assert!(
                main.lines()
                    .any(|line| line.trim() == format!("mod {module};")),
                "{} is not declared in {}/main.rs: its tests would never be built",
                file.display(),
                dir.display()
            );
            let runs = main
                .match_indices(&format!("{module}::tests"))
                .any(|(at, found)| {
                    let before = main[..at].chars().next_back();
                    let after = main[at + found.len()..].chars().next();
                    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !word(before) && !word(after)
                });
            assert!(
                runs,
                "{}/main.rs does not run {module}::tests",
                dir.display()
            );
        }
    }
    let loose = rust_files(&tests_dir());
    assert!(
        loose.is_empty(),
        "test sources belong in a themed folder with a main.rs: {loose:?}"
    );
}

fn every_binary_is_declared_without_the_libtest_harness() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    for dir in binaries() {
        let name = dir.file_name().expect("a name").to_string_lossy();
        let declaration = format!(
            "[[test]]\nname = \"{name}\"\npath = \"tests/{name}/main.rs\"\nharness = false\n"
        );
        assert!(
            manifest.contains(&declaration),
            "Cargo.toml must declare tests/{name}/main.rs as:\n{declaration}"
        );
    }
}

tests! {
    no_libtest_attribute_in_any_test_source,
    every_module_file_is_declared_and_run_by_its_binary,
    every_binary_is_declared_without_the_libtest_harness,
}
