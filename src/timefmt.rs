//! UTC timestamps (`YYYY-MM-DDTHH:MM:SSZ`, the only form TUF and in-toto
//! metadata use) and durations (`30d`, `12h`).

/// Parses `YYYY-MM-DDTHH:MM:SSZ` into unix seconds. Offsets and fractions
/// are refused, as python-tuf refuses them.
pub fn parse_utc(s: &str) -> Result<u64, String> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
            .iter()
            .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit));
    if !shape_ok {
        return Err(format!(
            "{} is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ",
            crate::excerpt(s)
        ));
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u64>().unwrap_or(u64::MAX);
    let (y, mo, d, h, mi, se) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    );
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || se > 59
    {
        return Err(format!(
            "{} is not a valid date and time",
            crate::excerpt(s)
        ));
    }
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(t: u64) -> String {
    let days = t / 86_400;
    let rem = t % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses a duration: a whole number followed by `s`, `m`, `h`, `d` or `w`.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let err = || {
        format!(
            "{} is not a duration like 90s, 30m, 12h, 365d or 2w",
            crate::excerpt(s)
        )
    };
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?);
    let n: u64 = digits.parse().map_err(|_| err())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(err()),
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(err()),
    }
}

/// The system clock in unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms, restricted to dates from 1970.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: u64) -> (u64, u64, u64) {
    let z = z + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for t in [
            0,
            951_782_400,
            1_700_000_000,
            4_102_444_799,
            253_402_300_799,
        ] {
            assert_eq!(parse_utc(&format_utc(t)).unwrap(), t);
        }
        assert_eq!(parse_utc("2030-01-01T00:00:00Z").unwrap(), 1_893_456_000);
        assert_eq!(format_utc(1_709_164_800), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn refuses_other_forms() {
        for s in [
            "2030-01-01T00:00:00+00:00",
            "2030-01-01T00:00:00.5Z",
            "2030-02-30T00:00:00Z",
            "2030-01-01 00:00:00Z",
            "2030-01-01T24:00:00Z",
            "+030-01-01T00:00:00Z",
        ] {
            assert!(parse_utc(s).is_err(), "{s}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("365d").unwrap(), 365 * 86_400);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400);
        for s in ["", "d", "10", "10y", "0d", "-1d", "1.5d"] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }
}
