//! auth: HTTP basic authentication against `WEB_AUTH`, compared in constant time.
//!
//! The expected `user:password` is kept only as its SHA-256 digest; a request's credentials are
//! decoded, hashed, and the two digests compared with a fold that looks at every byte, so the
//! time taken does not tell an attacker how much of a guess was right. Passwords are never
//! logged.

use sha2::{Digest, Sha256};

/// The path that stays open without credentials, so health checks need no password.
pub const EXEMPT_PATH: &[u8] = b"/api/health";

/// What a 401 answer asks the browser for.
pub const CHALLENGE: &str = "Basic realm=\"NetTraffic-Sentinel\"";

/// The credentials `WEB_AUTH` asks for.
pub struct Credentials {
    digest: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

impl Credentials {
    pub fn new(user: &str, password: &str) -> Credentials {
        let mut hasher = Sha256::new();
        hasher.update(user.as_bytes());
        hasher.update(b":");
        hasher.update(password.as_bytes());
        Credentials {
            digest: hasher.finalize().into(),
        }
    }

    /// What an `Authorization` field value carries.
    pub fn judge(&self, authorization: Option<&[u8]>) -> Presented {
        let Some(value) = authorization else {
            return Presented::Nothing;
        };
        let value = value.trim_ascii();
        let Some(space) = value.iter().position(|&byte| byte == b' ') else {
            return Presented::Nothing;
        };
        let (scheme, token) = value.split_at(space);
        if !scheme.eq_ignore_ascii_case(b"basic") {
            return Presented::Nothing;
        }
        let Some(decoded) = decode_base64(token.trim_ascii()) else {
            return Presented::Nothing;
        };
        let digest: [u8; 32] = Sha256::digest(&decoded).into();
        if constant_time_eq(&digest, &self.digest) {
            Presented::Right
        } else {
            Presented::Wrong
        }
    }
}

/// What a request's `Authorization` field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// No basic credentials (no field, another scheme, not base64): nothing was guessed.
    Nothing,
    /// Basic credentials that are not `WEB_AUTH`'s: a guess.
    Wrong,
    Right,
}

/// Equal digests, looking at every byte whatever the first difference.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(difference) == 0
}

/// Standard base64 (RFC 4648 §4); the `=` padding may be left out.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let text = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    if text.len() % 4 == 1 {
        return None;
    }
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let mut bits: u32 = 0;
    let mut count = 0;
    for &symbol in text {
        let value = match symbol {
            b'A'..=b'Z' => symbol - b'A',
            b'a'..=b'z' => symbol - b'a' + 26,
            b'0'..=b'9' => symbol - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        // RFC 4648 §10 test vectors.
        for (encoded, plain) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9vYg", "foob"),
        ] {
            assert_eq!(
                decode_base64(encoded.as_bytes()).as_deref(),
                Some(plain.as_bytes()),
                "{encoded}"
            );
        }
        for bad in ["Z", "Zm9v!", "Zm 9v", "Zg===", "Zm9vY"] {
            assert_eq!(decode_base64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn only_the_configured_pair_is_accepted() {
        let credentials = Credentials::new("admin", "s3cret:with:colons");
        let judge = |value: &[u8]| credentials.judge(Some(value));
        // base64("admin:s3cret:with:colons")
        assert_eq!(
            judge(b"Basic YWRtaW46czNjcmV0OndpdGg6Y29sb25z"),
            Presented::Right
        );
        assert_eq!(
            judge(b"basic   YWRtaW46czNjcmV0OndpdGg6Y29sb25z "),
            Presented::Right
        );
        // base64("admin:s3cret:with:colonz"): a guess.
        assert_eq!(
            judge(b"Basic YWRtaW46czNjcmV0OndpdGg6Y29sb256"),
            Presented::Wrong
        );
        // Nothing guessed: no field, no credentials, another scheme, not base64.
        assert_eq!(credentials.judge(None), Presented::Nothing);
        for nothing in [
            &b""[..],
            b"Basic",
            b"Bearer YWRtaW46czNjcmV0OndpdGg6Y29sb25z",
            b"Basic \xff\xfe",
        ] {
            assert_eq!(judge(nothing), Presented::Nothing, "{nothing:?}");
        }
        assert!(
            !format!("{credentials:?}").contains("s3cret"),
            "Debug output never shows the password"
        );
    }
}
