//! [`MetadataError`]: what can be wrong with a key or a value.

use alloc::format;
use alloc::string::String;
use core::fmt;

use crate::Status;

/// A metadata key or value that cannot be used.
///
/// Every variant names the key (escaped and shortened when it came from a
/// peer). From the user API it means the application supplied something the
/// protocol cannot carry; from [`MetadataMap::push_wire_header`] it means the
/// peer sent malformed metadata, and the call ends with `INTERNAL` (what
/// grpc-go answers for malformed binary metadata) through
/// `From<MetadataError> for Status`.
///
/// [`MetadataMap::push_wire_header`]: super::MetadataMap::push_wire_header
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// The key is empty or has a character outside `0-9 a-z _ - .` (or, from
    /// the wire, an uppercase letter, which HTTP/2 forbids).
    InvalidKey(String),
    /// The key is reserved for the gRPC or HTTP/2 layer; see
    /// [`is_reserved`](super::is_reserved).
    Reserved(String),
    /// An ASCII value the protocol cannot carry.
    InvalidValue {
        /// The key the value was for.
        key: String,
        /// What is wrong with it.
        problem: ValueProblem,
    },
    /// A value of a `-bin` key is not valid base64.
    InvalidBase64(String),
    /// An ASCII value for a `-bin` key, or a binary value for any other key.
    WrongKind(String),
}

/// What is wrong with an ASCII metadata value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueProblem {
    /// A character outside printable ASCII (`0x20..=0x7E`).
    NotPrintableAscii,
    /// A leading or trailing space, which HTTP/2 field values must not have.
    SurroundingWhitespace,
    /// A control character that no HTTP field value may contain (a peer's
    /// value with NUL, CR, LF or DEL, for instance).
    ControlCharacter,
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueProblem::NotPrintableAscii => {
                "has a character outside printable ASCII (0x20..=0x7E)"
            }
            ValueProblem::SurroundingWhitespace => "starts or ends with a space",
            ValueProblem::ControlCharacter => "has a control character",
        })
    }
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::InvalidKey(key) => write!(
                f,
                "invalid metadata key \"{key}\": keys are non-empty and use only 0-9 a-z _ - ."
            ),
            MetadataError::Reserved(key) => write!(
                f,
                "metadata key \"{key}\" is reserved for the gRPC or HTTP/2 layer and cannot be set as custom metadata"
            ),
            MetadataError::InvalidValue { key, problem } => {
                write!(f, "metadata value for key \"{key}\" {problem}")
            }
            MetadataError::InvalidBase64(key) => {
                write!(
                    f,
                    "metadata value for binary key \"{key}\" is not valid base64"
                )
            }
            MetadataError::WrongKind(key) => {
                if super::is_binary_key(key.as_bytes()) {
                    write!(
                        f,
                        "metadata key \"{key}\" ends in -bin and takes binary values, not ASCII ones"
                    )
                } else {
                    write!(
                        f,
                        "metadata key \"{key}\" does not end in -bin and cannot take a binary value"
                    )
                }
            }
        }
    }
}

impl core::error::Error for MetadataError {}

impl From<MetadataError> for Status {
    fn from(err: MetadataError) -> Status {
        Status::internal(format!("{err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;
    use alloc::string::ToString;

    #[test]
    fn display_names_the_key() {
        let cases = [
            (
                MetadataError::InvalidKey("a b".into()),
                "invalid metadata key \"a b\": keys are non-empty and use only 0-9 a-z _ - .",
            ),
            (
                MetadataError::Reserved("grpc-timeout".into()),
                "metadata key \"grpc-timeout\" is reserved for the gRPC or HTTP/2 layer and cannot be set as custom metadata",
            ),
            (
                MetadataError::InvalidValue {
                    key: "x".into(),
                    problem: ValueProblem::NotPrintableAscii,
                },
                "metadata value for key \"x\" has a character outside printable ASCII (0x20..=0x7E)",
            ),
            (
                MetadataError::InvalidBase64("t-bin".into()),
                "metadata value for binary key \"t-bin\" is not valid base64",
            ),
            (
                MetadataError::WrongKind("t-bin".into()),
                "metadata key \"t-bin\" ends in -bin and takes binary values, not ASCII ones",
            ),
            (
                MetadataError::WrongKind("t".into()),
                "metadata key \"t\" does not end in -bin and cannot take a binary value",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }

    #[test]
    fn converts_to_internal() {
        let status = Status::from(MetadataError::InvalidBase64("t-bin".into()));
        assert_eq!(status.code(), Code::INTERNAL);
        assert!(status.message().contains("t-bin"));
    }
}
