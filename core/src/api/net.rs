//! TCP for every runtime, written once. A runtime adapter provides its
//! sockets ([`Network`]: bind, accept, connect, resolve); built on them here:
//! [`TcpListener`], [`TcpConnector`] (resolving on every attempt, trying each
//! address), the addresses both take ([`ToTcpAddrs`]), and [`Tcp`], the
//! conveniences each adapter offers (`serve`, `channel`, `connect`, ...),
//! which [`adapter_functions!`](crate::adapter_functions) turns into the
//! adapter's free functions.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;

use crate::Status;

use super::client::{Channel, ChannelConfig, authority_of};
use super::runtime::{Connector, Io, Listener, Runtime};
use super::server::{Router, Server, ServerHandle};

/// A runtime's TCP sockets: what an adapter implements (quinn's
/// `Runtime::wrap_udp_socket`, for TCP); everything else about TCP is
/// written once in this module.
///
/// Streams it hands out, accepted or connected, have `TCP_NODELAY` set:
/// gRPC messages are small and latency-bound.
pub trait Network: Clone + Send + Sync + Debug + 'static {
    /// A listening socket registered with the runtime's reactor.
    type Listener: Send + Sync + Debug + 'static;
    /// A connected socket.
    type Stream: Io;

    /// Binds a listener to `addr`.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// The address `listener` is bound to.
    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// Waits for the next connection on `listener`: the stream and the
    /// peer's address.
    fn accept(
        &self,
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// Connects to `addr`.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// The addresses of `host:port`, looked up without blocking the caller
    /// (on a resolver thread or pool).
    fn resolve(&self, host_port: &str) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
}

/// Where to bind or connect: socket addresses, or a `host:port` to resolve
/// on the runtime's resolver. Implemented for what `std`'s `ToSocketAddrs`
/// takes: `"host:port"`, `SocketAddr`, `(IpAddr, u16)`, `("host", port)`,
/// `&[SocketAddr]`, ...
pub trait ToTcpAddrs {
    /// The addresses, or the name to look up.
    fn to_tcp_addrs(&self) -> TcpAddrs;
}

/// What a [`ToTcpAddrs`] names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpAddrs {
    /// Addresses to use as they are, in order.
    Resolved(Vec<SocketAddr>),
    /// A `host:port` to resolve first.
    HostPort(String),
}

impl TcpAddrs {
    async fn resolve(self, network: &impl Network) -> io::Result<Vec<SocketAddr>> {
        match self {
            TcpAddrs::Resolved(addrs) => Ok(addrs),
            TcpAddrs::HostPort(host_port) => network.resolve(&host_port).await,
        }
    }
}

impl ToTcpAddrs for SocketAddr {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        TcpAddrs::Resolved(vec![*self])
    }
}

impl ToTcpAddrs for SocketAddrV4 {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        SocketAddr::V4(*self).to_tcp_addrs()
    }
}

impl ToTcpAddrs for SocketAddrV6 {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        SocketAddr::V6(*self).to_tcp_addrs()
    }
}

impl ToTcpAddrs for (IpAddr, u16) {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        SocketAddr::from(*self).to_tcp_addrs()
    }
}

impl ToTcpAddrs for (Ipv4Addr, u16) {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        SocketAddr::from(*self).to_tcp_addrs()
    }
}

impl ToTcpAddrs for (Ipv6Addr, u16) {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        SocketAddr::from(*self).to_tcp_addrs()
    }
}

impl ToTcpAddrs for (&str, u16) {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => (ip, port).to_tcp_addrs(),
            Err(_) => TcpAddrs::HostPort(format!("{host}:{port}")),
        }
    }
}

impl ToTcpAddrs for (String, u16) {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        (self.0.as_str(), self.1).to_tcp_addrs()
    }
}

impl ToTcpAddrs for str {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        match self.parse::<SocketAddr>() {
            Ok(addr) => addr.to_tcp_addrs(),
            Err(_) => TcpAddrs::HostPort(self.to_owned()),
        }
    }
}

impl ToTcpAddrs for String {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        self.as_str().to_tcp_addrs()
    }
}

impl ToTcpAddrs for [SocketAddr] {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        TcpAddrs::Resolved(self.to_vec())
    }
}

impl<T: ToTcpAddrs + ?Sized> ToTcpAddrs for &T {
    fn to_tcp_addrs(&self) -> TcpAddrs {
        (**self).to_tcp_addrs()
    }
}

/// The first of `addrs` that `attempt` succeeds with, or the last failure
/// (what `std`, tokio and smol do with several addresses).
async fn first_that_works<T, F>(
    addrs: Vec<SocketAddr>,
    what: impl FnOnce() -> String,
    mut attempt: impl FnMut(SocketAddr) -> F,
) -> io::Result<T>
where
    F: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match attempt(addr).await {
            Ok(done) => return Ok(done),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} resolves to no address", what()),
        )
    }))
}

