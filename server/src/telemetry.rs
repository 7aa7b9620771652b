//! What Quire counts, and the Prometheus rendering of it at `GET /metrics`.
//!
//! Metrics go through the `metrics` facade so any module can count without plumbing a registry
//! around; the Prometheus recorder is installed once per process (tests start several servers in
//! one process, so installing is idempotent) and rendered on Quire's own router rather than on a
//! second listening port. Every metric name lives here, so the list an operator reads in
//! `docs/operations.md` has one source.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Open WebSocket connections, by `protocol`.
pub const CONNECTIONS_OPEN: &str = "quire_connections_open";
/// Rooms (documents) held in memory.
pub const ROOMS_LOADED: &str = "quire_rooms_loaded";
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
/// `malformed_update`, `body_too_large`, ...), `malformed_frame` or `message_too_big`.
pub const REFUSED: &str = "quire_refused_total";
/// Damaged stored records found while loading documents.
pub const CORRUPT_RECORDS: &str = "quire_storage_corrupt_records_total";
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

/// Records one storage operation's latency.
pub fn record_storage(operation: &'static str, elapsed: Duration) {
    histogram!(STORAGE_SECONDS, "operation" => operation).record(elapsed.as_secs_f64());
}

/// Counts a refusal.
pub fn record_refusal(reason: &'static str) {
    counter!(REFUSED, "reason" => reason).increment(1);
}

/// The y-protocols name of a frame's first message, for per-type counts.
pub fn message_type(frame: &[u8]) -> &'static str {
    match frame {
        [0, 0, ..] => "sync_step1",
        [0, 1, ..] => "sync_step2",
        [0, 2, ..] => "update",
        [1, ..] => "awareness",
        [2, ..] => "auth",
        [3, ..] => "query_awareness",
        _ => "other",
    }
}

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
    describe_counter!(MESSAGES_RECEIVED, "Messages received, by type.");
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
    describe_counter!(
        CORRUPT_RECORDS,
        "Damaged stored records found while loading."
    );
    describe_gauge!(RESIDENT_MEMORY, "Resident memory of the process in bytes.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_named_by_their_first_message() {
        assert_eq!(message_type(&[0, 0, 1, 0]), "sync_step1");
        assert_eq!(message_type(&[0, 2, 0]), "update");
        assert_eq!(message_type(&[1, 5]), "awareness");
        assert_eq!(message_type(&[]), "other");
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
