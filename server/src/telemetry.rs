//! What Quire counts, and the Prometheus rendering of it at `GET /metrics`.
//!
//! Metrics go through the `metrics` facade so any module can count without plumbing a registry
//! around; the Prometheus recorder is installed once per process (tests start several servers in
//! one process, so installing is idempotent) and rendered on Quire's own router rather than on a
//! second listening port. Every metric name lives here, so the list an operator reads in
//! `docs/operations.md` has one source.
//!
//! Frames are counted on the hot path (every frame in and out of every connection), where the
//! `counter!` macro's registry look-up (hash the name and labels, take a shard lock) cost about
//! a tenth of the server's CPU: [`FrameCounters`] looks each per-type handle up once per process
//! and then only increments it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Open WebSocket connections, by `protocol`.
pub const CONNECTIONS_OPEN: &str = "quire_connections_open";
/// Rooms (documents) held in memory.
pub const ROOMS_LOADED: &str = "quire_rooms_loaded";
/// Rooms whose clients are connected but whose document was let go of while idle.
pub const ROOMS_ASLEEP: &str = "quire_rooms_asleep";
/// Messages received, by `type`.
pub const MESSAGES_RECEIVED: &str = "quire_messages_received_total";
/// Bytes received in WebSocket messages, by `type`.
pub const BYTES_RECEIVED: &str = "quire_bytes_received_total";
/// Messages sent, by `type`.
pub const MESSAGES_SENT: &str = "quire_messages_sent_total";
/// Bytes sent in WebSocket messages, by `type`.
pub const BYTES_SENT: &str = "quire_bytes_sent_total";
/// How many connections each broadcast went to.
pub const BROADCAST_FANOUT: &str = "quire_broadcast_fanout";
/// Storage operation latency in seconds, by `operation` (append, flush, compact, load).
pub const STORAGE_SECONDS: &str = "quire_storage_seconds";
/// Clients disconnected for falling behind.
pub const SLOW_CLIENT_DISCONNECTS: &str = "quire_slow_client_disconnects_total";
/// Requests and connections refused, by `reason`: an HTTP error code (`invalid_room_name`,
/// `malformed_update`, `body_too_large`, ...), `malformed_frame`, `awareness_too_large` or `message_too_big`.
pub const REFUSED: &str = "quire_refused_total";
/// Writes storage refused or failed, by kind (`no_space`, `write_failed`).
pub const STORAGE_ERRORS: &str = "quire_storage_errors_total";
/// Whether storage takes writes now: 1, or 0 during an outage (low on space, a failed write, an
/// unreachable database).
pub const STORAGE_UP: &str = "quire_storage_up";
/// Damaged stored records found while loading documents.
pub const CORRUPT_RECORDS: &str = "quire_storage_corrupt_records_total";
/// Change events recorded, by `type` (`document.updated`, ...).
pub const CHANGE_EVENTS: &str = "quire_change_events_total";
/// Webhook delivery attempts, by `result` (`delivered`, `failed`).
pub const WEBHOOK_DELIVERIES: &str = "quire_webhook_deliveries_total";
/// Events a webhook never got: trimmed while its backlog passed --webhook-max-backlog-events.
pub const WEBHOOK_DROPPED: &str = "quire_webhook_dropped_events_total";
/// Events not yet delivered, summed over every webhook.
pub const WEBHOOK_BACKLOG: &str = "quire_webhook_backlog_events";
/// Messages compressed for permessage-deflate; each once, however many clients receive it.
pub const COMPRESSIONS: &str = "quire_websocket_compressions_total";
/// Messages that crossed a WebSocket compressed, by `direction` (`sent`, `received`).
pub const COMPRESSED_MESSAGES: &str = "quire_websocket_compressed_messages_total";
/// Bytes compression kept off the wire, by `direction`: each compressed message's size less
/// its compressed size.
pub const COMPRESSION_SAVED_BYTES: &str = "quire_websocket_compression_saved_bytes_total";
/// Whether this node's link to the other nodes (Redis) is up: 1 or 0 (only with `--cluster`).
pub const CLUSTER_LINK_UP: &str = "quire_cluster_link_up";
/// Messages published to the other nodes.
pub const CLUSTER_PUBLISHED: &str = "quire_cluster_published_total";
/// Messages received from the other nodes, by `type` (`update`, `awareness`, ...).
pub const CLUSTER_RECEIVED: &str = "quire_cluster_received_total";
/// Messages to or from the other nodes that were dropped, by `reason` (`queue_full`,
/// `link_down`, `room_behind`, `malformed`); what they carried is read from the store instead.
pub const CLUSTER_DROPPED: &str = "quire_cluster_dropped_total";
/// Peer nodes found dead (their heartbeat key expired).
pub const CLUSTER_PEERS_GONE: &str = "quire_cluster_peers_gone_total";
/// Times a room read from the store what the cluster link did not bring it.
pub const CLUSTER_CATCH_UPS: &str = "quire_cluster_catch_ups_total";
/// Resident memory of the process in bytes, read at scrape time.
pub const RESIDENT_MEMORY: &str = "quire_process_resident_memory_bytes";

