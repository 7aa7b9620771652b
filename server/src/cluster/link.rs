//! The task that talks to Redis for this node: one pub/sub connection for the documents' channels,
//! one multiplexed connection for publishing and heartbeats.
//!
//! It runs in two states. **Down**: it tries to connect (backing off from 100 ms to 2 s), and
//! meanwhile answers subscriptions at once and drops publications, since rooms must not wait on
//! Redis; everything is caught up when it is back. **Up**: it subscribes, publishes in pipelines
//! (whatever waits, in one round trip), delivers what arrives to the rooms without waiting on
//! them, renews its heartbeat and checks its peers'. When the connection breaks it goes down
//! again; when it comes back it subscribes every room again and tells each to resync (read the
//! store for what it missed, announce how far it is).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::liveness::{HEARTBEAT_INTERVAL, HEARTBEAT_TTL, Liveness, heartbeat_key};
use super::message::{Announcement, ClusterMessage};
use super::{Cluster, LinkCommand, PeerEvent, Publication, channel_of, document_of};
use crate::telemetry;

/// Publications sent in one pipeline at most.
const PIPELINE: usize = 512;
/// Channels named in one SUBSCRIBE when subscribing everything again.
const SUBSCRIBE_CHUNK: usize = 1000;
/// Longest wait for Redis to answer a connect, a command or a round of them.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);
/// After shutdown begins, the link keeps publishing until nothing has come for this long.
const DRAIN_QUIET: Duration = Duration::from_millis(300);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A room subscribed to its document's channel.
struct Inbox {
    id: u64,
    events: mpsc::Sender<PeerEvent>,
    missed: Arc<AtomicBool>,
}

impl Inbox {
    /// Queues `event` without waiting; a room too far behind is marked to read the store.
    fn deliver(&self, event: PeerEvent) {
        if self.events.try_send(event).is_err() {
            self.missed.store(true, Ordering::Relaxed);
            metrics::counter!(telemetry::CLUSTER_DROPPED, "reason" => "room_behind").increment(1);
        }
    }
}

/// The connections of an up link.
struct Connected {
    sink: PubSubSink,
    stream: PubSubStream,
    publisher: MultiplexedConnection,
}

/// Why an up link stopped.
enum Stopped {
    Lost(String),
    Shutdown,
}

struct Link {
    client: redis::Client,
    cluster: Cluster,
    inboxes: HashMap<Arc<str>, Inbox>,
    liveness: Liveness,
}

