//! Measurements as the comparison script reads them: one JSON object per line, plus a line for
//! people.
//!
//! The shape is the contract in `/work/bench-interface.md` (and bench/README.md): `workload`,
//! `name`, `label`, `protocol`, `params`, `valid` with `problems`, workload-specific `metrics`,
//! `latency_ms` percentiles or null, and the server's resource use or null. Latencies are
//! recorded in microseconds in an HDR histogram (three significant digits, so a percentile is
//! within 0.1% of the truth whatever the spread) and reported in milliseconds.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::generator_usage::GeneratorUsage;
use crate::server_sampler::ServerUsage;

/// Longest latency the histogram holds exactly; longer ones are clamped to it.
const HIGHEST_MICROSECONDS: u64 = 10 * 60 * 1_000_000;

/// Latencies of one measurement.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            histogram: Histogram::new_with_bounds(1, HIGHEST_MICROSECONDS, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl LatencyRecorder {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(micros.max(1));
    }

    /// The percentiles, or `None` without samples.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.histogram.is_empty() {
            return None;
        }
        let at = |quantile: f64| to_millis(self.histogram.value_at_quantile(quantile));
        Some(LatencySummary {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: to_millis(self.histogram.max()),
            samples: self.histogram.len(),
        })
    }
}

fn to_millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub samples: u64,
}

/// What every measurement of a run shares.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Free text naming the server (`--label`).
    pub label: String,
    /// The protocol spoken.
    pub protocol: &'static str,
}

/// One measurement, one JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub workload: &'static str,
    pub name: &'static str,
    pub label: String,
    pub protocol: &'static str,
    pub params: Map<String, Value>,
    pub valid: bool,
    pub problems: Vec<String>,
    pub metrics: Map<String, Value>,
    pub latency_ms: Option<LatencySummary>,
    pub server: Option<ServerUsage>,
    /// The load generator's CPU time and run-queue wait over the measurement.
    pub generator: Option<GeneratorUsage>,
    /// Search mode only: every fixed-rate step tried, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Value>>,
}

impl Measurement {
    /// An empty, valid measurement of `workload` (`W1`...) named `name`.
    pub fn new(context: &RunContext, workload: &'static str, name: &'static str) -> Self {
        Measurement {
            workload,
            name,
            label: context.label.clone(),
            protocol: context.protocol,
            params: Map::new(),
            valid: true,
            problems: Vec::new(),
            metrics: Map::new(),
            latency_ms: None,
            server: None,
            generator: None,
            steps: None,
        }
    }

    /// Records a parameter.
    pub fn param(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.params.insert(name.to_owned(), value.into());
        self
    }

    /// Records a metric.
    pub fn metric(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.metrics.insert(name.to_owned(), value.into());
        self
    }

    /// Records a failed correctness check; the measurement no longer counts.
    pub fn problem(&mut self, problem: impl Into<String>) -> &mut Self {
        self.valid = false;
        self.problems.push(problem.into());
        self
    }

    /// Prints the human summary and appends the JSON line to `json` when given.
    pub fn emit(&self, json: Option<&Path>) -> std::io::Result<()> {
        println!("{}", self.human_summary());
        if let Some(path) = json {
            let mut line = serde_json::to_string(self).map_err(std::io::Error::other)?;
            line.push('\n');
            let mut file = OpenOptions::new().create(true).append(true).open(path)?;
            file.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    fn human_summary(&self) -> String {
        let join = |map: &Map<String, Value>| {
            map.iter()
                .map(|(name, value)| format!("{name}={}", compact(value)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut summary = format!(
            "{} {} [{} {}] {} | {}",
            self.workload,
            self.name,
            self.label,
            self.protocol,
            join(&self.params),
            join(&self.metrics)
        );
        if let Some(latency) = &self.latency_ms {
            summary.push_str(&format!(
                " | latency ms p50={} p99={} p999={} max={} n={}",
                latency.p50, latency.p99, latency.p999, latency.max, latency.samples
            ));
        }
        if let Some(server) = &self.server {
            summary.push_str(&format!(
                " | server rss_end={}MiB cpu={:.2}s",
                server.rss_bytes_end / (1024 * 1024),
                server.cpu_seconds
            ));
        }
        if let Some(generator) = &self.generator {
            summary.push_str(&format!(
                " | generator cpu={:.2}s waited={:.2}s",
                generator.cpu_seconds, generator.runqueue_wait_seconds
            ));
        }
        if self.valid {
            summary.push_str(" | valid");
        } else {
            summary.push_str(&format!(" | INVALID: {}", self.problems.join("; ")));
        }
        summary
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(float) if number.is_f64() => format!("{float:.3}"),
            _ => number.to_string(),
        },
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `count` per second over `elapsed`, 0 for an empty interval.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_reported_in_milliseconds() {
        let mut recorder = LatencyRecorder::default();
        for micros in 1..=1000 {
            recorder.record(Duration::from_micros(micros));
        }
        let summary = recorder.summary().expect("samples");
        assert_eq!(summary.samples, 1000);
        assert!((summary.p50 - 0.5).abs() < 0.002, "{summary:?}");
        assert!((summary.max - 1.0).abs() < 0.002, "{summary:?}");
        assert!(LatencyRecorder::default().summary().is_none());
    }

    #[test]
    fn a_problem_makes_the_measurement_invalid() {
        let context = RunContext {
            label: "x".to_owned(),
            protocol: "y-websocket",
        };
        let mut measurement = Measurement::new(&context, "W1", "replay");
        assert!(measurement.valid);
        measurement.problem("text differs");
        let json = serde_json::to_value(&measurement).unwrap();
        assert_eq!(json["valid"], false);
        assert_eq!(json["problems"][0], "text differs");
        assert!(json["latency_ms"].is_null());
        assert!(json.get("steps").is_none());
    }
}
