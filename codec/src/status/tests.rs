//! [`Status`]'s own representation: size, metadata, equality, `Debug`.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::metadata::{MetadataError, MetadataMap};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use quickcheck_macros::quickcheck;

fn md(pairs: &[(&str, &str)]) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (key, value) in pairs {
        if key.ends_with("-bin") {
            map.append_bin(key, value.as_bytes()).unwrap();
        } else {
            map.append(key, value).unwrap();
        }
    }
    map
}

/// Was 64 bytes before metadata (code, message, details inline); details
/// and metadata now share one lazily allocated box.
#[test]
#[cfg(target_pointer_width = "64")]
fn status_stays_small() {
    assert_eq!(core::mem::size_of::<Status>(), 40);
    assert_eq!(
        core::mem::size_of::<Option<Status>>(),
        core::mem::size_of::<Status>()
    );
}

#[test]
fn ok_is_const_and_plain() {
    const OK: Status = Status::ok();
    assert!(OK.is_ok());
    assert!(OK.metadata().is_empty());
    assert!(OK.details().is_empty());
    assert_eq!(OK, Status::new(Code::OK, ""));
}

#[test]
fn metadata_builders_and_getters() {
    let retry = md(&[("retry-after", "30"), ("trace-bin", "\u{1}\u{2}")]);
    let status = Status::unavailable("later").with_metadata(retry.clone());
    assert_eq!(status.metadata(), &retry);
    assert_eq!(status.metadata().get("retry-after"), Some("30"));
    assert_eq!(status.metadata().get_bin("trace-bin"), Some(&[1, 2][..]));
    assert_eq!(status.code(), Code::UNAVAILABLE);
    assert_eq!(status.message(), "later");

    // Replacing, not merging.
    let replaced = status.clone().with_metadata(md(&[("x-id", "7")]));
    assert_eq!(replaced.metadata(), &md(&[("x-id", "7")]));

    // Details and metadata are independent of each other and of order.
    let details = Bytes::from_static(b"\x08\x0e");
    let a = Status::unavailable("later")
        .with_details(details.clone())
        .with_metadata(retry.clone());
    let b = Status::unavailable("later")
        .with_metadata(retry.clone())
        .with_details(details.clone());
    assert_eq!(a, b);
    assert_eq!(a.details(), &details);
    assert_eq!(a.metadata(), &retry);

    // In place.
    let mut status = Status::not_found("gone");
    assert!(status.metadata().is_empty());
    status.metadata_mut().insert("x-id", "1").unwrap();
    status.metadata_mut().append("x-id", "2").unwrap();
    assert_eq!(
        status.metadata().get_all("x-id").collect::<Vec<_>>(),
        ["1", "2"]
    );

    // Taken out: the status keeps its details.
    let mut status = a.clone();
    assert_eq!(status.take_metadata(), retry);
    assert!(status.metadata().is_empty());
    assert_eq!(status.details(), &details);
    assert_eq!(status, Status::unavailable("later").with_details(details));
    let mut plain = Status::internal("x");
    assert!(plain.take_metadata().is_empty());
    assert_eq!(plain, Status::internal("x"));
}

#[test]
fn reserved_names_never_reach_a_status() {
    let mut status = Status::internal("boom");
    for name in [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "grpc-timeout",
        "content-type",
        "te",
        ":status",
    ] {
        let err = if name.ends_with("-bin") {
            status.metadata_mut().insert_bin(name, b"x")
        } else {
            status.metadata_mut().insert(name, "1")
        };
        assert!(
            matches!(err, Err(MetadataError::Reserved(_))),
            "{name}: {err:?}"
        );
    }
    assert!(status.metadata().is_empty());

    // What a peer sent, read through the wire API: the status headers are
    // skipped, the custom fields kept.
    let received = MetadataMap::from_wire_headers([
        (&b"grpc-status"[..], &b"14"[..]),
        (b"grpc-message", b"later"),
        (b"grpc-status-details-bin", b"CA4"),
        (b"retry-after", b"30"),
        (b"trace-bin", b"AQI"),
    ])
    .unwrap();
    let status = Status::unavailable("later").with_metadata(received);
    let keys: Vec<&str> = status.metadata().keys().collect();
    assert_eq!(keys, ["retry-after", "trace-bin"]);
    // The status headers come from the code, message and details only.
    let values = status.to_header_values();
    assert_eq!(values.grpc_status, "14");
    assert_eq!(values.grpc_message.as_deref(), Some("later"));
    assert_eq!(values.grpc_status_details, None);
}

