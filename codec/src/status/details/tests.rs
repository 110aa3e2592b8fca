//! Tests of the error details: known encodings (from Python's protobuf and
//! googleapis-common-protos), compatibility with the hand-written
//! `google.rpc.Status` codec, the collection's rules, round trips.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::status::{Code, RpcStatus, RpcStatusError, Status};
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use bytes::Bytes;
use core::time::Duration as StdDuration;
use prost::{Message, Name};
use quickcheck::{Arbitrary, Gen};
use quickcheck_macros::quickcheck;

// Golden encodings, computed with Python protobuf 7.36.2 and
// googleapis-common-protos 1.76.0 (`SerializeToString(deterministic=True)`,
// which writes map entries in key order as a BTreeMap does).
const ERROR_INFO: &[u8] = b"\x0a\x0cAPI_DISABLED\x12\x0bexample.com\x1a\x16\x0a\x08resource\x12\x0aprojects/1\x1a\x0c\x0a\x07service\x12\x01x";
const RETRY_INFO: &[u8] = b"\x0a\x08\x08\x01\x10\x80\xca\xb5\xee\x01";
const DEBUG_INFO: &[u8] = b"\x0a\x01a\x0a\x01b\x12\x01d";
const QUOTA_FAILURE: &[u8] = b"\x0a#\x0a\x01s\x12\x01d\x1a\x03svc\x22\x01m*\x01q2\x0c\x0a\x06region\x12\x02eu8d@\x00\x0a\x0e\x0a\x01t8\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
const PRECONDITION_FAILURE: &[u8] = b"\x0a%\x0a\x03TOS\x12\x10google.com/cloud\x1a\x0cnot accepted";
const BAD_REQUEST: &[u8] = b"\x0a\x19\x0a\x04name\x12\x11must not be empty\x0a%\x0a\x03age\x12\x01d\x1a\x08NEGATIVE\x22\x11\x0a\x05fr-CH\x12\x08n\xc3\xa9gatif";
const REQUEST_INFO: &[u8] = b"\x0a\x03r-1\x12\x02sd";
const RESOURCE_INFO: &[u8] = b"\x0a\x04book\x12\x03b/1\x1a\x06user:a\x22\x02no";
const HELP: &[u8] = b"\x0a\x1b\x0a\x04docs\x12\x13https://example.com";
const LOCALIZED_MESSAGE: &[u8] = b"\x0a\x05en-US\x12\x02hi";
/// `google.rpc.Status(code=3, message="bad name")` with the ErrorInfo and the
/// BadRequest above packed by Python's `Any.Pack`.
const STATUS: &[u8] = b"\x08\x03\x12\x08bad name\x1am\x0a(type.googleapis.com/google.rpc.ErrorInfo\x12A\x0a\x0cAPI_DISABLED\x12\x0bexample.com\x1a\x16\x0a\x08resource\x12\x0aprojects/1\x1a\x0c\x0a\x07service\x12\x01x\x1ao\x0a)type.googleapis.com/google.rpc.BadRequest\x12B\x0a\x19\x0a\x04name\x12\x11must not be empty\x0a%\x0a\x03age\x12\x01d\x1a\x08NEGATIVE\x22\x11\x0a\x05fr-CH\x12\x08n\xc3\xa9gatif";

fn error_info() -> ErrorInfo {
    ErrorInfo::new(
        "API_DISABLED",
        "example.com",
        [("service", "x"), ("resource", "projects/1")],
    )
}

fn retry_info() -> RetryInfo {
    RetryInfo::new(StdDuration::from_millis(1_500))
}

fn debug_info() -> DebugInfo {
    DebugInfo::new(["a", "b"], "d")
}

fn quota_failure() -> QuotaFailure {
    QuotaFailure::new([
        QuotaViolation {
            api_service: "svc".into(),
            quota_metric: "m".into(),
            quota_id: "q".into(),
            quota_dimensions: BTreeMap::from([("region".into(), "eu".into())]),
            quota_value: 100,
            // Present though zero: proto3 `optional` has presence.
            future_quota_value: Some(0),
            ..QuotaViolation::new("s", "d")
        },
        QuotaViolation {
            quota_value: -1,
            ..QuotaViolation::new("t", "")
        },
    ])
}

