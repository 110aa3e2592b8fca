//! Per-call compression: grpc-encoding on send, every supported encoding
//! decoded, unknown encodings refused, grpc-accept-encoding advertised.

use bytes::{Bytes, BytesMut};

use super::pair::{Pair, pair_test};
use crate::codec::compression::{Encoding, EncodingSet, compress};
use crate::codec::metadata::MetadataMap;
use crate::proto::frame::FrameKind;
use crate::proto::{CallOptions, ClientConfig, RecvError, ServerConfig, ServerEvent};
use crate::{Code, Status};

fn supported() -> Vec<Encoding> {
    Encoding::ALL
        .into_iter()
        .filter(|e| e.is_supported() && *e != Encoding::Identity)
        .collect()
}

/// DATA bytes on the wire for one stream, each direction.
fn data_bytes(pair: &Pair) -> (u32, u32) {
    let sum = |frames: Vec<crate::proto::frame::FrameHeader>| {
        frames
            .iter()
            .filter(|f| f.kind == FrameKind::DATA && f.stream_id == 1)
            .map(|f| f.length)
            .sum()
    };
    (sum(pair.frames_to_server()), sum(pair.frames_to_client()))
}

pair_test! {
    fn every_supported_encoding_round_trips(chunking) {
        assert!(!supported().is_empty(), "gzip is a default feature");
        for encoding in supported() {
            let mut pair = Pair::new(chunking);
            let payload = Bytes::from(vec![b'z'; 20_000]);
            let call = pair.start("/z.Z/Echo", CallOptions::new().with_encoding(encoding));
            pair.client.send_message(call, payload.clone()).unwrap();
            pair.client.close_send(call).unwrap();
            let (sc, head) = pair.accept();
            assert_eq!(head.encoding(), encoding);
            assert!(head.accept_encodings().contains(encoding));
            let (got, _) = pair.server_recv_all(sc);
            assert_eq!(got, vec![payload.clone()], "{encoding}");
            assert_eq!(pair.server.set_send_encoding(sc, encoding), Ok(encoding));
            pair.server.send_message(sc, payload.clone()).unwrap();
            pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
            let (back, _) = pair.client_recv_all(call);
            assert_eq!(back, vec![payload], "{encoding}");
            assert!(pair.expect_finished(call).0.is_ok());
            let (up, down) = data_bytes(&pair);
            assert!(up < 2_000 && down < 2_000, "{encoding}: {up} / {down} bytes on the wire");
        }
    }
}

pair_test! {
    fn the_server_compresses_only_what_the_client_accepts(chunking) {
        let mut client = ClientConfig::default();
        client.accept_encodings = EncodingSet::only(Encoding::Identity);
        let mut pair = Pair::with_configs(chunking, ServerConfig::default(), client);
        let call = pair.start("/z.Z/Echo", CallOptions::new());
        let (sc, head) = pair.accept();
        assert_eq!(head.accept_encodings(), EncodingSet::only(Encoding::Identity));
        assert_eq!(pair.server.set_send_encoding(sc, Encoding::Gzip), Ok(Encoding::Identity));
        pair.server.send_message(sc, Bytes::from(vec![b'q'; 5000])).unwrap();
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert_eq!(pair.client_recv_all(call).0.len(), 1);
        assert!(pair.expect_finished(call).0.is_ok());
        assert!(data_bytes(&pair).1 > 5000, "sent uncompressed");
    }
}

pair_test! {
    fn a_refused_encoding_is_unimplemented_and_the_client_learns(chunking) {
        let mut server = ServerConfig::default();
        server.accept_encodings = EncodingSet::only(Encoding::Identity);
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        // The client does not know yet what the server accepts: it tries gzip.
        let call = pair
            .client
            .start_call(pair.now, "/z.Z/Echo", CallOptions::new().with_encoding(Encoding::Gzip))
            .unwrap();
        pair.client.send_message(call, Bytes::from_static(b"x")).unwrap();
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::UNIMPLEMENTED, "{status}");
        assert!(pair.server_events.iter().all(|e| !matches!(e, ServerEvent::NewCall { .. })));
        // The answer listed what the server accepts; the next call complies.
        let call = pair.start("/z.Z/Echo", CallOptions::new().with_encoding(Encoding::Gzip));
        pair.client.send_message(call, Bytes::from_static(b"x")).unwrap();
        pair.client.close_send(call).unwrap();
        let (sc, head) = pair.accept();
        assert_eq!(head.encoding(), Encoding::Identity);
        assert_eq!(pair.server_recv_all(sc).0.len(), 1);
    }
}

