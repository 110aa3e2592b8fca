//! Keepalive pings and timeouts on both sides, the server's ping-abuse
//! policy, and the connection idle/age limits.

use std::time::Duration;

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::Code;
use crate::codec::metadata::MetadataMap;
use crate::proto::frame::FrameKind;
use crate::proto::keepalive::{KeepaliveConfig, LifetimeConfig, PingPolicyConfig};
use crate::proto::{
    CallOptions, ClientConfig, ClientEvent, ConnectionError, ErrorCode, ServerConfig, ServerEvent,
};

fn server_keepalive(interval: u64, timeout: u64) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.keepalive = KeepaliveConfig {
        interval: Duration::from_secs(interval),
        timeout: Duration::from_secs(timeout),
        permit_without_calls: true,
    };
    config
}

fn pings(frames: Vec<crate::proto::frame::FrameHeader>) -> usize {
    frames.iter().filter(|f| f.is_ping()).count()
}

/// Both directions stop delivering, without EOF (a dead network).
fn go_silent(pair: &mut Pair) {
    pair.to_server.cut = true;
    pair.to_client.cut = true;
}

pair_test! {
    fn the_server_pings_an_idle_client_and_stays_open_when_answered(chunking) {
        let mut pair = Pair::with_configs(chunking, server_keepalive(10, 2), ClientConfig::default());
        let start = pair.now;
        assert_eq!(pair.next_timeout(), Some(start + Duration::from_secs(10)));
        for round in 1..=3 {
            assert!(pair.advance_to_next_timeout());
            assert_eq!(pings(pair.frames_to_client()), round);
        }
        assert!(!pair.server.is_closed());
        assert!(!pair.client.is_closed());
    }
}

pair_test! {
    fn the_server_closes_a_silent_connection(chunking) {
        let mut pair = Pair::with_configs(chunking, server_keepalive(10, 2), ClientConfig::default());
        let call = pair.start("/k.K/Wait", CallOptions::new());
        let (sc, _) = pair.accept();
        go_silent(&mut pair);
        pair.advance(Duration::from_secs(10));
        assert!(!pair.server.is_closed(), "pinged, waiting");
        pair.advance(Duration::from_secs(2));
        assert!(pair.server.is_closed());
        assert!(matches!(pair.server.error(), Some(ConnectionError::KeepaliveTimeout)));
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::UNAVAILABLE);
        let _ = call;
    }
}

pair_test! {
    fn a_client_with_keepalive_detects_a_dead_server(chunking) {
        let mut client = ClientConfig::default();
        client.keepalive = Some(KeepaliveConfig {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            permit_without_calls: false,
        });
        let mut pair = Pair::with_configs(chunking, ServerConfig::default(), client);
        assert_eq!(pair.client.poll_timeout(), None, "asleep without calls");
        let call = pair.start("/k.K/Wait", CallOptions::new());
        let (_sc, _) = pair.accept();
        assert!(pair.client.poll_timeout().is_some());
        // Answered pings keep it alive.
        pair.advance(Duration::from_secs(30));
        assert_eq!(pings(pair.frames_to_server()), 1);
        pair.advance(Duration::from_secs(10));
        assert!(!pair.client.is_closed());
        go_silent(&mut pair);
        pair.advance(Duration::from_secs(30));
        pair.advance(Duration::from_secs(5));
        assert!(pair.client.is_closed());
        assert!(matches!(pair.client.error(), Some(ConnectionError::KeepaliveTimeout)));
        assert_eq!(pair.expect_finished(call).0.code(), Code::UNAVAILABLE);
    }
}

pair_test! {
    fn too_many_pings_get_goaway_enhance_your_calm(chunking) {
        let mut client = ClientConfig::default();
        client.keepalive = Some(KeepaliveConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(20),
            permit_without_calls: true,
        });
        let mut server = ServerConfig::default();
        server.ping_policy = PingPolicyConfig::default();
        let mut pair = Pair::with_configs(chunking, server, client);
        let call = pair.start("/k.K/Idle", CallOptions::new());
        let (sc, _) = pair.accept();
        for _ in 0..10 {
            if pair.server.is_closed() {
                break;
            }
            pair.advance(Duration::from_secs(1));
        }
        assert!(pair.server.is_closed());
        assert!(matches!(pair.server.error(), Some(ConnectionError::TooManyPings)));
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::UNAVAILABLE);
        // The client heard why.
        let (code, debug) = pair
            .take_client_event(|e| match e {
                ClientEvent::GoAway { code, debug_data } => Some((*code, debug_data.clone())),
                _ => None,
            })
            .expect("GoAway")
            .0;
        assert_eq!(code, ErrorCode::ENHANCE_YOUR_CALM);
        assert_eq!(&debug[..], b"too_many_pings");
        assert_eq!(pair.expect_finished(call).0.code(), Code::UNAVAILABLE);
        assert!(pair.client.is_closed());
        match pair.client.error() {
            Some(ConnectionError::GoAway { code, debug_data }) => {
                assert_eq!(*code, ErrorCode::ENHANCE_YOUR_CALM);
                assert_eq!(&debug_data[..], b"too_many_pings");
            }
            other => panic!("{other:?}"),
        }
        // Exactly one GOAWAY went out, the server's own.
        let goaways = pair
            .frames_to_client()
            .iter()
            .filter(|f| f.kind == FrameKind::GOAWAY)
            .count();
        assert_eq!(goaways, 1);
    }
}

