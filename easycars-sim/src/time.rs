//! Civil time helpers: Australia/Sydney `dd/MM/yyyy HH:mm:ss` without a tz database.
//!
//! Sydney is modelled as AEST (+10:00) with AEDT (+11:00) from the first Sunday of October
//! 02:00 standard time to the first Sunday of April 02:00 standard time (03:00 daylight time).
//! That is the current NSW rule; historical rule changes are ignored (an approximation that is
//! fine for a simulator).

/// Days since 1970-01-01 → (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn first_sunday(y: i64, m: u32) -> u32 {
    let wd = (days_from_civil(y, m, 1) + 4).rem_euclid(7) as u32; // 0 = Sunday
    1 + (7 - wd) % 7
}

/// Sydney's UTC offset in seconds at unix time `t`.
pub fn sydney_offset(t: i64) -> i64 {
    let std = t + 10 * 3600;
    let (y, m, d) = civil_from_days(std.div_euclid(86_400));
    let hour = std.rem_euclid(86_400) / 3600;
    let dst = match m {
        11 | 12 | 1 | 2 | 3 => true,
        10 => {
            let fs = first_sunday(y, 10);
            d > fs || (d == fs && hour >= 2)
        }
        4 => {
            let fs = first_sunday(y, 4);
            d < fs || (d == fs && hour < 2)
        }
        _ => false,
    };
    if dst {
        11 * 3600
    } else {
        10 * 3600
    }
}

/// `dd/MM/yyyy HH:mm:ss` in Sydney local time.
pub fn sydney_datetime(t: i64) -> String {
    let local = t + sydney_offset(t);
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let s = local.rem_euclid(86_400);
    format!(
        "{d:02}/{m:02}/{y:04} {:02}:{:02}:{:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sydney_times() {
        // 2025-01-15T00:00:00Z is 11:00 AEDT.
        assert_eq!(sydney_datetime(1_736_899_200), "15/01/2025 11:00:00");
        // 2025-07-01T00:00:00Z is 10:00 AEST.
        assert_eq!(sydney_datetime(1_751_328_000), "01/07/2025 10:00:00");
        // DST starts 2025-10-05 02:00 AEST = 2025-10-04T16:00Z.
        assert_eq!(sydney_datetime(1_759_593_599), "05/10/2025 01:59:59");
        assert_eq!(sydney_datetime(1_759_593_600), "05/10/2025 03:00:00");
        // DST ends 2025-04-06 03:00 AEDT = 2025-04-05T16:00Z.
        assert_eq!(sydney_datetime(1_743_868_799), "06/04/2025 02:59:59");
        assert_eq!(sydney_datetime(1_743_868_800), "06/04/2025 02:00:00");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }
}
