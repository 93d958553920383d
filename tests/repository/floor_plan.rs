//! The crate's floor plan, kept: dependencies only go down, and no module's parts import each
//! other in a loop.
//!
//! Floors, lowest first (a module may name only modules on floors below its own):
//!
//! ```text
//! parse, clock, units, shutdown, notify, remote  →  classify | lan  →  service  →  count  →  live
//!   →  capture | store  →  persister | export  →  quota  →  serve  →  config  →  commands  →  cli  (→ main)
//! ```
//!
//! `capture` and `store` share a floor, so neither names the other. The check reads the source
//! text: every `crate::…` and `super::…` path outside comments (doc links are not dependencies),
//! resolved from the file it is in, so `super::super::capture` from `src/store/` is caught like
//! `crate::capture`. Within each folder, its files and subfolders must not name each other in a
//! loop (e.g. `store::days` → `store::query` → `store::days`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The floors, lowest first.
const FLOORS: &[&[&str]] = &[
    &["parse", "clock", "units", "shutdown", "notify", "remote"],
    &["classify", "lan"],
    &["service"],
    &["count"],
    &["live"],
    &["capture", "store"],
    &["persister", "export"],
    &["quota"],
    &["serve"],
    &["config"],
    &["commands"],
    &["cli"],
];

/// A source file: its module path (`["store", "query"]`; a folder's `mod.rs` is the folder) and
/// its text.
struct Source {
    module: Vec<String>,
    text: String,
}

fn module_of(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts
}

/// Every path the code names, made absolute (`crate` dropped): `use super::days::X` in
/// `store/query.rs` gives `["store", "days", "X"]`.
fn named_paths(source: &Source) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for line in source.text.lines() {
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        let mut rest = code;
        while let Some(start) = find_path_start(rest) {
            let (base, after) = if let Some(after) = rest[start..].strip_prefix("crate::") {
                (Vec::new(), after)
            } else {
                let mut after = &rest[start..];
                let mut up = 0;
                while let Some(next) = after.strip_prefix("super::") {
                    up += 1;
                    after = next;
                }
                let keep = source.module.len().saturating_sub(up);
                (source.module[..keep].to_vec(), after)
            };
            for tail in tails(after) {
                let mut path = base.clone();
                path.extend(tail);
                paths.push(path);
            }
            rest = &after[after.len().min(1)..];
        }
    }
    paths
}

/// Where the next `crate::` or `super::` starts as a path of its own (not inside `$crate::` or a
/// longer name).
fn find_path_start(text: &str) -> Option<usize> {
    let mut from = 0;
    loop {
        let candidates = [text[from..].find("crate::"), text[from..].find("super::")];
        let at = from + candidates.into_iter().flatten().min()?;
        let before = text[..at].chars().next_back();
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '$')) {
            return Some(at);
        }
        from = at + 1;
    }
}

/// The module paths after `crate::`/`super::`: `a::b::C` gives one, `{a::B, c}` gives one per
/// item of the group (their leading names are what counts).
fn tails(after: &str) -> Vec<Vec<String>> {
    if let Some(group) = after.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut current = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        items.push(current);
        return items
            .iter()
            .map(|item| segments(item.trim()))
            .filter(|path| !path.is_empty() && path[0] != "self")
            .collect();
    }
    vec![segments(after)]
}

fn segments(text: &str) -> Vec<String> {
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        path.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(next) if !next.starts_with('{') => rest = next,
            _ => break,
        }
    }
    path
}

/// Everything wrong with the floor plan of `sources`, one line each.
fn check(sources: &[Source]) -> Vec<String> {
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let floor_of = |name: &str| FLOORS.iter().position(|floor| floor.contains(&name));
    let mut problems = Vec::new();
    // Per folder (module path), the edges between its children.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<(String, String)>> = BTreeMap::new();
    for source in sources {
        let Some(own) = source.module.first() else {
            continue;
        };
        for named in named_paths(source) {
            let Some(top) = named.first() else { continue };
            if top != own {
                match (floor_of(own), floor_of(top)) {
                    (Some(from), Some(to)) if to >= from => problems.push(format!(
                        "src/{}: names crate::{} (floor {to}), but {own} is on floor {from} and may only name floors below it",
                        source.module.join("/"),
                        named.join("::"),
                    )),
                    (None, _) => problems.push(format!(
                        "src/{}: module {own} is on no floor of the plan",
                        source.module.join("/")
                    )),
                    _ => {}
                }
            }
            // The module named: the longest prefix that is a file or folder of the crate.
            let Some(target) = (1..=named.len())
                .rev()
                .map(|n| named[..n].to_vec())
                .find(|prefix| modules.contains(prefix))
            else {
                continue;
            };
            let common = source
                .module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            // A folder naming its own parts, or a part naming its folder's items, is no loop.
            if common < source.module.len() && common < target.len() {
                edges
                    .entry(target[..common].to_vec())
                    .or_default()
                    .insert((source.module[common].clone(), target[common].clone()));
            }
        }
    }
    // One line per file and kind of problem is enough.
    problems.dedup();
    for (folder, pairs) in &edges {
        if let Some(cycle) = find_cycle(pairs) {
            let place = if folder.is_empty() {
                "the crate".to_string()
            } else {
                folder.join("::")
            };
            problems.push(format!(
                "{place}: its parts import each other in a loop: {}",
                cycle.join(" → ")
            ));
        }
    }
    problems
}

