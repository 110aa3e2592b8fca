//! ferrule-smol: the smol adapter for ferrule.
//!
//! Empty until the async API issue (issue 4): it will implement the `Runtime`
//! trait of ferrule-core with smol's sockets, timers and spawn, and nothing else.
