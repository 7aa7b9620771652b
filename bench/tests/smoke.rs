//! Each workload, run small (`--quick`) by the real `quire-bench` binary against a real Quire:
//! the run must be valid and its JSON must carry the documented fields.

mod support;

use support::{BenchServer, number, only_measurement, trace_path};

/// W1 replays a trace prefix and the reader's yrs document ends with the prefix's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_delivers_every_edit_and_the_reader_has_the_text() {
    let server = BenchServer::start().await.unwrap();
    let trace = trace_path();
    let lines = server
        .run_bench(&["replay", "--quick", "--trace", &trace])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W1");
    let metrics = &measurement["metrics"];
    assert_eq!(metrics["updates"], measurement["params"]["edits"]);
    assert_eq!(metrics["updates"], 3000);
    assert!(number(&metrics["updates_per_second"]) > 0.0);
    assert!(number(&metrics["seconds"]) > 0.0);
    assert_eq!(measurement["latency_ms"]["samples"], 3000);
}

/// W2 saturating: every reader receives every update the writer sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_room_saturated_delivers_every_update_to_every_reader() {
    let server = BenchServer::start().await.unwrap();
    let lines = server
        .run_bench(&["hot-room", "--quick", "--readers", "10"])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W2");
    let metrics = &measurement["metrics"];
    let sent = metrics["updates_sent"].as_u64().unwrap();
    assert!(sent > 0, "{measurement}");
    assert_eq!(metrics["deliveries"].as_u64(), Some(sent * 10));
    assert!(number(&metrics["deliveries_per_second"]) > 0.0);
    let latency = &measurement["latency_ms"];
    assert_eq!(latency["samples"].as_u64(), Some(sent * 10));
    for percentile in ["p50", "p90", "p99", "p999", "max"] {
        assert!(number(&latency[percentile]) > 0.0, "{latency}");
    }
}

/// W2 search: fixed-rate steps are recorded and the best passing rate is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_room_search_reports_a_rate_under_the_limit() {
    let server = BenchServer::start().await.unwrap();
    let lines = server
        .run_bench(&[
            "hot-room",
            "--quick",
            "--mode",
            "search",
            "--rate",
            "50",
            "--readers",
            "5",
            // Generous: a debug-build server on a shared CI core.
            "--p99-limit-ms",
            "500",
        ])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W2");
    let steps = measurement["steps"].as_array().unwrap();
    assert!(!steps.is_empty() && steps.len() <= 3, "{steps:?}");
    let best = number(&measurement["metrics"]["max_rate_p99_under_limit"]);
    assert!(best >= 50.0, "{measurement}");
    let passed_rates: Vec<f64> = steps
        .iter()
        .filter(|step| step["passed"] == true)
        .map(|step| number(&step["rate"]))
        .collect();
    assert!(passed_rates.contains(&best), "{steps:?}");
    let metrics = &measurement["metrics"];
    assert_eq!(
        metrics["deliveries"].as_u64(),
        metrics["updates_sent"].as_u64().map(|sent| sent * 5)
    );
}

/// W3: all rooms' readers receive all their writer's updates; server CPU is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_rooms_deliver_within_each_room() {
    let server = BenchServer::start().await.unwrap();
    let lines = server
        .run_bench(&["many-rooms", "--quick", "--rate-per-room", "20"])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W3");
    let metrics = &measurement["metrics"];
    let sent = metrics["updates_sent"].as_u64().unwrap();
    // 5 rooms x 20 updates/s x 1 s, two readers each.
    assert_eq!(sent, 100, "{measurement}");
    assert_eq!(metrics["deliveries"].as_u64(), Some(sent * 2));
    assert_eq!(metrics["connections"], 15);
    assert!(number(&metrics["cpu_percent"]) >= 0.0);
    assert!(number(&measurement["server"]["cpu_seconds"]) >= 0.0);
    assert!(number(&measurement["latency_ms"]["p99"]) > 0.0);
}

/// W3 refuses a drain that is negative or not a number, saying which option, rather than
/// panicking halfway through a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_rooms_refuses_a_negative_drain() {
    let server = BenchServer::start().await.unwrap();
    for drain in ["--drain-seconds=-1", "--drain-seconds=NaN"] {
        let refused = server
            .run_bench(&["many-rooms", "--quick", drain])
            .await
            .expect_err("the run was refused");
        let message = refused.to_string();
        assert!(message.contains("--drain-seconds"), "{message}");
        assert!(!message.contains("panicked"), "{message}");
    }
}