fn precondition_failure() -> PreconditionFailure {
    PreconditionFailure::new([PreconditionViolation::new(
        "TOS",
        "google.com/cloud",
        "not accepted",
    )])
}

fn bad_request() -> BadRequest {
    BadRequest::new([
        FieldViolation::new("name", "must not be empty"),
        FieldViolation::new("age", "d")
            .with_reason("NEGATIVE")
            .with_localized_message("fr-CH", "négatif"),
    ])
}

fn request_info() -> RequestInfo {
    RequestInfo::new("r-1", "sd")
}

fn resource_info() -> ResourceInfo {
    ResourceInfo::new("book", "b/1", "user:a", "no")
}

fn help() -> Help {
    Help::new([HelpLink::new("docs", "https://example.com")])
}

fn localized_message() -> LocalizedMessage {
    LocalizedMessage::new("en-US", "hi")
}

/// Checks that `message` encodes to `golden` and `golden` decodes to it.
fn check_golden<M: Message + Default + PartialEq + core::fmt::Debug>(message: M, golden: &[u8]) {
    assert_eq!(message.encode_to_vec(), golden, "{message:?}");
    assert_eq!(message.encoded_len(), golden.len(), "{message:?}");
    assert_eq!(M::decode(golden).unwrap(), message);
}

#[test]
fn encodings_match_python_protobuf() {
    check_golden(error_info(), ERROR_INFO);
    check_golden(retry_info(), RETRY_INFO);
    check_golden(debug_info(), DEBUG_INFO);
    check_golden(quota_failure(), QUOTA_FAILURE);
    check_golden(precondition_failure(), PRECONDITION_FAILURE);
    check_golden(bad_request(), BAD_REQUEST);
    check_golden(request_info(), REQUEST_INFO);
    check_golden(resource_info(), RESOURCE_INFO);
    check_golden(help(), HELP);
    check_golden(localized_message(), LOCALIZED_MESSAGE);
}

#[test]
fn hand_computed_encodings() {
    // Field by field, to pin the field numbers and wire types: computed by
    // hand (then checked against Python, which caught two wrong lengths).
    check_golden(
        Duration {
            seconds: -1,
            nanos: -2,
        },
        b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x10\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    );
    check_golden(RetryInfo { retry_delay: None }, b"");
    check_golden(
        RetryInfo {
            retry_delay: Some(Duration::default()),
        },
        b"\x0a\x00",
    );
    check_golden(
        ErrorInfo::new("R", "d", [("k", "v")]),
        b"\x0a\x01R\x12\x01d\x1a\x06\x0a\x01k\x12\x01v",
    );
    check_golden(
        QuotaFailure::new([QuotaViolation {
            quota_dimensions: BTreeMap::from([("k".into(), "v".into())]),
            quota_value: 1,
            future_quota_value: Some(2),
            ..QuotaViolation::new("s", "d")
        }]),
        b"\x0a\x12\x0a\x01s\x12\x01d\x32\x06\x0a\x01k\x12\x01v\x38\x01\x40\x02",
    );
    check_golden(
        PreconditionFailure::new([PreconditionViolation::new("t", "s", "d")]),
        b"\x0a\x09\x0a\x01t\x12\x01s\x1a\x01d",
    );
    check_golden(
        BadRequest::new([FieldViolation::new("f", "d")
            .with_reason("r")
            .with_localized_message("l", "m")]),
        b"\x0a\x11\x0a\x01f\x12\x01d\x1a\x01r\x22\x06\x0a\x01l\x12\x01m",
    );
    check_golden(
        ResourceInfo::new("t", "n", "o", "d"),
        b"\x0a\x01t\x12\x01n\x1a\x01o\x22\x01d",
    );
    check_golden(
        Help::new([HelpLink::new("d", "u"), HelpLink::default()]),
        b"\x0a\x06\x0a\x01d\x12\x01u\x0a\x00",
    );
}

