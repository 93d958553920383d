//! Notification targets from URLs in the form Apprise and Shoutrrr users already write, with
//! every password and token masked wherever a target is shown.
//!
//! The forms (a documented subset of Apprise's; docs/alerts.md has each service's request):
//!
//! ```text
//! ntfy://TOPIC                                   ntfy.sh, always over HTTPS
//! ntfy[s]://[USER:PASSWORD@|TOKEN@]HOST[:PORT]/TOPIC[/TOPIC…]   a self-hosted ntfy (TOKEN: tk_…)
//! tgram://BOT_TOKEN/CHAT_ID[/CHAT_ID…]           Telegram Bot API sendMessage
//! mailto[s]://[USER:PASSWORD@]HOST[:PORT]?to=ADDR[,ADDR…][&from=ADDR][&smtp=SERVER][&mode=starttls|ssl]
//! gotify[s]://HOST[:PORT][/PATH]/APP_TOKEN       Gotify's POST /message
//! json[s]://[USER:PASSWORD@]HOST[:PORT][/PATH]   a JSON POST (Apprise's body), e.g. a Home Assistant webhook
//! ```
//!
//! Characters with a meaning in URLs (`@ : / ? # % &` and spaces) are written percent-encoded in
//! user names, passwords and addresses (`%40` for `@`).

use std::fmt;

/// The services, by what the owner sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Ntfy,
    Telegram,
    Email,
    Gotify,
    Json,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Ntfy => "ntfy",
            Service::Telegram => "Telegram",
            Service::Email => "e-mail",
            Service::Gotify => "Gotify",
            Service::Json => "JSON",
        }
    }
}

/// Where an HTTP service is: `http(s)://HOST[:PORT]PATH`.
// No `Debug` outside the tests: it would print the secrets.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct HttpBase {
    pub secure: bool,
    pub host: String,
    pub port: Option<u16>,
    /// Starts with `/`; for Gotify the prefix before `message`, for JSON the whole path.
    pub path: String,
}

impl HttpBase {
    /// `http(s)://host[:port]` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => format!("{scheme}://{host}:{port}{path}"),
            None => format!("{scheme}://{host}{path}"),
        }
    }
}

/// How an HTTP request logs in.
// No `Debug` outside the tests: it would print the secrets.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum HttpAuth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (SMTPS, port 465).
    ImplicitTls,
    /// STARTTLS, which must succeed.
    StartTls,
    /// STARTTLS when the server offers it, else plain (only without a password).
    Opportunistic,
}

/// An SMTP target.
// No `Debug` outside the tests: it would print the secrets.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Email {
    pub server: String,
    pub port: u16,
    pub security: Security,
    pub login: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
}

/// What a target sends to.
// No `Debug` outside the tests: it would print the secrets.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum Kind {
    Ntfy {
        base: HttpBase,
        topics: Vec<String>,
        auth: HttpAuth,
    },
    Telegram {
        bot_token: String,
        chats: Vec<String>,
    },
    Email(Email),
    Gotify {
        base: HttpBase,
        token: String,
    },
    Json {
        base: HttpBase,
        auth: HttpAuth,
    },
}

/// One notification target. `Display` and `Debug` show it with its secrets masked.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    shown: String,
    secrets: Vec<String>,
}

/// What replaces a secret wherever a target is shown.
pub const MASK: &str = "****";

impl Target {
    pub fn service(&self) -> Service {
        match self.kind {
            Kind::Ntfy { .. } => Service::Ntfy,
            Kind::Telegram { .. } => Service::Telegram,
            Kind::Email(_) => Service::Email,
            Kind::Gotify { .. } => Service::Gotify,
            Kind::Json { .. } => Service::Json,
        }
    }

    /// `text` (an error message, a server's answer) with every secret of this target masked,
    /// also in its percent-encoded and base64 forms.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.shown)
    }
}

/// `text` with every one of `secrets` (and its percent-encoded and base64 forms) masked.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    let mut forms: Vec<String> = Vec::new();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        forms.push(secret.clone());
        forms.push(percent_encode(secret));
    }
    // Longest first, so a secret inside another is not half-masked.
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms.dedup();
    for form in forms {
        out = out.replace(&form, MASK);
    }
    out
}