/// Storage latency buckets: sub-millisecond appends up to multi-second compactions.
const STORAGE_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];
/// Fan-out buckets: a room of one up to a lecture hall.
const FANOUT_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

/// The process-wide Prometheus recorder's handle, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(STORAGE_SECONDS.to_owned()), STORAGE_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(BROADCAST_FANOUT.to_owned()),
                    FANOUT_BUCKETS,
                )
            })
            .expect("bucket lists are non-empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program's); ours still
        // renders what it records through the handle.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// The metrics in Prometheus text format.
pub fn render() -> String {
    let handle = prometheus();
    handle.run_upkeep();
    if let Some(resident) = resident_memory_bytes() {
        gauge!(RESIDENT_MEMORY).set(resident as f64);
    }
    handle.render()
}

/// One open WebSocket counted in [`CONNECTIONS_OPEN`] under its `protocol` for as long as this
/// lives (however the connection's task ends).
pub struct OpenConnection(metrics::Gauge);

impl OpenConnection {
    /// Counts a connection of `protocol` as open.
    pub fn new(protocol: &'static str) -> Self {
        let open = gauge!(CONNECTIONS_OPEN, "protocol" => protocol);
        open.increment(1.0);
        OpenConnection(open)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Records one storage operation's latency.
pub fn record_storage(operation: &'static str, elapsed: Duration) {
    histogram!(STORAGE_SECONDS, "operation" => operation).record(elapsed.as_secs_f64());
}

/// Counts a refusal.
pub fn record_refusal(reason: &'static str) {
    counter!(REFUSED, "reason" => reason).increment(1);
}

/// Counts a batch of writes storage refused or failed, by `kind`.
pub fn record_storage_error(kind: &'static str) {
    counter!(STORAGE_ERRORS, "kind" => kind).increment(1);
}

/// What a frame carries, for per-type counts: the y-protocols message types, and for Hocuspocus
/// frames its own ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    SyncStep1,
    SyncStep2,
    Update,
    Awareness,
    Auth,
    QueryAwareness,
    Ping,
    Pong,
    Stateless,
    Close,
    SyncStatus,
    Other,
}

impl FrameType {
    const ALL: [FrameType; 12] = [
        FrameType::SyncStep1,
        FrameType::SyncStep2,
        FrameType::Update,
        FrameType::Awareness,
        FrameType::Auth,
        FrameType::QueryAwareness,
        FrameType::Ping,
        FrameType::Pong,
        FrameType::Stateless,
        FrameType::Close,
        FrameType::SyncStatus,
        FrameType::Other,
    ];

    /// The y-protocols type of a frame's first message.
    pub fn of_frame(frame: &[u8]) -> FrameType {
        match frame {
            [0, 0, ..] => FrameType::SyncStep1,
            [0, 1, ..] => FrameType::SyncStep2,
            [0, 2, ..] => FrameType::Update,
            [1, ..] => FrameType::Awareness,
            [2, ..] => FrameType::Auth,
            [3, ..] => FrameType::QueryAwareness,
            _ => FrameType::Other,
        }
    }

    /// The value of the `type` label.
    pub fn label(self) -> &'static str {
        match self {
            FrameType::SyncStep1 => "sync_step1",
            FrameType::SyncStep2 => "sync_step2",
            FrameType::Update => "update",
            FrameType::Awareness => "awareness",
            FrameType::Auth => "auth",
            FrameType::QueryAwareness => "query_awareness",
            FrameType::Ping => "ping",
            FrameType::Pong => "pong",
            FrameType::Stateless => "stateless",
            FrameType::Close => "close",
            FrameType::SyncStatus => "sync_status",
            FrameType::Other => "other",
        }
    }
}

/// The message and byte counters of one direction, one pair per [`FrameType`], each registered
/// the first time a frame of its type is counted (so `/metrics` lists only types seen, as the
/// `counter!` macro did).
pub struct FrameCounters {
    messages: &'static str,
    bytes: &'static str,
    by_type: [OnceLock<(Counter, Counter)>; FrameType::ALL.len()],
}

impl FrameCounters {
    const fn new(messages: &'static str, bytes: &'static str) -> Self {
        FrameCounters {
            messages,
            bytes,
            by_type: [const { OnceLock::new() }; FrameType::ALL.len()],
        }
    }

    /// Counts one frame of `frame_type` and `length` bytes.
    pub fn count(&self, frame_type: FrameType, length: usize) {
        let (messages, bytes) = self.by_type[frame_type as usize].get_or_init(|| {
            // Handles taken before the recorder is installed would count nowhere, forever.
            prometheus();
            let label = frame_type.label();
            (
                counter!(self.messages, "type" => label),
                counter!(self.bytes, "type" => label),
            )
        });
        messages.increment(1);
        bytes.increment(length as u64);
    }
}

/// Frames received from clients, by type.
pub static FRAMES_RECEIVED: FrameCounters = FrameCounters::new(MESSAGES_RECEIVED, BYTES_RECEIVED);
/// Frames sent to clients, by type.
pub static FRAMES_SENT: FrameCounters = FrameCounters::new(MESSAGES_SENT, BYTES_SENT);

/// Resident set size from `/proc/self/statm` (Linux); `None` elsewhere.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * 4096)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS_OPEN, "Open WebSocket connections, by protocol.");
    describe_gauge!(ROOMS_LOADED, "Rooms (documents) held in memory.");
    describe_gauge!(
        ROOMS_ASLEEP,
        "Rooms with connected clients whose document was let go of while idle."
    );
    describe_counter!(MESSAGES_RECEIVED, "Messages received, by type.");
    describe_gauge!(
        CLUSTER_LINK_UP,
        "Whether this node's link to the other nodes (Redis) is up."
    );
    describe_counter!(CLUSTER_PUBLISHED, "Messages published to the other nodes.");
    describe_gauge!(
        STORAGE_UP,
        "Whether storage takes writes now (0 while low on space, failed or unreachable)."
    );
    describe_counter!(
        CLUSTER_RECEIVED,
        "Messages received from the other nodes, by type."
    );
    describe_counter!(
        CLUSTER_DROPPED,
        "Messages to or from the other nodes dropped (read from the store instead), by reason."
    );
    describe_counter!(CLUSTER_PEERS_GONE, "Peer nodes found dead.");
    describe_counter!(
        CLUSTER_CATCH_UPS,
        "Times a room read from the store what the cluster link did not bring it."
    );
    describe_counter!(
        BYTES_RECEIVED,
        "Bytes received in WebSocket messages, by type."
    );
    describe_counter!(MESSAGES_SENT, "Messages sent, by type.");
    describe_counter!(BYTES_SENT, "Bytes sent in WebSocket messages, by type.");
    describe_histogram!(BROADCAST_FANOUT, "Connections each broadcast was sent to.");
    describe_histogram!(
        STORAGE_SECONDS,
        "Storage operation latency in seconds, by operation."
    );
    describe_counter!(
        SLOW_CLIENT_DISCONNECTS,
        "Clients disconnected for falling behind."
    );
    describe_counter!(REFUSED, "Requests and connections refused, by reason.");
    describe_counter!(CHANGE_EVENTS, "Change events recorded, by type.");
    describe_counter!(
        WEBHOOK_DROPPED,
        "Change events trimmed before a webhook received them (its backlog passed the maximum)."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts, by result (delivered, failed)."
    );
    describe_gauge!(
        WEBHOOK_BACKLOG,
        "Change events not yet delivered, summed over every webhook."
    );
    describe_counter!(
        STORAGE_ERRORS,
        "Batches of writes storage refused (no_space) or failed (write_failed)."
    );
    describe_counter!(
        CORRUPT_RECORDS,
        "Damaged stored records found while loading."
    );
    describe_gauge!(RESIDENT_MEMORY, "Resident memory of the process in bytes.");
    describe_counter!(
        COMPRESSIONS,
        "Messages compressed for permessage-deflate; each once, however many clients receive it."
    );
    describe_counter!(
        COMPRESSED_MESSAGES,
        "Messages that crossed a WebSocket compressed, by direction (sent, received)."
    );
    describe_counter!(
        COMPRESSION_SAVED_BYTES,
        "Bytes compression kept off the wire, by direction: message size less compressed size."
    );
}

