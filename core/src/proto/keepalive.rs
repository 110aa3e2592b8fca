//! Keepalive and ping-abuse policy (see the keepalive change).
