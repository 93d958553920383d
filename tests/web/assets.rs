//! The dashboard's files as the binary holds them (`serve::assets`, built by build.rs from
//! `www/`): every asset the page reaches is in the table and nothing else, nothing is loaded from
//! another host, caching and content types follow the file kind, and the gzip bodies unpack to
//! the files. Needs the crate built with the `dashboard` feature (without it the table is empty).

use nettraffic_sentinel::serve::assets::{all, lookup};
use std::io::Read;

fn page() -> &'static str {
    let asset = lookup(b"/").expect("the page is at /");
    std::str::from_utf8(asset.body).expect("the page is UTF-8")
}

/// The names a file refers to with `prefix` (`"assets/` in the page, `"./` in a module, both
/// relative: the page may sit under a sub-path), as request paths.
fn references(text: &str, prefix: &str) -> Vec<String> {
    text.split(prefix)
        .skip(1)
        .map(|rest| format!("/assets/{}", rest.split('"').next().unwrap_or_default()))
        .collect()
}

/// Every asset the page loads: those it names, and the modules they import, transitively.
fn reachable_assets() -> Vec<String> {
    let mut found = references(page(), "\"assets/");
    let mut next = 0;
    while next < found.len() {
        let url = found[next].clone();
        next += 1;
        let asset =
            lookup(url.as_bytes()).unwrap_or_else(|| panic!("{url} is referred to but not served"));
        if url.ends_with(".js") {
            let text = std::str::from_utf8(asset.body).expect("a module is UTF-8");
            for imported in references(text, "\"./") {
                if !found.contains(&imported) {
                    found.push(imported);
                }
            }
        }
    }
    found
}

fn the_page_reaches_only_assets_the_table_holds_and_all_of_them() {
    let reachable = reachable_assets();
    assert!(
        reachable.iter().any(|url| url.ends_with(".css"))
            && reachable.iter().filter(|url| url.ends_with(".js")).count() >= 2,
        "the page loads no stylesheet, or its script imports no module: {reachable:?}"
    );
    for (url, _) in all().filter(|(url, _)| url.starts_with("/assets/")) {
        assert!(
            reachable.iter().any(|r| r == url),
            "{url} is served but the page never loads it"
        );
    }
    assert!(
        !page().contains("{{"),
        "a placeholder of www/index.html was left unfilled"
    );
}

fn the_page_loads_nothing_from_another_host() {
    for needle in [
        "http://",
        "https://",
        "src=\"//",
        "href=\"//",
        "src=\"/",
        "href=\"/",
    ] {
        assert!(
            !page().contains(needle),
            "the page refers to {needle}…: it must only use relative URLs"
        );
    }
}

fn hashed_names_are_cached_for_long_and_the_page_is_revalidated() {
    for (url, asset) in all() {
        if url.starts_with("/assets/") {
            assert_eq!(
                asset.cache_control, "public, max-age=31536000, immutable",
                "{url}"
            );
        } else {
            assert_eq!(asset.cache_control, "no-cache", "{url}");
        }
        assert!(
            asset.etag.starts_with('"') && asset.etag.ends_with('"') && asset.etag.len() == 18,
            "{url}: {}",
            asset.etag
        );
    }
}

fn content_types_follow_the_file_kind() {
    let expected = |url: &str| match url.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "text/html; charset=utf-8",
    };
    for (url, asset) in all() {
        assert_eq!(asset.content_type, expected(url), "{url}");
    }
    let kinds: Vec<&str> = all().map(|(_, asset)| asset.content_type).collect();
    for needed in [
        "text/html; charset=utf-8",
        "text/javascript; charset=utf-8",
        "text/css; charset=utf-8",
    ] {
        assert!(kinds.contains(&needed), "no {needed} asset");
    }
}

fn gzip_bodies_unpack_to_the_files_and_are_smaller() {
    let mut compressed = 0;
    for (url, asset) in all() {
        let Some(gzip) = asset.gzip else { continue };
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(gzip)
            .read_to_end(&mut unpacked)
            .unwrap_or_else(|error| panic!("{url}: gzip body does not unpack: {error}"));
        assert_eq!(unpacked, asset.body, "{url}");
        assert!(gzip.len() < asset.body.len(), "{url}");
        compressed += 1;
    }
    let script = all()
        .find(|(url, _)| url.ends_with(".js"))
        .expect("a script");
    assert!(script.1.gzip.is_some(), "the script is sent uncompressed");
    assert!(compressed >= 3);
}

fn lookup_answers_exact_paths_only() {
    assert!(std::ptr::eq(
        lookup(b"/index.html").expect("alias"),
        lookup(b"/").expect("page")
    ));
    for path in [
        &b""[..],
        b"/nope",
        b"/assets/",
        b"/assets/../index.html",
        b"//",
        b"/index.html/",
        b"/INDEX.HTML",
    ] {
        assert!(
            lookup(path).is_none(),
            "{:?}",
            String::from_utf8_lossy(path)
        );
    }
    assert!(lookup(b"/licenses.txt").is_some());
}

tests! {
    #[needs(Dashboard)]
    the_page_reaches_only_assets_the_table_holds_and_all_of_them,
    #[needs(Dashboard)]
    the_page_loads_nothing_from_another_host,
    #[needs(Dashboard)]
    hashed_names_are_cached_for_long_and_the_page_is_revalidated,
    #[needs(Dashboard)]
    content_types_follow_the_file_kind,
    #[needs(Dashboard)]
    gzip_bodies_unpack_to_the_files_and_are_smaller,
    #[needs(Dashboard)]
    lookup_answers_exact_paths_only,
}