#[test]
fn type_urls_and_names() {
    let cases: &[(&str, &str, String, String)] = &[
        (
            ErrorInfo::TYPE_URL,
            ErrorInfo::FULL_NAME,
            ErrorInfo::type_url(),
            ErrorInfo::full_name(),
        ),
        (
            RetryInfo::TYPE_URL,
            RetryInfo::FULL_NAME,
            RetryInfo::type_url(),
            RetryInfo::full_name(),
        ),
        (
            DebugInfo::TYPE_URL,
            DebugInfo::FULL_NAME,
            DebugInfo::type_url(),
            DebugInfo::full_name(),
        ),
        (
            QuotaFailure::TYPE_URL,
            QuotaFailure::FULL_NAME,
            QuotaFailure::type_url(),
            QuotaFailure::full_name(),
        ),
        (
            PreconditionFailure::TYPE_URL,
            PreconditionFailure::FULL_NAME,
            PreconditionFailure::type_url(),
            PreconditionFailure::full_name(),
        ),
        (
            BadRequest::TYPE_URL,
            BadRequest::FULL_NAME,
            BadRequest::type_url(),
            BadRequest::full_name(),
        ),
        (
            RequestInfo::TYPE_URL,
            RequestInfo::FULL_NAME,
            RequestInfo::type_url(),
            RequestInfo::full_name(),
        ),
        (
            ResourceInfo::TYPE_URL,
            ResourceInfo::FULL_NAME,
            ResourceInfo::type_url(),
            ResourceInfo::full_name(),
        ),
        (
            Help::TYPE_URL,
            Help::FULL_NAME,
            Help::type_url(),
            Help::full_name(),
        ),
        (
            LocalizedMessage::TYPE_URL,
            LocalizedMessage::FULL_NAME,
            LocalizedMessage::type_url(),
            LocalizedMessage::full_name(),
        ),
    ];
    let expected = [
        "ErrorInfo",
        "RetryInfo",
        "DebugInfo",
        "QuotaFailure",
        "PreconditionFailure",
        "BadRequest",
        "RequestInfo",
        "ResourceInfo",
        "Help",
        "LocalizedMessage",
    ];
    assert_eq!(cases.len(), expected.len());
    for ((url, full, name_url, name_full), name) in cases.iter().zip(expected) {
        assert_eq!(*url, format!("type.googleapis.com/google.rpc.{name}"));
        assert_eq!(*full, format!("google.rpc.{name}"));
        assert_eq!(name_url, url);
        assert_eq!(name_full, full);
    }
    // Nested messages are named the way prost-build names them.
    assert_eq!(
        FieldViolation::full_name(),
        "google.rpc.BadRequest.FieldViolation"
    );
    assert_eq!(<FieldViolation as Name>::NAME, "FieldViolation");
    assert_eq!(
        QuotaViolation::full_name(),
        "google.rpc.QuotaFailure.Violation"
    );
    assert_eq!(
        PreconditionViolation::full_name(),
        "google.rpc.PreconditionFailure.Violation"
    );
    assert_eq!(HelpLink::full_name(), "google.rpc.Help.Link");
    assert_eq!(
        Duration::type_url(),
        "type.googleapis.com/google.protobuf.Duration"
    );
    // The trait's constants are the types' own.
    assert_eq!(
        <BadRequest as StandardDetail>::TYPE_URL,
        BadRequest::TYPE_URL
    );
    assert_eq!(<Help as StandardDetail>::FULL_NAME, Help::FULL_NAME);
}

fn all_standard() -> ErrorDetails {
    ErrorDetails::new()
        .with_detail(error_info())
        .with_detail(retry_info())
        .with_detail(debug_info())
        .with_detail(quota_failure())
        .with_detail(precondition_failure())
        .with_detail(bad_request())
        .with_detail(request_info())
        .with_detail(resource_info())
        .with_detail(help())
        .with_detail(localized_message())
}

#[test]
fn packs_in_proto_order_with_standard_type_urls() {
    let anys = all_standard().to_any_vec();
    let expected: &[(&str, &[u8])] = &[
        ("ErrorInfo", ERROR_INFO),
        ("RetryInfo", RETRY_INFO),
        ("DebugInfo", DEBUG_INFO),
        ("QuotaFailure", QUOTA_FAILURE),
        ("PreconditionFailure", PRECONDITION_FAILURE),
        ("BadRequest", BAD_REQUEST),
        ("RequestInfo", REQUEST_INFO),
        ("ResourceInfo", RESOURCE_INFO),
        ("Help", HELP),
        ("LocalizedMessage", LOCALIZED_MESSAGE),
    ];
    assert_eq!(anys.len(), expected.len());
    for (any, (name, value)) in anys.iter().zip(expected) {
        assert_eq!(
            any.type_url,
            format!("type.googleapis.com/google.rpc.{name}")
        );
        assert_eq!(any.value, *value, "{name}");
    }
    assert_eq!(all_standard().len(), 10);
}

