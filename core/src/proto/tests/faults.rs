//! Faults: a peer vanishing mid-call, resets at every point of a call.

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::codec::metadata::MetadataMap;
use crate::proto::{CallOptions, ClientEvent, ConnectionError, ServerEvent};
use crate::{Code, Status};

pair_test! {
    fn the_client_vanishing_mid_call_cancels_server_calls(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/f.F/X", CallOptions::new());
        pair.client.send_message(call, Bytes::from_static(b"a")).unwrap();
        let (sc, _) = pair.accept();
        pair.client_vanishes();
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::UNAVAILABLE);
        assert!(pair.server.is_closed());
        let error = pair
            .take_server_event(|e| match e {
                ServerEvent::Closed { error } => Some(error.clone()),
                _ => None,
            })
            .unwrap()
            .0;
        assert!(matches!(error, Some(ConnectionError::TransportClosed)), "{error:?}");
        // The call is held until the application lets go of it.
        assert_eq!(pair.server.open_calls(), 1);
        pair.server.cancel(sc);
        assert_eq!(pair.server.open_calls(), 0);
    }
}

pair_test! {
    fn the_server_vanishing_mid_call_fails_client_calls(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/f.F/X", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.send_message(sc, Bytes::from_static(b"partial")).unwrap();
        pair.drive();
        pair.server_vanishes();
        assert_eq!(pair.expect_finished(call).0.code(), Code::UNAVAILABLE);
        assert!(pair.client.is_closed());
        assert!(pair.client_recv_all(call).1, "the end read");
        assert_eq!(pair.client.open_calls(), 0);
        assert!(pair.client.start_call(pair.now, "/f.F/Y", CallOptions::new()).is_err());
    }
}

pair_test! {
    fn vanishing_with_no_calls_is_a_clean_close(chunking) {
        let mut pair = Pair::new(chunking);
        let (_, status, _) = pair.unary("/f.F/X", b"", |server, call, _, _| {
            server.finish(call, Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert!(status.is_ok());
        pair.client_vanishes();
        assert!(pair.server.is_closed());
        assert!(pair.server.error().is_none(), "{:?}", pair.server.error());
    }
}

/// The points of a unary-like call at which a reset is injected.
const STAGES: usize = 7;

/// Plays a call up to `stage`, then has `client_resets` decide who cancels.
fn reset_at(chunking: super::pair::Chunking, stage: usize, client_resets: bool) {
    let mut pair = Pair::new(chunking);
    let call = pair.start("/f.F/X", CallOptions::new());
    let mut server_call = None;
    let mut step = |pair: &mut Pair, n: usize| match n {
        0 => {}
        1 => server_call = Some(pair.accept().0),
        2 => pair
            .client
            .send_message(call, Bytes::from_static(b"req"))
            .unwrap(),
        3 => pair.client.close_send(call).unwrap(),
        4 => {
            if let Some(sc) = server_call {
                pair.server.send_headers(sc, &MetadataMap::new()).unwrap();
            }
        }
        5 => {
            if let Some(sc) = server_call {
                pair.server
                    .send_message(sc, Bytes::from_static(b"resp"))
                    .unwrap();
            }
        }
        _ => {
            if let Some(sc) = server_call {
                pair.server
                    .finish(sc, Status::ok(), &MetadataMap::new())
                    .unwrap();
            }
        }
    };
    for n in 0..=stage {
        step(&mut pair, n);
        pair.drive();
    }
    if client_resets {
        pair.client.cancel(call);
    } else if let Some(sc) = server_call {
        pair.server.cancel(sc);
    } else {
        pair.client.cancel(call);
    }
    pair.drive();
    // A call finished by trailers keeps its unread messages until read; one
    // the engine ended is held until its end is read; a server call until
    // the application answers.
    let _ = pair.client_recv_all(call);
    let told: Vec<_> = pair
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::NewCall { call, .. } => Some(*call),
            _ => None,
        })
        .chain(server_call)
        .collect();
    for sc in told {
        let _ = pair.server.finish(sc, Status::ok(), &MetadataMap::new());
    }
    // Whatever the point, both sides end up with no calls, and each side's
    // view is one of the legal outcomes.
    assert_eq!(
        pair.client.open_calls(),
        0,
        "stage {stage} client_resets {client_resets}"
    );
    assert_eq!(
        pair.server.open_calls(),
        0,
        "stage {stage} client_resets {client_resets}"
    );
    let finished = pair.client_events.iter().find_map(|e| match e {
        ClientEvent::Finished { status, .. } => Some(status.code()),
        _ => None,
    });
    let cancelled = pair.server_events.iter().find_map(|e| match e {
        ServerEvent::Cancelled { status, .. } => Some(status.code()),
        _ => None,
    });
    let finished_before = stage >= 6;
    if client_resets {
        assert_eq!(
            finished,
            if finished_before {
                Some(Code::OK)
            } else {
                None
            }
        );
        if server_call.is_some() && !finished_before {
            assert_eq!(cancelled, Some(Code::CANCELLED), "stage {stage}");
        }
    } else if server_call.is_some() {
        let expected = if finished_before {
            Code::OK
        } else {
            Code::CANCELLED
        };
        assert_eq!(finished, Some(expected), "stage {stage}");
        assert_eq!(cancelled, None);
    }
    assert!(
        !pair.server.is_closed() && !pair.client.is_closed(),
        "resets never end the connection"
    );
}

pair_test! {
    fn resets_at_every_point_of_a_call(chunking) {
        for stage in 0..STAGES {
            for client_resets in [true, false] {
                reset_at(chunking, stage, client_resets);
            }
        }
    }
}

pair_test! {
    /// A peer that vanishes in the middle of a frame is a vanished peer,
    /// whichever byte the stream ends at: `TransportClosed`, and the calls
    /// end with the connection's reason, not a stream error h2 made of it.
    fn a_peer_vanishing_mid_frame_is_transport_closed(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/f.F/X", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.to_client.held = true;
        pair.server.send_message(sc, Bytes::from(vec![7u8; 100])).unwrap();
        pair.drive();
        let sent = pair.to_client.in_flight.len();
        assert!(sent > 20, "{sent}");
        pair.to_client.in_flight.truncate(sent / 2);
        pair.to_client.held = false;
        while pair.move_bytes() {}
        pair.server_vanishes();
        assert!(pair.client.is_closed());
        assert!(
            matches!(pair.client.error(), Some(ConnectionError::TransportClosed)),
            "{:?}",
            pair.client.error()
        );
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::UNAVAILABLE);
        assert!(status.message().contains("transport closed"), "{status}");
    }
}