pair_test! {
    fn pings_after_data_are_forgiven(chunking) {
        let mut client = ClientConfig::default();
        client.keepalive = Some(KeepaliveConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(20),
            permit_without_calls: true,
        });
        let mut pair = Pair::with_configs(chunking, ServerConfig::default(), client);
        let _call = pair.start("/k.K/Stream", CallOptions::new());
        let (sc, _) = pair.accept();
        for _ in 0..10 {
            // The server streams between pings: no strikes.
            pair.server.send_message(sc, Bytes::from_static(b"tick")).unwrap();
            pair.advance(Duration::from_secs(1));
        }
        assert!(!pair.server.is_closed());
    }
}

pair_test! {
    fn an_idle_connection_gets_a_graceful_goaway(chunking) {
        let mut server = ServerConfig::default();
        server.lifetime = LifetimeConfig {
            max_connection_idle: Some(Duration::from_secs(60)),
            ..LifetimeConfig::default()
        };
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let (_, status, _) = pair.unary("/k.K/One", b"", |server, call, _, _| {
            server.finish(call, crate::Status::ok(), &Default::default()).unwrap();
        });
        assert!(status.is_ok());
        pair.advance(Duration::from_secs(59));
        assert!(!pair.server.is_closed());
        pair.advance(Duration::from_secs(1));
        assert!(pair
            .take_client_event(|e| matches!(e, ClientEvent::GoAway { code, .. } if *code == ErrorCode::NO_ERROR).then_some(()))
            .is_some());
        assert!(pair.server.is_closed());
        assert!(pair.server.error().is_none());
    }
}

pair_test! {
    fn max_age_then_grace_closes_the_connection(chunking) {
        let mut server = ServerConfig::default();
        server.lifetime = LifetimeConfig {
            max_connection_age: Some(Duration::from_secs(100)),
            max_connection_age_grace: Some(Duration::from_secs(10)),
            ..LifetimeConfig::default()
        };
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let call = pair.start("/k.K/Long", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.advance(Duration::from_secs(100));
        assert!(pair.server.is_draining());
        assert!(!pair.client.is_accepting_calls());
        pair.advance(Duration::from_secs(10));
        assert!(pair.server.is_closed());
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::UNAVAILABLE);
        assert_eq!(pair.expect_finished(call).0.code(), Code::UNAVAILABLE);
        assert!(pair
            .server_events
            .iter()
            .chain(std::iter::empty())
            .all(|e| !matches!(e, ServerEvent::NewCall { .. })));
    }
}

pair_test! {
    fn an_idle_server_connection_gives_back_its_call_room_after_a_while(chunking) {
        let mut pair = Pair::new(chunking);
        let trim = crate::proto::shared::IDLE_TRIM_AFTER;
        let later = |at: Option<std::time::Instant>, now| at.is_none_or(|at| at > now + trim);
        assert!(later(pair.server.poll_timeout(), pair.now), "nothing to give back before a call");
        let (_, status, _) = pair.unary("/k.K/Once", b"x", |server, call, _, _| {
            server.finish(call, crate::Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert_eq!(status.code(), Code::OK);
        assert_eq!(pair.server.call_room(), 0, "a lone call gives its room back at once");
        assert!(later(pair.server.poll_timeout(), pair.now), "with no timer");
        // A call soon after is not alone: its slot is kept for the next one.
        pair.advance(Duration::from_millis(500));
        let (_, status, _) = pair.unary("/k.K/Again", b"x", |server, call, _, _| {
            server.finish(call, crate::Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert_eq!(status.code(), Code::OK);
        assert_eq!(pair.server.call_room(), 1, "one slot kept for the next call");
        assert_eq!(pair.server.poll_timeout(), Some(pair.now + trim));
        // A call before then keeps the room and restarts the wait.
        pair.advance(Duration::from_millis(500));
        let (_, status, _) = pair.unary("/k.K/Third", b"x", |server, call, _, _| {
            server.finish(call, crate::Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert_eq!(status.code(), Code::OK);
        pair.advance(Duration::from_millis(600));
        assert_eq!(pair.server.call_room(), 1);
        pair.advance(Duration::from_millis(400));
        assert_eq!(pair.server.call_room(), 0, "given back");
        assert!(later(pair.server.poll_timeout(), pair.now), "once");
        assert!(!pair.server.is_closed());
        // The next call works as before.
        let (messages, status, _) = pair.unary("/k.K/Later", b"x", |server, call, _, _| {
            server.send_message(call, Bytes::from_static(b"y")).unwrap();
            server.finish(call, crate::Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert_eq!(messages, vec![Bytes::from_static(b"y")]);
        assert_eq!(status.code(), Code::OK);
    }
}
