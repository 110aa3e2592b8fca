#![no_main]
//! `grpc-timeout`: whatever parses formats back to a value that parses to at
//! least the same duration and at most one unit more; any duration formats to a
//! well-formed value that never undershoots (unless it saturates).

use core::time::Duration;
use ferrule_codec::timeout::{
    MAX_TIMEOUT_DIGITS, TimeoutUnit, TimeoutValue, format_timeout, parse_timeout,
};
use libfuzzer_sys::fuzz_target;

const SATURATED: &str = "99999999H";

/// Checks one formatted value against the duration it was made from.
fn check_formatted(timeout: Duration, value: &TimeoutValue) {
    let bytes = value.as_bytes();
    let digits = bytes.len() - 1;
    assert!((1..=MAX_TIMEOUT_DIGITS).contains(&digits), "{value:?}");
    assert!(bytes[..digits].iter().all(u8::is_ascii_digit), "{value:?}");
    assert!(digits == 1 || bytes[0] != b'0', "leading zero in {value:?}");
    assert_eq!(TimeoutUnit::from_byte(bytes[digits]), Some(value.unit()));
    let parsed = parse_timeout(bytes).expect("a formatted timeout parses");
    assert_eq!(parsed, value.duration());
    if value.as_str() == SATURATED && timeout > parsed {
        return;
    }
    assert!(
        parsed >= timeout,
        "{timeout:?} formatted as {value:?} reads as less"
    );
    let unit = Duration::from_nanos(value.unit().as_nanos());
    assert!(
        parsed - timeout < unit,
        "{timeout:?} formatted as {value:?} is off by a unit or more"
    );
    // The finest unit that fits: the next finer one would need more than 8 digits.
    if let Some(finer) = TimeoutUnit::ALL.iter().rev().find(|u| **u < value.unit()) {
        let count = timeout.as_nanos().div_ceil(u128::from(finer.as_nanos()));
        assert!(
            count > 99_999_999,
            "{timeout:?} fits in {finer:?} but used {value:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse_timeout(data) {
        assert!((2..=MAX_TIMEOUT_DIGITS + 1).contains(&data.len()));
        check_formatted(parsed, &format_timeout(parsed));
    }
    if let Some((secs, rest)) = data.split_first_chunk::<8>()
        && let Some((nanos, _)) = rest.split_first_chunk::<4>()
    {
        // The first byte picks a range so that every unit gets exercised.
        let secs = u64::from_le_bytes(*secs);
        let secs = secs
            % 10u64
                .checked_pow(u32::from(data[0] % 20))
                .unwrap_or(u64::MAX);
        let timeout = Duration::new(secs, u32::from_le_bytes(*nanos) % 1_000_000_000);
        check_formatted(timeout, &format_timeout(timeout));
    }
});
