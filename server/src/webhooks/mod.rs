//! Webhooks: every change event POSTed, signed, to each configured URL, at least once.
//!
//! Each webhook has one delivery task that reads the change log from its durable cursor, sends
//! one event at a time in order, retries a failure with backoff ([`backoff`]) until it
//! succeeds, and only then moves its cursor on. So delivery is at least once and in order per
//! webhook; concurrency is bounded by one request in flight per webhook; and since the tasks
//! only read the change log, a slow or dead receiver never slows editing: its events wait in
//! the log (`quire_webhook_backlog_events`), which keeps them until it has them.
//!
//! A retention task trims the log (see [`crate::changes::retention`]).

mod backoff;
mod delivery;
mod signature;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::changes::ChangeJournal;
use crate::changes::retention::trim_through;
use crate::config::ServeConfig;
use crate::telemetry;

pub(crate) use self::backoff::Backoff;
use self::delivery::Delivery;

/// How often the retention task trims the change log.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// How webhooks are sent.
#[derive(Debug, Clone)]
pub(crate) struct WebhookSettings {
    pub(crate) urls: Vec<String>,
    pub(crate) secret: Vec<u8>,
    pub(crate) timeout: Duration,
    pub(crate) backoff: Backoff,
    /// Events kept in the change log beyond what webhooks need.
    pub(crate) retention_events: u64,
    /// Most undelivered events a webhook may keep from being trimmed.
    pub(crate) max_backlog_events: u64,
}

impl WebhookSettings {
    /// The webhook settings of `config`.
    pub(crate) fn of(config: &ServeConfig) -> Self {
        WebhookSettings {
            // Each URL once: two entries of one URL would share its delivery cursor.
            urls: config
                .webhook_url
                .iter()
                .enumerate()
                .filter(|(index, url)| !config.webhook_url[..*index].contains(url))
                .map(|(_, url)| url.clone())
                .collect(),
            secret: config
                .webhook_secret
                .clone()
                .unwrap_or_default()
                .into_bytes(),
            timeout: Duration::from_millis(config.webhook_timeout_millis),
            backoff: Backoff::new(Duration::from_millis(config.webhook_max_backoff_millis)),
            retention_events: config.changes_retention_events,
            max_backlog_events: config.webhook_max_backlog_events,
        }
    }
}

/// Each webhook's delivery cursor, as the tasks move them, for the backlog gauge and retention;
/// [`Cursors::UNKNOWN`] until its task has read it from the store.
pub(crate) struct Cursors(Vec<AtomicU64>);

impl Cursors {
    const UNKNOWN: u64 = u64::MAX;

    fn publish_backlog(&self, last: u64) {
        let backlog: u64 = self
            .0
            .iter()
            .map(|cursor| cursor.load(Ordering::Relaxed))
            .filter(|cursor| *cursor != Self::UNKNOWN)
            .map(|cursor| last.saturating_sub(cursor))
            .sum();
        metrics::gauge!(telemetry::WEBHOOK_BACKLOG).set(backlog as f64);
    }

    /// Each cursor, an unknown one as 0: nothing may be trimmed that it might still need.
    fn positions(&self) -> impl Iterator<Item = u64> + '_ {
        self.0
            .iter()
            .map(|cursor| match cursor.load(Ordering::Relaxed) {
                Self::UNKNOWN => 0,
                known => known,
            })
    }
}

/// Starts a delivery task per webhook and the retention task; all stop with `shutdown`.
pub(crate) fn start(
    journal: Arc<ChangeJournal>,
    settings: WebhookSettings,
    shutdown: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("quire/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            warn!(%error, "cannot build the webhook client; webhooks are off");
            return;
        }
    };
    let cursors = Arc::new(Cursors(
        settings
            .urls
            .iter()
            .map(|_| AtomicU64::new(Cursors::UNKNOWN))
            .collect(),
    ));
    let secret: Arc<[u8]> = settings.secret.clone().into();
    for (index, url) in settings.urls.iter().enumerate() {
        let delivery = Delivery {
            journal: journal.clone(),
            client: client.clone(),
            url: url.clone(),
            name: loggable(url),
            secret: secret.clone(),
            backoff: settings.backoff,
            cursors: cursors.clone(),
            index,
            shutdown: shutdown.clone(),
        };
        tokio::spawn(delivery.run());
    }
    tokio::spawn(retain(
        journal,
        cursors,
        settings.retention_events,
        settings.max_backlog_events,
        shutdown,
    ));
}

/// `url` as logs may show it: scheme, host, port and path, without user, password or query,
/// which may hold credentials.
fn loggable(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => "(invalid url)".to_owned(),
    }
}

/// Trims the change log every [`TRIM_INTERVAL`] and keeps the backlog gauge current as events
/// are recorded.
async fn retain(
    journal: Arc<ChangeJournal>,
    cursors: Arc<Cursors>,
    keep: u64,
    max_backlog: u64,
    shutdown: CancellationToken,
) {
    let mut latest = journal.subscribe();
    let mut trim = tokio::time::interval(TRIM_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = latest.changed() => {
                if changed.is_err() {
                    return;
                }
                cursors.publish_backlog(*latest.borrow_and_update());
            }
            _ = trim.tick() => {
                let last = *latest.borrow();
                let through = trim_through(last, keep, cursors.positions(), max_backlog);
                let worker = journal.clone();
                let trimmed =
                    tokio::task::spawn_blocking(move || worker.log().trim_events(through)).await;
                if let Ok(Err(error)) = trimmed {
                    warn!(%error, "could not trim the change log");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_given_twice_is_one_webhook() {
        let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), "data".into());
        config.webhook_url = ["http://a/hook", "http://b/hook", "http://a/hook"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            WebhookSettings::of(&config).urls,
            ["http://a/hook", "http://b/hook"]
        );
    }

    #[test]
    fn logged_urls_keep_no_credentials() {
        assert_eq!(
            loggable("https://user:pass@hooks.example:8443/in?token=abc#x"),
            "https://hooks.example:8443/in"
        );
        assert_eq!(loggable("http://127.0.0.1/hook"), "http://127.0.0.1/hook");
    }
}
