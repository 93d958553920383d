//! Which certificate authorities HTTPS and SMTP over TLS trust.
//!
//! The system's, as `rustls-native-certs` finds them (`/etc/ssl/certs/…` and the other places
//! distributions use), which honours `SSL_CERT_FILE` and `SSL_CERT_DIR` as OpenSSL does: a
//! self-hosted server with its own CA is trusted by pointing `SSL_CERT_FILE` at a bundle that
//! holds it (the tests do exactly this). When the system has no certificates at all (a NAS
//! without a CA bundle, a minimal container) and neither variable is set, the bundled Mozilla
//! roots (`webpki-roots`) are used instead of failing every send.

use std::sync::Arc;

use rustls_pki_types::CertificateDer;

/// The certificate authorities to trust.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Certificates found on this system (or in `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    System {
        certificates: Arc<Vec<CertificateDer<'static>>>,
        /// Where they came from, for the owner.
        from: String,
    },
    /// The roots compiled into the program (Mozilla's, through webpki-roots).
    Bundled,
    /// `SSL_CERT_FILE` or `SSL_CERT_DIR` is set but gives no certificate: every TLS connection
    /// fails with this reason rather than trusting something the owner did not ask for.
    Nothing(String),
}

impl Trust {
    /// Load the system's certificates once (call at start; it reads a few hundred KiB).
    pub fn load() -> Trust {
        let variables: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .into_iter()
            .filter_map(|name| {
                std::env::var_os(name)
                    .filter(|value| !value.is_empty())
                    .map(|value| format!("{name}={}", value.to_string_lossy()))
            })
            .collect();
        let found = rustls_native_certs::load_native_certs();
        if !found.certs.is_empty() {
            let from = if variables.is_empty() {
                "the system's certificate store".to_string()
            } else {
                variables.join(" and ")
            };
            return Trust::System {
                certificates: Arc::new(found.certs),
                from,
            };
        }
        if variables.is_empty() {
            return Trust::Bundled;
        }
        let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
        Trust::Nothing(format!(
            "{} gives no certificate{}",
            variables.join(" and "),
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join("; "))
            }
        ))
    }

    /// One line for the owner: which authorities are trusted.
    pub fn describe(&self) -> String {
        match self {
            Trust::System { certificates, from } => format!(
                "TLS trusts {} certificate authorities from {from}",
                certificates.len()
            ),
            Trust::Bundled => {
                "TLS trusts the bundled Mozilla roots (this system has no CA certificates; set SSL_CERT_FILE to use others)".to_string()
            }
            Trust::Nothing(why) => format!("TLS trusts nothing: {why}"),
        }
    }
}