/// Why a URL of `ALERT_URLS` cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError {
    /// 1-based position in the list.
    pub position: usize,
    /// The URL as far as it can be shown without secrets.
    pub shown: String,
    /// What is wrong and what is expected.
    pub problem: String,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "target {} ({}): {}",
            self.position, self.shown, self.problem
        )
    }
}

impl std::error::Error for TargetError {}

/// Split a list of URLs: spaces, tabs, newlines and commas separate targets, but a comma belongs
/// to the URL before it unless a new `scheme://` follows (so `?to=a@x,b@y` keeps both
/// addresses).
pub fn split_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    for word in text.split_whitespace() {
        let mut current = String::new();
        for piece in word.split(',') {
            if !current.is_empty() && starts_with_scheme(piece) {
                items.push(std::mem::take(&mut current));
            }
            if !current.is_empty() || !piece.is_empty() {
                if !current.is_empty() {
                    current.push(',');
                }
                current.push_str(piece);
            }
        }
        let current = current.trim_end_matches(',');
        if !current.is_empty() {
            items.push(current.to_string());
        }
    }
    items
}

fn starts_with_scheme(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    })
}

/// Every target of a list (see [`split_list`]).
///
/// # Errors
/// The first URL that cannot be used.
pub fn parse_targets(text: &str) -> Result<Vec<Target>, TargetError> {
    split_list(text)
        .iter()
        .enumerate()
        .map(|(index, url)| {
            parse_target(url).map_err(|problem| TargetError {
                position: index + 1,
                shown: mask_unparsed(url),
                problem,
            })
        })
        .collect()
}

/// The forms, for error messages.
pub const FORMS: &str = "ntfy://TOPIC, ntfy[s]://[USER:PASSWORD@]HOST[:PORT]/TOPIC, tgram://BOT_TOKEN/CHAT_ID, mailto[s]://USER:PASSWORD@HOST[:PORT]?to=ADDRESS, gotify[s]://HOST[:PORT]/TOKEN or json[s]://HOST[:PORT]/PATH";

/// One target.
///
/// # Errors
/// What is wrong with the URL, as a sentence fragment for the owner.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "not a notification URL (no scheme://); expected one of {FORMS}"
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if rest.contains('#') {
        return Err("a '#' must be written %23 in a notification URL".to_string());
    }
    match scheme.as_str() {
        "ntfy" | "ntfys" => ntfy(&scheme, rest),
        "tgram" => telegram(rest),
        "mailto" | "mailtos" => email(&scheme, rest),
        "gotify" | "gotifys" => gotify(&scheme, rest),
        "json" | "jsons" => json(&scheme, rest),
        other => Err(format!(
            "'{other}://' is not a supported service; expected one of {FORMS}"
        )),
    }
}

/// The parts of `scheme://[userinfo@]host[:port][/path][?query]`.
struct Parts {
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    /// Decoded path segments, empty ones left out.
    segments: Vec<String>,
    query: Vec<(String, String)>,
}

