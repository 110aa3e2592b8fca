//! A [`Status`] to and from the values of the status headers (`grpc-status`,
//! `grpc-message`, `grpc-status-details-bin`) of Trailers or a Trailers-Only
//! response. No HTTP types: the engine finds the headers, and the metadata
//! module does the base64 of the `-bin` value.

use super::rpc::RpcStatus;
use super::{Code, Status, decode_grpc_message, encode_grpc_message};
use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use bytes::Bytes;

/// The status headers to send for a [`Status`]; see [`Status::to_header_values`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusHeaderValues<'a> {
    /// The `grpc-status` value: the code's digits, normalized (a code outside
    /// `0..=16` is sent as `2`, `UNKNOWN`).
    pub grpc_status: &'static str,
    /// The `grpc-message` value, percent-encoded; `None` when the message is
    /// empty. Borrows the status's message when nothing needs escaping.
    pub grpc_message: Option<Cow<'a, str>>,
    /// The raw (not yet base64-encoded) `grpc-status-details-bin` value; `None`
    /// when the status has no details.
    pub grpc_status_details: Option<Bytes>,
}

impl Status {
    /// The status a client reports from the status headers it received. Never
    /// fails: whatever the peer sent becomes a status.
    ///
    /// - `grpc_status`: the raw `grpc-status` value. If it is malformed, the
    ///   result is `UNKNOWN` (`statuscodes.md`: "Error parsing returned status")
    ///   with the parse error as message, followed by the peer's `grpc-message`
    ///   if any. A response *without* `grpc-status` is the caller's case: use
    ///   [`Status::from_http_status`].
    /// - A code outside `0..=16` becomes `UNKNOWN`, as `statuscodes.md` asks of
    ///   clients; the peer's message is kept, or, if it is empty, the message
    ///   names the number the peer sent.
    /// - `grpc_message`: the raw `grpc-message` value, percent-decoded with
    ///   [`decode_grpc_message`]; absent means empty.
    /// - `grpc_status_details`: the base64-decoded `grpc-status-details-bin`
    ///   value (absent or empty means none). It must be a `google.rpc.Status`
    ///   whose code equals `grpc-status`:
    ///   - if it does not decode, it is dropped and the status is built from
    ///     `grpc-status` and `grpc-message` alone (grpc-go does the same: broken
    ///     details must not hide the status the headers carry);
    ///   - if its code differs from `grpc-status`, the result is `INTERNAL`
    ///     ("grpc-status-details-bin mismatch: ...") without details, as in
    ///     grpc-go: details written for another error must not be attached to
    ///     this one;
    ///   - otherwise the bytes are kept as [`Status::details`]. The message is
    ///     `grpc-message`'s, not the one inside the details. When the code is
    ///     out of range and becomes `UNKNOWN`, the details are re-encoded with
    ///     code `UNKNOWN` too (dropping any fields this decoder does not know),
    ///     so the status stays consistent if it is passed on.
    pub fn from_header_values(
        grpc_status: &[u8],
        grpc_message: Option<&[u8]>,
        grpc_status_details: Option<Bytes>,
    ) -> Status {
        let message: String = grpc_message
            .map(|value| decode_grpc_message(value).into_owned())
            .unwrap_or_default();
        let code = match Code::from_header_value(grpc_status) {
            Ok(code) => code,
            Err(err) if message.is_empty() => return Status::from(err),
            Err(err) => return Status::unknown(format!("{err}; grpc-message: {message}")),
        };
        let details = match grpc_status_details.filter(|bytes| !bytes.is_empty()) {
            None => Bytes::new(),
            Some(bytes) => match RpcStatus::decode(&bytes) {
                Err(_) => Bytes::new(),
                Ok(rpc) if rpc.code != code => {
                    return Status::internal(format!(
                        "grpc-status-details-bin mismatch: grpc-status is {}, details say {}, grpc-message: {message:?}",
                        code.as_i32(),
                        rpc.code.as_i32(),
                    ));
                }
                // The code becomes UNKNOWN below; the details must say so too.
                Ok(mut rpc) if !code.is_known() => {
                    rpc.code = Code::UNKNOWN;
                    rpc.to_bytes()
                }
                Ok(_) => bytes,
            },
        };
        let status = if code.is_known() {
            Status::new(code, message)
        } else if message.is_empty() {
            Status::unknown(format!(
                "grpc-status {} is not a code gRPC defines",
                code.as_i32()
            ))
        } else {
            Status::unknown(message)
        };
        status.with_details(details)
    }

