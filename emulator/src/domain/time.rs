//! Timestamps as the AWS JSON protocols carry them: epoch seconds as a JSON
//! number with millisecond precision.

pub type Timestamp = f64;

/// Now, as epoch seconds rounded to the millisecond.
pub fn now() -> Timestamp {
    let ms = chrono::Utc::now().timestamp_millis();
    ms as f64 / 1000.0
}

/// RFC 3339 with nanoseconds, as the task metadata endpoint writes times.
pub fn rfc3339(ts: Timestamp) -> String {
    let ms = (ts * 1000.0).round() as i64;
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(
            super::rfc3339(1700000000.5),
            "2023-11-14T22:13:20.500000000Z"
        );
        let n = super::now();
        assert_eq!((n * 1000.0).round() / 1000.0, n);
    }
}