#[test]
fn status_bytes_match_python() {
    let details = ErrorDetails::new()
        .with_bad_request(bad_request().field_violations)
        .with_detail(error_info());
    let status = Status::with_error_details(Code::INVALID_ARGUMENT, "bad name", details.clone());
    assert_eq!(status.code(), Code::INVALID_ARGUMENT);
    assert_eq!(status.message(), "bad name");
    assert_eq!(status.details(), STATUS);
    // And back, from Python's bytes.
    let received =
        Status::new(Code::INVALID_ARGUMENT, "bad name").with_details(Bytes::from_static(STATUS));
    assert_eq!(received.error_details(), Ok(details));
}

#[test]
fn agrees_with_the_hand_written_rpc_status_codec() {
    // Ours -> rpc.rs: the RpcStatus carries our code, message and Anys.
    let details = all_standard().with_other(Any {
        type_url: "type.example.com/acme.Extra".into(),
        value: Bytes::from_static(b"\x08\x01"),
    });
    let status = Status::with_error_details(Code::UNAVAILABLE, "later", details.clone());
    let rpc = RpcStatus::decode(status.details()).unwrap();
    assert_eq!(rpc.code, Code::UNAVAILABLE);
    assert_eq!(rpc.message, "later");
    assert_eq!(rpc.details, details.to_any_vec());
    assert_eq!(status.details_any(), Ok(details.to_any_vec()));
    assert_eq!(status.to_rpc_status(), Ok(rpc.clone()));

    // rpc.rs -> ours: Anys built by hand from the golden values, another
    // host in one type URL, in an order of the sender's choosing.
    let rpc = RpcStatus {
        code: Code::RESOURCE_EXHAUSTED,
        message: "slow down".into(),
        details: vec![
            Any {
                type_url: "type.googleapis.com/google.rpc.QuotaFailure".into(),
                value: Bytes::from_static(QUOTA_FAILURE),
            },
            Any {
                type_url: "example.com/google.rpc.RetryInfo".into(),
                value: Bytes::from_static(RETRY_INFO),
            },
        ],
    };
    let status = Status::from_rpc_status(&rpc);
    let details = status.error_details().unwrap();
    assert_eq!(details.quota_failure(), Some(&quota_failure()));
    assert_eq!(details.retry_info(), Some(&retry_info()));
    assert_eq!(
        details.retry_info().unwrap().delay(),
        Some(StdDuration::from_millis(1_500))
    );
    assert!(details.other().is_empty());
    assert_eq!(details.len(), 2);
}

/// `google.rpc.Status` and `google.protobuf.Any` as prost would generate them.
#[derive(Clone, PartialEq, prost::Message)]
struct ProstStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProstAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProstAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
}

#[test]
fn agrees_with_a_prost_generated_status() {
    let status = Status::with_error_details(Code::NOT_FOUND, "no such book", all_standard());
    let prost_status = ProstStatus::decode(status.details().clone()).unwrap();
    assert_eq!(prost_status.code, 5);
    assert_eq!(prost_status.message, "no such book");
    assert_eq!(prost_status.details.len(), 10);
    assert_eq!(prost_status.encode_to_vec(), *status.details());
    let bad = &prost_status.details[5];
    assert_eq!(bad.type_url, BadRequest::TYPE_URL);
    assert_eq!(
        BadRequest::decode(bad.value.clone()).unwrap(),
        bad_request()
    );

    let prost_status = ProstStatus {
        code: 7,
        message: "no".into(),
        details: vec![ProstAny {
            type_url: Help::TYPE_URL.into(),
            value: help().encode_to_vec().into(),
        }],
    };
    let status = Status::new(Code::PERMISSION_DENIED, "no")
        .with_details(prost_status.encode_to_vec().into());
    assert_eq!(
        status.error_details(),
        Ok(ErrorDetails::new().with_detail(help()))
    );
}

