//! The gateway's numbers: Prometheus's text exposition format on `/metrics`, and the
//! per-function summary (requests, p50/p99 latency, cold starts) `berth function ls` shows.
//!
//! Hand-written rather than a metrics crate: four families, counters and fixed-bucket
//! histograms under one mutex taken once per request, rendered on demand. Percentiles come from
//! the last [`WINDOW`] latencies of each function (exact over that window, as `ls` wants a
//! recent figure), the histograms cover the gateway's whole life as Prometheus expects.

use crate::spec::FunctionStats;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Latencies kept per function for the percentiles.
const WINDOW: usize = 2048;
/// Request latency buckets, seconds (Prometheus's defaults, from 1 ms).
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Instantiation time buckets, seconds (a wasm instance takes microseconds to milliseconds).
const INSTANTIATION_BUCKETS: &[f64] =
    &[0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; buckets.len()];
        }
        for (i, b) in buckets.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, label: &str, buckets: &[f64]) {
        for (i, b) in buckets.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{label},le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{label},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{label}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{label}}} {}", self.count);
    }
}

#[derive(Default)]
struct PerFunction {
    by_status: BTreeMap<u16, u64>,
    latency: Histogram,
    instantiation: Histogram,
    cold_starts: u64,
    recent: VecDeque<f64>,
}

/// Every function's counters.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<BTreeMap<String, PerFunction>>,
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Counts one request of `function` (empty: no function matched).
    pub fn request(&self, function: &str, status: u16, took: Duration, instantiation: Option<Duration>, cold: bool) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let f = m.entry(function.to_string()).or_default();
        *f.by_status.entry(status).or_default() += 1;
        f.latency.observe(LATENCY_BUCKETS, took.as_secs_f64());
        if let Some(i) = instantiation {
            f.instantiation.observe(INSTANTIATION_BUCKETS, i.as_secs_f64());
        }
        if cold {
            f.cold_starts += 1;
        }
        if f.recent.len() == WINDOW {
            f.recent.pop_front();
        }
        f.recent.push_back(took.as_secs_f64() * 1000.0);
    }

    /// Requests, percentiles and cold starts of `function` (instances are the caller's).
    pub fn function_stats(&self, function: &str) -> FunctionStats {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = m.get(function) else { return FunctionStats::default() };
        let mut v: Vec<f64> = f.recent.iter().copied().collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let pct =
            |p: f64| if v.is_empty() { 0.0 } else { v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1] };
        FunctionStats {
            instances: 0,
            requests: f.by_status.values().sum(),
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            cold_starts: f.cold_starts,
        }
    }

    /// The text exposition format; `functions` are each function's instances now and the cold
    /// starts its backend counted.
    pub fn render(&self, functions: &[(String, usize, u64)]) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP berth_function_requests_total Requests served, by function and status code (function \"\": no route matched).\n# TYPE berth_function_requests_total counter\n");
        for (name, f) in m.iter() {
            for (status, n) in &f.by_status {
                let _ = writeln!(
                    out,
                    "berth_function_requests_total{{function=\"{}\",code=\"{status}\"}} {n}",
                    label(name)
                );
            }
        }
        out.push_str("# HELP berth_function_request_duration_seconds Time from the request to the response headers.\n# TYPE berth_function_request_duration_seconds histogram\n");
        for (name, f) in m.iter().filter(|(n, _)| !n.is_empty()) {
            f.latency.render(
                &mut out,
                "berth_function_request_duration_seconds",
                &format!("function=\"{}\"", label(name)),
                LATENCY_BUCKETS,
            );
        }
        out.push_str("# HELP berth_function_instantiation_seconds Time to make a wasm function's fresh instance for a request.\n# TYPE berth_function_instantiation_seconds histogram\n");
        for (name, f) in m.iter().filter(|(_, f)| f.instantiation.count > 0) {
            f.instantiation.render(
                &mut out,
                "berth_function_instantiation_seconds",
                &format!("function=\"{}\"", label(name)),
                INSTANTIATION_BUCKETS,
            );
        }
        out.push_str("# HELP berth_function_cold_starts_total Requests that waited for an instance to start.\n# TYPE berth_function_cold_starts_total counter\n");
        for (name, _, backend) in functions {
            let n = m.get(name).map(|f| f.cold_starts).unwrap_or(0) + backend;
            let _ = writeln!(out, "berth_function_cold_starts_total{{function=\"{}\"}} {n}", label(name));
        }
        out.push_str("# HELP berth_function_instances Instances now (native: running containers; wasm: requests in flight).\n# TYPE berth_function_instances gauge\n");
        for (name, n, _) in functions {
            let _ = writeln!(out, "berth_function_instances{{function=\"{}\"}} {n}", label(name));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_and_percentiles() {
        let m = Metrics::default();
        for i in 1..=100 {
            m.request(
                "f",
                if i == 100 { 500 } else { 200 },
                Duration::from_millis(i),
                Some(Duration::from_micros(30)),
                false,
            );
        }
        let s = m.function_stats("f");
        assert_eq!(s.requests, 100);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        let text = m.render(&[("f".into(), 2, 0)]);
        assert!(text.contains("berth_function_requests_total{function=\"f\",code=\"200\"} 99"), "{text}");
        assert!(text.contains("berth_function_instantiation_seconds_count{function=\"f\"} 100"), "{text}");
        assert!(text.contains("berth_function_instances{function=\"f\"} 2"), "{text}");
    }
}