/// Runs the link until `shutdown`.
pub(super) async fn run(
    client: redis::Client,
    cluster: Cluster,
    mut commands: mpsc::UnboundedReceiver<LinkCommand>,
    mut publications: mpsc::Receiver<Publication>,
    shutdown: CancellationToken,
) {
    let mut link = Link {
        client,
        cluster,
        inboxes: HashMap::new(),
        liveness: Liveness::default(),
    };
    let mut backoff = MIN_BACKOFF;
    let mut reported_down = false;
    let up = metrics::gauge!(telemetry::CLUSTER_LINK_UP);
    up.set(0.0);
    loop {
        let connecting = connect(link.client.clone());
        let Some(connected) = link
            .while_down(connecting, &mut commands, &mut publications, &shutdown)
            .await
        else {
            return;
        };
        let subscribed = match connected {
            Ok(mut connected) => match link.subscribe_all(&mut connected).await {
                Ok(()) => Ok(connected),
                Err(error) => Err(format!(
                    "could not subscribe the documents' channels: {error}"
                )),
            },
            Err(error) => Err(error),
        };
        let connected = match subscribed {
            Ok(connected) => connected,
            Err(error) => {
                if !reported_down {
                    warn!(%error, "the cluster link to Redis is down; local clients are served, other nodes' edits arrive once it is back");
                    reported_down = true;
                }
                let pause = tokio::time::sleep(backoff);
                let paused = link
                    .while_down(pause, &mut commands, &mut publications, &shutdown)
                    .await;
                if paused.is_none() {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        link.cluster.inner.up.store(true, Ordering::Relaxed);
        up.set(1.0);
        info!(node = %link.cluster.node(), "the cluster link to Redis is up");
        // Rooms that subscribed while the link was down (or still connecting, at start) loaded
        // without it, and may have missed messages either way: every room resyncs.
        link.tell_everyone(PeerEvent::Resync);
        let stopped = link
            .serve(connected, &mut commands, &mut publications, &shutdown)
            .await;
        link.cluster.inner.up.store(false, Ordering::Relaxed);
        up.set(0.0);
        match stopped {
            Stopped::Shutdown => return,
            Stopped::Lost(error) => {
                warn!(%error, "the cluster link to Redis broke; reconnecting");
                reported_down = true;
            }
        }
    }
}

impl Link {
    /// Subscribes every room's channel (on a new connection).
    async fn subscribe_all(&self, connected: &mut Connected) -> redis::RedisResult<()> {
        let channels: Vec<String> = self
            .inboxes
            .keys()
            .map(|document| channel_of(document))
            .collect();
        for chunk in channels.chunks(SUBSCRIBE_CHUNK) {
            within_timeout(connected.sink.subscribe(chunk)).await?;
        }
        Ok(())
    }

    /// Waits for `until` while the link is down, answering subscriptions and dropping
    /// publications meanwhile; `None` if the server stops first.
    async fn while_down<T>(
        &mut self,
        until: impl std::future::Future<Output = T>,
        commands: &mut mpsc::UnboundedReceiver<LinkCommand>,
        publications: &mut mpsc::Receiver<Publication>,
        shutdown: &CancellationToken,
    ) -> Option<T> {
        tokio::pin!(until);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return None,
                Some(command) = commands.recv() => {
                    // Answered at once: the room resyncs when the link is back.
                    let _ = self.handle_command(command, None).await;
                }
                Some(_) = publications.recv() => {
                    metrics::counter!(telemetry::CLUSTER_DROPPED, "reason" => "link_down")
                        .increment(1);
                }
                done = &mut until => return Some(done),
            }
        }
    }

    /// Removes the inbox of subscription `id`; whether it was the one subscribed.
    fn forget(&mut self, document: &Arc<str>, id: u64) -> bool {
        if self
            .inboxes
            .get(document)
            .is_some_and(|inbox| inbox.id == id)
        {
            self.inboxes.remove(document);
            return true;
        }
        false
    }

    fn tell_everyone(&self, event: PeerEvent) {
        for inbox in self.inboxes.values() {
            inbox.deliver(event.clone());
        }
    }

    /// Serves an up link until it breaks or the server stops.
    async fn serve(
        &mut self,
        mut connected: Connected,
        commands: &mut mpsc::UnboundedReceiver<LinkCommand>,
        publications: &mut mpsc::Receiver<Publication>,
        shutdown: &CancellationToken,
    ) -> Stopped {
        let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(PIPELINE);
        loop {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => {
                    // The rooms' last persists finish during the shutdown grace: what they
                    // publish meanwhile still goes out, until nothing has come for a moment.
                    loop {
                        let next = publications.recv_many(&mut batch, PIPELINE);
                        match tokio::time::timeout(DRAIN_QUIET, next).await {
                            Ok(received) if received > 0 => {
                                if publish(&mut connected.publisher, &mut batch).await.is_err() {
                                    break;
                                }
                            }
                            _ => break,
                        }
                    }
                    let key = heartbeat_key(self.cluster.node());
                    let mut removal = redis::cmd("DEL");
                    removal.arg(key);
                    let removing = removal.exec_async(&mut connected.publisher);
                    let _ = tokio::time::timeout(Duration::from_secs(1), removing).await;
                    return Stopped::Shutdown;
                }
                Some(command) = commands.recv() => self.handle_command(command, Some(&mut connected)).await,
                received = publications.recv_many(&mut batch, PIPELINE) => {
                    if received == 0 {
                        return Stopped::Shutdown;
                    }
                    publish(&mut connected.publisher, &mut batch).await
                }
                message = connected.stream.next() => match message {
                    Some(message) => {
                        self.handle_message(&message);
                        Ok(())
                    }
                    None => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the pub/sub connection closed",
                    ))),
                },
                _ = heartbeat.tick() => self.beat(&mut connected.publisher).await,
            };
            if let Err(error) = outcome {
                return Stopped::Lost(error.to_string());
            }
        }
    }

    /// A subscription or its end; with the link up (`connected`), made with Redis too.
    async fn handle_command(
        &mut self,
        command: LinkCommand,
        connected: Option<&mut Connected>,
    ) -> redis::RedisResult<()> {
        match command {
            LinkCommand::Subscribe {
                document,
                id,
                events,
                missed,
                confirmed,
            } => {
                let channel = channel_of(&document);
                let fresh = self
                    .inboxes
                    .insert(document, Inbox { id, events, missed })
                    .is_none();
                if fresh && let Some(connected) = connected {
                    within_timeout(connected.sink.subscribe(channel)).await?;
                }
                let _ = confirmed.send(());
            }
            LinkCommand::Unsubscribe { document, id } => {
                if self.forget(&document, id)
                    && let Some(connected) = connected
                {
                    within_timeout(connected.sink.unsubscribe(channel_of(&document))).await?;
                }
            }
        }
        Ok(())
    }

    /// Hands a message to its room, unless this node sent it.
    fn handle_message(&mut self, message: &redis::Msg) {
        let Some(document) = document_of(message.get_channel_name()) else {
            return;
        };
        let payload = bytes::Bytes::copy_from_slice(message.get_payload_bytes());
        let decoded = match ClusterMessage::decode(&payload) {
            Ok(decoded) => decoded,
            Err(error) => {
                warn!(%error, document, "ignoring a cluster message this node cannot read");
                metrics::counter!(telemetry::CLUSTER_DROPPED, "reason" => "malformed").increment(1);
                return;
            }
        };
        if decoded.from == self.cluster.node() {
            return;
        }
        self.liveness.handle_heard(decoded.from);
        metrics::counter!(telemetry::CLUSTER_RECEIVED, "type" => kind_label(&decoded.body))
            .increment(1);
        if let Some(inbox) = self.inboxes.get(document) {
            inbox.deliver(PeerEvent::Message(decoded));
        }
    }

    /// Renews this node's heartbeat, finds peers that died, and tells rooms to resync if a
    /// publication was dropped since the last beat.
    async fn beat(&mut self, publisher: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let checks = self.liveness.poll_checks();
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("SET")
            .arg(heartbeat_key(self.cluster.node()))
            .arg(1)
            .arg("PX")
            .arg(HEARTBEAT_TTL.as_millis() as u64)
            .ignore();
        for node in &checks {
            pipeline.cmd("EXISTS").arg(heartbeat_key(*node));
        }
        let alive: Vec<bool> = within_timeout(pipeline.query_async(publisher)).await?;
        for node in self.liveness.handle_checked(&checks, &alive) {
            info!(%node, "a peer node is gone; its clients' awareness states are removed");
            metrics::counter!(telemetry::CLUSTER_PEERS_GONE).increment(1);
            self.tell_everyone(PeerEvent::NodeGone(node));
        }
        if self.cluster.inner.overflowed.swap(false, Ordering::Relaxed) {
            self.tell_everyone(PeerEvent::Resync);
        }
        Ok(())
    }
}

