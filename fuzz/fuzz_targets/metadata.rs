#![no_main]
//! `MetadataMap::from_wire_headers` fed fuzzer-chosen header lists: names
//! drawn from reserved and custom ones or raw bytes, values raw or built as
//! (possibly comma-joined, padded or not) base64. Invariants:
//! - decoding never panics; on error nothing else is checked;
//! - no reserved or invalid key ever reaches the map;
//! - a list made only of valid fields decodes, and each base64 value comes
//!   back as the bytes it encoded;
//! - the map re-encoded with `wire_headers` decodes to an equal map, and
//!   `wire_size` matches what was encoded;
//! - every value is reachable through `get_all`/`get_all_bin` by its key.

use arbitrary::Arbitrary;
use ferrule_codec::metadata::{
    MetadataMap, MetadataValue, encode_binary_value, is_reserved, is_valid_key,
};
use libfuzzer_sys::fuzz_target;

const KNOWN_NAMES: &[&str] = &[
    ":path",
    ":authority",
    "content-type",
    "te",
    "user-agent",
    "host",
    "grpc-timeout",
    "grpc-status-details-bin",
    "grpc-new-thing",
    "x-id",
    "authorization",
    "trace-bin",
    "a-bin",
    "-bin",
    "X-Upper",
];

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    /// A custom binary key: `x` + mapped bytes + `-bin`.
    Binary(Vec<u8>),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Raw(Vec<u8>),
    /// Values base64-encoded and joined by `,` or `, `.
    Base64 {
        values: Vec<Vec<u8>>,
        padded: bool,
        spaced: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Field {
    name: Name,
    value: Value,
}

fn name_bytes(name: &Name) -> Vec<u8> {
    match name {
        Name::Known(i) => KNOWN_NAMES[usize::from(*i) % KNOWN_NAMES.len()]
            .as_bytes()
            .to_vec(),
        Name::Binary(raw) => {
            const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-.";
            let mut name = vec![b'x'];
            name.extend(
                raw.iter()
                    .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()]),
            );
            name.extend_from_slice(b"-bin");
            name
        }
        Name::Raw(raw) => raw.clone(),
    }
}

fn value_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::Raw(raw) => raw.clone(),
        Value::Base64 {
            values,
            padded,
            spaced,
        } => {
            let parts: Vec<String> = values
                .iter()
                .map(|v| {
                    let mut text = String::new();
                    encode_binary_value(v, &mut text);
                    while *padded && text.len() % 4 != 0 {
                        text.push('=');
                    }
                    text
                })
                .collect();
            parts.join(if *spaced { ", " } else { "," }).into_bytes()
        }
    }
}

fuzz_target!(|fields: Vec<Field>| {
    let wire: Vec<(Vec<u8>, Vec<u8>)> = fields
        .iter()
        .map(|f| (name_bytes(&f.name), value_bytes(&f.value)))
        .collect();
    let all_valid = fields.iter().zip(&wire).all(|(f, (name, _))| {
        is_reserved(name)
            || (matches!(f.value, Value::Base64 { .. })
                && name.ends_with(b"-bin")
                && is_valid_key(name))
    });

    let map = match MetadataMap::from_wire_headers(wire.iter().map(|(k, v)| (k, v))) {
        Ok(map) => map,
        Err(err) => {
            assert!(!all_valid, "valid header list rejected: {err}");
            return;
        }
    };

    for (key, _) in map.iter() {
        assert!(is_valid_key(key.as_bytes()), "invalid key {key:?} in map");
        assert!(!is_reserved(key.as_bytes()), "reserved key {key:?} in map");
    }

    if all_valid {
        // Every generated base64 value comes back, in order.
        let expected: Vec<(&[u8], &[u8])> = fields
            .iter()
            .zip(&wire)
            .filter(|(_, (name, _))| !is_reserved(name))
            .flat_map(|(f, (name, _))| match &f.value {
                Value::Base64 { values, .. } if values.is_empty() => {
                    vec![(name.as_slice(), &b""[..])]
                }
                Value::Base64 { values, .. } => values
                    .iter()
                    .map(|v| (name.as_slice(), v.as_slice()))
                    .collect(),
                Value::Raw(_) => Vec::new(),
            })
            .collect();
        let got: Vec<(&[u8], &[u8])> = map
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(got, expected);
    }

    let encoded: Vec<(String, String)> = map
        .wire_headers()
        .map(|(k, v)| (k.to_owned(), v.into_owned()))
        .collect();
    let size: usize = encoded.iter().map(|(k, v)| k.len() + v.len() + 32).sum();
    assert_eq!(map.wire_size(), size);
    let again = MetadataMap::from_wire_headers(encoded.iter().map(|(k, v)| (k, v)))
        .expect("re-encoded metadata must decode");
    assert_eq!(again, map);

    for key in map.keys() {
        let ascii = map.get_all(key).count();
        let binary = map.get_all_bin(key).count();
        let total = map.iter().filter(|(k, _)| *k == key).count();
        assert_eq!(ascii + binary, total);
        assert!(ascii == 0 || binary == 0, "key {key:?} holds both kinds");
    }
    for (key, value) in map.iter() {
        if let MetadataValue::Ascii(v) = value {
            assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            assert!(!v.starts_with(' ') && !v.ends_with(' '));
            assert!(!key.ends_with("-bin"));
        }
    }
});
