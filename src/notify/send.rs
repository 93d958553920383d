//! One message to one target, once: HTTPS (ntfy, Telegram, Gotify, JSON) with `ureq`, SMTP with
//! `lettre`, both on rustls with the authorities of [`Trust`], every request bounded by
//! [`Timeouts`]. What comes back (success or failure) is a sentence with the target's secrets
//! masked; retrying is the [`super::Outbox`]'s job.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::target::{Email, HttpAuth, Kind, Security, Target, basic_credentials};
use super::tls::Trust;
use super::{Message, Priority};

/// Where Telegram's Bot API is.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// How long one request may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolving the name and opening the connection (TCP and TLS).
    pub connect: Duration,
    /// The whole HTTP request, answer included; the whole SMTP conversation, and each of its
    /// reads and writes.
    pub whole: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            whole: Duration::from_secs(30),
        }
    }
}

/// Sends messages; one per program, shared by every target.
pub struct Sender {
    agent: ureq::Agent,
    trust: Trust,
    timeouts: Timeouts,
    /// SMTP conversations still running after their caller stopped waiting (see
    /// [`Sender::send_mail`]).
    overdue_mail: Arc<AtomicUsize>,
}

/// How many SMTP conversations past their deadline may still be running before the next mail is
/// refused at once: each holds a thread until the server's next reply times out.
const MAX_OVERDUE_MAIL: usize = 2;

/// The states of one SMTP conversation's thread, see [`Sender::send_mail`].
const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const ABANDONED: u8 = 2;

/// How much of an error answer is quoted.
const QUOTED_ANSWER: u64 = 300;

