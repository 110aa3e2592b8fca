//! The `grpc-timeout` header (grpc/grpc `doc/PROTOCOL-HTTP2.md`, *Timeout*):
//! 1 to 8 ASCII digits, then one unit letter: `H` hours, `M` minutes, `S`
//! seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds.
//!
//! [`parse_timeout`] reads a value into a [`Duration`]; [`format_timeout`] writes
//! one into a [`TimeoutValue`] on the stack, rounding up (see there why).

use crate::Status;
use core::fmt;
use core::time::Duration;

/// The most digits a `grpc-timeout` value may have.
pub const MAX_TIMEOUT_DIGITS: usize = 8;

/// The largest number that fits in [`MAX_TIMEOUT_DIGITS`] digits.
pub const MAX_TIMEOUT_VALUE: u32 = 99_999_999;

/// A `grpc-timeout` unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeoutUnit {
    /// `n`
    Nanoseconds,
    /// `u`
    Microseconds,
    /// `m`
    Milliseconds,
    /// `S`
    Seconds,
    /// `M`
    Minutes,
    /// `H`
    Hours,
}

impl TimeoutUnit {
    /// From finest to coarsest, the order [`format_timeout`] tries them in.
    pub const ALL: [TimeoutUnit; 6] = [
        TimeoutUnit::Nanoseconds,
        TimeoutUnit::Microseconds,
        TimeoutUnit::Milliseconds,
        TimeoutUnit::Seconds,
        TimeoutUnit::Minutes,
        TimeoutUnit::Hours,
    ];

    /// The unit this letter names, if any. Case matters: `M` is minutes, `m`
    /// milliseconds.
    pub const fn from_byte(byte: u8) -> Option<TimeoutUnit> {
        Some(match byte {
            b'n' => TimeoutUnit::Nanoseconds,
            b'u' => TimeoutUnit::Microseconds,
            b'm' => TimeoutUnit::Milliseconds,
            b'S' => TimeoutUnit::Seconds,
            b'M' => TimeoutUnit::Minutes,
            b'H' => TimeoutUnit::Hours,
            _ => return None,
        })
    }

    /// The unit's letter.
    pub const fn as_byte(self) -> u8 {
        match self {
            TimeoutUnit::Nanoseconds => b'n',
            TimeoutUnit::Microseconds => b'u',
            TimeoutUnit::Milliseconds => b'm',
            TimeoutUnit::Seconds => b'S',
            TimeoutUnit::Minutes => b'M',
            TimeoutUnit::Hours => b'H',
        }
    }

    /// The length of one unit in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        match self {
            TimeoutUnit::Nanoseconds => 1,
            TimeoutUnit::Microseconds => 1_000,
            TimeoutUnit::Milliseconds => 1_000_000,
            TimeoutUnit::Seconds => 1_000_000_000,
            TimeoutUnit::Minutes => 60_000_000_000,
            TimeoutUnit::Hours => 3_600_000_000_000,
        }
    }

    /// `count` units as a duration. Cannot overflow for a count of at most
    /// [`MAX_TIMEOUT_VALUE`] (99999999 hours is about 11 400 years).
    const fn times(self, count: u32) -> Duration {
        let count = count as u64;
        match self {
            TimeoutUnit::Nanoseconds => Duration::from_nanos(count),
            TimeoutUnit::Microseconds => Duration::from_micros(count),
            TimeoutUnit::Milliseconds => Duration::from_millis(count),
            TimeoutUnit::Seconds => Duration::from_secs(count),
            TimeoutUnit::Minutes => Duration::from_secs(count * 60),
            TimeoutUnit::Hours => Duration::from_secs(count * 3600),
        }
    }
}

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits, then a unit letter.
///
/// Nothing else is accepted: no sign, no spaces (strip surrounding whitespace
/// first if the header layer keeps it), no empty digits. `0` is accepted and
/// gives a zero duration, an already expired deadline; grpc-go sends `0n` for
/// one. A server answers a malformed value with `INTERNAL`, as grpc-go does
/// (`From<TimeoutError> for Status`).
pub fn parse_timeout(value: &[u8]) -> Result<Duration, TimeoutError> {
    let Some((&unit, digits)) = value.split_last() else {
        return Err(TimeoutError::Empty);
    };
    if unit.is_ascii_digit() {
        return match first_non_digit(value) {
            Some(err) => Err(err),
            None => Err(TimeoutError::MissingUnit),
        };
    }
    if digits.is_empty() {
        return Err(TimeoutError::MissingValue);
    }
    if let Some(err) = first_non_digit(digits) {
        return Err(err);
    }
    if digits.len() > MAX_TIMEOUT_DIGITS {
        return Err(TimeoutError::TooManyDigits { len: digits.len() });
    }
    let unit = TimeoutUnit::from_byte(unit).ok_or(TimeoutError::UnknownUnit(unit))?;
    // At most 8 digits: the count fits in a u32 with room to spare.
    let count = digits
        .iter()
        .fold(0u32, |count, digit| count * 10 + u32::from(digit - b'0'));
    Ok(unit.times(count))
}