/// The compression counters of one direction, registered on first use (a registry look-up per
/// message showed in W1's profile for the frame counters).
pub struct CompressionCounters {
    direction: &'static str,
    handles: OnceLock<(Counter, Counter)>,
}

impl CompressionCounters {
    const fn new(direction: &'static str) -> Self {
        CompressionCounters {
            direction,
            handles: OnceLock::new(),
        }
    }

    /// Counts a message that crossed compressed: `raw` bytes as `compressed` bytes.
    pub fn count(&self, raw: usize, compressed: usize) {
        let (messages, saved) = self.handles.get_or_init(|| {
            prometheus();
            (
                counter!(COMPRESSED_MESSAGES, "direction" => self.direction),
                counter!(COMPRESSION_SAVED_BYTES, "direction" => self.direction),
            )
        });
        messages.increment(1);
        saved.increment(raw.saturating_sub(compressed) as u64);
    }
}

/// Messages sent compressed.
pub static COMPRESSED_SENT: CompressionCounters = CompressionCounters::new("sent");
/// Messages received compressed.
pub static COMPRESSED_RECEIVED: CompressionCounters = CompressionCounters::new("received");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_named_by_their_first_message() {
        assert_eq!(FrameType::of_frame(&[0, 0, 1, 0]).label(), "sync_step1");
        assert_eq!(FrameType::of_frame(&[0, 2, 0]).label(), "update");
        assert_eq!(FrameType::of_frame(&[1, 5]).label(), "awareness");
        assert_eq!(FrameType::of_frame(&[]).label(), "other");
    }

    #[test]
    fn frame_types_index_their_own_counters() {
        for (index, frame_type) in FrameType::ALL.into_iter().enumerate() {
            assert_eq!(frame_type as usize, index);
        }
    }

    #[test]
    fn counted_frames_are_rendered_by_type() {
        FRAMES_SENT.count(FrameType::QueryAwareness, 7);
        FRAMES_SENT.count(FrameType::QueryAwareness, 5);
        let text = render();
        let line = text
            .lines()
            .find(|line| line.starts_with("quire_bytes_sent_total{type=\"query_awareness\"}"))
            .unwrap_or_else(|| panic!("no query_awareness bytes in {text}"));
        let bytes: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(bytes >= 12.0, "{line}");
    }

    #[test]
    fn rendering_includes_counted_events() {
        prometheus();
        counter!(CORRUPT_RECORDS).increment(1);
        let text = render();
        assert!(text.contains(CORRUPT_RECORDS), "{text}");
        assert!(text.contains(RESIDENT_MEMORY), "{text}");
    }
}