impl Sender {
    /// A sender trusting `trust` (see [`Trust::load`]).
    pub fn new(trust: Trust, timeouts: Timeouts) -> Sender {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let roots = match &trust {
            Trust::System { certificates, .. } => RootCerts::Specific(Arc::new(
                certificates
                    .iter()
                    .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                    .collect(),
            )),
            Trust::Bundled => RootCerts::WebPki,
            // No authority at all: every HTTPS request fails certificate verification.
            Trust::Nothing(_) => RootCerts::Specific(Arc::new(Vec::new())),
        };
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(timeouts.connect))
            .timeout_global(Some(timeouts.whole))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("nettraffic-sentinel/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build();
        Sender {
            agent: config.into(),
            trust,
            timeouts,
            overdue_mail: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Send `message` to `target` once: what the service answered, or why it failed (a
    /// sentence without the target's secrets either way).
    ///
    /// # Errors
    /// The reason, masked.
    pub fn send(&self, target: &Target, message: &Message) -> Result<String, String> {
        let started = Instant::now();
        let outcome = match &target.kind {
            Kind::Ntfy { base, topics, auth } => {
                let mut answers = Vec::new();
                for topic in topics {
                    answers.push(self.post_json(
                        &base.url("/"),
                        &authorization(auth),
                        &ntfy_body(topic, message),
                    )?);
                }
                Ok(answers.join(", "))
            }
            Kind::Telegram { bot_token, chats } => {
                let url = format!("{TELEGRAM_API}/bot{bot_token}/sendMessage");
                let mut answers = Vec::new();
                for chat in chats {
                    answers.push(self.post_json(&url, &[], &telegram_body(chat, message))?);
                }
                Ok(answers.join(", "))
            }
            Kind::Gotify { base, token } => self.post_json(
                &base.url(&format!("{}message", base.path)),
                &[("X-Gotify-Key", token.clone())],
                &gotify_body(message),
            ),
            Kind::Json { base, auth } => self.post_json(
                &base.url(&base.path),
                &authorization(auth),
                &json_body(message),
            ),
            Kind::Email(email) => self.send_mail(email, message),
        };
        let took = started.elapsed().as_secs_f64();
        match outcome {
            Ok(what) => Ok(target.scrub(&format!("{what} in {took:.2} s"))),
            Err(why) => Err(target.scrub(&why)),
        }
    }

    fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<String, String> {
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let mut response = request
            .send(body.to_string().as_bytes())
            .map_err(|error| self.describe(&error))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(format!("HTTP {status}"));
        }
        let mut quoted = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(QUOTED_ANSWER)
            .read_to_end(&mut quoted);
        let quoted = String::from_utf8_lossy(&quoted);
        let quoted: String = quoted
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let quoted = quoted.trim();
        if quoted.is_empty() {
            Err(format!("the server answered HTTP {status}"))
        } else {
            Err(format!("the server answered HTTP {status}: {quoted}"))
        }
    }

    /// A transport error as a sentence the owner can act on.
    fn describe(&self, error: &ureq::Error) -> String {
        use std::io::ErrorKind;
        match error {
            ureq::Error::Timeout(_) => format!(
                "no answer within {} s (timed out)",
                self.timeouts.whole.as_secs_f64()
            ),
            ureq::Error::HostNotFound => {
                "the host name is not found (DNS): check the URL and the NAS's DNS".to_string()
            }
            ureq::Error::ConnectionFailed => "the connection failed".to_string(),
            ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
                "connection refused: nothing listens at that host and port".to_string()
            }
            ureq::Error::Io(io) if io.kind() == ErrorKind::TimedOut => format!(
                "no connection within {} s (timed out)",
                self.timeouts.connect.as_secs_f64()
            ),
            other => match &self.trust {
                Trust::Nothing(why) if other.to_string().to_lowercase().contains("certificate") => {
                    format!("{other} ({why})")
                }
                _ => other.to_string(),
            },
        }
    }

    /// One mail, within [`Timeouts::whole`] in all.
    ///
    /// lettre's timeout applies to each read and write, so a server that drips its replies a
    /// byte at a time would hold the caller (the outbox's one thread) for minutes. The
    /// conversation runs on a thread of its own instead; past the deadline the caller goes on and
    /// that thread ends at the server's next silence. At most [`MAX_OVERDUE_MAIL`] such threads
    /// are left running; beyond that a mail fails at once.
    fn send_mail(&self, email: &Email, message: &Message) -> Result<String, String> {
        let mail = build_mail(email, message)?;
        let transport = self.smtp_transport(email)?;
        let server = format!("SMTP {}:{}", email.server, email.port);
        if self.overdue_mail.load(Ordering::Acquire) >= MAX_OVERDUE_MAIL {
            return Err(format!(
                "{server}: not tried, {MAX_OVERDUE_MAIL} earlier conversations with slow SMTP \
                 servers have not ended yet"
            ));
        }
        let (done, outcome) = mpsc::sync_channel(1);
        // RUNNING until the thread finished (FINISHED) or the caller stopped waiting (ABANDONED),
        // whichever comes first; whoever loses that race learns the other's choice from it.
        let state = Arc::new(AtomicU8::new(RUNNING));
        let thread_state = Arc::clone(&state);
        let overdue = Arc::clone(&self.overdue_mail);
        let spawned = std::thread::Builder::new()
            .name("smtp-send".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                use lettre::Transport;
                let _ = done.send(transport.send(&mail));
                let abandoned = thread_state
                    .compare_exchange(RUNNING, FINISHED, Ordering::AcqRel, Ordering::Acquire)
                    .is_err();
                if abandoned {
                    overdue.fetch_sub(1, Ordering::AcqRel);
                }
            });
        if let Err(error) = spawned {
            return Err(format!("{server}: no thread to send it on: {error}"));
        }
        let sent = match outcome.recv_timeout(self.timeouts.whole) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Counted before it is abandoned, so the thread's decrement follows it.
                self.overdue_mail.fetch_add(1, Ordering::AcqRel);
                let abandoned = state
                    .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                if abandoned {
                    return Err(format!(
                        "{server}: timed out, the conversation took longer than {:.0} s",
                        self.timeouts.whole.as_secs_f64()
                    ));
                }
                // It finished in between: its answer is in the channel already.
                self.overdue_mail.fetch_sub(1, Ordering::AcqRel);
                outcome.recv()
            }
            other => other.map_err(|_| mpsc::RecvError),
        };
        match sent {
            Ok(Ok(response)) => Ok(format!("{server} accepted it ({})", response.code())),
            Ok(Err(error)) => Err(format!("{server}: {error}")),
            Err(mpsc::RecvError) => Err(format!(
                "{server}: the sending thread ended without an answer"
            )),
        }
    }

    fn smtp_transport(&self, email: &Email) -> Result<lettre::SmtpTransport, String> {
        use lettre::SmtpTransport;
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::Tls;

        let parameters = self.tls_parameters(&email.server)?;
        let tls = match email.security {
            Security::ImplicitTls => Tls::Wrapper(parameters),
            Security::StartTls => Tls::Required(parameters),
            Security::Opportunistic => Tls::Opportunistic(parameters),
        };
        let mut transport = SmtpTransport::builder_dangerous(email.server.as_str())
            .port(email.port)
            .tls(tls)
            .timeout(Some(self.timeouts.whole));
        if let Some((user, password)) = &email.login {
            transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(transport.build())
    }

    fn tls_parameters(
        &self,
        server: &str,
    ) -> Result<lettre::transport::smtp::client::TlsParameters, String> {
        use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
        let failed = |error: lettre::transport::smtp::Error| format!("TLS setup failed: {error}");
        let mut builder = TlsParameters::builder(server.to_string());
        match &self.trust {
            Trust::System { certificates, .. } => {
                builder = builder.certificate_store(CertificateStore::None);
                for der in certificates.iter() {
                    // A certificate rustls cannot read is left out, as rustls-native-certs does.
                    if let Ok(certificate) = Certificate::from_der(der.as_ref().to_vec()) {
                        builder = builder.add_root_certificate(certificate);
                    }
                }
            }
            Trust::Bundled => builder = builder.certificate_store(CertificateStore::WebpkiRoots),
            Trust::Nothing(why) => return Err(format!("TLS trusts nothing: {why}")),
        }
        builder.build_rustls().map_err(failed)
    }
}

