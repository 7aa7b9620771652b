//! Several Quire nodes sharing documents: the link between them, through Redis pub/sub.
//!
//! Documents live in one shared store (PostgreSQL). A node's rooms append to it and then
//! publish what became durable on the document's channel (`quire:doc:{id}`); the other nodes
//! holding that document apply it and send it to their clients. Awareness goes the same way.
//!
//! Why pub/sub and not Redis Streams: the store already keeps every update, in order, numbered
//! (seqs). A message is only a fast path; when one is missed (a link that dropped, a node killed
//! between its commit and its publish, a full queue) the receiver notices a hole in the seqs, or
//! is told to look (after a reconnect), and reads what it missed from the store. Streams would
//! keep a second copy of every update in Redis's memory, to be trimmed, for a guarantee the store
//! gives already. See docs/architecture.md, "Several nodes".
//!
//! Layout:
//! - `message`: what is published, and its binary encoding.
//! - `liveness`: heartbeat keys, and finding peers that died (their clients' awareness goes).
//! - `link`: the task that talks to Redis: subscriptions, publishing, reconnecting.
//!
//! The room engine uses a [`Cluster`] handle: a room subscribes before it loads its document (so
//! nothing committed between its load and its subscription is missed: it reads seqs it missed
//! from the store), receives [`PeerEvent`]s through its [`Subscription`], and publishes
//! [`Announcement`]s. This module knows nothing of rooms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod link;
mod liveness;
mod message;

pub use message::{Announcement, ClusterMessage, NodeId};

/// Events queued for one room before it falls behind and must read the store instead.
const ROOM_EVENTS: usize = 256;

/// Publications queued for the link before they are dropped (and the rooms told to resync).
const PUBLICATIONS: usize = 8192;

/// What the link hands a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A peer node published this about the room's document.
    Message(ClusterMessage),
    /// This peer node died: its clients' awareness states must go.
    NodeGone(NodeId),
    /// The link was cut off and is back: the room may have missed messages, and the others may
    /// have missed its own. It reads the store, and announces how far it is.
    Resync,
}

/// Why the cluster link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The `--cluster` URL is not one the Redis client takes.
    #[error("invalid --cluster URL: {0}")]
    InvalidUrl(#[source] redis::RedisError),
}

/// A room's subscription to its document's channel. Dropping it unsubscribes.
pub(crate) struct Subscription {
    /// What arrives for the room.
    pub(crate) events: mpsc::Receiver<PeerEvent>,
    /// Set when an event could not be queued (the room was too slow): it must read the store.
    missed: Arc<AtomicBool>,
    /// Resolves once Redis confirmed the subscription (or at once while Redis is unreachable:
    /// the room then catches up when the link is back).
    confirmed: Option<oneshot::Receiver<()>>,
    id: u64,
    document: Arc<str>,
    cluster: Cluster,
}

impl Subscription {
    /// What resolves once messages published from then on reach this subscription (taken
    /// once: the room waits on it before its first load).
    pub(crate) fn take_confirmation(&mut self) -> Option<oneshot::Receiver<()>> {
        self.confirmed.take()
    }

    /// Whether an event was dropped since the last call: the room must read what it missed.
    pub(crate) fn take_missed(&self) -> bool {
        self.missed.swap(false, Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.cluster.inner.commands.send(LinkCommand::Unsubscribe {
            document: self.document.clone(),
            id: self.id,
        });
    }
}

/// What the link is asked.
enum LinkCommand {
    Subscribe {
        document: Arc<str>,
        id: u64,
        events: mpsc::Sender<PeerEvent>,
        missed: Arc<AtomicBool>,
        confirmed: oneshot::Sender<()>,
    },
    Unsubscribe {
        document: Arc<str>,
        id: u64,
    },
}

/// One publication waiting for the link.
struct Publication {
    document: Arc<str>,
    payload: Bytes,
}

struct Shared {
    node: NodeId,
    /// Subscriptions and their ends: never dropped (a room not subscribed would miss every peer
    /// message for its whole life). Unbounded, but bounded in fact: each room sends one of each.
    commands: mpsc::UnboundedSender<LinkCommand>,
    /// Publications: many, dropped when the link falls behind (see `overflowed`).
    publications: mpsc::Sender<Publication>,
    /// A publication was dropped: every room is told to resync once the link catches up.
    overflowed: AtomicBool,
    /// Whether the link to Redis is up now.
    up: AtomicBool,
    next_subscription: AtomicU64,
}

/// A handle to this node's cluster link; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Cluster(node {})", self.inner.node)
    }
}

impl Cluster {
    /// Starts this node's link to the Redis at `url`, tracked by `tracker` and ended by
    /// `shutdown`. Connecting happens in the background and is retried for as long as it
    /// fails: a node serves its own clients while Redis is away.
    pub fn start(
        url: &str,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, ClusterError> {
        let client = redis::Client::open(url).map_err(ClusterError::InvalidUrl)?;
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let (publications, publication_receiver) = mpsc::channel(PUBLICATIONS);
        let cluster = Cluster {
            inner: Arc::new(Shared {
                node: NodeId::random(),
                commands,
                publications,
                overflowed: AtomicBool::new(false),
                up: AtomicBool::new(false),
                next_subscription: AtomicU64::new(0),
            }),
        };
        tracker.spawn(link::run(
            client,
            cluster.clone(),
            command_receiver,
            publication_receiver,
            shutdown,
        ));
        Ok(cluster)
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.inner.node
    }

    /// Whether the link to Redis is up now.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// Subscribes to `document`'s channel; wait for [`Subscription::take_confirmation`] before
    /// loading it.
    pub(crate) fn subscribe(&self, document: Arc<str>) -> Subscription {
        let (sender, events) = mpsc::channel(ROOM_EVENTS);
        let (confirm, confirmed) = oneshot::channel();
        let missed = Arc::new(AtomicBool::new(false));
        let id = self.inner.next_subscription.fetch_add(1, Ordering::Relaxed);
        let command = LinkCommand::Subscribe {
            document: document.clone(),
            id,
            events: sender,
            missed: missed.clone(),
            confirmed: confirm,
        };
        if self.inner.commands.send(command).is_err() {
            // The link is gone (shutting down): the room runs on its own.
            missed.store(true, Ordering::Relaxed);
        }
        Subscription {
            events,
            missed,
            confirmed: Some(confirmed),
            id,
            document,
            cluster: self.clone(),
        }
    }

    /// Publishes `body` about `document` to the other nodes, without waiting. If the link falls
    /// behind, the publication is dropped and every room resyncs once it has caught up.
    pub(crate) fn publish(&self, document: &Arc<str>, body: Announcement) {
        let message = ClusterMessage {
            from: self.inner.node,
            body,
        };
        let publication = Publication {
            document: document.clone(),
            payload: message.encode(),
        };
        if self.inner.publications.try_send(publication).is_err() {
            self.inner.overflowed.store(true, Ordering::Relaxed);
            metrics::counter!(crate::telemetry::CLUSTER_DROPPED, "reason" => "queue_full")
                .increment(1);
        }
    }
}

/// The channel of `document`.
fn channel_of(document: &str) -> String {
    format!("quire:doc:{document}")
}

/// The document of `channel`, if it is one of ours.
fn document_of(channel: &str) -> Option<&str> {
    channel.strip_prefix("quire:doc:")
}