/// Opens both connections to the Redis of `client`.
async fn connect(client: redis::Client) -> Result<Connected, String> {
    let opening = async {
        let (sink, stream) = client.get_async_pubsub().await?.split();
        let publisher = client.get_multiplexed_async_connection().await?;
        Ok::<_, redis::RedisError>(Connected {
            sink,
            stream,
            publisher,
        })
    };
    match tokio::time::timeout(REDIS_TIMEOUT, opening).await {
        Ok(Ok(connected)) => Ok(connected),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("Redis did not answer in time".to_owned()),
    }
}

/// Publishes `batch` in one round trip, emptying it.
async fn publish(
    publisher: &mut MultiplexedConnection,
    batch: &mut Vec<Publication>,
) -> redis::RedisResult<()> {
    let mut pipeline = redis::pipe();
    for publication in batch.iter() {
        pipeline
            .cmd("PUBLISH")
            .arg(channel_of(&publication.document))
            .arg(&publication.payload[..])
            .ignore();
    }
    let count = batch.len() as u64;
    batch.clear();
    within_timeout(pipeline.exec_async(publisher)).await?;
    metrics::counter!(telemetry::CLUSTER_PUBLISHED).increment(count);
    Ok(())
}

/// `operation`, or a timeout error once Redis has taken [`REDIS_TIMEOUT`] to answer it.
async fn within_timeout<T>(
    operation: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    match tokio::time::timeout(REDIS_TIMEOUT, operation).await {
        Ok(outcome) => outcome,
        Err(_) => Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "Redis did not answer in time",
        ))),
    }
}

fn kind_label(body: &Announcement) -> &'static str {
    match body {
        Announcement::Update { .. } => "update",
        Announcement::Awareness { .. } => "awareness",
        Announcement::AwarenessQuery => "awareness_query",
        Announcement::HighWater { .. } => "high_water",
        Announcement::Deleted => "deleted",
    }
}
