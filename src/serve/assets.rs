//! assets: the dashboard's files (`www/`), built and compiled into the binary so the page works on
//! a LAN without internet.
//!
//! Until the dashboard build lands this table is empty and every non-API path is a 404.

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
    /// Strong validator derived from the content.
    pub etag: &'static str,
}

/// The asset served at this request path (`/` is the page), if any.
pub fn lookup(_path: &[u8]) -> Option<&'static Asset> {
    None
}
