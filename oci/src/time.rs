//! Timestamps as image configs and berth's records write them (Docker's RFC 3339 with
//! nanoseconds): container, network and image records all carry them.

/// Docker's zero time, as `inspect` shows it for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Now, as records store it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
