#![no_main]
//! `Status::error_details` fed `grpc-status-details-bin` values: raw bytes,
//! or a `google.rpc.Status` whose details are fuzzer-chosen values under
//! standard, near-standard or custom type URLs (so the message decoders, not
//! just the outer one, see hostile input). Invariants:
//! - decoding never panics;
//! - it fails exactly when the outer message is broken (the same error the
//!   hand-written `RpcStatus` decoder gives) or a standard message is;
//! - nothing is lost: as many details come out as `details_any` sees, and
//!   only the standard type already in its slot is ever left in `other`;
//! - decoded -> encoded (`Status::with_error_details`) -> decoded is the
//!   identity, and so is `to_any_vec` -> `from_any_vec`;
//! - the re-encoded status carries the status's code and message.

use arbitrary::Arbitrary;
use bytes::Bytes;
use ferrule_codec::status::details::{
    BadRequest, DebugInfo, DetailsError, ErrorDetails, ErrorInfo, Help, LocalizedMessage,
    PreconditionFailure, QuotaFailure, RequestInfo, ResourceInfo, RetryInfo, StandardDetail,
};
use ferrule_codec::status::{Any, RpcStatus};
use ferrule_codec::{Code, Status};
use libfuzzer_sys::fuzz_target;

const TYPE_URLS: &[&str] = &[
    ErrorInfo::TYPE_URL,
    RetryInfo::TYPE_URL,
    DebugInfo::TYPE_URL,
    QuotaFailure::TYPE_URL,
    PreconditionFailure::TYPE_URL,
    BadRequest::TYPE_URL,
    RequestInfo::TYPE_URL,
    ResourceInfo::TYPE_URL,
    Help::TYPE_URL,
    LocalizedMessage::TYPE_URL,
    "google.rpc.BadRequest",
    "other.host/google.rpc.Help",
    "type.googleapis.com/google.rpc.BadRequest.FieldViolation",
    "type.googleapis.com/google.rpc.Status",
    "type.example.com/acme.Custom",
    "",
];

#[derive(Arbitrary, Debug)]
enum Input {
    /// The details bytes as they are.
    Raw(Vec<u8>),
    /// A well-formed outer message around fuzzer-chosen details.
    Packed {
        code: i32,
        message: String,
        details: Vec<(u8, Vec<u8>)>,
    },
}

fn is_standard(any: &Any) -> bool {
    TYPE_URLS[..10]
        .iter()
        .any(|url| url.ends_with(&format!("/{}", any.type_name())))
}

/// Whether `details` has the slot for `any`'s type filled.
fn slot_filled(details: &ErrorDetails, any: &Any) -> bool {
    fn has<D: StandardDetail>(details: &ErrorDetails, any: &Any) -> bool {
        any.type_name() == D::FULL_NAME && details.get::<D>().is_some()
    }
    has::<ErrorInfo>(details, any)
        || has::<RetryInfo>(details, any)
        || has::<DebugInfo>(details, any)
        || has::<QuotaFailure>(details, any)
        || has::<PreconditionFailure>(details, any)
        || has::<BadRequest>(details, any)
        || has::<RequestInfo>(details, any)
        || has::<ResourceInfo>(details, any)
        || has::<Help>(details, any)
        || has::<LocalizedMessage>(details, any)
}

fuzz_target!(|input: Input| {
    let (code, message, bytes) = match input {
        Input::Raw(bytes) => (Code::UNKNOWN, String::new(), Bytes::from(bytes)),
        Input::Packed {
            code,
            message,
            details,
        } => {
            let rpc = RpcStatus {
                code: Code::from_i32(code),
                message: message.clone(),
                details: details
                    .into_iter()
                    .map(|(selector, value)| Any {
                        type_url: TYPE_URLS[usize::from(selector) % TYPE_URLS.len()].into(),
                        value: Bytes::from(value),
                    })
                    .collect(),
            };
            (Code::from_i32(code), message, rpc.to_bytes())
        }
    };
    let status = Status::new(code, message.clone()).with_details(bytes.clone());
    let raw = status.details_any();

    let details = match status.error_details() {
        Ok(details) => details,
        Err(DetailsError::Status(err)) => {
            assert_eq!(raw, Err(err));
            assert_eq!(RpcStatus::decode(&bytes).map(drop), Err(err));
            return;
        }
        Err(DetailsError::Detail { type_name, .. }) => {
            let anys = raw.expect("only the outer message can break details_any");
            assert!(
                anys.iter()
                    .any(|any| any.type_name() == type_name && is_standard(any)),
                "error names {type_name}, which is not a standard detail sent"
            );
            return;
        }
        Err(err) => panic!("unexpected error {err:?}"),
    };

    // Nothing lost, and `other` holds only what has no free slot.
    let anys = raw.expect("error_details decoded, so the outer message is fine");
    assert_eq!(details.len(), anys.len());
    for any in details.other() {
        assert!(
            !is_standard(any) || slot_filled(&details, any),
            "standard detail {} left in other with its slot empty",
            any.type_url
        );
    }

    // Round trips.
    assert_eq!(
        ErrorDetails::from_any_vec(details.to_any_vec()).as_ref(),
        Ok(&details)
    );
    let again = Status::with_error_details(code, message.clone(), details.clone());
    assert_eq!(again.code(), code);
    assert_eq!(again.message(), message);
    assert_eq!(again.error_details().as_ref(), Ok(&details));
    if details.is_empty() {
        assert!(again.details().is_empty());
    } else {
        let rpc = RpcStatus::decode(again.details()).expect("we encoded it");
        assert_eq!(rpc.code, code);
        assert_eq!(rpc.message, message);
        assert_eq!(rpc.details, details.to_any_vec());
    }
});
