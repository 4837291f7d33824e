//! Go's `time.ParseDuration`, the one duration syntax of every flag and of esc-server's
//! `?duration=`: decimal numbers, each with a unit, summed (`300ms`, `90s`, `1.5h`, `1h30m`).
//!
//! Units: `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m`, `h`. A bare `0` is zero, as in Go; any
//! other number needs a unit, so `30` is refused rather than guessed. Unlike Go, a negative
//! duration is refused (none of ours means anything below zero), and surrounding spaces are
//! ignored. Like Go, a total over 2^63-1 nanoseconds (about 292 years) is refused.

use std::time::Duration;

use esc_path::Quoted;

/// Nanoseconds Go's `time.Duration` holds at most, plus one (the bound of Go's checks).
const LIMIT: u64 = 1 << 63;

/// Parses Go's duration syntax; the error is the message a flag or a 400 shows.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let (negative, mut rest) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let malformed = || {
        format!(
            "{text:?} is not a duration such as 30s or 1h30m",
            text = Quoted(trimmed)
        )
    };
    let too_long = || format!("{text:?} is too long", text = Quoted(trimmed));
    if rest.is_empty() {
        return Err(malformed());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (whole, fraction, after) = number(rest).ok_or_else(malformed)?;
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "{text:?} needs a unit: ms, s, m or h",
                text = Quoted(trimmed)
            ));
        }
        let scale = unit_nanos(unit).ok_or_else(|| {
            format!(
                "{text:?} has unit {unit:?}; use ms, s, m or h",
                text = Quoted(trimmed),
                unit = Quoted(unit)
            )
        })?;
        let whole = whole.ok_or_else(too_long)?;
        if whole > LIMIT / scale {
            return Err(too_long());
        }
        let mut value = whole * scale;
        if let Some((digits, divisor)) = fraction.filter(|(digits, _)| *digits > 0) {
            // As Go computes it: in floating point, truncated.
            value += (digits as f64 * (scale as f64 / divisor)) as u64;
            if value > LIMIT {
                return Err(too_long());
            }
        }
        total = total.saturating_add(value);
        if total > LIMIT {
            return Err(too_long());
        }
        rest = after;
    }
    if negative {
        return Err(format!("{text:?} is negative", text = Quoted(trimmed)));
    }
    if total == LIMIT {
        return Err(too_long());
    }
    Ok(Duration::from_nanos(total))
}

/// One number: its whole part (`None` when over Go's bound), its fraction as digits and
/// divisor (`None` without a `.`), and the text after it. `None` when there is no digit.
#[allow(clippy::type_complexity)]
fn number(text: &str) -> Option<(Option<u64>, Option<(u64, f64)>, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut whole = Some(0u64);
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        whole = whole
            .filter(|&w| w <= LIMIT / 10)
            .map(|w| w * 10 + u64::from(bytes[i] - b'0'))
            .filter(|&w| w <= LIMIT);
        i += 1;
    }
    let has_whole = i > 0;
    let mut fraction = None;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let (mut digits, mut divisor, mut full) = (0u64, 1f64, false);
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            // Digits past what fits are dropped, as Go drops them.
            if !full {
                match digits
                    .checked_mul(10)
                    .map(|d| d + u64::from(bytes[i] - b'0'))
                {
                    Some(d) if digits <= (LIMIT - 1) / 10 && d <= LIMIT => {
                        digits = d;
                        divisor *= 10.0;
                    }
                    _ => full = true,
                }
            }
            i += 1;
        }
        if i == start && !has_whole {
            return None;
        }
        fraction = Some((digits, divisor));
    }
    if !has_whole && fraction.is_none() {
        return None;
    }
    Some((whole, fraction, &text[i..]))
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// A duration in the largest unit that keeps it whole (`30s`, `2m`, `1500ms`): how a flag's
/// default is shown; [`parse_duration`] reads it back.
pub fn duration_text(duration: Duration) -> String {
    let ms = duration.as_millis();
    match ms {
        0 => "0s".to_owned(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn go_s_forms_are_read() {
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("90s"), Duration::from_secs(90));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("2h45m"), Duration::from_secs(9900));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(ok("1h1m1s1ms1us1ns"), Duration::new(3661, 1_001_001));
        assert_eq!(ok("5µs"), Duration::from_micros(5));
        assert_eq!(ok("5μs"), Duration::from_micros(5));
        assert_eq!(ok("+30s"), Duration::from_secs(30));
        assert_eq!(ok(" 30s "), Duration::from_secs(30));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("-0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
    }

    #[test]
    fn the_longest_go_duration_is_read_and_one_more_nanosecond_is_not() {
        assert_eq!(
            ok("9223372036854775807ns"),
            Duration::from_nanos(i64::MAX as u64)
        );
        assert_eq!(
            ok("2562047h47m16.854775807s"),
            Duration::from_nanos(i64::MAX as u64)
        );
        assert_eq!(
            parse_duration("9223372036854775808ns"),
            Err("\"9223372036854775808ns\" is too long".into())
        );
        assert_eq!(
            parse_duration("3000000h"),
            Err("\"3000000h\" is too long".into())
        );
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err("\"99999999999999999999s\" is too long".into())
        );
    }

    #[test]
    fn each_mistake_has_its_own_message() {
        for (text, message) in [
            ("30", "\"30\" needs a unit: ms, s, m or h"),
            ("1h30", "\"1h30\" needs a unit: ms, s, m or h"),
            ("3d", "\"3d\" has unit \"d\"; use ms, s, m or h"),
            ("1H", "\"1H\" has unit \"H\"; use ms, s, m or h"),
            ("-1h", "\"-1h\" is negative"),
            ("", "\"\" is not a duration such as 30s or 1h30m"),
            ("s", "\"s\" is not a duration such as 30s or 1h30m"),
            ("soon", "\"soon\" is not a duration such as 30s or 1h30m"),
            (".s", "\".s\" is not a duration such as 30s or 1h30m"),
            ("1h 30m", "\"1h 30m\" has unit \"h \"; use ms, s, m or h"),
            ("PT1H", "\"PT1H\" is not a duration such as 30s or 1h30m"),
        ] {
            assert_eq!(parse_duration(text), Err(message.to_owned()), "{text:?}");
        }
    }

    #[test]
    fn a_long_mistake_is_quoted_clipped() {
        let text = "9".repeat(10_000);
        let message = parse_duration(&text).unwrap_err();
        assert!(message.len() < 200, "{message}");
        assert!(
            message.ends_with("needs a unit: ms, s, m or h"),
            "{message}"
        );
    }

    #[test]
    fn a_default_s_text_reads_back_as_itself() {
        for ms in [0, 500, 1000, 1500, 30_000, 60_000, 90_000, 3_600_000] {
            let duration = Duration::from_millis(ms);
            assert_eq!(ok(&duration_text(duration)), duration);
        }
        assert_eq!(duration_text(Duration::from_secs(30)), "30s");
        assert_eq!(duration_text(Duration::from_secs(120)), "2m");
        assert_eq!(duration_text(Duration::from_secs(5400)), "90m");
    }
}