fn first_non_digit(bytes: &[u8]) -> Option<TimeoutError> {
    let index = bytes.iter().position(|b| !b.is_ascii_digit())?;
    let byte = bytes.get(index).copied()?;
    Some(TimeoutError::NotADigit { byte, index })
}

/// Formats a timeout for the `grpc-timeout` header, in the finest unit whose
/// count fits in 8 digits.
///
/// The count is rounded **up**. The value tells the server how long the client
/// will wait; rounding down would put the server's deadline before the
/// client's, so the server could give up (DEADLINE_EXCEEDED, or a
/// cancellation) on work the client was still willing to wait for. Rounding up
/// keeps every hop's deadline at or after ours, so the deadline that fires
/// first is the caller's own, and a tiny non-zero timeout never turns into
/// `0`. grpc-go rounds up too. The error is below one unit: under 1 ppm of
/// 8 digits in a unit, so below 1 µs for timeouts under 100 ms, below 1 ms
/// under 27 hours.
///
/// A zero duration formats as `"0n"`, as grpc-go writes any non-positive
/// timeout; the peer reads it as already expired. Durations beyond
/// 99999999 hours saturate at `"99999999H"`, which is the one case where the
/// value is below the original (by more than 11 000 years of waiting).
pub fn format_timeout(timeout: Duration) -> TimeoutValue {
    let nanos = timeout.as_nanos();
    for unit in TimeoutUnit::ALL {
        let count = nanos.div_ceil(u128::from(unit.as_nanos()));
        if let Ok(count) = u32::try_from(count)
            && count <= MAX_TIMEOUT_VALUE
        {
            return TimeoutValue::new(count, unit);
        }
    }
    TimeoutValue::new(MAX_TIMEOUT_VALUE, TimeoutUnit::Hours)
}

/// A formatted `grpc-timeout` value, held on the stack: see [`format_timeout`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeoutValue {
    // Digits then the unit letter; always ASCII.
    bytes: [u8; MAX_TIMEOUT_DIGITS + 1],
    len: u8,
    count: u32,
    unit: TimeoutUnit,
}

impl TimeoutValue {
    /// The value for `count` units; `count` must be at most
    /// [`MAX_TIMEOUT_VALUE`] (a larger one is clamped to it).
    pub fn new(count: u32, unit: TimeoutUnit) -> TimeoutValue {
        let count = count.min(MAX_TIMEOUT_VALUE);
        let mut digits = [0u8; MAX_TIMEOUT_DIGITS];
        let mut start = MAX_TIMEOUT_DIGITS;
        let mut rest = count;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut bytes = [0u8; MAX_TIMEOUT_DIGITS + 1];
        let len = MAX_TIMEOUT_DIGITS - start;
        bytes[..len].copy_from_slice(&digits[start..]);
        bytes[len] = unit.as_byte();
        TimeoutValue {
            bytes,
            len: (len + 1) as u8,
            count,
            unit,
        }
    }

    /// The header value, such as `"250m"`.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII digits and a unit letter, so this never falls back.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The header value as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The number of units.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The unit.
    pub fn unit(&self) -> TimeoutUnit {
        self.unit
    }

    /// The duration the peer will read from this value.
    pub fn duration(&self) -> Duration {
        self.unit.times(self.count)
    }
}

impl AsRef<str> for TimeoutValue {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for TimeoutValue {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for TimeoutValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TimeoutValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeoutValue({:?})", self.as_str())
    }
}

/// Why a `grpc-timeout` value is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The value is empty.
    Empty,
    /// A unit letter with no digits before it (`"S"`).
    MissingValue,
    /// More than [`MAX_TIMEOUT_DIGITS`] digits.
    TooManyDigits {
        /// How many digits there are.
        len: usize,
    },
    /// The value ends in a digit: the unit is missing (`"100"`).
    MissingUnit,
    /// The last byte is not one of `H M S m u n`.
    UnknownUnit(u8),
    /// A byte before the unit that is not an ASCII digit (`"-1S"`, `"1 S"`).
    NotADigit {
        /// The offending byte.
        byte: u8,
        /// Its position in the value.
        index: usize,
    },
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed grpc-timeout: ")?;
        match self {
            TimeoutError::Empty => f.write_str("empty value"),
            TimeoutError::MissingValue => f.write_str("a unit with no digits before it"),
            TimeoutError::TooManyDigits { len } => {
                write!(
                    f,
                    "{len} digits, more than the {MAX_TIMEOUT_DIGITS} allowed"
                )
            }
            TimeoutError::MissingUnit => {
                f.write_str("no unit after the digits (expected one of H M S m u n)")
            }
            TimeoutError::UnknownUnit(byte) if byte.is_ascii_graphic() => write!(
                f,
                "unknown unit '{}' (expected one of H M S m u n)",
                char::from(*byte)
            ),
            TimeoutError::UnknownUnit(byte) => {
                write!(
                    f,
                    "unknown unit byte 0x{byte:02x} (expected one of H M S m u n)"
                )
            }
            TimeoutError::NotADigit { byte, index } => {
                write!(
                    f,
                    "byte 0x{byte:02x} at offset {index} is not an ASCII digit"
                )
            }
        }
    }
}

