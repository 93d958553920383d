//! The dashboard's files from [`crate::serve::assets`]: their content type and `Cache-Control`,
//! an `ETag` with 304 answers to `If-None-Match`, and the gzip copy for clients that accept it.
//! A build without the dashboard (no `dashboard` feature) answers `/` with a page saying so, how
//! to get one, and where the API is.
//!
//! The gzip body is a different representation of the same file, so it carries its own strong
//! validator (the file's ETag with `-gzip` appended inside the quotes) and every answer for a
//! file that has both says `Vary: Accept-Encoding`, so caches keep them apart.

use std::borrow::Cow;

use crate::serve::assets::{self, Asset};
use crate::serve::{Body, Request, Response};

/// The file at the request's path, if the dashboard has one.
pub fn answer(request: &Request<'_>) -> Option<Response> {
    answer_from(assets::lookup, request)
}

/// As [`answer`], with the files `lookup` finds: a build without the page (nothing at `/`)
/// answers `/` and `/index.html` with [`no_dashboard`].
pub fn answer_from(
    lookup: impl Fn(&[u8]) -> Option<&'static Asset>,
    request: &Request<'_>,
) -> Option<Response> {
    if let Some(asset) = lookup(request.path) {
        return Some(respond(asset, request));
    }
    let is_page = matches!(request.path, b"/" | b"/index.html");
    (is_page && lookup(b"/").is_none()).then(no_dashboard)
}

/// Whether this build serves the dashboard.
pub fn has_dashboard() -> bool {
    assets::lookup(b"/").is_some()
}

/// What a build without the dashboard says at `/`: a 404 in plain words.
pub const NO_DASHBOARD: &str = "NetTraffic-Sentinel is running, but this build has no dashboard: \
it was built without the `dashboard` feature (off by default in cargo build).

The JSON API is under /api/ (for example /api/summary, /api/health, \
/api/query?start=YYYY-MM-DD&end=YYYY-MM-DD) and Prometheus metrics are at /metrics.

To get the dashboard, build with the `dashboard` feature (it needs Node.js 18 or newer with npm): \
cargo build --release --features dashboard, or scripts/build-release.
";

/// The answer to `/` in a build without the dashboard.
pub fn no_dashboard() -> Response {
    Response {
        status: 404,
        content_type: "text/plain; charset=utf-8",
        body: Body::Static(NO_DASHBOARD.as_bytes()),
        headers: vec![("Cache-Control", "no-cache".to_string())],
    }
}

/// `asset` as `request` asked for it.
pub fn respond(asset: &'static Asset, request: &Request<'_>) -> Response {
    let gzip = asset
        .gzip
        .filter(|_| accepts_gzip(request.header("accept-encoding").unwrap_or_default()));
    let etag = quoted(asset.etag);
    let etag = match gzip {
        Some(_) => Cow::Owned(format!("{}-gzip\"", &etag[..etag.len() - 1])),
        None => etag,
    };
    let mut headers = Vec::with_capacity(4);
    headers.push(("Cache-Control", asset.cache_control.to_string()));
    if asset.gzip.is_some() {
        headers.push(("Vary", "Accept-Encoding".to_string()));
    }
    let unchanged = request
        .header("if-none-match")
        .is_some_and(|value| none_match_hits(value, &etag));
    headers.push(("ETag", etag.into_owned()));
    if unchanged {
        return Response {
            status: 304,
            content_type: asset.content_type,
            body: Body::Static(b""),
            headers,
        };
    }
    let body = match gzip {
        Some(compressed) => {
            headers.push(("Content-Encoding", "gzip".to_string()));
            compressed
        }
        None => asset.body,
    };
    Response {
        status: 200,
        content_type: asset.content_type,
        body: Body::Static(body),
        headers,
    }
}

/// An entity tag with its quotes, whether the asset table stores them or not.
fn quoted(tag: &str) -> Cow<'_, str> {
    if tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"') {
        Cow::Borrowed(tag)
    } else {
        Cow::Owned(format!("\"{tag}\""))
    }
}

