//! assets: the dashboard's files (`www/`), built and compiled into the binary so the page works on
//! a LAN without internet.
//!
//! build.rs builds `www/` (the page, a content-hashed script and stylesheet, the icon, the
//! licenses of the bundled npm packages), gzips each file once, and generates the table included
//! below. Without the `dashboard` feature the table is empty: `/` answers a 404 page saying that
//! this build has no dashboard and where the API is ([`crate::serve::api::files`]), other paths a
//! 404.

/// One file of the dashboard as the server sends it.
#[derive(Debug)]
pub struct Asset {
    pub content_type: &'static str,
    /// The file as built.
    pub body: &'static [u8],
    /// The same bytes gzip-compressed, for clients that accept it (`None` when compressing does
    /// not pay, e.g. images).
    pub gzip: Option<&'static [u8]>,
    /// `Cache-Control` value: long-lived for content-hashed names, `no-cache` for the page itself.
    pub cache_control: &'static str,
    /// Strong validator derived from the content (of `body`; a response sent gzip-compressed
    /// should say `Vary: Accept-Encoding`).
    pub etag: &'static str,
}

// `static ASSETS: &[(&str, Asset)]`: request path → file, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset served at this request path (`/` and `/index.html` are the page), if any.
pub fn lookup(path: &[u8]) -> Option<&'static Asset> {
    let path = if path == b"/index.html" { b"/" } else { path };
    ASSETS
        .iter()
        .find(|(url, _)| url.as_bytes() == path)
        .map(|(_, asset)| asset)
}

/// Every asset with its path, for tests and for measuring the page's weight.
pub fn all() -> impl Iterator<Item = (&'static str, &'static Asset)> {
    ASSETS.iter().map(|(url, asset)| (*url, asset))
}