#[test]
fn builders_fill_the_right_slots() {
    let details = ErrorDetails::new()
        .with_error_info("REASON", "example.com", [("k", "v")])
        .with_retry_info(StdDuration::new(3, 5))
        .with_debug_info(["frame 1"], "detail")
        .with_quota_failure([QuotaViolation::new("s", "d")])
        .with_precondition_failure([PreconditionViolation::new("TOS", "s", "d")])
        .with_bad_request([FieldViolation::new("name", "must not be empty")])
        .with_request_info("id", "data")
        .with_resource_info("book", "b/1", "", "gone")
        .with_help([HelpLink::new("docs", "https://example.com")])
        .with_localized_message("en-US", "hello");
    let info = details.error_info().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("REASON", "example.com")
    );
    assert_eq!(info.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(
        details.retry_info().unwrap().retry_delay,
        Some(Duration {
            seconds: 3,
            nanos: 5
        })
    );
    assert_eq!(
        details.debug_info(),
        Some(&DebugInfo::new(["frame 1"], "detail"))
    );
    assert_eq!(details.quota_failure().unwrap().violations[0].subject, "s");
    assert_eq!(
        details.precondition_failure().unwrap().violations[0].r#type,
        "TOS"
    );
    assert_eq!(
        details.bad_request().unwrap().field_violations[0].field,
        "name"
    );
    assert_eq!(
        details.request_info(),
        Some(&RequestInfo::new("id", "data"))
    );
    assert_eq!(details.resource_info().unwrap().description, "gone");
    assert_eq!(details.help().unwrap().links[0].url, "https://example.com");
    assert_eq!(
        details.localized_message(),
        Some(&LocalizedMessage::new("en-US", "hello"))
    );
    assert_eq!(details.len(), 10);
    assert!(details.other().is_empty());

    // A builder replaces; it does not add a second message.
    let details = ErrorDetails::new()
        .with_bad_request([FieldViolation::new("a", "")])
        .with_bad_request([FieldViolation::new("b", "")]);
    assert_eq!(details.len(), 1);
    assert_eq!(
        details.bad_request().unwrap().field_violations[0].field,
        "b"
    );
}

#[test]
fn generic_access() {
    let mut details = ErrorDetails::new();
    assert!(details.is_empty());
    assert_eq!(details.get::<Help>(), None);
    assert_eq!(details.insert(help()), None);
    assert_eq!(details.get::<Help>(), Some(&help()));
    assert_eq!(details.insert(Help::default()), Some(help()));
    details
        .get_mut::<Help>()
        .unwrap()
        .links
        .push(HelpLink::new("x", "y"));
    assert_eq!(details.help().unwrap().links.len(), 1);
    assert_eq!(details.remove::<Help>().unwrap().links[0].url, "y");
    assert_eq!(details.remove::<Help>(), None);
    assert!(details.is_empty());

    // Violations found one at a time.
    details
        .add_bad_request_violation(FieldViolation::new("a", "x"))
        .add_bad_request_violation(FieldViolation::new("b", "y"));
    let fields: Vec<&str> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|violation| violation.field.as_str())
        .collect();
    assert_eq!(fields, ["a", "b"]);
}

fn any(type_url: &str, value: &'static [u8]) -> Any {
    Any {
        type_url: type_url.into(),
        value: Bytes::from_static(value),
    }
}

#[test]
fn decoding_keeps_what_it_does_not_know_and_later_duplicates() {
    let anys = vec![
        any("type.example.com/acme.First", b"1"),
        any(BadRequest::TYPE_URL, BAD_REQUEST),
        any("other.host/google.rpc.BadRequest", b""),
        any("", b"no url"),
        any("google.rpc.Help", HELP), // no host at all
        any("type.googleapis.com/google.rpc.BadRequestX", b"\xff"),
    ];
    let details = ErrorDetails::from_any_vec(anys.clone()).unwrap();
    assert_eq!(details.bad_request(), Some(&bad_request()));
    assert_eq!(details.help(), Some(&help()));
    assert_eq!(
        details.other(),
        &[
            anys[0].clone(),
            anys[2].clone(),
            anys[3].clone(),
            anys[5].clone()
        ]
    );
    assert_eq!(details.len(), anys.len());
    // Re-encoding moves the standard ones first; decoding that gives the same.
    let again = ErrorDetails::from_any_vec(details.to_any_vec()).unwrap();
    assert_eq!(again, details);
}