impl Parts {
    fn split(rest: &str) -> Result<Parts, String> {
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, query),
            None => (rest, ""),
        };
        let (authority, path) = match before_query.find('/') {
            Some(at) => (&before_query[..at], &before_query[at..]),
            None => (before_query, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (
                    Some(decode(user, "user name")?),
                    Some(decode(password, "password")?),
                ),
                None => (Some(decode(info, "user name")?), None),
            },
        };
        let (host, port) = split_host_port(hostport)?;
        let segments = path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| decode(segment, "path"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pairs = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.push((
                decode(key, "parameter")?.to_ascii_lowercase(),
                decode(value, "parameter")?,
            ));
        }
        Ok(Parts {
            user,
            password,
            host,
            port,
            segments,
            query: pairs,
        })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Refuse parameters other than `known` (a typo must not be ignored silently).
    fn only_params(&self, known: &[&str]) -> Result<(), String> {
        match self
            .query
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()))
        {
            None => Ok(()),
            Some((key, _)) if known.is_empty() => Err(format!(
                "unknown parameter '{key}' (this service takes no ?parameters)"
            )),
            Some((key, _)) => Err(format!(
                "unknown parameter '{key}' (known: {})",
                known.join(", ")
            )),
        }
    }

    fn http_auth(&self) -> Result<HttpAuth, String> {
        match (&self.user, &self.password) {
            (None, None) => Ok(HttpAuth::None),
            (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
                Ok(HttpAuth::Basic {
                    user: user.clone(),
                    password: password.clone(),
                })
            }
            _ => Err("a login is written USER:PASSWORD@ before the host, both non-empty".into()),
        }
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ']'")?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("'{after}' after the IPv6 address is not a :PORT")),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing".to_string());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!(
            "'{host}' is not a host name or IP address (a user name or password with @, : or / must be percent-encoded, e.g. %40 for @)"
        ));
    }
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => return Err(format!("'{text}' is not a port (1 to 65535)")),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Percent-decode `text` (UTF-8); `what` names the part in the error.
fn decode(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| {
                    format!("the {what} has a '%' not followed by two hex digits (write % as %25)")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the {what} does not decode to UTF-8 text"))
}

/// Percent-encode everything but unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A topic ntfy accepts: 1 to 64 of `A-Z a-z 0-9 _ -`.
fn is_topic(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A name that works as a secret (an ntfy.sh topic, a webhook id) is masked wherever the target
/// is shown, but scrubbed from other text only when it is long enough not to be an ordinary word
/// of an error message ("refused", "alerts").
fn name_secret(name: &str) -> Vec<String> {
    if name.len() >= 8 {
        vec![name.to_string()]
    } else {
        Vec::new()
    }
}

/// The public ntfy server used by `ntfy://TOPIC`.
pub const NTFY_CLOUD: &str = "ntfy.sh";

/// Topics on the public server are readable by anyone who knows them (ntfy: "the topic is
/// essentially a password"), so only their first three characters are shown.
fn mask_topic(topic: &str) -> String {
    let shown: String = topic.chars().take(3).collect();
    format!("{shown}{MASK}")
}

fn show_host(host: &str, port: Option<u16>) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

fn show_auth(auth: &HttpAuth) -> String {
    match auth {
        HttpAuth::None => String::new(),
        HttpAuth::Basic { user, .. } => format!("{}:{MASK}@", percent_encode(user)),
        HttpAuth::Bearer(_) => format!("{MASK}@"),
    }
}

fn auth_secrets(auth: &HttpAuth) -> Vec<String> {
    match auth {
        HttpAuth::None => Vec::new(),
        HttpAuth::Basic { user, password } => {
            vec![password.clone(), basic_credentials(user, password)]
        }
        HttpAuth::Bearer(token) => vec![token.clone()],
    }
}

/// The base64 of `user:password`, as an `Authorization: Basic` header carries it.
pub fn basic_credentials(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn ntfy(scheme: &str, rest: &str) -> Result<Target, String> {
    let parts = Parts::split(rest)?;
    parts.only_params(&[])?;
    let secure = scheme == "ntfys";
    // ntfy://TOPIC: the public server, always over HTTPS (as Apprise does).
    if parts.segments.is_empty() {
        if parts.user.is_some() || parts.port.is_some() || !is_topic(&parts.host) {
            return Err(format!(
                "no topic: write ntfy://TOPIC for {NTFY_CLOUD}, or ntfy[s]://HOST[:PORT]/TOPIC for your own server"
            ));
        }
        let topic = parts.host.clone();
        return Ok(Target {
            shown: format!("ntfys://{NTFY_CLOUD}/{}", mask_topic(&topic)),
            secrets: name_secret(&topic),
            kind: Kind::Ntfy {
                base: HttpBase {
                    secure: true,
                    host: NTFY_CLOUD.to_string(),
                    port: None,
                    path: "/".to_string(),
                },
                topics: vec![topic],
                auth: HttpAuth::None,
            },
        });
    }
    if let Some(bad) = parts.segments.iter().find(|topic| !is_topic(topic)) {
        return Err(format!(
            "'{bad}' is not an ntfy topic (1 to 64 letters, digits, _ or -)"
        ));
    }
    let auth = match (&parts.user, &parts.password) {
        (Some(token), None) if token.starts_with("tk_") && token.len() > 3 => {
            HttpAuth::Bearer(token.clone())
        }
        (Some(_), None) => {
            return Err(
                "an ntfy login is USER:PASSWORD@ or an access token tk_…@ before the host".into(),
            );
        }
        _ => parts.http_auth()?,
    };
    let public = parts.host == NTFY_CLOUD;
    let shown_topics: Vec<String> = parts
        .segments
        .iter()
        .map(|topic| {
            if public {
                mask_topic(topic)
            } else {
                topic.clone()
            }
        })
        .collect();
    let mut secrets = auth_secrets(&auth);
    if public {
        secrets.extend(parts.segments.iter().flat_map(|topic| name_secret(topic)));
    }
    Ok(Target {
        shown: format!(
            "{scheme}://{}{}/{}",
            show_auth(&auth),
            show_host(&parts.host, parts.port),
            shown_topics.join("/")
        ),
        secrets,
        kind: Kind::Ntfy {
            base: HttpBase {
                secure,
                host: parts.host,
                port: parts.port,
                path: "/".to_string(),
            },
            topics: parts.segments,
            auth,
        },
    })
}

fn telegram(rest: &str) -> Result<Target, String> {
    const FORM: &str = "expected tgram://BOT_TOKEN/CHAT_ID (the token BotFather gave, such as 123456789:AAE…; the chat's number, or @channel)";
    if rest.contains('?') {
        return Err("unknown parameters (a tgram:// URL takes none)".to_string());
    }
    let mut segments = rest.split('/').filter(|segment| !segment.is_empty());
    let token = segments.next().unwrap_or_default();
    let token = token.strip_prefix("bot").unwrap_or(token);
    let valid_token = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if !valid_token {
        return Err(format!("the bot token is missing or malformed; {FORM}"));
    }
    let chats: Vec<String> = segments.map(str::to_string).collect();
    if chats.is_empty() {
        return Err(format!("no chat id; {FORM}"));
    }
    for chat in &chats {
        let numeric = chat
            .strip_prefix('-')
            .unwrap_or(chat)
            .chars()
            .all(|c| c.is_ascii_digit());
        let channel = chat.strip_prefix('@').is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let number = numeric && !chat.trim_start_matches('-').is_empty();
        if !number && !channel {
            return Err(format!("'{chat}' is not a chat id; {FORM}"));
        }
    }
    Ok(Target {
        shown: format!("tgram://{MASK}/{}", chats.join("/")),
        // The whole token, and its secret half alone (the number before ':' is the bot's id).
        secrets: vec![
            token.to_string(),
            token
                .split_once(':')
                .map_or("", |(_, secret)| secret)
                .to_string(),
        ],
        kind: Kind::Telegram {
            bot_token: token.to_string(),
            chats,
        },
    })
}

/// A plausible mailbox: `local@domain`, nothing that would break a header.
fn is_address(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !text
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | '"'))
    })
}

