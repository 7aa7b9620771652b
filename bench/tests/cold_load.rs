//! W6 against a real Quire, in its own test process: it waits for Quire's process-wide
//! `quire_rooms_loaded` gauge to reach 0, which other servers in the same process would hold up.

mod support;

use support::{BenchServer, number, only_measurement, trace_path};

/// Seeded documents load cold and warm with the right text, and unload afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_load_syncs_every_stored_document_cold_and_warm() {
    let server = BenchServer::start().await.unwrap();
    let trace = trace_path();
    let metrics_url = server.metrics_url();
    let lines = server
        .run_bench(&[
            "cold-load",
            "--quick",
            "--trace",
            &trace,
            "--metrics-url",
            &metrics_url,
        ])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W6");
    assert_eq!(measurement["params"]["documents"], 10);
    assert_eq!(measurement["latency_ms"]["samples"], 10);
    let metrics = &measurement["metrics"];
    for name in [
        "cold_p50_ms",
        "cold_p99_ms",
        "warm_p50_ms",
        "warm_p99_ms",
        "warm_p999_ms",
        "rss_baseline_bytes",
        "rss_after_unload_bytes",
    ] {
        assert!(number(&metrics[name]) > 0.0, "{name}: {measurement}");
    }
}
