//! [`Code`] and its `grpc-status` header form.

use core::fmt;

/// A gRPC status code.
///
/// An open newtype, like h2's `Reason`: the 17 codes of the spec are named
/// constants, and any other number survives a round trip through [`Code::from_i32`]
/// and [`Code::as_i32`].
///
/// # Codes outside `0..=16`
///
/// `doc/statuscodes.md` says servers should never send a code outside the range
/// it defines (any other value is converted to `UNKNOWN` before being
/// transmitted), and clients that receive one should convert it to `UNKNOWN`
/// before handing it to the application. So:
///
/// - [`Code::from_header_value`] keeps the number the peer sent (`"42"` parses to
///   `Code(42)`), so the engine can report it;
/// - [`Code::normalize`] maps it to `UNKNOWN`, and the trailer helpers
///   ([`Status::from_header_values`](crate::Status::from_header_values)) apply it
///   before a status reaches the application;
/// - [`Code::header_value`] always writes the normalized code, so ferrule never
///   sends an out-of-range `grpc-status`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(i32);

macro_rules! codes {
    ($( $(#[$doc:meta])* ($num:expr, $konst:ident, $name:expr, $digits:expr); )+) => {
        impl Code {
            $(
                $(#[$doc])*
                pub const $konst: Code = Code($num);
            )+

            /// The spec's name of the code (`"NOT_FOUND"`), or `None` for an unknown number.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $num => Some($name), )+
                    _ => None,
                }
            }

            /// The `grpc-status` header value for this code: its decimal digits, without
            /// leading zeros, as the spec requires.
            ///
            /// A code outside `0..=16` is written as `"2"` (`UNKNOWN`): the spec says a
            /// server converts such codes before transmitting them. No allocation.
            pub const fn header_value(self) -> &'static str {
                match self.0 {
                    $( $num => $digits, )+
                    _ => "2",
                }
            }
        }
    };
}