fn email(scheme: &str, rest: &str) -> Result<Target, String> {
    let parts = Parts::split(rest)?;
    parts.only_params(&["to", "from", "smtp", "mode"])?;
    if !parts.segments.is_empty() {
        return Err(
            "recipients go in ?to=ADDRESS[,ADDRESS…], not in the path (mailto://USER:PASSWORD@HOST?to=…)"
                .to_string(),
        );
    }
    let login = match (&parts.user, &parts.password) {
        (None, None) => None,
        (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
            Some((user.clone(), password.clone()))
        }
        _ => {
            return Err(
                "an SMTP login is USER:PASSWORD@ before the host, both non-empty (percent-encode @ in the user name as %40)"
                    .to_string(),
            );
        }
    };
    let secure = scheme == "mailtos";
    let domain = parts.host.clone();
    // &smtp=SERVER[:PORT]: the server to connect to, when it is not the URL's host.
    let (server, smtp_port) = match parts.param("smtp") {
        Some(server) => split_host_port(server).map_err(|why| format!("smtp={server}: {why}"))?,
        None => (domain.clone(), None),
    };
    let given_port = parts.port.or(smtp_port);
    let mode = parts.param("mode").map(str::to_ascii_lowercase);
    let security = match (mode.as_deref(), secure, given_port) {
        (Some("ssl" | "tls" | "smtps"), _, _) => Security::ImplicitTls,
        (Some("starttls"), _, _) => Security::StartTls,
        (Some(other), _, _) => {
            return Err(format!(
                "mode '{other}' is not starttls or ssl (TLS from the first byte, port 465)"
            ));
        }
        (None, _, Some(465)) => Security::ImplicitTls,
        (None, true, _) => Security::StartTls,
        // A password is never sent over a connection that is not encrypted.
        (None, false, _) if login.is_some() => Security::StartTls,
        (None, false, _) => Security::Opportunistic,
    };
    let port = given_port.unwrap_or(match security {
        Security::ImplicitTls => 465,
        Security::StartTls if secure => 587,
        Security::StartTls | Security::Opportunistic => 25,
    });
    let from = match parts.param("from") {
        Some(from) => from.to_string(),
        None => match &login {
            Some((user, _)) if user.contains('@') => user.clone(),
            Some((user, _)) => format!("{user}@{domain}"),
            None => {
                return Err("no sender: add &from=ADDRESS (or log in as USER:PASSWORD@)".into());
            }
        },
    };
    if !is_address(&from) {
        return Err(format!("'{from}' is not an e-mail address (from)"));
    }
    let to: Vec<String> = match parts.param("to") {
        Some(list) => list
            .split([',', ';', ' '])
            .map(str::trim)
            .filter(|address| !address.is_empty())
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    if to.is_empty() {
        return Err("no recipient: add ?to=ADDRESS[,ADDRESS…]".to_string());
    }
    if let Some(bad) = to.iter().find(|address| !is_address(address)) {
        return Err(format!("'{bad}' is not an e-mail address (to)"));
    }
    let shown_login = match &login {
        Some((user, _)) => format!("{}:{MASK}@", percent_encode(user)),
        None => String::new(),
    };
    let mut shown = format!(
        "{scheme}://{shown_login}{}?to={}",
        show_host(&domain, parts.port),
        to.join(",")
    );
    if parts.param("from").is_some() {
        shown.push_str(&format!("&from={from}"));
    }
    if parts.param("smtp").is_some() {
        shown.push_str(&format!("&smtp={}", show_host(&server, smtp_port)));
    }
    if let Some(mode) = &mode {
        shown.push_str(&format!("&mode={mode}"));
    }
    let secrets = login.iter().map(|(_, password)| password.clone()).collect();
    Ok(Target {
        shown,
        secrets,
        kind: Kind::Email(Email {
            server,
            port,
            security,
            login,
            from,
            to,
        }),
    })
}

fn gotify(scheme: &str, rest: &str) -> Result<Target, String> {
    let parts = Parts::split(rest)?;
    parts.only_params(&[])?;
    if parts.user.is_some() {
        return Err(
            "Gotify logs in with the application token at the end of the path, not USER:PASSWORD@"
                .into(),
        );
    }
    let mut segments = parts.segments.clone();
    let Some(token) = segments.pop() else {
        return Err(
            "no application token: expected gotify[s]://HOST[:PORT][/PATH]/TOKEN".to_string(),
        );
    };
    let prefix = if segments.is_empty() {
        "/".to_string()
    } else {
        format!("/{}/", segments.join("/"))
    };
    Ok(Target {
        shown: format!(
            "{scheme}://{}{prefix}{MASK}",
            show_host(&parts.host, parts.port)
        ),
        secrets: vec![token.clone()],
        kind: Kind::Gotify {
            base: HttpBase {
                secure: scheme == "gotifys",
                host: parts.host,
                port: parts.port,
                path: prefix,
            },
            token,
        },
    })
}

fn json(scheme: &str, rest: &str) -> Result<Target, String> {
    let parts = Parts::split(rest)?;
    parts.only_params(&[])?;
    let auth = parts.http_auth()?;
    let path = format!("/{}", parts.segments.join("/"));
    // The last part of a webhook's path is often its secret (Home Assistant's webhook id).
    let mut secrets = auth_secrets(&auth);
    let shown_path = match parts.segments.split_last() {
        Some((last, before)) if before.is_empty() && last.len() < 4 => path.clone(),
        Some((last, before)) => {
            secrets.extend(name_secret(last));
            let mut shown: Vec<String> = before.to_vec();
            shown.push(mask_topic(last));
            format!("/{}", shown.join("/"))
        }
        None => path.clone(),
    };
    Ok(Target {
        shown: format!(
            "{scheme}://{}{}{shown_path}",
            show_auth(&auth),
            show_host(&parts.host, parts.port)
        ),
        secrets,
        kind: Kind::Json {
            base: HttpBase {
                secure: scheme == "jsons",
                host: parts.host,
                port: parts.port,
                path,
            },
            auth,
        },
    })
}

/// A URL that could not be parsed, shown without what may be a secret: the scheme, the user
/// name and the host stay (only for the host-based services), a password, the path and the
/// parameters are masked.
pub fn mask_unparsed(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return MASK.to_string();
    };
    if !starts_with_scheme(url) {
        return MASK.to_string();
    }
    // Only the host-based forms show their host: in tgram:// (and in unknown schemes such as
    // discord:// or slack://) what comes first is a token.
    let host_based = [
        "ntfy", "ntfys", "mailto", "mailtos", "gotify", "gotifys", "json", "jsons",
    ];
    if !host_based.contains(&scheme.to_ascii_lowercase().as_str()) {
        return format!("{scheme}://{MASK}");
    }
    let before_query = rest.split(['?', '#']).next().unwrap_or_default();
    let authority = before_query.split('/').next().unwrap_or_default();
    let has_more = rest.len() > authority.len();
    let shown_authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => format!("{MASK}@{host}"),
        },
        None => authority.to_string(),
    };
    if has_more {
        format!("{scheme}://{shown_authority}/{MASK}")
    } else {
        format!("{scheme}://{shown_authority}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        parse_target(url).unwrap_or_else(|why| panic!("{url}: {why}"))
    }

    fn problem(url: &str) -> String {
        match parse_target(url) {
            Ok(target) => panic!("{url} should be refused, got {target}"),
            Err(why) => why,
        }
    }

    #[test]
    fn ntfy_cloud_and_self_hosted() {
        let cloud = target("ntfy://nas_quota-alerts");
        assert_eq!(
            cloud.kind,
            Kind::Ntfy {
                base: HttpBase {
                    secure: true,
                    host: "ntfy.sh".into(),
                    port: None,
                    path: "/".into()
                },
                topics: vec!["nas_quota-alerts".into()],
                auth: HttpAuth::None,
            }
        );
        assert_eq!(cloud.to_string(), "ntfys://ntfy.sh/nas****");

        let own = target("ntfys://alice:p%40ss:w0rd@ntfy.example.net:8443/quota/backup");
        let Kind::Ntfy { base, topics, auth } = &own.kind else {
            panic!("ntfy")
        };
        assert_eq!(base.url("/"), "https://ntfy.example.net:8443/");
        assert_eq!(topics, &["quota", "backup"]);
        assert_eq!(
            auth,
            &HttpAuth::Basic {
                user: "alice".into(),
                password: "p@ss:w0rd".into()
            }
        );
        assert_eq!(
            own.to_string(),
            "ntfys://alice:****@ntfy.example.net:8443/quota/backup"
        );

        let token = target("ntfy://tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2@192.0.2.5/nas");
        let Kind::Ntfy { base, auth, .. } = &token.kind else {
            panic!("ntfy")
        };
        assert_eq!(base.url("/"), "http://192.0.2.5/");
        assert_eq!(
            auth,
            &HttpAuth::Bearer("tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2".into())
        );
        assert_eq!(token.to_string(), "ntfy://****@192.0.2.5/nas");

        let v6 = target("ntfy://[2001:db8::5]:2586/nas");
        let Kind::Ntfy { base, .. } = &v6.kind else {
            panic!("ntfy")
        };
        assert_eq!(base.url("/"), "http://[2001:db8::5]:2586/");

        // Topics on the public server are secrets of a kind.
        let public = target("ntfys://ntfy.sh/secret_topic_123");
        assert_eq!(public.to_string(), "ntfys://ntfy.sh/sec****");
        assert_eq!(
            public.scrub("POST /secret_topic_123 failed"),
            "POST /**** failed"
        );
    }

    #[test]
    fn telegram_gotify_json() {
        let telegram =
            target("tgram://123456789:AAE-x_yZ0123456789abcdefghij/-1001234567/@nas_channel");
        assert_eq!(
            telegram.kind,
            Kind::Telegram {
                bot_token: "123456789:AAE-x_yZ0123456789abcdefghij".into(),
                chats: vec!["-1001234567".into(), "@nas_channel".into()],
            }
        );
        assert_eq!(
            telegram.to_string(),
            "tgram://****/-1001234567/@nas_channel"
        );

        let gotify = target("gotifys://push.example.net/gotify/AbCdEf.123");
        let Kind::Gotify { base, token } = &gotify.kind else {
            panic!("gotify")
        };
        assert_eq!(
            base.url(&format!("{}message", base.path)),
            "https://push.example.net/gotify/message"
        );
        assert_eq!(token, "AbCdEf.123");
        assert_eq!(gotify.to_string(), "gotifys://push.example.net/gotify/****");
        let plain = target("gotify://192.0.2.7:8080/AbCdEf");
        let Kind::Gotify { base, .. } = &plain.kind else {
            panic!("gotify")
        };
        assert_eq!(
            base.url(&format!("{}message", base.path)),
            "http://192.0.2.7:8080/message"
        );

        let json = target("jsons://ha:pw@homeassistant.local:8123/api/webhook/nas-quota-7f3a9");
        let Kind::Json { base, auth } = &json.kind else {
            panic!("json")
        };
        assert_eq!(
            base.url(&base.path),
            "https://homeassistant.local:8123/api/webhook/nas-quota-7f3a9"
        );
        assert_eq!(
            auth,
            &HttpAuth::Basic {
                user: "ha".into(),
                password: "pw".into()
            }
        );
        assert_eq!(
            json.to_string(),
            "jsons://ha:****@homeassistant.local:8123/api/webhook/nas****"
        );
        let root = target("json://192.0.2.9");
        let Kind::Json { base, .. } = &root.kind else {
            panic!("json")
        };
        assert_eq!(base.url(&base.path), "http://192.0.2.9/");
    }

    #[test]
    fn email_modes_ports_and_addresses() {
        let starttls = target(
            "mailtos://nas%40example.net:app%20pw@mail.example.net?to=me@example.org,you@example.org",
        );
        let Kind::Email(mail) = &starttls.kind else {
            panic!("email")
        };
        assert_eq!(mail.server, "mail.example.net");
        assert_eq!(mail.port, 587);
        assert_eq!(mail.security, Security::StartTls);
        assert_eq!(
            mail.login,
            Some(("nas@example.net".into(), "app pw".into()))
        );
        assert_eq!(mail.from, "nas@example.net");
        assert_eq!(mail.to, ["me@example.org", "you@example.org"]);
        assert_eq!(
            starttls.to_string(),
            "mailtos://nas%40example.net:****@mail.example.net?to=me@example.org,you@example.org"
        );

        let implicit =
            target("mailtos://nas:pw@example.net:465?to=me@example.org&smtp=smtp.example.net");
        let Kind::Email(mail) = &implicit.kind else {
            panic!("email")
        };
        assert_eq!((mail.server.as_str(), mail.port), ("smtp.example.net", 465));
        assert_eq!(mail.security, Security::ImplicitTls);
        assert_eq!(mail.from, "nas@example.net");

        let relayed =
            target("mailtos://nas:pw@example.net?to=me@example.org&smtp=smtp.example.net:2525");
        let Kind::Email(mail) = &relayed.kind else {
            panic!("email")
        };
        assert_eq!(
            (mail.server.as_str(), mail.port),
            ("smtp.example.net", 2525)
        );
        assert_eq!(mail.security, Security::StartTls);
        assert!(
            relayed.to_string().ends_with("&smtp=smtp.example.net:2525"),
            "{relayed}"
        );

        let ssl = target("mailtos://nas:pw@example.net?to=me@example.org&mode=ssl");
        let Kind::Email(mail) = &ssl.kind else {
            panic!("email")
        };
        assert_eq!((mail.port, mail.security), (465, Security::ImplicitTls));

        // mailto:// without a login: STARTTLS when offered; with one: STARTTLS required.
        let relay = target("mailto://192.0.2.25?from=nas@example.net&to=me@example.org");
        let Kind::Email(mail) = &relay.kind else {
            panic!("email")
        };
        assert_eq!((mail.port, mail.security), (25, Security::Opportunistic));
        let login = target("mailto://nas:pw@example.net:2525?to=me@example.org");
        let Kind::Email(mail) = &login.kind else {
            panic!("email")
        };
        assert_eq!((mail.port, mail.security), (2525, Security::StartTls));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("ntfy.sh/topic", "no scheme"),
            ("slack://token", "not a supported service"),
            ("ntfy://ntfy.example.net", "no topic"),
            ("ntfy://host/bad.topic", "not an ntfy topic"),
            ("ntfy://alice@host/t", "tk_"),
            ("ntfy://host:99999/t", "not a port"),
            ("ntfy://host/t?priority=5", "unknown parameter 'priority'"),
            ("tgram://123456/12", "bot token"),
            ("tgram://123456:ABC", "no chat id"),
            ("tgram://123456:ABC/me", "not a chat id"),
            ("mailto://u:p@example.net", "no recipient"),
            ("mailto://example.net?to=me@example.org", "no sender"),
            (
                "mailto://u:p@example.net?to=nobody",
                "not an e-mail address",
            ),
            ("mailto://u:p@example.net/me@example.org", "?to="),
            (
                "mailtos://u:p@example.net?to=a@b&mode=tls13",
                "not starttls or ssl",
            ),
            ("mailtos://u@example.net?to=a@b", "USER:PASSWORD@"),
            ("gotify://push.example.net", "no application token"),
            ("json://u@host/x", "USER:PASSWORD@"),
            ("json://host name/x", "percent-encoded"),
            ("json://host/a%zz", "two hex digits"),
            ("json://host/a#b", "%23"),
        ];
        for (url, expected) in cases {
            let why = problem(url);
            assert!(why.contains(expected), "{url}: {why}");
        }
    }

    #[test]
    fn lists_split_on_spaces_and_commas_but_keep_recipient_lists() {
        assert_eq!(
            split_list(" ntfy://a,tgram://1:x/2\n mailto://u:p@h?to=a@x,b@y,json://h/p ,, "),
            [
                "ntfy://a",
                "tgram://1:x/2",
                "mailto://u:p@h?to=a@x,b@y",
                "json://h/p"
            ]
        );
        assert!(split_list(" , ").is_empty());
        let error = parse_targets("ntfy://ok gotify://u:secretpw@host").expect_err("login");
        assert_eq!(error.position, 2);
        assert_eq!(error.shown, "gotify://u:****@host");
        assert!(!error.to_string().contains("secretpw"), "{error}");
    }

    #[test]
    fn secrets_never_show_in_display_debug_or_errors() {
        let secrets = [
            "s3cr3t-PW",
            "AAE-x_yZ0123456789abcdefghij",
            "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2",
            "GotifyTok3n",
            "hook-id-7f3a9c",
        ];
        let urls = [
            "ntfys://alice:s3cr3t-PW@ntfy.example.net/nas",
            "ntfy://tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2@ntfy.example.net/nas",
            "tgram://123456789:AAE-x_yZ0123456789abcdefghij/42",
            "mailtos://nas:s3cr3t-PW@mail.example.net?to=me@example.org",
            "gotifys://push.example.net/GotifyTok3n",
            "jsons://ha:s3cr3t-PW@ha.example.net/api/webhook/hook-id-7f3a9c",
        ];
        for url in urls {
            let target = target(url);
            let shown = format!("{target} {target:?} {:?}", vec![target.clone()]);
            for secret in secrets {
                assert!(!shown.contains(secret), "{url} shows {secret}: {shown}");
            }
            // Whatever a server or library says about the target is scrubbed too.
            let said = format!(
                "https://api.telegram.org/botAAE-x_yZ0123456789abcdefghij/sendMessage: s3cr3t%2DPW s3cr3t-PW tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2 GotifyTok3n hook-id-7f3a9c {}",
                basic_credentials("ha", "s3cr3t-PW")
            );
            let scrubbed = target.scrub(&said);
            for secret in secrets.iter().filter(|s| url.contains(*s)) {
                assert!(!scrubbed.contains(secret), "{url}: {scrubbed}");
            }
        }
        // A URL that cannot be parsed is shown without its password, path or parameters.
        for url in [
            "json://user:s3cr3t-PW@host:notaport/x",
            "tgram://AAE-x_yZ0123456789abcdefghij",
            "gotify://host:0/GotifyTok3n",
            "discord://s3cr3t-PW/GotifyTok3n",
            "mailto://nas:s3cr3t-PW@h?to=me",
        ] {
            let error = parse_targets(url).expect_err("refused");
            for secret in secrets {
                assert!(!error.to_string().contains(secret), "{error}");
            }
        }
    }
}
