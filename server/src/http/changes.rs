//! `GET /api/changes`: the change feed as Server-Sent Events, resumable by cursor.
//!
//! Each SSE event's `id:` is the event's sequence in the change log, which is also the cursor to
//! resume after it: `?since=CURSOR`, or the `Last-Event-ID` header an `EventSource` sends when it
//! reconnects (it wins over `since`). The stream first replays the stored events after the
//! cursor, then follows new ones as they are recorded, with a keepalive comment every
//! [`KEEPALIVE`]. Without a cursor it starts at the end of the log: live events only.
//!
//! A cursor the log no longer covers (trimmed by retention) is refused with 410 before the
//! stream starts, and a reader that falls behind retention mid-stream gets a last `expired`
//! event: either way the consumer must resync from the documents themselves. With tokens, only
//! events about documents the token covers are sent, and the stream ends when the token expires.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use storage::StoreError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::extract::{query, token_scope};
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::auth::Claims;
use crate::changes::event::Event;
use crate::changes::{ChangeJournal, Page};

/// How often an idle stream sends a comment, so proxies keep it open.
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(15);

/// Events read from the change log at a time.
const PAGE: usize = 256;

#[derive(Debug, Deserialize)]
pub(crate) struct ChangesQuery {
    since: Option<String>,
}

/// `GET /api/changes?since=CURSOR`.
pub(crate) async fn stream_changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    changes_query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let scope = token_scope(state.authenticator.as_ref(), &headers)?;
    let Query(changes_query) = query(changes_query)?;
    let resume = headers
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or("invalid").to_owned());
    let requested = match resume.or(changes_query.since) {
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                "invalid_cursor",
                format!("cursor {text:?} is not an event id (a whole number)"),
            )
        })?),
        None => None,
    };
    let Some(journal) = state.storage.journal().cloned() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_change_log",
            "this server records no change events: start it with --change-feed on (or a \
             --webhook-url)",
        ));
    };
    let worker = journal.clone();
    let range = tokio::task::spawn_blocking(move || worker.log().event_range())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let cursor = requested.unwrap_or_else(|| journal.published());
    if cursor < range.trimmed_through {
        return Err(ApiError::new(
            StatusCode::GONE,
            "cursor_expired",
            format!(
                "events through {} are no longer kept; resync and follow from the current end",
                range.trimmed_through
            ),
        ));
    }
    if cursor > range.last {
        return Err(ApiError::new(
            StatusCode::GONE,
            "cursor_unknown",
            format!(
                "cursor {cursor} is past the last event ({}): the log is not the one it came from; resync",
                range.last
            ),
        ));
    }
    let reader = ChangeReader {
        latest: journal.subscribe(),
        journal,
        cursor,
        pending: VecDeque::new(),
        scope,
        shutdown: state.shutdown.clone(),
        finished: false,
    };
    Ok(Sse::new(reader.into_stream())
        .keep_alive(KeepAlive::new().interval(KEEPALIVE).text("keepalive"))
        .into_response())
}

/// One reader's position in the change log.
struct ChangeReader {
    journal: Arc<ChangeJournal>,
    latest: watch::Receiver<u64>,
    cursor: u64,
    pending: VecDeque<Event>,
    scope: Option<Claims>,
    shutdown: CancellationToken,
    finished: bool,
}

/// What a reader does next.
enum Step {
    Send(SseEvent),
    Wait,
    End,
}

impl ChangeReader {
    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        stream::unfold(self, |mut reader| async move {
            loop {
                match reader.step().await {
                    Step::Send(event) => return Some((Ok(event), reader)),
                    Step::End => return None,
                    Step::Wait => {
                        let expiry = reader.token_expiry();
                        tokio::select! {
                            () = reader.shutdown.cancelled() => return None,
                            () = tokio::time::sleep(expiry) => return None,
                            changed = reader.latest.changed() => {
                                if changed.is_err() {
                                    return None;
                                }
                            }
                        }
                    }
                }
            }
        })
    }

    /// How long until the token runs out (a long while without tokens).
    fn token_expiry(&self) -> Duration {
        let Some(claims) = &self.scope else {
            return Duration::from_secs(365 * 24 * 3600);
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Duration::from_secs(claims.exp).saturating_sub(now)
    }

    async fn step(&mut self) -> Step {
        // A loop, not a recursion: a token may cover none of a long backlog's pages, and each
        // page passed over would otherwise nest one more future.
        loop {
            if self.finished || self.token_expiry().is_zero() {
                return Step::End;
            }
            while let Some(event) = self.pending.pop_front() {
                if self
                    .scope
                    .as_ref()
                    .is_none_or(|claims| claims.covers(&event.body.document))
                {
                    return Step::Send(
                        SseEvent::default()
                            .id(event.sequence.to_string())
                            .event(event.body.kind.name())
                            .data(event.to_json()),
                    );
                }
            }
            match self.read().await {
                Ok(page) if page.expired => {
                    self.finished = true;
                    return Step::Send(SseEvent::default().event("expired").data(
                        r#"{"error":"events after this stream's position were trimmed; resync","code":"cursor_expired"}"#,
                    ));
                }
                Ok(page) if page.through == self.cursor => return Step::Wait,
                Ok(page) => {
                    // Past unreadable events too, even when no event is left to send.
                    self.cursor = page.through;
                    self.pending.extend(page.events);
                }
                Err(_) => return Step::End,
            }
        }
    }

    /// The next page after the cursor.
    async fn read(&self) -> Result<Page, StoreError> {
        self.journal.next_page(self.cursor, PAGE).await
    }
}