#[test]
fn malformed_details_are_errors() {
    let truncated = Status::internal("x").with_details(Bytes::from_static(b"\x1a\x05\x0a"));
    assert_eq!(
        truncated.error_details(),
        Err(DetailsError::Status(RpcStatusError::Truncated))
    );
    assert_eq!(truncated.details_any(), Err(RpcStatusError::Truncated));

    let cases: &[(&str, &[u8])] = &[
        ("google.rpc.BadRequest", b"\x0a\x05\x0a\x01"), // truncated violation
        ("google.rpc.ErrorInfo", b"\x0a\x01\xff"),      // reason not UTF-8
        ("google.rpc.RetryInfo", b"\x0a\x02\x08"),      // truncated Duration
        ("google.rpc.QuotaFailure", b"\x0a\x02\x38\x80"), // truncated varint
        ("google.rpc.Help", b"\x0f"),                   // wire type 7
        ("google.rpc.DebugInfo", b"\x00"),              // field number 0
    ];
    for (name, value) in cases {
        let rpc = RpcStatus {
            details: vec![any(&format!("type.googleapis.com/{name}"), value)],
            ..RpcStatus::new(Code::INTERNAL, "x")
        };
        let status = Status::from_rpc_status(&rpc);
        match status.error_details() {
            Err(DetailsError::Detail { type_name, .. }) => assert_eq!(type_name, *name),
            other => panic!("{name}: {other:?}"),
        }
        // The raw path still hands out the Anys.
        assert_eq!(status.details_any().unwrap(), rpc.details);
    }

    // A malformed duplicate is an error too, not silently kept.
    let anys = vec![any(Help::TYPE_URL, HELP), any(Help::TYPE_URL, b"\x0a\x09")];
    assert!(matches!(
        ErrorDetails::from_any_vec(anys),
        Err(DetailsError::Detail { .. })
    ));
}

#[test]
fn errors_read_well() {
    let err = DetailsError::Status(RpcStatusError::Truncated);
    assert_eq!(err.to_string(), "google.rpc.Status is truncated");
    let err = any(BadRequest::TYPE_URL, b"\x0a\x05")
        .to_msg::<BadRequest>()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("error detail google.rpc.BadRequest does not decode: "),
        "{err}"
    );
    assert!(core::error::Error::source(&err).is_some());
    let err = any(Help::TYPE_URL, HELP)
        .to_msg::<BadRequest>()
        .unwrap_err();
    assert_eq!(
        err,
        DetailsError::WrongType {
            expected: "google.rpc.BadRequest".into(),
            found: Help::TYPE_URL.into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "google.protobuf.Any holds \"type.googleapis.com/google.rpc.Help\", not google.rpc.BadRequest"
    );
    let status = Status::from(DetailsError::Status(RpcStatusError::Truncated));
    assert_eq!(status.code(), Code::INTERNAL);
    assert_eq!(
        status.message(),
        "malformed grpc-status-details-bin: google.rpc.Status is truncated"
    );
}

#[test]
fn any_helpers() {
    let cases: &[(&str, &str)] = &[
        ("type.googleapis.com/google.rpc.Help", "google.rpc.Help"),
        ("google.rpc.Help", "google.rpc.Help"),
        ("a/b/google.rpc.Help", "google.rpc.Help"),
        ("type.googleapis.com/", ""),
        ("", ""),
    ];
    for (url, name) in cases {
        assert_eq!(any(url, b"").type_name(), *name, "{url}");
    }
    let packed = Any::from_msg(&help());
    assert_eq!(packed.type_url, Help::TYPE_URL);
    assert_eq!(packed.value, HELP);
    assert!(packed.is::<Help>());
    assert!(!packed.is::<BadRequest>());
    assert_eq!(packed.to_msg::<Help>(), Ok(help()));
    // Any host will do.
    assert_eq!(
        any("x.example/google.rpc.Help", HELP).to_msg::<Help>(),
        Ok(help())
    );
}