/// A loop in the directed graph `pairs`, as its nodes with the first repeated at the end.
fn find_cycle(pairs: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in pairs {
        next.entry(from).or_default().push(to);
    }
    fn visit<'a>(
        node: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|n| n.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for to in next.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(to, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for start in next.keys() {
        if let Some(cycle) = visit(start, &next, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn read_sources(dir: &Path, root: &Path, sources: &mut Vec<Source>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|entry| entry.expect("src/ is readable").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(&path, root, sources);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .expect("inside src/")
                .to_string_lossy()
                .into_owned();
            // The crate root declares every module, and `main` names only the library's `cli`.
            if relative == "lib.rs" || relative == "main.rs" {
                continue;
            }
            sources.push(Source {
                module: module_of(&relative),
                text: std::fs::read_to_string(&path).expect("a source file is readable"),
            });
        }
    }
}

fn source(relative: &str, text: &str) -> Source {
    Source {
        module: module_of(relative),
        text: text.to_string(),
    }
}

fn the_crate_keeps_its_floor_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    read_sources(&root, &root, &mut sources);
    assert!(
        sources.iter().any(|s| s.module == ["store", "query"]),
        "the sources were not found under {}",
        root.display()
    );
    let tops: BTreeSet<&str> = sources
        .iter()
        .filter_map(|s| s.module.first().map(String::as_str))
        .collect();
    let planned: BTreeSet<&str> = FLOORS.iter().flat_map(|f| f.iter().copied()).collect();
    assert_eq!(
        tops, planned,
        "every top-level module has a floor, and every floor's module exists"
    );
    let problems = check(&sources);
    assert!(
        problems.is_empty(),
        "the floor plan is broken:\n{}",
        problems.join("\n")
    );
}

fn the_check_catches_the_store_naming_capture_serve_or_config() {
    for forbidden in [
        "use crate::capture::file::read_capture;",
        "use crate::serve::api::Api;",
        "let c: crate::config::Config = todo!();",
        "use super::super::capture::engine;",
        "use crate::{clock::Zone, config::Config};",
        "use crate::persister::Persister;",
    ] {
        let sources = [
            source(
                "store/query.rs",
                &format!("use super::days::X;\n{forbidden}\n"),
            ),
            source("store/days.rs", "use crate::clock::Zone;\n"),
        ];
        let problems = check(&sources);
        assert_eq!(problems.len(), 1, "{forbidden}: {problems:?}");
        assert!(
            problems[0].starts_with("src/store/query: names crate::"),
            "{problems:?}"
        );
    }
}

fn the_check_catches_capture_naming_store_or_serve() {
    for forbidden in ["use crate::store::Store;", "crate::serve::http::start(x);"] {
        let problems = check(&[source("capture/engine.rs", forbidden)]);
        assert_eq!(problems.len(), 1, "{forbidden}: {problems:?}");
    }
}

fn the_check_allows_lower_floors_comments_and_a_folder_using_its_parts() {
    let sources = [
        source(
            "store/mod.rs",
            "//! Filled by [`crate::persister`].\npub use query::X;\nuse crate::clock::Zone;\n",
        ),
        source(
            "store/query.rs",
            "use super::{Store, days::DayIndex};\nuse crate::count::UpDown; // not crate::serve\n",
        ),
        source(
            "store/days.rs",
            "use super::Store;\nuse crate::live::LiveState;\n",
        ),
        source("serve/api/mod.rs", "use crate::store::Store;\n"),
        source("serve/api/live.rs", "use super::super::http::Request;\n"),
        source("serve/http/mod.rs", "use crate::units::ByteSize;\n"),
    ];
    assert_eq!(check(&sources), Vec::<String>::new());
}

fn the_check_catches_a_loop_inside_a_module() {
    let sources = [
        source("store/days.rs", "use super::query::day_start;\n"),
        source("store/query.rs", "use super::overlay::LiveView;\n"),
        source("store/overlay.rs", "use crate::store::days::DaySum;\n"),
        source("serve/api/mod.rs", "use crate::serve::http::Request;\n"),
        source("serve/http/mod.rs", "use super::api::Api;\n"),
    ];
    let problems = check(&sources);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("serve: its parts import each other in a loop: "));
    assert!(problems[1].starts_with("store: its parts import each other in a loop: "));
}

tests! {
    the_crate_keeps_its_floor_plan,
    the_check_catches_the_store_naming_capture_serve_or_config,
    the_check_catches_capture_naming_store_or_serve,
    the_check_allows_lower_floors_comments_and_a_folder_using_its_parts,
    the_check_catches_a_loop_inside_a_module,
}