codes! {
    /// Not an error; returned on success.
    (0, OK, "OK", "0");
    /// The operation was cancelled, typically by the caller.
    (1, CANCELLED, "CANCELLED", "1");
    /// Unknown error.
    (2, UNKNOWN, "UNKNOWN", "2");
    /// The client specified an invalid argument.
    (3, INVALID_ARGUMENT, "INVALID_ARGUMENT", "3");
    /// The deadline expired before the operation could complete.
    (4, DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "4");
    /// Some requested entity was not found.
    (5, NOT_FOUND, "NOT_FOUND", "5");
    /// The entity that a client attempted to create already exists.
    (6, ALREADY_EXISTS, "ALREADY_EXISTS", "6");
    /// The caller does not have permission to execute the operation.
    (7, PERMISSION_DENIED, "PERMISSION_DENIED", "7");
    /// Some resource has been exhausted (a quota, or a message size limit).
    (8, RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", "8");
    /// The system is not in a state required for the operation's execution.
    (9, FAILED_PRECONDITION, "FAILED_PRECONDITION", "9");
    /// The operation was aborted, typically due to a concurrency issue.
    (10, ABORTED, "ABORTED", "10");
    /// The operation was attempted past the valid range.
    (11, OUT_OF_RANGE, "OUT_OF_RANGE", "11");
    /// The operation is not implemented or not supported.
    (12, UNIMPLEMENTED, "UNIMPLEMENTED", "12");
    /// Internal error: an invariant expected by the system is broken.
    (13, INTERNAL, "INTERNAL", "13");
    /// The service is currently unavailable; retrying may help.
    (14, UNAVAILABLE, "UNAVAILABLE", "14");
    /// Unrecoverable data loss or corruption.
    (15, DATA_LOSS, "DATA_LOSS", "15");
    /// The request does not have valid authentication credentials.
    (16, UNAUTHENTICATED, "UNAUTHENTICATED", "16");
}

/// The most digits a `grpc-status` value may have: enough for any `i32`
/// (`2147483647`), leading zeros included.
pub const MAX_STATUS_DIGITS: usize = 10;

impl Code {
    /// The code with this number, known or not.
    pub const fn from_i32(value: i32) -> Code {
        Code(value)
    }

    /// The number carried in `grpc-status`.
    pub const fn as_i32(self) -> i32 {
        self.0
    }

    /// Whether this is one of the 17 codes the spec names.
    pub const fn is_known(self) -> bool {
        self.0 >= 0 && self.0 <= 16
    }

    /// This code, or `UNKNOWN` if the spec does not name it.
    pub const fn normalize(self) -> Code {
        if self.is_known() { self } else { Code::UNKNOWN }
    }

    /// Parses a `grpc-status` header value: `1*DIGIT`, at most
    /// [`MAX_STATUS_DIGITS`] of them, fitting in an `i32`.
    ///
    /// Unknown numbers are kept (`"42"` gives `Code(42)`); see the type's docs for
    /// what to do with them. Leading zeros, which the spec tells senders not to
    /// write, are accepted. Signs, spaces and anything else are rejected: the
    /// caller turns the error into an `UNKNOWN` status (`statuscodes.md`: "Error
    /// parsing returned status: UNKNOWN"), which `From<CodeParseError> for Status`
    /// does.
    pub fn from_header_value(value: &[u8]) -> Result<Code, CodeParseError> {
        if value.is_empty() {
            return Err(CodeParseError::Empty);
        }
        if let Some(index) = value.iter().position(|b| !b.is_ascii_digit()) {
            let byte = value.get(index).copied().unwrap_or_default();
            return Err(CodeParseError::NotADigit { byte, index });
        }
        if value.len() > MAX_STATUS_DIGITS {
            return Err(CodeParseError::TooLong { len: value.len() });
        }
        let mut number: i32 = 0;
        for &digit in value {
            number = number
                .checked_mul(10)
                .and_then(|n| n.checked_add(i32::from(digit - b'0')))
                .ok_or(CodeParseError::Overflow)?;
        }
        Ok(Code(number))
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Code({})", self.0),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<i32> for Code {
    fn from(value: i32) -> Code {
        Code(value)
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> i32 {
        code.0
    }
}

/// Why a `grpc-status` header value is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeParseError {
    /// The value is empty.
    Empty,
    /// A byte that is not an ASCII digit (a sign, a space, a letter...).
    NotADigit {
        /// The offending byte.
        byte: u8,
        /// Its position in the value.
        index: usize,
    },
    /// More than [`MAX_STATUS_DIGITS`] digits.
    TooLong {
        /// The length of the value.
        len: usize,
    },
    /// The number does not fit in an `i32`.
    Overflow,
}

impl fmt::Display for CodeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed grpc-status: ")?;
        match self {
            CodeParseError::Empty => f.write_str("empty value"),
            CodeParseError::NotADigit { byte, index } => {
                write!(
                    f,
                    "byte 0x{byte:02x} at offset {index} is not an ASCII digit"
                )
            }
            CodeParseError::TooLong { len } => {
                write!(f, "{len} digits, more than the {MAX_STATUS_DIGITS} allowed")
            }
            CodeParseError::Overflow => f.write_str("value does not fit in a 32-bit integer"),
        }
    }
}

