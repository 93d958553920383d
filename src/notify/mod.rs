//! Notification delivery: targets from `ALERT_URLS` ([`target`]), one message to one target
//! ([`send`]: HTTPS with `ureq`, SMTP with `lettre`, both on rustls with the roots of [`tls`]),
//! and the [`Outbox`]: its own thread, timeouts on every request, retries with exponential
//! backoff for at least an hour, one log line per failure, and a caller that is never blocked.
//!
//! Nothing here knows about quotas or traffic: a [`Message`] is a title and a body (with a
//! priority and tags for the services that show them). Passwords and tokens never appear in a
//! target's `Display` or `Debug`, in a log line or in an error ([`Target::scrub`]).

mod outbox;
mod send;
pub mod target;
mod tls;

pub use outbox::{Outbox, QUEUE_CAPACITY, RetryPolicy, Settled};
pub use send::{Sender, Timeouts};
pub use target::{Service, Target, TargetError, parse_targets};
pub use tls::Trust;

/// How urgent a message is; each service shows it its own way (docs/alerts.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    /// The quota is used up.
    Max,
}

impl Priority {
    /// ntfy's 1-5 scale (2 low, 3 default, 4 high, 5 max).
    pub fn ntfy(self) -> u8 {
        match self {
            Priority::Low => 2,
            Priority::Normal => 3,
            Priority::High => 4,
            Priority::Max => 5,
        }
    }

    /// Gotify's 0-10 scale, at the values its Android app distinguishes.
    pub fn gotify(self) -> u8 {
        match self {
            Priority::Low => 2,
            Priority::Normal => 5,
            Priority::High => 8,
            Priority::Max => 10,
        }
    }

    /// The `type` of Apprise's JSON body.
    pub fn json_type(self) -> &'static str {
        match self {
            Priority::Low | Priority::Normal => "info",
            Priority::High => "warning",
            Priority::Max => "failure",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Max => "max",
        }
    }
}

/// One notification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// One line: the push notification's title, the e-mail's subject.
    pub title: String,
    /// Plain text, may hold several lines.
    pub body: String,
    pub priority: Priority,
    /// ntfy's tags (emoji short codes such as `warning` are shown as emojis); sent in the JSON
    /// body; other services leave them out.
    pub tags: Vec<String>,
}

impl Message {
    pub fn new(title: impl Into<String>, body: impl Into<String>) -> Message {
        Message {
            title: title.into(),
            body: body.into(),
            ..Message::default()
        }
    }

    pub fn with_priority(mut self, priority: Priority) -> Message {
        self.priority = priority;
        self
    }

    pub fn with_tags(mut self, tags: &[&str]) -> Message {
        self.tags = tags.iter().map(|tag| tag.to_string()).collect();
        self
    }
}
