#![no_main]
//! `grpc-message` percent-encoding, the `google.rpc.Status` decoder and the
//! status trailer helpers, fed arbitrary bytes.

use bytes::Bytes;
use ferrule_codec::Status;
use ferrule_codec::status::{RpcStatus, decode_grpc_message, encode_grpc_message};
use libfuzzer_sys::fuzz_target;

fn check_message(data: &[u8]) {
    let decoded = decode_grpc_message(data);
    let encoded = encode_grpc_message(&decoded);
    assert!(
        encoded.bytes().all(|b| (0x20..=0x7E).contains(&b)),
        "encoded message has a byte outside 0x20..=0x7E: {encoded:?}"
    );
    assert_eq!(decode_grpc_message(encoded.as_bytes()), decoded);
    // A value that needs no decoding comes back unchanged.
    if data
        .iter()
        .all(|&b| (0x20..=0x7E).contains(&b) && b != b'%')
    {
        assert_eq!(decoded.as_bytes(), data);
        assert_eq!(encoded.as_bytes(), data);
    }
}

fn check_rpc_status(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(rpc) = RpcStatus::decode(&bytes) {
        let encoded = rpc.to_bytes();
        assert_eq!(encoded.len(), rpc.encoded_len());
        assert_eq!(RpcStatus::decode(&encoded).as_ref(), Ok(&rpc));
        let status = Status::from_rpc_status(&rpc);
        assert_eq!(status.to_rpc_status().as_ref(), Ok(&rpc));
    }
}

/// Splits the input into the three status header values, the first two bytes
/// giving the lengths of the first two.
fn check_trailers(data: &[u8]) {
    let [status_len, message_len, rest @ ..] = data else {
        return;
    };
    let (grpc_status, rest) = rest.split_at(usize::from(*status_len).min(rest.len()));
    let (grpc_message, details) = rest.split_at(usize::from(*message_len).min(rest.len()));
    let status = Status::from_header_values(
        grpc_status,
        Some(grpc_message),
        Some(Bytes::copy_from_slice(details)),
    );
    assert!(status.code().is_known(), "{status:?}");
    let values = status.to_header_values();
    assert!(values.grpc_status.bytes().all(|b| b.is_ascii_digit()));
    let passed_on = Status::from_header_values(
        values.grpc_status.as_bytes(),
        values.grpc_message.as_deref().map(str::as_bytes),
        values.grpc_status_details,
    );
    assert_eq!(passed_on, status);
}

fuzz_target!(|data: &[u8]| {
    check_message(data);
    check_rpc_status(data);
    check_trailers(data);
});