#[test]
fn equality_covers_metadata() {
    let base = Status::aborted("conflict");
    let cases: Vec<(Status, Status, bool)> = alloc::vec![
        (base.clone(), base.clone(), true),
        // An absent map equals an empty one, however it came to be.
        (
            base.clone(),
            base.clone().with_metadata(MetadataMap::new()),
            true
        ),
        (
            base.clone(),
            {
                let mut s = base.clone();
                let _ = s.metadata_mut();
                s
            },
            true
        ),
        (
            base.clone().with_metadata(md(&[("a", "1")])),
            base.clone().with_metadata(md(&[("a", "1")])),
            true
        ),
        (
            base.clone(),
            base.clone().with_metadata(md(&[("a", "1")])),
            false
        ),
        (
            base.clone().with_metadata(md(&[("a", "1")])),
            base.clone().with_metadata(md(&[("a", "2")])),
            false
        ),
        // Order matters, as for MetadataMap.
        (
            base.clone().with_metadata(md(&[("a", "1"), ("b", "2")])),
            base.clone().with_metadata(md(&[("b", "2"), ("a", "1")])),
            false
        ),
        (
            base.clone().with_details(Bytes::from_static(b"\x08\x0a")),
            base.clone(),
            false
        ),
        (base.clone(), Status::aborted("other"), false),
        (base.clone(), Status::internal("conflict"), false),
    ];
    for (i, (a, b, equal)) in cases.into_iter().enumerate() {
        assert_eq!(a == b, equal, "case {i}: {a:?} vs {b:?}");
        assert_eq!(b == a, equal, "case {i} reversed");
    }
}

#[test]
fn clones_are_independent() {
    let original = Status::unavailable("later").with_metadata(md(&[("a", "1")]));
    let mut copy = original.clone();
    assert_eq!(copy, original);
    copy.metadata_mut().insert("a", "2").unwrap();
    assert_eq!(original.metadata().get("a"), Some("1"));
    assert_eq!(copy.metadata().get("a"), Some("2"));
    assert_ne!(copy, original);
}

#[test]
fn debug_shows_metadata_only_when_present() {
    let plain = format!("{:?}", Status::not_found("gone"));
    assert_eq!(plain, "Status { code: NOT_FOUND, message: \"gone\" }");
    let with = format!(
        "{:?}",
        Status::not_found("gone").with_metadata(md(&[("x-id", "7")]))
    );
    assert!(with.contains("metadata"), "{with}");
    assert!(with.contains("x-id"), "{with}");
    // Display is the code and message only.
    let shown = format!(
        "{}",
        Status::not_found("gone").with_metadata(md(&[("x-id", "7")]))
    );
    assert!(!shown.contains("x-id"), "{shown}");
}

#[quickcheck]
fn metadata_round_trips(pairs: Vec<(u8, String)>, details: Vec<u8>) -> bool {
    // Keys from a small alphabet so that they repeat; printable values only.
    let mut map = MetadataMap::new();
    for (key, value) in &pairs {
        let value: String = value.chars().filter(|c| c.is_ascii_graphic()).collect();
        let key = format!("k{}", key % 4);
        map.append(&key, &value).unwrap();
    }
    let details = Bytes::from(details);
    let mut status = Status::internal("x")
        .with_details(details.clone())
        .with_metadata(map.clone());
    let same = status.metadata() == &map && status.details() == &details;
    let taken = status.take_metadata();
    same && taken == map
        && status.metadata().is_empty()
        && status.details() == &details
        && status == Status::internal("x").with_details(details)
}