/// A TCP [`Listener`] on `N`'s sockets.
#[derive(Debug)]
pub struct TcpListener<N: Network> {
    network: N,
    inner: N::Listener,
    local_addr: SocketAddr,
}

impl<N: Network + Default> TcpListener<N> {
    /// Binds to `addr` (`127.0.0.1:0` for an ephemeral port), on the first
    /// of its addresses that can be bound.
    pub async fn bind(addr: impl ToTcpAddrs) -> io::Result<TcpListener<N>> {
        TcpListener::bind_with(N::default(), addr).await
    }
}

impl<N: Network> TcpListener<N> {
    /// [`bind`](Self::bind) on `network`.
    pub async fn bind_with(network: N, addr: impl ToTcpAddrs) -> io::Result<TcpListener<N>> {
        let addrs = addr.to_tcp_addrs().resolve(&network).await?;
        let inner = first_that_works(
            addrs,
            || "the address to bind".to_owned(),
            |addr| network.bind(addr),
        )
        .await?;
        let local_addr = network.local_addr(&inner)?;
        Ok(TcpListener {
            network,
            inner,
            local_addr,
        })
    }
}

impl<N: Network> Listener for TcpListener<N> {
    type Io = N::Stream;

    async fn accept(&mut self) -> io::Result<(N::Stream, Option<SocketAddr>)> {
        let (stream, peer) = self.network.accept(&self.inner).await?;
        Ok((stream, Some(peer)))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.local_addr)
    }
}

/// A TCP [`Connector`] to `host:port` on `N`'s sockets. The name is looked
/// up on every attempt (where it points may change between reconnects) and
/// its addresses tried in order.
#[derive(Debug, Clone)]
pub struct TcpConnector<N: Network> {
    network: N,
    /// `host:port`.
    authority: String,
}

impl<N: Network + Default> TcpConnector<N> {
    /// Connects to `target`: `host:port`, optionally prefixed `http://`.
    pub fn new(target: &str) -> TcpConnector<N> {
        TcpConnector::with_network(N::default(), target)
    }
}

impl<N: Network> TcpConnector<N> {
    /// [`new`](Self::new) on `network`.
    pub fn with_network(network: N, target: &str) -> TcpConnector<N> {
        TcpConnector {
            network,
            authority: authority_of(target).to_owned(),
        }
    }
}

impl<N: Network> Connector for TcpConnector<N> {
    type Io = N::Stream;

    async fn connect(&self) -> io::Result<N::Stream> {
        let network = &self.network;
        let addrs = self.authority.to_tcp_addrs().resolve(network).await?;
        first_that_works(
            addrs,
            || self.authority.clone(),
            |addr| async move {
                // Which of a name's addresses failed, and how.
                let error = |e: io::Error| io::Error::new(e.kind(), format!("{addr}: {e}"));
                network.connect(addr).await.map_err(error)
            },
        )
        .await
    }
}

/// A runtime and its TCP sockets, with the conveniences every adapter
/// offers: serving on an address and channels to a target.
#[derive(Debug, Clone)]
pub struct Tcp<N: Network> {
    runtime: Arc<dyn Runtime>,
    network: N,
}

impl<N: Network + Runtime> Tcp<N> {
    /// Tasks and timers on `runtime`, sockets on it too.
    pub fn on(runtime: N) -> Tcp<N> {
        Tcp::new(Arc::new(runtime.clone()), runtime)
    }
}

impl<N: Network> Tcp<N> {
    /// Tasks and timers on `runtime`, sockets on `network`.
    pub fn new(runtime: Arc<dyn Runtime>, network: N) -> Tcp<N> {
        Tcp { runtime, network }
    }

    /// A [`Server`] on the runtime.
    pub fn server(&self) -> Server {
        Server::with_runtime(Arc::clone(&self.runtime))
    }

    /// Binds `addr` and serves `router` with the default configuration.
    pub async fn serve(&self, addr: impl ToTcpAddrs, router: Router) -> io::Result<ServerHandle> {
        let listener = TcpListener::bind_with(self.network.clone(), addr).await?;
        Ok(self.server().serve(listener, router))
    }

    /// A lazily connecting [`Channel`] to `target` (`host:port` or
    /// `http://host:port`) with the default configuration.
    pub fn channel(&self, target: &str) -> Channel {
        self.channel_with(target, ChannelConfig::default())
    }

    /// A lazily connecting [`Channel`] with `config`; its `:authority` is
    /// set to `target`'s.
    pub fn channel_with(&self, target: &str, mut config: ChannelConfig) -> Channel {
        config.client.authority = authority_of(target).to_owned();
        let connector = TcpConnector::with_network(self.network.clone(), target);
        Channel::with_runtime(Arc::clone(&self.runtime), connector, config)
    }