/// W3 with a flooding room: the flood is sent and reported, and the quiet rooms still get
/// every update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_rooms_beside_a_flooding_room_deliver_everything() {
    let server = BenchServer::start().await.unwrap();
    let lines = server
        .run_bench(&[
            "many-rooms",
            "--quick",
            "--rate-per-room",
            "20",
            "--flood-bytes",
            "100000",
            "--flood-rate",
            "20",
        ])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W3");
    let metrics = &measurement["metrics"];
    let sent = metrics["updates_sent"].as_u64().unwrap();
    assert_eq!(sent, 100, "{measurement}");
    assert_eq!(metrics["deliveries"].as_u64(), Some(sent * 2));
    assert!(
        metrics["flood_updates_sent"].as_u64().unwrap() >= 10,
        "{measurement}"
    );
    assert!(
        number(&metrics["flood_bytes_per_second"]) > 500_000.0,
        "{measurement}"
    );
    assert_eq!(measurement["params"]["flood_bytes"], 100_000);
    assert!(
        measurement["problems"].as_array().is_none_or(Vec::is_empty),
        "{measurement}"
    );
}

/// W4: every client of the storm syncs the seeded document with the right text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_storm_syncs_every_client() {
    let server = BenchServer::start().await.unwrap();
    let trace = trace_path();
    let lines = server
        .run_bench(&["join-storm", "--quick", "--trace", &trace])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W4");
    let metrics = &measurement["metrics"];
    assert_eq!(metrics["clients"], 20);
    assert_eq!(metrics["clients_synced"], 20);
    assert!(number(&metrics["seconds_until_all_synced"]) > 0.0);
    assert_eq!(measurement["latency_ms"]["samples"], 20);
    let document = number(&measurement["params"]["document_bytes"]);
    assert!(
        number(&metrics["wire_bytes_per_client"]) > document,
        "{measurement}"
    );
}

/// W4 with compression: every client syncs the right text from fewer bytes than the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_join_storm_reads_fewer_bytes_than_the_document() {
    let server = BenchServer::start().await.unwrap();
    let trace = trace_path();
    let lines = server
        .run_bench(&["join-storm", "--quick", "--compression", "--trace", &trace])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W4");
    let metrics = &measurement["metrics"];
    assert_eq!(metrics["clients_synced"], 20, "{measurement}");
    assert_eq!(measurement["params"]["compression"], true);
    let document = number(&measurement["params"]["document_bytes"]);
    assert!(
        number(&metrics["wire_bytes_per_client"]) < document / 2.0,
        "{measurement}"
    );
}

/// W5: every client ends up with every other client's last awareness state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awareness_storm_reaches_every_client() {
    let server = BenchServer::start().await.unwrap();
    let lines = server
        .run_bench(&["awareness", "--quick", "--hz", "20"])
        .await
        .unwrap();
    let measurement = only_measurement(&lines, "W5");
    let metrics = &measurement["metrics"];
    let sent = metrics["awareness_updates_sent"].as_u64().unwrap();
    // 5 clients x 20 Hz x 1 s.
    assert_eq!(sent, 100, "{measurement}");
    let deliveries = metrics["deliveries"].as_u64().unwrap();
    assert!(deliveries > 0 && deliveries <= sent * 4, "{measurement}");
    assert!(number(&metrics["awareness_deliveries_per_second"]) > 0.0);
}

/// W7: idle clients stay connected and the memory per connection is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_stay_connected() {
    let server = BenchServer::start().await.unwrap();
    for rooms in ["own", "shared"] {
        let lines = server
            .run_bench(&[
                "idle",
                "--quick",
                "--rooms",
                rooms,
                "--source-addresses",
                "127.0.0.2,127.0.0.3",
            ])
            .await
            .unwrap();
        let measurement = only_measurement(&lines, "W7");
        let metrics = &measurement["metrics"];
        assert_eq!(metrics["clients"], 50, "{measurement}");
        assert!(
            metrics["rss_per_connection_bytes"].is_number(),
            "{measurement}"
        );
        assert!(number(&metrics["rss_after_bytes"]) > 0.0);
        assert_eq!(measurement["params"]["source_addresses"], 2);
    }
}