/// Whether an `Accept-Encoding` value admits gzip: `gzip`, `x-gzip` or `*` without `q=0`.
fn accepts_gzip(value: &[u8]) -> bool {
    let mut star = None;
    for item in value.split(|byte| *byte == b',') {
        let mut parts = item.split(|byte| *byte == b';');
        let coding = parts.next().unwrap_or_default().trim_ascii();
        let refused = parts.any(|parameter| {
            let parameter = parameter.trim_ascii();
            let Some(q) = parameter
                .strip_prefix(b"q=")
                .or_else(|| parameter.strip_prefix(b"Q="))
            else {
                return false;
            };
            // q=0, q=0.0, q=0.000 refuse; anything else (malformed included) accepts.
            q.first() == Some(&b'0') && q[1..].iter().all(|b| matches!(b, b'.' | b'0'))
        });
        if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            return !refused;
        }
        if coding == b"*" {
            star = Some(!refused);
        }
    }
    star.unwrap_or(false)
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, as RFC 9110 asks) or is `*`.
fn none_match_hits(value: &[u8], etag: &str) -> bool {
    value.split(|byte| *byte == b',').any(|candidate| {
        let candidate = candidate.trim_ascii();
        let candidate = candidate.strip_prefix(b"W/").unwrap_or(candidate);
        candidate == b"*" || candidate == etag.as_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::Header;

    static PAGE: Asset = Asset {
        content_type: "text/html; charset=utf-8",
        body: b"<!doctype html><title>x</title>",
        gzip: Some(b"\x1f\x8bcompressed"),
        cache_control: "no-cache",
        etag: "\"abc123\"",
    };
    static IMAGE: Asset = Asset {
        content_type: "image/png",
        body: b"\x89PNG",
        gzip: None,
        cache_control: "public, max-age=31536000, immutable",
        etag: "def456",
    };

    fn get<'a>(headers: &'a [Header<'a>]) -> Request<'a> {
        Request {
            method: "GET",
            path: b"/",
            query: b"",
            headers,
        }
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn nothing(_: &[u8]) -> Option<&'static Asset> {
        None
    }

    fn only_page(path: &[u8]) -> Option<&'static Asset> {
        (path == b"/").then_some(&PAGE)
    }

    #[test]
    fn without_the_dashboard_the_root_says_so_and_points_to_the_api() {
        for path in [&b"/"[..], b"/index.html"] {
            let request = Request { path, ..get(&[]) };
            let response = answer_from(nothing, &request).expect("an answer for the page");
            assert_eq!(response.status, 404);
            assert_eq!(response.content_type, "text/plain; charset=utf-8");
            let text = std::str::from_utf8(response.body.as_bytes()).expect("UTF-8");
            for needed in [
                "this build has no dashboard",
                "`dashboard` feature",
                "Node.js",
                "scripts/build-release",
                "/api/",
                "/metrics",
            ] {
                assert!(text.contains(needed), "{needed} missing from: {text}");
            }
            assert!(!text.contains("dashboard at /"), "{text}");
        }
        // Other paths stay for the caller's 404; a build with the page serves it.
        let other = Request {
            path: b"/favicon.ico",
            ..get(&[])
        };
        assert!(answer_from(nothing, &other).is_none());
        let response = answer_from(only_page, &get(&[])).expect("the page");
        assert_eq!(response.status, 200);
        assert_eq!(response.body.as_bytes(), PAGE.body);
    }

    #[test]
    fn plain_answer_without_gzip() {
        let response = respond(&PAGE, &get(&[]));
        assert_eq!(response.status, 200);
        assert_eq!(response.content_type, "text/html; charset=utf-8");
        assert_eq!(response.body.as_bytes(), PAGE.body);
        assert_eq!(header(&response, "Cache-Control"), Some("no-cache"));
        assert_eq!(header(&response, "ETag"), Some("\"abc123\""));
        assert_eq!(header(&response, "Vary"), Some("Accept-Encoding"));
        assert_eq!(header(&response, "Content-Encoding"), None);
    }

    #[test]
    fn gzip_when_accepted_with_its_own_etag() {
        let headers = [Header {
            name: "Accept-Encoding",
            value: b"br, gzip;q=0.8, deflate",
        }];
        let response = respond(&PAGE, &get(&headers));
        assert_eq!(response.status, 200);
        assert_eq!(response.body.as_bytes(), PAGE.gzip.unwrap());
        assert_eq!(header(&response, "Content-Encoding"), Some("gzip"));
        assert_eq!(header(&response, "ETag"), Some("\"abc123-gzip\""));
        assert_eq!(header(&response, "Vary"), Some("Accept-Encoding"));
    }

    #[test]
    fn accept_encoding_forms() {
        for yes in [
            &b"gzip"[..],
            b"GZIP",
            b"x-gzip",
            b"deflate, gzip",
            b"*",
            b"gzip;q=0.5",
            b"identity;q=0, *;q=1",
        ] {
            assert!(accepts_gzip(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b""[..],
            b"br",
            b"gzip;q=0",
            b"gzip; q=0.000",
            b"*;q=0",
            b"gzip;q=0, *",
            b"gzipx",
        ] {
            assert!(!accepts_gzip(no), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn if_none_match_gives_304_with_the_validators() {
        let headers = [Header {
            name: "If-None-Match",
            value: b"\"other\", W/\"abc123\"",
        }];
        let response = respond(&PAGE, &get(&headers));
        assert_eq!(response.status, 304);
        assert!(response.body.as_bytes().is_empty());
        assert_eq!(header(&response, "ETag"), Some("\"abc123\""));
        assert_eq!(header(&response, "Cache-Control"), Some("no-cache"));
        // The gzip representation has another tag: the plain one does not match it.
        let headers = [
            headers[0],
            Header {
                name: "accept-encoding",
                value: b"gzip",
            },
        ];
        assert_eq!(respond(&PAGE, &get(&headers)).status, 200);
        let headers = [
            Header {
                name: "If-None-Match",
                value: b"\"abc123-gzip\"",
            },
            headers[1],
        ];
        let response = respond(&PAGE, &get(&headers));
        assert_eq!(response.status, 304);
        assert_eq!(header(&response, "Content-Encoding"), None);
        let star = [Header {
            name: "If-None-Match",
            value: b"*",
        }];
        assert_eq!(respond(&PAGE, &get(&star)).status, 304);
    }

    #[test]
    fn unquoted_tags_are_quoted_and_files_without_gzip_do_not_vary() {
        let headers = [Header {
            name: "Accept-Encoding",
            value: b"gzip",
        }];
        let response = respond(&IMAGE, &get(&headers));
        assert_eq!(response.body.as_bytes(), IMAGE.body);
        assert_eq!(header(&response, "ETag"), Some("\"def456\""));
        assert_eq!(header(&response, "Vary"), None);
        assert_eq!(header(&response, "Content-Encoding"), None);
        assert_eq!(
            header(&response, "Cache-Control"),
            Some("public, max-age=31536000, immutable")
        );
    }
}
