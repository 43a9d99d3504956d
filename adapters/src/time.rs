//! Block times as people and DCSA read them. The ledger stamps milliseconds since the Unix epoch
//! into every block; adapters show them as ISO 8601 / RFC 3339 UTC. Pure arithmetic: no clock, no
//! time-zone database, so a rendering is the same on every node.

/// Milliseconds since the Unix epoch as `YYYY-MM-DDThh:mm:ss.sssZ` (RFC 3339, UTC).
pub fn iso8601_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (H. Hinnant's `civil_from_days`,
/// restricted to non-negative day counts because block times never precede the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.789 UTC.
        assert_eq!(iso8601_utc(951_827_696_789), "2000-02-29T12:34:56.789Z");
        // 2025-03-14 09:26:53.589 UTC.
        assert_eq!(iso8601_utc(1_741_944_413_589), "2025-03-14T09:26:53.589Z");
        // The last millisecond of 2024 (a leap year: day 366).
        assert_eq!(iso8601_utc(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
    }
}