/// The mail of `message` to `email`'s recipients.
fn build_mail(email: &Email, message: &Message) -> Result<lettre::Message, String> {
    use lettre::message::header::ContentType;
    use lettre::message::{Mailbox, Message as Mail};

    let mailbox = |address: &str| -> Result<Mailbox, String> {
        address
            .parse::<Mailbox>()
            .map_err(|error| format!("'{address}' is not an address SMTP accepts: {error}"))
    };
    let mut builder = Mail::builder()
        .from(mailbox(&email.from)?)
        .subject(message.title.clone())
        .header(ContentType::TEXT_PLAIN);
    for to in &email.to {
        builder = builder.to(mailbox(to)?);
    }
    builder
        .body(message.body.clone())
        .map_err(|error| format!("the message cannot be built: {error}"))
}

/// The `Authorization` header of an HTTP login.
fn authorization(auth: &HttpAuth) -> Vec<(&'static str, String)> {
    match auth {
        HttpAuth::None => Vec::new(),
        HttpAuth::Basic { user, password } => vec![(
            "Authorization",
            format!("Basic {}", basic_credentials(user, password)),
        )],
        HttpAuth::Bearer(token) => vec![("Authorization", format!("Bearer {token}"))],
    }
}

/// ntfy's "publish as JSON" body (POST to the server's root).
pub fn ntfy_body(topic: &str, message: &Message) -> Value {
    let mut body = json!({
        "topic": topic,
        "title": message.title,
        "message": message.body,
        "priority": message.priority.ntfy(),
    });
    if !message.tags.is_empty() {
        body["tags"] = json!(message.tags);
    }
    body
}

/// Telegram's sendMessage: plain text (no parse mode, so nothing needs escaping), the title on
/// its own line; a low priority message arrives silently.
pub fn telegram_body(chat: &str, message: &Message) -> Value {
    let chat_id = match chat.parse::<i64>() {
        Ok(number) => json!(number),
        Err(_) => json!(chat),
    };
    json!({
        "chat_id": chat_id,
        "text": format!("{}\n\n{}", message.title, message.body),
        "disable_notification": message.priority == Priority::Low,
    })
}

/// Gotify's message.
pub fn gotify_body(message: &Message) -> Value {
    json!({
        "title": message.title,
        "message": message.body,
        "priority": message.priority.gotify(),
    })
}

/// Apprise's JSON body (`version` 1.0), plus the priority's name and the tags.
pub fn json_body(message: &Message) -> Value {
    json!({
        "version": "1.0",
        "title": message.title,
        "message": message.body,
        "attachments": [],
        "type": message.priority.json_type(),
        "priority": message.priority.name(),
        "tags": message.tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_each_services_documentation() {
        let message = Message::new("Quota 90 %", "450 GB of 500 GB used")
            .with_priority(Priority::High)
            .with_tags(&["warning"]);
        assert_eq!(
            ntfy_body("nas", &message),
            json!({"topic": "nas", "title": "Quota 90 %", "message": "450 GB of 500 GB used", "priority": 4, "tags": ["warning"]})
        );
        assert_eq!(
            telegram_body("-1001234", &message),
            json!({"chat_id": -1001234, "text": "Quota 90 %\n\n450 GB of 500 GB used", "disable_notification": false})
        );
        assert_eq!(
            telegram_body("@nas_channel", &message)["chat_id"],
            json!("@nas_channel")
        );
        assert_eq!(
            gotify_body(&message),
            json!({"title": "Quota 90 %", "message": "450 GB of 500 GB used", "priority": 8})
        );
        assert_eq!(
            json_body(&message),
            json!({"version": "1.0", "title": "Quota 90 %", "message": "450 GB of 500 GB used", "attachments": [], "type": "warning", "priority": "high", "tags": ["warning"]})
        );
        assert_eq!(
            authorization(&HttpAuth::Basic {
                user: "Aladdin".into(),
                password: "open sesame".into()
            }),
            // RFC 7617's example.
            [(
                "Authorization",
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_string()
            )]
        );
    }
}