pair_test! {
    fn a_compression_bomb_stops_at_the_limit(chunking) {
        let mut server = ServerConfig::default();
        server.limits.max_recv_message_size = 64 * 1024;
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let call = pair.start("/z.Z/Echo", CallOptions::new().with_encoding(Encoding::Gzip));
        // 1 MiB of zeros compresses to about 1 KiB: under the limit on the
        // wire, far over it once inflated.
        let mut compressed = BytesMut::new();
        compress(Encoding::Gzip, &vec![0u8; 1 << 20], &mut compressed).unwrap();
        assert!(compressed.len() < 64 * 1024);
        pair.client.send_message(call, Bytes::from(vec![0u8; 1 << 20])).unwrap();
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        pair.drive();
        match pair.server.recv_message(sc) {
            Err(RecvError::Failed(status)) => assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED),
            other => panic!("{other:?}"),
        }
        assert_eq!(pair.expect_finished(call).0.code(), Code::RESOURCE_EXHAUSTED);
    }
}

/// Every message the peer can read now, with its compressed flag.
fn flagged(
    mut recv: impl FnMut() -> Result<Option<crate::proto::ReceivedMessage>, RecvError>,
) -> Vec<(Bytes, bool)> {
    let mut out = Vec::new();
    while let Ok(Some(m)) = recv() {
        out.push((m.data, m.compressed));
    }
    out
}

pair_test! {
    fn messages_of_one_call_can_be_compressed_or_not(chunking) {
        use crate::proto::SendOptions;
        let mut pair = Pair::new(chunking);
        let call = pair.start("/z.Z/Echo", CallOptions::new().with_encoding(Encoding::Gzip));
        let payloads: Vec<Bytes> =
            (0..4u8).map(|i| Bytes::from(vec![b'a' + i; 3000])).collect();
        let want: Vec<(Bytes, bool)> =
            payloads.iter().enumerate().map(|(i, p)| (p.clone(), i % 2 == 0)).collect();
        for (i, p) in payloads.iter().enumerate() {
            let options = if i % 2 == 0 {
                SendOptions::default()
            } else {
                SendOptions::uncompressed()
            };
            if i < 2 {
                pair.client.send_message_options(call, p.clone(), options).unwrap();
            } else {
                // Framed outside the engine, as the async layer does.
                let encoding = options.encoding(pair.client.send_encoding(call).unwrap());
                let framed = framed(p, encoding);
                pair.client.send_framed(call, framed).unwrap();
            }
        }
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        pair.drive();
        let got = flagged(|| {
            pair.drive();
            pair.server.recv_message_flagged(sc)
        });
        assert_eq!(got, want);
        assert_eq!(pair.server.set_send_encoding(sc, Encoding::Gzip), Ok(Encoding::Gzip));
        for (i, p) in payloads.iter().enumerate() {
            let options = if i % 2 == 0 {
                SendOptions::default()
            } else {
                SendOptions::uncompressed()
            };
            if i < 2 {
                pair.server.send_message_options(sc, p.clone(), options).unwrap();
            } else {
                let encoding = options.encoding(pair.server.send_encoding(sc).unwrap());
                pair.server.send_framed(sc, framed(p, encoding)).unwrap();
            }
        }
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        pair.drive();
        let back = flagged(|| {
            pair.drive();
            pair.client.recv_message_flagged(call)
        });
        assert_eq!(back, want);
        // Two 3000-byte messages compressed, two sent as they are.
        let (up, down) = data_bytes(&pair);
        assert!((6_000..7_000).contains(&up), "{up} bytes up");
        assert!((6_000..7_000).contains(&down), "{down} bytes down");
    }
}

pair_test! {
    fn uncompressed_options_on_an_identity_call_change_nothing(chunking) {
        use crate::proto::SendOptions;
        let mut pair = Pair::new(chunking);
        let call = pair.start("/z.Z/Echo", CallOptions::new());
        pair.client
            .send_message_options(call, Bytes::from_static(b"x"), SendOptions::default())
            .unwrap();
        pair.client
            .send_message_options(call, Bytes::from_static(b"y"), SendOptions::uncompressed())
            .unwrap();
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        pair.drive();
        let got = flagged(|| {
            pair.drive();
            pair.server.recv_message_flagged(sc)
        });
        assert_eq!(
            got,
            vec![(Bytes::from_static(b"x"), false), (Bytes::from_static(b"y"), false)]
        );
    }
}

/// `payload` framed with `encoding` outside any engine.
fn framed(payload: &[u8], encoding: Encoding) -> crate::proto::FramedMessage {
    let mut buf = BytesMut::new();
    crate::proto::FramedMessage::encode(&mut buf, encoding, usize::MAX, None, |b: &mut BytesMut| {
        b.extend_from_slice(payload);
        Ok::<(), String>(())
    })
    .unwrap()
}