    /// A channel to `target`, connected before returning (`UNAVAILABLE` if
    /// the server cannot be reached).
    pub async fn connect(&self, target: &str) -> Result<Channel, Status> {
        let channel = self.channel(target);
        channel.ready().await?;
        Ok(channel)
    }
}

/// Writes a runtime adapter's free functions, `server`, `serve`, `channel`,
/// `channel_with` and `connect`, on `$runtime`: an expression for the
/// adapter's runtime, which is also its [`Network`]. Each adapter invokes
/// it once, so the five are written here only.
#[doc(hidden)]
#[macro_export]
macro_rules! adapter_functions {
    ($runtime:expr) => {
        #[doc = concat!("A [`Server`](ferrule_core::api::Server) on `", stringify!($runtime), "`.")]
        pub fn server() -> $crate::api::Server {
            $crate::api::Tcp::on($runtime).server()
        }

        /// This adapter's runtime, shared: what `server`, `serve` and the
        /// channels here spawn on and time with (for an application's own
        /// timers and tasks, whichever adapter `ferrule::rt` stands for).
        pub fn runtime() -> ::std::sync::Arc<dyn $crate::api::Runtime> {
            ::std::sync::Arc::new($runtime)
        }

        /// Binds `addr` and serves `router` with the default configuration.
        pub async fn serve(
            addr: impl $crate::api::ToTcpAddrs,
            router: $crate::api::Router,
        ) -> ::std::io::Result<$crate::api::ServerHandle> {
            $crate::api::Tcp::on($runtime).serve(addr, router).await
        }

        /// A lazily connecting [`Channel`](ferrule_core::api::Channel) to
        /// `target` (`host:port` or `http://host:port`) with the default
        /// configuration.
        pub fn channel(target: &str) -> $crate::api::Channel {
            $crate::api::Tcp::on($runtime).channel(target)
        }

        /// A lazily connecting [`Channel`](ferrule_core::api::Channel) with
        /// `config`; its `:authority` is set to `target`'s.
        pub fn channel_with(
            target: &str,
            config: $crate::api::ChannelConfig,
        ) -> $crate::api::Channel {
            $crate::api::Tcp::on($runtime).channel_with(target, config)
        }

        /// A channel to `target`, connected before returning (`UNAVAILABLE`
        /// if the server cannot be reached).
        pub async fn connect(
            target: &str,
        ) -> ::std::result::Result<$crate::api::Channel, $crate::Status> {
            $crate::api::Tcp::on($runtime).connect(target).await
        }
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::pin::{Pin, pin};
    use std::sync::Mutex;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::api::Timer;

    /// Sockets that exist only as what was asked of them: names resolve
    /// from a table, IPv6 addresses refuse connections, port 1 is taken.
    #[derive(Clone, Debug, Default)]
    struct FakeNetwork {
        lookups: Arc<Mutex<Vec<String>>>,
        attempts: Arc<Mutex<Vec<SocketAddr>>>,
    }

    impl Network for FakeNetwork {
        type Listener = SocketAddr;
        /// A connected stream: whatever carries bytes will do.
        type Stream = io::Cursor<Vec<u8>>;

        async fn bind(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
            if addr.port() == 1 {
                return Err(io::ErrorKind::AddrInUse.into());
            }
            Ok(addr)
        }

        fn local_addr(&self, listener: &SocketAddr) -> io::Result<SocketAddr> {
            Ok(*listener)
        }

        async fn accept(&self, _: &SocketAddr) -> io::Result<(Self::Stream, SocketAddr)> {
            std::future::pending().await
        }

        async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
            self.attempts.lock().unwrap().push(addr);
            if addr.is_ipv6() {
                return Err(io::ErrorKind::ConnectionRefused.into());
            }
            Ok(io::Cursor::default())
        }

        async fn resolve(&self, host_port: &str) -> io::Result<Vec<SocketAddr>> {
            self.lookups.lock().unwrap().push(host_port.to_owned());
            match host_port {
                "dual.test:80" => Ok(vec![addr("[::1]:80"), addr("127.0.0.1:80")]),
                "six.test:80" => Ok(vec![addr("[::1]:80"), addr("[::2]:80")]),
                "empty.test:80" => Ok(Vec::new()),
                _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
            }
        }
    }

    /// A runtime nothing is asked of: tasks are dropped, timers never fire.
    #[derive(Debug)]
    struct Idle;

    impl Runtime for Idle {
        fn spawn(&self, _: Pin<Box<dyn Future<Output = ()> + Send>>) {}

        fn new_timer(&self, _: std::time::Instant) -> Pin<Box<dyn Timer>> {
            Box::pin(Never)
        }
    }

    #[derive(Debug)]
    struct Never;

    impl Future for Never {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }

    impl Timer for Never {
        fn reset(self: Pin<&mut Self>, _: std::time::Instant) {}
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// The output of a future that is ready when first polled.
    fn now_or_never<F: Future>(future: F) -> F::Output {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the fake network never waits"),
        }
    }

    #[test]
    fn addresses_are_taken_as_they_are_and_names_kept_for_lookup() {
        let resolved = |text: &str| TcpAddrs::Resolved(vec![addr(text)]);
        let lookup = |text: &str| TcpAddrs::HostPort(text.to_owned());
        assert_eq!("127.0.0.1:80".to_tcp_addrs(), resolved("127.0.0.1:80"));
        assert_eq!("[::1]:80".to_owned().to_tcp_addrs(), resolved("[::1]:80"));
        assert_eq!("localhost:80".to_tcp_addrs(), lookup("localhost:80"));
        assert_eq!(("localhost", 80).to_tcp_addrs(), lookup("localhost:80"));
        assert_eq!(("::1", 80).to_tcp_addrs(), resolved("[::1]:80"));
        assert_eq!(
            (String::from("10.0.0.1"), 80).to_tcp_addrs(),
            resolved("10.0.0.1:80")
        );
        assert_eq!(
            (Ipv4Addr::LOCALHOST, 80).to_tcp_addrs(),
            resolved("127.0.0.1:80")
        );
        assert_eq!(
            (Ipv6Addr::LOCALHOST, 80).to_tcp_addrs(),
            resolved("[::1]:80")
        );
        assert_eq!(
            (IpAddr::from(Ipv4Addr::LOCALHOST), 80).to_tcp_addrs(),
            resolved("127.0.0.1:80")
        );
        assert_eq!(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80).to_tcp_addrs(),
            resolved("127.0.0.1:80")
        );
        assert_eq!(
            SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 0, 0).to_tcp_addrs(),
            resolved("[::1]:80")
        );
        let two = [addr("127.0.0.1:1"), addr("127.0.0.1:2")];
        assert_eq!(two[..].to_tcp_addrs(), TcpAddrs::Resolved(two.to_vec()));
    }

    #[test]
    fn a_connector_looks_the_name_up_on_every_attempt_and_tries_each_address() {
        let network = FakeNetwork::default();
        let connector = TcpConnector::with_network(network.clone(), "http://dual.test:80/");
        now_or_never(connector.connect()).unwrap();
        now_or_never(connector.connect()).unwrap();
        assert_eq!(*network.lookups.lock().unwrap(), ["dual.test:80"; 2]);
        let tried = [addr("[::1]:80"), addr("127.0.0.1:80")];
        assert_eq!(*network.attempts.lock().unwrap(), [tried, tried].concat());
    }

    #[test]
    fn a_connector_reports_the_last_failure_with_its_address() {
        let network = FakeNetwork::default();
        let connector = TcpConnector::with_network(network.clone(), "six.test:80");
        let error = now_or_never(connector.connect()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        assert!(error.to_string().starts_with("[::2]:80: "), "{error}");
        assert_eq!(network.attempts.lock().unwrap().len(), 2);

        let connector = TcpConnector::with_network(network.clone(), "empty.test:80");
        let error = now_or_never(connector.connect()).unwrap_err();
        assert_eq!(error.to_string(), "empty.test:80 resolves to no address");

        let connector = TcpConnector::with_network(network, "nowhere.test:80");
        let error = now_or_never(connector.connect()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn literal_addresses_are_not_looked_up() {
        let network = FakeNetwork::default();
        let connector = TcpConnector::with_network(network.clone(), "127.0.0.1:80");
        now_or_never(connector.connect()).unwrap();
        let listener = now_or_never(TcpListener::bind_with(network.clone(), "127.0.0.1:0"));
        assert!(listener.is_ok());
        assert!(network.lookups.lock().unwrap().is_empty());
    }

    #[test]
    fn a_listener_binds_the_first_address_it_can() {
        let network = FakeNetwork::default();
        let addrs = [addr("127.0.0.1:1"), addr("127.0.0.1:2")];
        let listener = now_or_never(TcpListener::bind_with(network.clone(), &addrs[..])).unwrap();
        assert_eq!(Listener::local_addr(&listener), Some(addrs[1]));
        let error = now_or_never(TcpListener::bind_with(network, "127.0.0.1:1")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_channel_sends_its_targets_authority() {
        let tcp = Tcp::new(Arc::new(Idle), FakeNetwork::default());
        let channel = tcp.channel("http://dual.test:80/");
        assert_eq!(channel.config().client.authority, "dual.test:80");
    }
}