impl core::error::Error for TimeoutError {}

impl From<TimeoutError> for Status {
    /// An `INTERNAL` status with the error as message, the status grpc-go's
    /// server answers a malformed `grpc-timeout` with.
    fn from(err: TimeoutError) -> Status {
        Status::internal(alloc::format!("{err}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Code;
    use alloc::string::ToString;
    use alloc::vec::Vec;
    use quickcheck_macros::quickcheck;

    #[test]
    fn parses_valid_values() {
        let cases: &[(&[u8], Duration)] = &[
            (b"1H", Duration::from_secs(3600)),
            (b"2M", Duration::from_secs(120)),
            (b"1S", Duration::from_secs(1)),
            (b"250m", Duration::from_millis(250)),
            (b"7u", Duration::from_micros(7)),
            (b"9n", Duration::from_nanos(9)),
            (b"0n", Duration::ZERO),
            (b"0H", Duration::ZERO),
            (b"00000001S", Duration::from_secs(1)),
            (b"99999999n", Duration::from_nanos(99_999_999)),
            (b"99999999H", Duration::from_secs(99_999_999 * 3600)),
            (b"99999999M", Duration::from_secs(99_999_999 * 60)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_timeout(input), Ok(*expected), "input {input:?}");
        }
    }

    #[test]
    fn rejects_malformed_values() {
        let cases: &[(&[u8], TimeoutError)] = &[
            (b"", TimeoutError::Empty),
            (b"S", TimeoutError::MissingValue),
            (b"n", TimeoutError::MissingValue),
            (b"x", TimeoutError::MissingValue),
            (b"1", TimeoutError::MissingUnit),
            (b"100", TimeoutError::MissingUnit),
            (b"123456789", TimeoutError::MissingUnit),
            (b"123456789S", TimeoutError::TooManyDigits { len: 9 }),
            (b"000000000n", TimeoutError::TooManyDigits { len: 9 }),
            (b"1s", TimeoutError::UnknownUnit(b's')),
            (b"1h", TimeoutError::UnknownUnit(b'h')),
            (b"1x", TimeoutError::UnknownUnit(b'x')),
            (b"1\xff", TimeoutError::UnknownUnit(0xff)),
            (b"1 ", TimeoutError::UnknownUnit(b' ')),
            (
                b"-1S",
                TimeoutError::NotADigit {
                    byte: b'-',
                    index: 0,
                },
            ),
            (
                b"+1S",
                TimeoutError::NotADigit {
                    byte: b'+',
                    index: 0,
                },
            ),
            (
                b"1 S",
                TimeoutError::NotADigit {
                    byte: b' ',
                    index: 1,
                },
            ),
            (
                b" 1S",
                TimeoutError::NotADigit {
                    byte: b' ',
                    index: 0,
                },
            ),
            (
                b"1.5S",
                TimeoutError::NotADigit {
                    byte: b'.',
                    index: 1,
                },
            ),
            (
                b"1SS",
                TimeoutError::NotADigit {
                    byte: b'S',
                    index: 1,
                },
            ),
            (
                b"1S1",
                TimeoutError::NotADigit {
                    byte: b'S',
                    index: 1,
                },
            ),
        ];
        for (input, err) in cases {
            assert_eq!(parse_timeout(input), Err(*err), "input {input:?}");
        }
    }

    #[test]
    fn errors_display_clearly() {
        let cases: &[(TimeoutError, &str)] = &[
            (TimeoutError::Empty, "malformed grpc-timeout: empty value"),
            (
                TimeoutError::TooManyDigits { len: 9 },
                "malformed grpc-timeout: 9 digits, more than the 8 allowed",
            ),
            (
                TimeoutError::UnknownUnit(b's'),
                "malformed grpc-timeout: unknown unit 's' (expected one of H M S m u n)",
            ),
            (
                TimeoutError::UnknownUnit(0),
                "malformed grpc-timeout: unknown unit byte 0x00 (expected one of H M S m u n)",
            ),
            (
                TimeoutError::NotADigit {
                    byte: b'-',
                    index: 0,
                },
                "malformed grpc-timeout: byte 0x2d at offset 0 is not an ASCII digit",
            ),
        ];
        for (err, shown) in cases {
            assert_eq!(err.to_string(), *shown);
        }
        let status = Status::from(TimeoutError::MissingUnit);
        assert_eq!(status.code(), Code::INTERNAL);
        assert_eq!(
            status.message(),
            "malformed grpc-timeout: no unit after the digits (expected one of H M S m u n)"
        );
    }

    #[test]
    fn formats_in_the_finest_unit_rounding_up() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0n"),
            (Duration::from_nanos(1), "1n"),
            (Duration::from_nanos(99_999_999), "99999999n"),
            (Duration::from_nanos(100_000_000), "100000u"),
            (Duration::from_nanos(100_000_001), "100001u"),
            (Duration::from_millis(250), "250000u"),
            (Duration::from_secs(1), "1000000u"),
            (Duration::from_secs(30), "30000000u"),
            (Duration::from_secs(100), "100000m"),
            (Duration::from_millis(99_999_999), "99999999m"),
            (Duration::from_nanos(99_999_999_000_001), "100000S"),
            (Duration::from_secs(99_999_999), "99999999S"),
            (Duration::from_secs(100_000_000), "1666667M"),
            (Duration::from_secs(99_999_999 * 60), "99999999M"),
            (Duration::from_secs(99_999_999 * 60 + 1), "1666667H"),
            (Duration::from_secs(99_999_999 * 3600), "99999999H"),
            (Duration::from_secs(99_999_999 * 3600 + 1), "99999999H"),
            (Duration::MAX, "99999999H"),
        ];
        for (timeout, expected) in cases {
            let value = format_timeout(*timeout);
            assert_eq!(value.as_str(), *expected, "timeout {timeout:?}");
            assert_eq!(value.as_bytes(), expected.as_bytes());
            assert_eq!(parse_timeout(value.as_bytes()), Ok(value.duration()));
        }
    }

    #[test]
    fn value_accessors() {
        let value = format_timeout(Duration::from_millis(1500));
        assert_eq!(value.count(), 1_500_000);
        assert_eq!(value.unit(), TimeoutUnit::Microseconds);
        assert_eq!(value.duration(), Duration::from_millis(1500));
        assert_eq!(alloc::format!("{value}"), "1500000u");
        assert_eq!(alloc::format!("{value:?}"), "TimeoutValue(\"1500000u\")");
        let clamped = TimeoutValue::new(u32::MAX, TimeoutUnit::Seconds);
        assert_eq!(clamped.as_str(), "99999999S");
        assert_eq!(TimeoutValue::new(0, TimeoutUnit::Hours).as_str(), "0H");
        for unit in TimeoutUnit::ALL {
            assert_eq!(TimeoutUnit::from_byte(unit.as_byte()), Some(unit));
            assert_eq!(unit.times(1).as_nanos(), u128::from(unit.as_nanos()));
        }
    }

    /// Checks the format invariants for one duration.
    fn format_holds(timeout: Duration) -> bool {
        let value = format_timeout(timeout);
        let digits = value.as_bytes().len() - 1;
        let Ok(parsed) = parse_timeout(value.as_bytes()) else {
            return false;
        };
        let saturated = value.as_str() == "99999999H";
        let unit = Duration::from_nanos(value.unit().as_nanos());
        (1..=MAX_TIMEOUT_DIGITS).contains(&digits)
            && parsed == value.duration()
            && (saturated || (parsed >= timeout && parsed - timeout < unit))
            && (!saturated || timeout >= parsed)
    }

    #[quickcheck]
    fn format_then_parse_is_at_least_the_original_and_within_a_unit(
        secs: u64,
        nanos: u32,
        scale: u8,
    ) -> bool {
        // Spread the seconds over every unit's range, not just huge values.
        let secs = secs % 10u64.pow(u32::from(scale % 20));
        format_holds(Duration::new(secs, nanos % 1_000_000_000))
    }

    #[quickcheck]
    fn small_durations_hold(nanos: u64) -> bool {
        format_holds(Duration::from_nanos(nanos))
    }

    #[quickcheck]
    fn parse_never_panics(bytes: Vec<u8>) -> bool {
        match parse_timeout(&bytes) {
            // Whatever parses formats back to at least the same duration.
            Ok(timeout) => parse_timeout(format_timeout(timeout).as_bytes())
                .is_ok_and(|again| again >= timeout),
            Err(_) => true,
        }
    }

    #[quickcheck]
    fn parses_every_well_formed_value(count: u32, unit: u8) -> bool {
        let count = count % (MAX_TIMEOUT_VALUE + 1);
        let unit = TimeoutUnit::ALL[usize::from(unit % 6)];
        let mut text = count.to_string();
        text.push(char::from(unit.as_byte()));
        parse_timeout(text.as_bytes()) == Ok(unit.times(count))
    }
}