#[test]
fn empty_details() {
    let status = Status::with_error_details(Code::NOT_FOUND, "gone", ErrorDetails::new());
    assert!(status.details().is_empty());
    assert_eq!(status, Status::not_found("gone"));
    assert_eq!(status.error_details(), Ok(ErrorDetails::new()));
    assert_eq!(status.details_any(), Ok(Vec::new()));
    // An RpcStatus with no details is valid and empty.
    let status = Status::ok().with_details(Bytes::from_static(b"\x08\x05"));
    assert_eq!(status.error_details(), Ok(ErrorDetails::new()));
}

#[test]
fn durations() {
    let cases: &[(StdDuration, Duration)] = &[
        (
            StdDuration::ZERO,
            Duration {
                seconds: 0,
                nanos: 0,
            },
        ),
        (
            StdDuration::new(1, 500_000_000),
            Duration {
                seconds: 1,
                nanos: 500_000_000,
            },
        ),
        (
            StdDuration::new(315_576_000_000, 999_999_999),
            Duration {
                seconds: 315_576_000_000,
                nanos: 999_999_999,
            },
        ),
        // Beyond 10,000 years: saturates.
        (
            StdDuration::new(315_576_000_001, 1),
            Duration {
                seconds: 315_576_000_000,
                nanos: 0,
            },
        ),
        (
            StdDuration::MAX,
            Duration {
                seconds: 315_576_000_000,
                nanos: 0,
            },
        ),
    ];
    for (std, proto) in cases {
        assert_eq!(Duration::from(*std), *proto, "{std:?}");
    }
    let back: &[(Duration, Option<StdDuration>)] = &[
        (
            Duration {
                seconds: 2,
                nanos: 7,
            },
            Some(StdDuration::new(2, 7)),
        ),
        (
            Duration {
                seconds: 0,
                nanos: 999_999_999,
            },
            Some(StdDuration::new(0, 999_999_999)),
        ),
        (
            Duration {
                seconds: i64::MAX,
                nanos: 999_999_999,
            },
            Some(StdDuration::new(i64::MAX as u64, 999_999_999)),
        ),
        (
            Duration {
                seconds: -1,
                nanos: 0,
            },
            None,
        ),
        (
            Duration {
                seconds: 0,
                nanos: -1,
            },
            None,
        ),
        (
            Duration {
                seconds: 1,
                nanos: 1_000_000_000,
            },
            None,
        ),
        (
            Duration {
                seconds: 1,
                nanos: i32::MAX,
            },
            None,
        ),
    ];
    for (proto, std) in back {
        assert_eq!(proto.to_std(), *std, "{proto:?}");
        let info = RetryInfo {
            retry_delay: Some(*proto),
        };
        assert_eq!(info.delay(), *std, "{proto:?}");
    }
    assert_eq!(RetryInfo::default().delay(), None);
}

#[test]
fn survives_the_status_headers() {
    let details = all_standard();
    let status = Status::with_error_details(Code::FAILED_PRECONDITION, "tos", details.clone());
    let headers = status.to_header_values();
    let received = Status::from_header_values(
        headers.grpc_status.as_bytes(),
        headers.grpc_message.as_deref().map(str::as_bytes),
        headers.grpc_status_details,
    );
    assert_eq!(received, status);
    assert_eq!(received.error_details(), Ok(details));
}

#[test]
fn truncating_valid_details_never_panics() {
    let status = Status::with_error_details(Code::ABORTED, "x", all_standard());
    let bytes = status.details().clone();
    for len in 0..bytes.len() {
        let truncated = Status::aborted("x").with_details(bytes.slice(..len));
        // Prefixes ending on a detail boundary decode to fewer details.
        if let Ok(details) = truncated.error_details() {
            assert!(details.len() < 10, "len {len}");
        }
    }
}

/// Arbitrary error details: every standard slot maybe filled with arbitrary
/// field values, plus packed messages of non-standard types.
#[derive(Clone, Debug)]
struct ArbitraryDetails(ErrorDetails);

fn maybe<T>(g: &mut Gen, make: impl FnOnce(&mut Gen) -> T) -> Option<T> {
    bool::arbitrary(g).then(|| make(g))
}

fn string(g: &mut Gen) -> String {
    String::arbitrary(g)
}

