//! One webhook's delivery task: the change log, from its cursor, POSTed one event at a time.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rand::Rng;
use storage::StoreError;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::signature::signature_header;
use super::{Backoff, Cursors};
use crate::changes::event::Event;
use crate::changes::{ChangeJournal, Page};
use crate::telemetry;

/// How much of a receiver's answer is read to keep its connection for the next request.
const MAX_DRAINED_RESPONSE_BYTES: usize = 64 * 1024;

/// Events read from the change log at a time.
const PAGE: usize = 64;

/// What one webhook's task holds.
pub(super) struct Delivery {
    pub(super) journal: Arc<ChangeJournal>,
    pub(super) client: reqwest::Client,
    pub(super) url: String,
    /// The URL without credentials or query, for logs.
    pub(super) name: String,
    pub(super) secret: Arc<[u8]>,
    pub(super) backoff: Backoff,
    pub(super) cursors: Arc<Cursors>,
    pub(super) index: usize,
    pub(super) shutdown: CancellationToken,
}

/// Why one attempt failed.
enum AttemptError {
    /// The receiver answered, but not with 2xx.
    Status(reqwest::StatusCode),
    /// No answer: refused, reset, timed out.
    Transport(reqwest::Error),
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Status(status) => write!(formatter, "answered {status}"),
            AttemptError::Transport(error) => write!(formatter, "{error}"),
        }
    }
}

impl Delivery {
    /// Delivers until shutdown.
    pub(super) async fn run(self) {
        let Some(mut cursor) = self.start_cursor().await else {
            return;
        };
        let mut latest = self.journal.subscribe();
        loop {
            let page = match self.read_after(cursor).await {
                Ok(page) => page,
                Err(error) => {
                    warn!(webhook = self.name, %error, "cannot read the change log");
                    Page {
                        through: cursor,
                        ..Page::default()
                    }
                }
            };
            if page.expired {
                // Trimmed while this receiver's backlog passed its maximum: those events are
                // gone. Said, counted, and delivery goes on from the oldest one kept.
                let next = page
                    .events
                    .first()
                    .map_or(page.through, |event| event.sequence);
                let dropped = next.saturating_sub(cursor).saturating_sub(1);
                warn!(
                    webhook = self.name,
                    dropped, "events were trimmed before this webhook received them"
                );
                metrics::counter!(telemetry::WEBHOOK_DROPPED).increment(dropped);
            }
            if page.events.is_empty() && page.through > cursor {
                // Only unreadable events: passed over.
                cursor = page.through;
                self.advance(cursor).await;
                continue;
            }
            let events = page.events;
            if events.is_empty() {
                tokio::select! {
                    () = self.shutdown.cancelled() => return,
                    changed = latest.changed() => if changed.is_err() { return },
                }
                continue;
            }
            for event in events {
                if !self.deliver(&event).await {
                    return;
                }
                cursor = event.sequence;
                self.advance(cursor).await;
            }
        }
    }

    /// Where this webhook left off; a new webhook starts with the events recorded from now on.
    async fn start_cursor(&self) -> Option<u64> {
        let journal = self.journal.clone();
        let url = self.url.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<u64, StoreError> {
            let log = journal.log();
            match log.delivered_through(&url)? {
                Some(cursor) => Ok(cursor),
                None => {
                    let last = log.event_range()?.last;
                    log.set_delivered_through(&url, last)?;
                    journal.store().flush()?;
                    Ok(last)
                }
            }
        })
        .await;
        match read {
            Ok(Ok(cursor)) => {
                self.cursors.0[self.index].store(cursor, Ordering::Relaxed);
                Some(cursor)
            }
            Ok(Err(error)) => {
                warn!(webhook = self.name, %error, "cannot read the webhook's cursor; it is off");
                None
            }
            Err(_) => None,
        }
    }

    async fn read_after(&self, cursor: u64) -> Result<Page, StoreError> {
        self.journal.next_page(cursor, PAGE).await
    }

    /// Sends `event` until the receiver takes it; false if shutdown came first.
    async fn deliver(&self, event: &Event) -> bool {
        let body = event.to_json();
        let signature = signature_header(&self.secret, body.as_bytes());
        let mut failures = 0;
        loop {
            let attempt = tokio::select! {
                () = self.shutdown.cancelled() => return false,
                attempt = self.attempt(event, &body, &signature) => attempt,
            };
            let error = match attempt {
                Ok(()) => {
                    metrics::counter!(telemetry::WEBHOOK_DELIVERIES, "result" => "delivered")
                        .increment(1);
                    if failures > 0 {
                        info!(
                            webhook = self.name,
                            event = event.sequence,
                            failures,
                            "webhook delivered after retries"
                        );
                    }
                    return true;
                }
                Err(error) => error,
            };
            metrics::counter!(telemetry::WEBHOOK_DELIVERIES, "result" => "failed").increment(1);
            failures += 1;
            let wait = self.backoff.delay(failures, rand::rng().random::<f64>());
            warn!(webhook = self.name, event = event.sequence, failures, %error, retry_in = ?wait, "webhook delivery failed");
            tokio::select! {
                () = self.shutdown.cancelled() => return false,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn attempt(
        &self,
        event: &Event,
        body: &str,
        signature: &str,
    ) -> Result<(), AttemptError> {
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Quire-Signature", signature)
            .header("Quire-Event-Id", event.sequence.to_string())
            .header("Quire-Event-Type", event.body.kind.name())
            .body(body.to_owned())
            .send()
            .await
            .map_err(|error| AttemptError::Transport(error.without_url()))?;
        let status = response.status();
        // The body is not wanted, but reading a short one lets the connection be reused. A long
        // one is dropped unread (closing the connection) rather than buffered.
        let mut response = response;
        let mut unread = MAX_DRAINED_RESPONSE_BYTES;
        while let Ok(Some(chunk)) = response.chunk().await {
            match unread.checked_sub(chunk.len()) {
                Some(left) => unread = left,
                None => break,
            }
        }
        if status.is_success() {
            Ok(())
        } else {
            Err(AttemptError::Status(status))
        }
    }

    /// Records that the receiver has every event through `cursor`. Not flushed on its own: a
    /// crash may send the last events again, which at-least-once allows.
    async fn advance(&self, cursor: u64) {
        self.cursors.0[self.index].store(cursor, Ordering::Relaxed);
        self.cursors
            .publish_backlog(*self.journal.subscribe().borrow());
        let journal = self.journal.clone();
        let url = self.url.clone();
        let saved =
            tokio::task::spawn_blocking(move || journal.log().set_delivered_through(&url, cursor))
                .await;
        if let Ok(Err(error)) = saved {
            warn!(webhook = self.name, %error, "cannot save the webhook's cursor");
        }
    }
}
