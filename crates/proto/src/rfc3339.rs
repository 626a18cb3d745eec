//! RFC 3339 times in UTC (`2026-11-25T12:35:38.123456789Z`), for JSON output.
//!
//! TAI64N labels are daemontools' (unix seconds + 2^62 + 10, no leap seconds), so the conversion
//! is unix time's; no time-zone database is read.

use crate::tai::Tai64n;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// civil_from_days); negative days are before 1970. Shared with tai64nlocal.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The label as `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`.
pub fn format(time: &Tai64n) -> String {
    let secs = time.unix_secs();
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        time.nanos.min(999_999_999)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn known_moments() {
        assert_eq!(
            format(&Tai64n::from_unix(0, 0)),
            "1970-01-01T00:00:00.000000000Z"
        );
        // date -u -d @1700000000: Tue Nov 14 22:13:20 UTC 2023
        assert_eq!(
            format(&Tai64n::from_unix(1_700_000_000, 5)),
            "2023-11-14T22:13:20.000000005Z"
        );
        // A leap day: date -u -d @1709164800 = 2024-02-29 00:00:00
        assert_eq!(
            format(&Tai64n::from_unix(1_709_164_800, 0)),
            "2024-02-29T00:00:00.000000000Z"
        );
    }
}