impl core::error::Error for CodeParseError {}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    #[test]
    fn parses_grpc_status_values() {
        let cases: &[(&[u8], Result<Code, CodeParseError>)] = &[
            (b"0", Ok(Code::OK)),
            (b"5", Ok(Code::NOT_FOUND)),
            (b"16", Ok(Code::UNAUTHENTICATED)),
            (b"17", Ok(Code::from_i32(17))),
            (b"42", Ok(Code::from_i32(42))),
            (b"007", Ok(Code::PERMISSION_DENIED)),
            (b"2147483647", Ok(Code::from_i32(i32::MAX))),
            (b"0000000001", Ok(Code::CANCELLED)),
            (b"", Err(CodeParseError::Empty)),
            (b"2147483648", Err(CodeParseError::Overflow)),
            (b"9999999999", Err(CodeParseError::Overflow)),
            (b"00000000001", Err(CodeParseError::TooLong { len: 11 })),
            (
                b"99999999999999999999999",
                Err(CodeParseError::TooLong { len: 23 }),
            ),
            (
                b"-1",
                Err(CodeParseError::NotADigit {
                    byte: b'-',
                    index: 0,
                }),
            ),
            (
                b"+1",
                Err(CodeParseError::NotADigit {
                    byte: b'+',
                    index: 0,
                }),
            ),
            (
                b" 0",
                Err(CodeParseError::NotADigit {
                    byte: b' ',
                    index: 0,
                }),
            ),
            (
                b"0 ",
                Err(CodeParseError::NotADigit {
                    byte: b' ',
                    index: 1,
                }),
            ),
            (
                b"1a",
                Err(CodeParseError::NotADigit {
                    byte: b'a',
                    index: 1,
                }),
            ),
            (
                b"\xff",
                Err(CodeParseError::NotADigit {
                    byte: 0xff,
                    index: 0,
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Code::from_header_value(input),
                *expected,
                "input {:?}",
                input
            );
        }
    }

    #[test]
    fn header_value_is_the_normalized_code() {
        for n in 0..=16 {
            let code = Code::from_i32(n);
            assert_eq!(code.header_value(), alloc::format!("{n}"));
        }
        for n in [17, 100, -1, i32::MIN, i32::MAX] {
            assert_eq!(Code::from_i32(n).header_value(), "2", "code {n}");
        }
    }

    #[test]
    fn normalize_and_names() {
        assert_eq!(Code::from_i32(17).normalize(), Code::UNKNOWN);
        assert_eq!(Code::from_i32(-3).normalize(), Code::UNKNOWN);
        assert_eq!(Code::DATA_LOSS.normalize(), Code::DATA_LOSS);
        assert_eq!(Code::from_i32(17).name(), None);
        assert_eq!(Code::ABORTED.name(), Some("ABORTED"));
        assert_eq!(alloc::format!("{:?}", Code::from_i32(99)), "Code(99)");
        assert_eq!(alloc::format!("{}", Code::INTERNAL), "INTERNAL");
    }

    #[test]
    fn errors_display_clearly() {
        let shown = alloc::format!(
            "{}",
            CodeParseError::NotADigit {
                byte: b'-',
                index: 0
            }
        );
        assert_eq!(
            shown,
            "malformed grpc-status: byte 0x2d at offset 0 is not an ASCII digit"
        );
        assert_eq!(
            alloc::format!("{}", CodeParseError::TooLong { len: 12 }),
            "malformed grpc-status: 12 digits, more than the 10 allowed"
        );
        assert_eq!(
            alloc::format!("{}", CodeParseError::Empty),
            "malformed grpc-status: empty value"
        );
        assert_eq!(
            alloc::format!("{}", CodeParseError::Overflow),
            "malformed grpc-status: value does not fit in a 32-bit integer"
        );
    }

    #[quickcheck]
    fn known_codes_round_trip_through_the_header(n: u8) -> bool {
        let code = Code::from_i32(i32::from(n % 17));
        Code::from_header_value(code.header_value().as_bytes()) == Ok(code)
    }

    #[quickcheck]
    fn any_non_negative_number_parses_back(n: u32) -> bool {
        let n = (n >> 1) as i32;
        Code::from_header_value(alloc::format!("{n}").as_bytes()) == Ok(Code::from_i32(n))
    }

    #[quickcheck]
    fn parse_never_panics_and_accepts_only_digits(bytes: alloc::vec::Vec<u8>) -> bool {
        match Code::from_header_value(&bytes) {
            Ok(code) => {
                code.as_i32() >= 0
                    && !bytes.is_empty()
                    && bytes.len() <= MAX_STATUS_DIGITS
                    && bytes.iter().all(u8::is_ascii_digit)
            }
            Err(_) => true,
        }
    }
}