    /// The status headers to send for this status (as Trailers, or in a
    /// Trailers-Only response).
    ///
    /// A code outside `0..=16` is sent as `UNKNOWN` (`statuscodes.md`: servers
    /// convert such codes before transmitting them), and the code inside the
    /// details is rewritten to match, so the peer does not see a mismatch. Other
    /// details are sent as they are; keeping their code equal to the status's is
    /// up to whoever attached them ([`Status::from_rpc_status`] does).
    pub fn to_header_values(&self) -> StatusHeaderValues<'_> {
        let grpc_message = if self.message().is_empty() {
            None
        } else {
            Some(encode_grpc_message(self.message()))
        };
        let details = self.details();
        let grpc_status_details = if details.is_empty() {
            None
        } else if self.code().is_known() {
            Some(details.clone())
        } else {
            match RpcStatus::decode(details) {
                Ok(mut rpc) if rpc.code == self.code() => {
                    rpc.code = Code::UNKNOWN;
                    Some(rpc.to_bytes())
                }
                _ => Some(details.clone()),
            }
        };
        StatusHeaderValues {
            grpc_status: self.code().header_value(),
            grpc_message,
            grpc_status_details,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::status::rpc::Any;
    use alloc::vec;
    use alloc::vec::Vec;
    use quickcheck_macros::quickcheck;

    /// `grpc-status`, `grpc-message`, `grpc-status-details-bin`, expected status.
    type Case = (&'static [u8], Option<&'static [u8]>, Option<Bytes>, Status);

    fn details(code: Code) -> Bytes {
        RpcStatus {
            details: vec![Any {
                type_url: String::from("type.googleapis.com/google.rpc.ErrorInfo"),
                value: Bytes::from_static(b"\x0a\x03why"),
            }],
            ..RpcStatus::new(code, "inner")
        }
        .to_bytes()
    }

    #[test]
    fn builds_statuses_from_header_values() {
        let cases: Vec<Case> = vec![
            (b"0", None, None, Status::ok()),
            (
                b"5",
                Some(b"no such book"),
                None,
                Status::not_found("no such book"),
            ),
            (
                b"13",
                Some(b"50%25 done%0A"),
                None,
                Status::internal("50% done\n"),
            ),
            (
                b"3",
                Some(b""),
                Some(Bytes::new()),
                Status::invalid_argument(""),
            ),
            // Malformed grpc-status: UNKNOWN, keeping the peer's message.
            (
                b"abc",
                None,
                None,
                Status::unknown(
                    "malformed grpc-status: byte 0x61 at offset 0 is not an ASCII digit",
                ),
            ),
            (
                b"",
                Some(b"boom"),
                None,
                Status::unknown("malformed grpc-status: empty value; grpc-message: boom"),
            ),
            (
                b"99999999999",
                None,
                None,
                Status::unknown("malformed grpc-status: 11 digits, more than the 10 allowed"),
            ),
            // Out of range: UNKNOWN.
            (b"17", Some(b"custom"), None, Status::unknown("custom")),
            (
                b"4000",
                None,
                None,
                Status::unknown("grpc-status 4000 is not a code gRPC defines"),
            ),
            // Details that match are kept.
            (
                b"14",
                Some(b"later"),
                Some(details(Code::UNAVAILABLE)),
                Status::unavailable("later").with_details(details(Code::UNAVAILABLE)),
            ),
            // Details that do not decode are dropped.
            (
                b"14",
                Some(b"later"),
                Some(Bytes::from_static(b"\x12\x09trunc")),
                Status::unavailable("later"),
            ),
            // Details that disagree give INTERNAL.
            (
                b"14",
                Some(b"later"),
                Some(details(Code::NOT_FOUND)),
                Status::internal(
                    "grpc-status-details-bin mismatch: grpc-status is 14, details say 5, grpc-message: \"later\"",
                ),
            ),
            // Out-of-range codes are compared before being normalized, and the
            // details follow the normalization.
            (
                b"42",
                None,
                Some(details(Code::from_i32(42))),
                Status::unknown("grpc-status 42 is not a code gRPC defines")
                    .with_details(details(Code::UNKNOWN)),
            ),
        ];
        for (grpc_status, grpc_message, grpc_status_details, expected) in cases {
            let status =
                Status::from_header_values(grpc_status, grpc_message, grpc_status_details.clone());
            assert_eq!(
                status, expected,
                "grpc-status {grpc_status:?}, grpc-message {grpc_message:?}, details {grpc_status_details:?}"
            );
        }
    }

    #[test]
    fn produces_header_values() {
        let status = Status::not_found("100% gone é");
        let values = status.to_header_values();
        assert_eq!(values.grpc_status, "5");
        assert_eq!(values.grpc_message.as_deref(), Some("100%25 gone %C3%A9"));
        assert_eq!(values.grpc_status_details, None);

        let ok = Status::ok();
        assert_eq!(
            ok.to_header_values(),
            StatusHeaderValues {
                grpc_status: "0",
                grpc_message: None,
                grpc_status_details: None,
            }
        );

        let status = Status::new(Code::CANCELLED, "plain");
        let values = status.to_header_values();
        assert!(matches!(values.grpc_message, Some(Cow::Borrowed("plain"))));

        let status = Status::unavailable("later").with_details(details(Code::UNAVAILABLE));
        assert_eq!(
            status.to_header_values().grpc_status_details,
            Some(details(Code::UNAVAILABLE))
        );
    }

    #[test]
    fn out_of_range_codes_are_sent_as_unknown() {
        let status =
            Status::new(Code::from_i32(99), "odd").with_details(details(Code::from_i32(99)));
        let values = status.to_header_values();
        assert_eq!(values.grpc_status, "2");
        let sent = values.grpc_status_details.unwrap();
        assert_eq!(RpcStatus::decode(&sent).unwrap().code, Code::UNKNOWN);
        // The receiver sees no mismatch.
        let received = Status::from_header_values(
            values.grpc_status.as_bytes(),
            values.grpc_message.as_deref().map(str::as_bytes),
            Some(sent.clone()),
        );
        assert_eq!(received, Status::unknown("odd").with_details(sent));
    }

    #[quickcheck]
    fn header_values_round_trip(code: u8, message: String, with_details: bool) -> bool {
        let code = Code::from_i32(i32::from(code % 17));
        let mut status = Status::new(code, message);
        if with_details {
            status = status.with_details(details(code));
        }
        let values = status.to_header_values();
        let received = Status::from_header_values(
            values.grpc_status.as_bytes(),
            values.grpc_message.as_deref().map(str::as_bytes),
            values.grpc_status_details,
        );
        received == status
    }

    #[quickcheck]
    fn any_header_values_give_a_status(
        grpc_status: Vec<u8>,
        grpc_message: Option<Vec<u8>>,
        details: Option<Vec<u8>>,
    ) -> bool {
        let status = Status::from_header_values(
            &grpc_status,
            grpc_message.as_deref(),
            details.map(Bytes::from),
        );
        // What reaches the application is always a code the spec names, and
        // passing it on delivers the same status.
        let values = status.to_header_values();
        let passed_on = Status::from_header_values(
            values.grpc_status.as_bytes(),
            values.grpc_message.as_deref().map(str::as_bytes),
            values.grpc_status_details,
        );
        status.code().is_known() && passed_on == status
    }
}
