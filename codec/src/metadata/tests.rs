//! Tests of [`MetadataMap`] through its public API.

#![allow(clippy::unwrap_used)]

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use quickcheck::{Arbitrary, Gen};
use quickcheck_macros::quickcheck;

use super::*;

fn wire(md: &MetadataMap) -> Vec<(String, String)> {
    md.wire_headers()
        .map(|(k, v)| (k.to_string(), v.into_owned()))
        .collect()
}

/// Which error a table row expects.
type Expect = fn(&MetadataError) -> bool;

fn decode(fields: &[(&str, &str)]) -> Result<MetadataMap, MetadataError> {
    MetadataMap::from_wire_headers(fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
}

#[test]
fn insert_replaces_and_append_adds() {
    let mut md = MetadataMap::new();
    md.append("a", "1").unwrap();
    md.append("b", "2").unwrap();
    md.append("a", "3").unwrap();
    assert_eq!(md.len(), 3);
    assert_eq!(md.get_all("a").collect::<Vec<_>>(), ["1", "3"]);

    md.insert("a", "4").unwrap();
    assert_eq!(md.len(), 2);
    assert_eq!(md.get_all("a").collect::<Vec<_>>(), ["4"]);
    // The replaced key keeps its place, before "b".
    assert_eq!(md.keys().collect::<Vec<_>>(), ["a", "b"]);

    md.insert("c", "5").unwrap();
    assert_eq!(md.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
}

#[test]
fn keys_are_lowercased_and_looked_up_ignoring_case() {
    let mut md = MetadataMap::new();
    md.insert("X-Request-ID", "7").unwrap();
    md.append("x-request-id", "8").unwrap();
    md.append_bin("Trace-Bin", b"\x00").unwrap();
    assert_eq!(md.keys().collect::<Vec<_>>(), ["x-request-id", "trace-bin"]);
    assert_eq!(md.get_all("X-REQUEST-ID").collect::<Vec<_>>(), ["7", "8"]);
    assert_eq!(md.get_bin("TRACE-BIN"), Some(&[0u8][..]));
    assert!(md.contains_key("x-Request-Id"));
}

#[test]
fn ascii_and_binary_accessors_are_separate() {
    let mut md = MetadataMap::new();
    md.insert("a", "1").unwrap();
    md.insert_bin("a-bin", &[1, 2]).unwrap();
    assert_eq!(md.get("a-bin"), None);
    assert_eq!(md.get_bin("a"), None);
    assert_eq!(md.get_bin("a-bin"), Some(&[1u8, 2][..]));
    assert_eq!(
        md.iter().collect::<Vec<_>>(),
        [
            ("a", MetadataValue::Ascii("1")),
            ("a-bin", MetadataValue::Binary(&[1, 2]))
        ]
    );
}

#[test]
fn remove_counts_values_and_keeps_others() {
    let mut md = MetadataMap::new();
    md.append("a", "1").unwrap();
    md.append_bin("b-bin", b"xy").unwrap();
    md.append("a", "2").unwrap();
    md.append("c", "3").unwrap();
    assert_eq!(md.remove("A"), 2);
    assert_eq!(md.remove("a"), 0);
    assert_eq!(md.remove("zzz"), 0);
    assert_eq!(md.len(), 2);
    assert_eq!(md.get_bin("b-bin"), Some(&b"xy"[..]));
    assert_eq!(md.get("c"), Some("3"));
    assert_eq!(md.remove("b-bin"), 1);
    assert_eq!(md.remove("c"), 1);
    assert!(md.is_empty());
}

#[test]
fn repeated_replacement_does_not_grow_without_bound() {
    let mut md = MetadataMap::new();
    md.insert("keep", "k").unwrap();
    let big = "v".repeat(4096);
    let bytes = vec![7u8; 4096];
    for _ in 0..1000 {
        md.insert("a", &big).unwrap();
        md.insert_bin("b-bin", &bytes).unwrap();
        md.check_invariants();
    }
    assert_eq!(md.len(), 3);
    assert_eq!(md.get("keep"), Some("k"));
    assert_eq!(md.get("a"), Some(big.as_str()));
    assert_eq!(md.get_bin("b-bin"), Some(&bytes[..]));
    // Live data is ~8 KiB; dead bytes are reclaimed once they outweigh it.
    assert!(md.text.capacity() < 64 * 1024, "{}", md.text.capacity());
    assert!(md.binary.capacity() < 64 * 1024, "{}", md.binary.capacity());
}

#[test]
fn user_api_rejects_bad_keys_and_values() {
    let mut md = MetadataMap::new();
    let key_cases: &[(&str, Expect)] = &[
        ("", |e| matches!(e, MetadataError::InvalidKey(_))),
        ("a b", |e| matches!(e, MetadataError::InvalidKey(_))),
        ("é", |e| matches!(e, MetadataError::InvalidKey(_))),
        ("a/b", |e| matches!(e, MetadataError::InvalidKey(_))),
        ("x-bin", |e| matches!(e, MetadataError::WrongKind(_))),
        (":path", |e| matches!(e, MetadataError::Reserved(_))),
        ("grpc-timeout", |e| matches!(e, MetadataError::Reserved(_))),
        ("Grpc-Status", |e| matches!(e, MetadataError::Reserved(_))),
        ("grpc-status-details-bin", |e| {
            matches!(e, MetadataError::Reserved(_))
        }),
        ("grpc-anything-new", |e| {
            matches!(e, MetadataError::Reserved(_))
        }),
        ("content-type", |e| matches!(e, MetadataError::Reserved(_))),
        ("te", |e| matches!(e, MetadataError::Reserved(_))),
        ("user-agent", |e| matches!(e, MetadataError::Reserved(_))),
        ("connection", |e| matches!(e, MetadataError::Reserved(_))),
        ("Transfer-Encoding", |e| {
            matches!(e, MetadataError::Reserved(_))
        }),
    ];
    for &(key, expected) in key_cases {
        let err = md.insert(key, "v").unwrap_err();
        assert!(expected(&err), "{key:?}: {err:?}");
        let err = md.append(key, "v").unwrap_err();
        assert!(expected(&err), "{key:?}: {err:?}");
    }
    assert!(matches!(
        md.insert_bin("x", b"v"),
        Err(MetadataError::WrongKind(_))
    ));
    assert!(matches!(
        md.append_bin("grpc-status-details-bin", b"v"),
        Err(MetadataError::Reserved(_))
    ));

    let value_cases: &[(&str, ValueProblem)] = &[
        ("tab\there", ValueProblem::NotPrintableAscii),
        ("new\nline", ValueProblem::NotPrintableAscii),
        ("café", ValueProblem::NotPrintableAscii),
        ("\u{7f}", ValueProblem::NotPrintableAscii),
        (" lead", ValueProblem::SurroundingWhitespace),
        ("trail ", ValueProblem::SurroundingWhitespace),
    ];
    for &(value, problem) in value_cases {
        let err = md.append("k", value).unwrap_err();
        assert_eq!(
            err,
            MetadataError::InvalidValue {
                key: "k".into(),
                problem
            },
            "{value:?}"
        );
    }
    assert!(md.is_empty());

    md.append("k", "").unwrap();
    md.append("k", "a b ~!").unwrap();
    assert_eq!(md.get_all("k").collect::<Vec<_>>(), ["", "a b ~!"]);
}

#[test]
fn error_names_the_key() {
    let mut md = MetadataMap::new();
    let err = md.insert("grpc-timeout", "1S").unwrap_err();
    assert!(err.to_string().contains("\"grpc-timeout\""), "{err}");
}

#[test]
fn wire_decoding_skips_reserved_headers() {
    let md = decode(&[
        (":method", "POST"),
        (":path", "/a.B/C"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("user-agent", "grpc-go/1.0"),
        ("grpc-timeout", "1S"),
        ("grpc-encoding", "gzip"),
        ("grpc-accept-encoding", "gzip"),
        ("grpc-status", "0"),
        ("grpc-message", "ok"),
        ("grpc-status-details-bin", "!!!not base64"),
        ("host", "example.com"),
        ("authorization", "Bearer x"),
    ])
    .unwrap();
    assert_eq!(wire(&md), [("authorization".into(), "Bearer x".into())]);
}

#[test]
fn wire_decoding_of_binary_values() {
    let cases: &[(&str, &[&[u8]])] = &[
        ("AAEC", &[&[0, 1, 2]]),
        ("AAE", &[&[0, 1]]),
        ("AAE=", &[&[0, 1]]),
        ("", &[&[]]),
        ("AAE,AgM", &[&[0, 1], &[2, 3]]),
        ("AAE=, AgM=", &[&[0, 1], &[2, 3]]),
        ("AA==,,AQ", &[&[0], &[], &[1]]),
        (" AAEC ", &[&[0, 1, 2]]),
    ];
    for &(value, expected) in cases {
        let md = decode(&[("t-bin", value)]).unwrap();
        assert_eq!(
            md.get_all_bin("t-bin").collect::<Vec<_>>(),
            expected,
            "{value:?}"
        );
    }
}

#[test]
fn wire_decoding_rejects_malformed_input() {
    let cases: &[(&[u8], &[u8], Expect)] = &[
        (b"t-bin", b"A", |e| {
            matches!(e, MetadataError::InvalidBase64(_))
        }),
        (b"t-bin", b"AAEC,A", |e| {
            matches!(e, MetadataError::InvalidBase64(_))
        }),
        (b"t-bin", b"AA EC", |e| {
            matches!(e, MetadataError::InvalidBase64(_))
        }),
        (b"t-bin", b"AA_-", |e| {
            matches!(e, MetadataError::InvalidBase64(_))
        }),
        (b"t-bin", b"\xff", |e| {
            matches!(e, MetadataError::InvalidBase64(_))
        }),
        (b"X-Upper", b"v", |e| {
            matches!(e, MetadataError::InvalidKey(_))
        }),
        (b"", b"v", |e| matches!(e, MetadataError::InvalidKey(_))),
        (b"a b", b"v", |e| matches!(e, MetadataError::InvalidKey(_))),
        (b"caf\xc3\xa9", b"v", |e| {
            matches!(e, MetadataError::InvalidKey(_))
        }),
        (b"\xff", b"v", |e| matches!(e, MetadataError::InvalidKey(_))),
        (b"k", b"a\0b", |e| {
            matches!(
                e,
                MetadataError::InvalidValue {
                    problem: ValueProblem::ControlCharacter,
                    ..
                }
            )
        }),
        (b"k", b"a\r\nb", |e| {
            matches!(
                e,
                MetadataError::InvalidValue {
                    problem: ValueProblem::ControlCharacter,
                    ..
                }
            )
        }),
        (b"k", b"\x7f", |e| {
            matches!(
                e,
                MetadataError::InvalidValue {
                    problem: ValueProblem::ControlCharacter,
                    ..
                }
            )
        }),
    ];
    for &(name, value, expected) in cases {
        let mut md = MetadataMap::new();
        md.append("before", "x").unwrap();
        md.append_bin("before-bin", b"y").unwrap();
        let snapshot = md.clone();
        let err = md.push_wire_header(name, value).unwrap_err();
        assert!(expected(&err), "{name:?} {value:?}: {err:?}");
        assert_eq!(md, snapshot, "map changed by a failed push");
        assert_eq!(md.binary.len(), 1);
        let status = crate::Status::from(err);
        assert_eq!(status.code(), crate::Code::INTERNAL);
    }
}

#[test]
fn wire_decoding_of_ascii_values() {
    let cases: &[(&[u8], Option<&str>)] = &[
        (b"plain", Some("plain")),
        (b"  padded\t", Some("padded")),
        (b"", Some("")),
        (b"a,b", Some("a,b")),
        // Valid HTTP but not a gRPC ASCII-Value: dropped, not an error.
        (b"caf\xc3\xa9", None),
        (b"in\tside", None),
        (b"\x80", None),
    ];
    for &(value, expected) in cases {
        let md = MetadataMap::from_wire_headers([(&b"k"[..], value)]).unwrap();
        assert_eq!(md.get("k"), expected, "{value:?}");
        assert_eq!(md.len(), usize::from(expected.is_some()));
    }
}

#[test]
fn wire_encoding_is_unpadded_base64_one_field_per_value() {
    let mut md = MetadataMap::new();
    md.append("a", "x").unwrap();
    md.append_bin("t-bin", b"f").unwrap();
    md.append_bin("t-bin", b"").unwrap();
    md.append_bin("t-bin", b"foo").unwrap();
    assert_eq!(
        wire(&md),
        [
            ("a".to_string(), "x".to_string()),
            ("t-bin".into(), "Zg".into()),
            ("t-bin".into(), "".into()),
            ("t-bin".into(), "Zm9v".into()),
        ]
    );
    // 32 per field, plus name and encoded value lengths.
    assert_eq!(
        md.wire_size(),
        (32 + 1 + 1) + (32 + 5 + 2) + (32 + 5) + (32 + 5 + 4)
    );
}

#[test]
fn wire_round_trip_with_joined_binary_values() {
    let mut md = MetadataMap::new();
    md.append_bin("t-bin", &[1, 2, 3, 4]).unwrap();
    md.append_bin("t-bin", &[]).unwrap();
    md.append_bin("t-bin", &[255]).unwrap();
    // A proxy may join repeated fields with ", ".
    let joined = md
        .wire_headers()
        .map(|(_, v)| v.into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    let back = decode(&[("t-bin", &joined)]).unwrap();
    assert_eq!(back, md);
}

#[test]
fn equality_ignores_buffer_layout() {
    let mut a = MetadataMap::new();
    a.insert("x", "old").unwrap();
    a.insert("y", "1").unwrap();
    a.insert("x", "new").unwrap();
    let mut b = MetadataMap::new();
    b.insert("x", "new").unwrap();
    b.insert("y", "1").unwrap();
    assert_eq!(a, b);
    b.append("y", "2").unwrap();
    assert_ne!(a, b);
}

/// A metadata entry the user API accepts, for properties.
#[derive(Debug, Clone)]
struct UserEntry {
    key: String,
    value: UserValue,
}

#[derive(Debug, Clone)]
enum UserValue {
    Ascii(String),
    Binary(Vec<u8>),
}

impl Arbitrary for UserEntry {
    fn arbitrary(g: &mut Gen) -> UserEntry {
        const KEY_BYTES: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-.";
        // A small key alphabet so keys repeat.
        let len = usize::arbitrary(g) % 3 + 1;
        let mut key = String::from("x");
        for _ in 0..len {
            key.push(char::from(*g.choose(&KEY_BYTES[..4]).unwrap_or(&b'a')));
        }
        if bool::arbitrary(g) {
            let extra = usize::arbitrary(g) % 3;
            for _ in 0..extra {
                key.push(char::from(*g.choose(KEY_BYTES).unwrap_or(&b'a')));
            }
        }
        if bool::arbitrary(g) {
            key.push_str("-bin");
            UserEntry {
                key,
                value: UserValue::Binary(Vec::arbitrary(g)),
            }
        } else {
            let raw = Vec::<u8>::arbitrary(g);
            let text: String = raw.iter().map(|b| char::from(0x20 + b % 0x5f)).collect();
            let value = text.trim_matches(' ').to_string();
            UserEntry {
                key,
                value: UserValue::Ascii(value),
            }
        }
    }
}

fn build(entries: &[UserEntry]) -> MetadataMap {
    let mut md = MetadataMap::new();
    for e in entries {
        match &e.value {
            UserValue::Ascii(v) => md.append(&e.key, v).unwrap(),
            UserValue::Binary(v) => md.append_bin(&e.key, v).unwrap(),
        }
    }
    md
}

#[quickcheck]
fn iter_returns_what_was_appended(entries: Vec<UserEntry>) -> bool {
    let md = build(&entries);
    md.len() == entries.len()
        && md.iter().zip(&entries).all(|((k, v), e)| {
            k == e.key
                && match (&e.value, v) {
                    (UserValue::Ascii(a), MetadataValue::Ascii(b)) => a == b,
                    (UserValue::Binary(a), MetadataValue::Binary(b)) => a == b,
                    _ => false,
                }
        })
}

#[quickcheck]
fn wire_form_round_trips(entries: Vec<UserEntry>) -> bool {
    let md = build(&entries);
    let fields = wire(&md);
    let back =
        MetadataMap::from_wire_headers(fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
            .unwrap();
    let size: usize = fields.iter().map(|(k, v)| k.len() + v.len() + 32).sum();
    back == md && md.wire_size() == size
}

#[quickcheck]
fn removal_keeps_the_other_values(entries: Vec<UserEntry>, pick: usize) -> bool {
    let mut md = build(&entries);
    let Some(victim) = entries.get(pick % entries.len().max(1)) else {
        return md.is_empty();
    };
    let expected: Vec<&UserEntry> = entries.iter().filter(|e| e.key != victim.key).collect();
    let removed = md.remove(&victim.key);
    removed == entries.len() - expected.len()
        && md == build(&expected.into_iter().cloned().collect::<Vec<_>>())
}

#[quickcheck]
fn append_map_is_appending_each_value(first: Vec<UserEntry>, second: Vec<UserEntry>) -> bool {
    let mut md = build(&first);
    md.append_map(&build(&second));
    md.check_invariants();
    let all: Vec<UserEntry> = first.into_iter().chain(second).collect();
    md == build(&all)
}

#[quickcheck]
fn arbitrary_wire_input_never_panics_and_never_leaks_reserved(
    fields: Vec<(Vec<u8>, Vec<u8>)>,
) -> bool {
    let reserved = [&b"grpc-status"[..], b":path", b"te"];
    let all = fields
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .chain(reserved.iter().map(|k| (*k, &b"0"[..])));
    match MetadataMap::from_wire_headers(all) {
        Ok(md) => md
            .keys()
            .all(|k| !is_reserved(k.as_bytes()) && is_valid_key(k.as_bytes())),
        Err(_) => true,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append(UserEntry),
    Insert(UserEntry),
    Remove(usize),
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 3 {
            0 => Op::Append(UserEntry::arbitrary(g)),
            1 => Op::Insert(UserEntry::arbitrary(g)),
            _ => Op::Remove(usize::arbitrary(g)),
        }
    }
}

/// The map against a plain list model, with buffer invariants after each step.
#[quickcheck]
fn operations_match_a_list_model(ops: Vec<Op>) -> bool {
    let mut md = MetadataMap::new();
    let mut model: Vec<UserEntry> = Vec::new();
    for op in ops {
        match op {
            Op::Append(e) => {
                match &e.value {
                    UserValue::Ascii(v) => md.append(&e.key, v).unwrap(),
                    UserValue::Binary(v) => md.append_bin(&e.key, v).unwrap(),
                }
                model.push(e);
            }
            Op::Insert(e) => {
                match &e.value {
                    UserValue::Ascii(v) => md.insert(&e.key, v).unwrap(),
                    UserValue::Binary(v) => md.insert_bin(&e.key, v).unwrap(),
                }
                match model.iter().position(|m| m.key == e.key) {
                    Some(first) => {
                        let key = e.key.clone();
                        model[first] = e;
                        let mut i = 0;
                        model.retain(|m| {
                            i += 1;
                            i - 1 == first || m.key != key
                        });
                    }
                    None => model.push(e),
                }
            }
            Op::Remove(pick) => {
                let Some(victim) = model.get(pick % model.len().max(1)).map(|e| e.key.clone())
                else {
                    continue;
                };
                let before = model.len();
                model.retain(|m| m.key != victim);
                if md.remove(&victim) != before - model.len() {
                    return false;
                }
            }
        }
        md.check_invariants();
        if md != build(&model) {
            return false;
        }
    }
    true
}

#[test]
fn many_distinct_keys_decode_in_linear_time() {
    let names: Vec<String> = (0..50_000).map(|i| alloc::format!("k{i}")).collect();
    let md =
        MetadataMap::from_wire_headers(names.iter().map(|n| (n.as_bytes(), &b"v"[..]))).unwrap();
    assert_eq!(md.len(), 50_000);
    md.check_invariants();
}
