//! Timestamps as berth's records write them (Docker's RFC 3339 with nanoseconds), owned here
//! because network records carry them too; the engine uses these for its own records.

/// Docker's zero time, as `inspect` shows it for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Now, as records store it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