fn strings(g: &mut Gen) -> Vec<String> {
    Vec::arbitrary(g)
}

fn map(g: &mut Gen) -> BTreeMap<String, String> {
    BTreeMap::arbitrary(g)
}

fn list<T>(g: &mut Gen, mut make: impl FnMut(&mut Gen) -> T) -> Vec<T> {
    let len = usize::arbitrary(g) % 4;
    (0..len).map(|_| make(g)).collect()
}

fn localized(g: &mut Gen) -> LocalizedMessage {
    LocalizedMessage::new(string(g), string(g))
}

impl Arbitrary for ArbitraryDetails {
    fn arbitrary(g: &mut Gen) -> ArbitraryDetails {
        let mut details = ErrorDetails::new();
        if let Some(detail) = maybe(g, |g| ErrorInfo {
            reason: string(g),
            domain: string(g),
            metadata: map(g),
        }) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, |g| RetryInfo {
            retry_delay: maybe(g, |g| Duration {
                seconds: i64::arbitrary(g),
                nanos: i32::arbitrary(g),
            }),
        }) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, |g| DebugInfo::new(strings(g), string(g))) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, |g| {
            QuotaFailure::new(list(g, |g| QuotaViolation {
                subject: string(g),
                description: string(g),
                api_service: string(g),
                quota_metric: string(g),
                quota_id: string(g),
                quota_dimensions: map(g),
                quota_value: i64::arbitrary(g),
                future_quota_value: Option::arbitrary(g),
            }))
        }) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, |g| {
            PreconditionFailure::new(list(g, |g| {
                PreconditionViolation::new(string(g), string(g), string(g))
            }))
        }) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, |g| {
            BadRequest::new(list(g, |g| FieldViolation {
                field: string(g),
                description: string(g),
                reason: string(g),
                localized_message: maybe(g, localized),
            }))
        }) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, |g| RequestInfo::new(string(g), string(g))) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, |g| {
            ResourceInfo::new(string(g), string(g), string(g), string(g))
        }) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, |g| {
            Help::new(list(g, |g| HelpLink::new(string(g), string(g))))
        }) {
            details.insert(detail);
        }
        if let Some(detail) = maybe(g, localized) {
            details.insert(detail);
        }
        for (name, value) in Vec::<(String, Vec<u8>)>::arbitrary(g) {
            // No '/' in the name, so the type name is never a standard one.
            let name: String = name.chars().filter(|&c| c != '/').collect();
            details = details.with_other(Any {
                type_url: format!("type.example.com/test.T{name}"),
                value: Bytes::from(value),
            });
        }
        ArbitraryDetails(details)
    }
}

#[quickcheck]
fn details_round_trip_through_a_status(
    details: ArbitraryDetails,
    code: i32,
    message: String,
) -> bool {
    let ArbitraryDetails(details) = details;
    let status = Status::with_error_details(Code::from_i32(code), message.clone(), details.clone());
    let rpc = status.to_rpc_status().unwrap();
    status.error_details() == Ok(details.clone())
        && status.message() == message
        && (details.is_empty() || RpcStatus::decode(status.details()).unwrap() == rpc)
        && rpc.details.len() == details.len()
}

#[quickcheck]
fn decode_never_panics_and_reencodes(bytes: Vec<u8>) -> bool {
    let status = Status::unknown("").with_details(Bytes::from(bytes));
    match status.error_details() {
        Ok(details) => {
            let again = Status::with_error_details(Code::UNKNOWN, "", details.clone());
            again.error_details() == Ok(details)
        }
        Err(_) => true,
    }
}

#[quickcheck]
fn standard_values_never_panic(selector: u8, value: Vec<u8>) -> bool {
    // Random bytes inside a standard type reach the message decoders.
    let names = [
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
    ];
    let type_url = names[usize::from(selector) % names.len()];
    let anys = vec![Any {
        type_url: type_url.into(),
        value: Bytes::from(value),
    }];
    match ErrorDetails::from_any_vec(anys) {
        Ok(details) => {
            details.len() == 1
                && ErrorDetails::from_any_vec(details.to_any_vec()) == Ok(details.clone())
        }
        Err(DetailsError::Detail { type_name, .. }) => type_url.ends_with(&type_name),
        Err(_) => false,
    }
}
