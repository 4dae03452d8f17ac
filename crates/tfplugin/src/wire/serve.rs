//! The provider process: listen, announce on stdout, serve `tfplugin6.Provider` plus
//! go-plugin's health/controller/stdio/broker services, and stop on Shutdown or SIGTERM.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use super::WireError;
use super::handshake::{self, Network};
use super::proto::plugin;
use super::proto::tfplugin6::provider_server::{Provider, ProviderServer};
use super::tls::{self, ServerIdentity};

/// terraform-plugin-go's limit for both directions; tonic's default (4 MiB) breaks large states.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;
/// Time allowed for in-flight RPCs after Shutdown; Terraform kills us after 2 s.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);
/// Time allowed after SIGTERM for cancelled operations to answer with their state.
const TERMINATE_GRACE: Duration = Duration::from_secs(10);
/// A client that stalls its TLS handshake must not hold a task forever.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the process is served.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Full provider source address, the key of `TF_REATTACH_PROVIDERS` in debug mode,
    /// e.g. `registry.terraform.io/example/widgets`.
    pub provider_address: &'static str,
    /// The provider's level variable and the crates whose logs are its own.
    pub log: super::logging::LogOptions,
    /// Debug (reattach) mode: plaintext, no magic cookie, stop on Ctrl-C.
    pub debug: bool,
    /// True while the current thread runs a request whose panics the service
    /// recovers from (see [`crate::wire::logging::install_panic_hook`]).
    pub recovered_panic: fn() -> bool,
    /// Called on SIGTERM before shutting down: cancels in-flight operations as StopProvider
    /// does, so that they answer (with the state they reached) before the process exits.
    pub on_terminate: fn(),
}

/// Wraps a [`Provider`] implementation with the 256 MiB message limits.
pub fn provider_service<S: Provider>(provider: S) -> ProviderServer<S> {
    with_limits(ProviderServer::new(provider))
}

fn with_limits<S: Provider>(server: ProviderServer<S>) -> ProviderServer<S> {
    server
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE)
}

/// What the launching process told us through the environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Launch {
    pub cookie: Option<String>,
    pub protocol_versions: Option<String>,
    pub client_cert_pem: Option<String>,
    pub min_port: Option<String>,
    pub max_port: Option<String>,
    /// Listen on TCP `127.0.0.1` (in the port range) instead of a unix socket.
    pub tcp: bool,
    /// Handle SIGINT/SIGTERM (off in in-process tests, which share the test runner's signals).
    pub signals: bool,
}

impl Launch {
    fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        Self {
            cookie: var(handshake::MAGIC_COOKIE_KEY),
            protocol_versions: var("PLUGIN_PROTOCOL_VERSIONS"),
            client_cert_pem: var("PLUGIN_CLIENT_CERT").filter(|s| !s.trim().is_empty()),
            min_port: var("PLUGIN_MIN_PORT"),
            max_port: var("PLUGIN_MAX_PORT"),
            // go-plugin itself only uses TCP where unix sockets are unavailable; PLUGIN_TCP=1
            // forces it (e.g. for hosts whose temp dir paths are too long for a socket).
            tcp: !cfg!(unix)
                || var("PLUGIN_TCP").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            signals: true,
        }
    }
}

/// Serves `provider` the way Terraform expects, reading the launch environment
/// (`TF_PLUGIN_MAGIC_COOKIE`, `PLUGIN_PROTOCOL_VERSIONS`, `PLUGIN_CLIENT_CERT`,
/// `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT`, `PLUGIN_TCP`) and printing the handshake line
/// on stdout. Returns after `GRPCController.Shutdown`, SIGTERM, or (debug) SIGINT.
///
/// The 256 MiB message limits are applied here, so a plain `ProviderServer::new` works too.
pub async fn serve<S: Provider>(
    provider: ProviderServer<S>,
    opts: ServeOptions,
) -> Result<(), WireError> {
    serve_with(
        provider,
        opts,
        Launch::from_env(),
        write_stdout,
        CancellationToken::new(),
    )
    .await
}

/// The only place that writes to stdout: one announcement, flushed.
#[allow(clippy::print_stdout)]
fn write_stdout(text: String) -> io::Result<()> {
    use std::io::Write as _;
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// [`serve`] with the environment, the announcement sink and the stop token supplied by
/// the caller (tests read the handshake line instead of stdout).
pub(crate) async fn serve_with<S: Provider>(
    provider: ProviderServer<S>,
    opts: ServeOptions,
    launch: Launch,
    announce: impl FnOnce(String) -> io::Result<()>,
    stop: CancellationToken,
) -> Result<(), WireError> {
    if !opts.debug {
        handshake::check_cookie(launch.cookie.as_deref())?;
        handshake::negotiate_version(launch.protocol_versions.as_deref())?;
    }

    // Debug mode is plaintext by contract (reattach clients never use TLS).
    let tls = match (&launch.client_cert_pem, opts.debug) {
        (Some(pem), false) => {
            let identity = ServerIdentity::generate()?;
            let config = tls::server_config(&identity, pem)?;
            Some((identity, tokio_rustls::TlsAcceptor::from(Arc::new(config))))
        }
        _ => None,
    };

    let listener = Listener::bind(&launch)?;
    let (network, addr) = (listener.network(), listener.addr());
    let terminating = Arc::new(std::sync::atomic::AtomicBool::new(false));

    if launch.signals {
        spawn_signal_handlers(
            stop.clone(),
            opts.debug,
            opts.on_terminate,
            terminating.clone(),
        )?;
        if !opts.debug {
            spawn_orphan_watch(stop.clone());
        }
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;

    let (conn_tx, conn_rx) = mpsc::channel::<Conn>(16);
    let acceptor = tls.as_ref().map(|(_, acceptor)| acceptor.clone());
    let accept_task = tokio::spawn(accept_loop(
        listener.clone(),
        acceptor,
        conn_tx,
        stop.clone(),
    ));
    let incoming = tokio_stream::wrappers::ReceiverStream::new(conn_rx).map(Ok::<_, io::Error>);

    let router = tonic::transport::Server::builder()
        .add_service(with_limits(provider))
        .add_service(health_service)
        .add_service(plugin::grpc_controller_server::GrpcControllerServer::new(
            Controller { stop: stop.clone() },
        ))
        .add_service(plugin::grpc_stdio_server::GrpcStdioServer::new(Stdio {
            stop: stop.clone(),
        }))
        .add_service(plugin::grpc_broker_server::GrpcBrokerServer::new(Broker {
            stop: stop.clone(),
        }));

    let announcement = if opts.debug {
        handshake::reattach_lines(opts.provider_address, std::process::id(), network, &addr)
    } else {
        handshake::handshake_line(
            network,
            &addr,
            tls.as_ref().map(|(id, _)| id.cert_der.as_ref()),
        )
    };
    announce(announcement).map_err(WireError::Stdout)?;
    let (net, with_tls) = (network.as_str(), tls.is_some());
    tracing::debug!(
        network = net,
        address = %addr,
        tls = with_tls,
        "plugin server listening on {net} {addr} (TLS {})",
        if with_tls { "on" } else { "off" }
    );

    let server = router.serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned());
    let grace = async {
        stop.cancelled().await;
        let grace = if terminating.load(std::sync::atomic::Ordering::SeqCst) {
            TERMINATE_GRACE
        } else {
            SHUTDOWN_GRACE
        };
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        res = server => res.map_err(WireError::Transport),
        () = grace => {
            tracing::debug!("connections still open after the shutdown grace period; exiting anyway");
            Ok(())
        }
    };
    stop.cancel();
    accept_task.abort();
    // Dropping the listener removes the socket and its directory.
    drop(listener);
    result
}

/// Accepts connections, runs TLS handshakes concurrently, and hands finished streams to
/// tonic. A failed handshake only drops that connection.
async fn accept_loop(
    listener: Listener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    conns: mpsc::Sender<Conn>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                // E.g. EMFILE: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accepting a plugin connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        match &acceptor {
            None => {
                if conns.send(Conn(stream)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let (acceptor, conns) = (acceptor.clone(), conns.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => {
                            let _ = conns.send(Conn(Box::new(tls))).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

#[cfg(unix)]
fn spawn_signal_handlers(
    stop: CancellationToken,
    debug: bool,
    on_terminate: fn(),
    terminating: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), WireError> {
    use tokio::signal::unix::{SignalKind, signal};
    // Registering SIGINT replaces the default "terminate" action: Ctrl-C reaches the
    // provider too, and Terraform stops it properly (StopProvider, then Shutdown).
    let mut sigint = signal(SignalKind::interrupt()).map_err(WireError::Io)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(WireError::Io)?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = sigterm.recv() => {
                    // As StopProvider: in-flight operations stop waiting and answer with the
                    // state they reached (a created account's ID included); the graceful
                    // shutdown then lets those answers out before the process exits.
                    tracing::info!("SIGTERM received; stopping in-flight operations, then shutting down");
                    terminating.store(true, std::sync::atomic::Ordering::SeqCst);
                    on_terminate();
                    stop.cancel();
                    return;
                }
                _ = sigint.recv() => {
                    if debug {
                        tracing::info!("interrupt received; stopping the debug provider");
                        stop.cancel();
                        return;
                    }
                    tracing::debug!("ignoring SIGINT; Terraform stops providers itself");
                }
            }
        }
    });
    Ok(())
}

/// Stops serving when the process that launched us is gone. Terraform normally
/// ends a provider with Shutdown; if it dies instead (killed, or SIGPIPE when
/// its output pipe closes), nothing else would, since we ignore SIGINT.
#[cfg(unix)]
fn spawn_orphan_watch(stop: CancellationToken) {
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    if std::os::unix::process::parent_id() != parent {
                        tracing::warn!("Terraform (the parent process) is gone; shutting down");
                        stop.cancel();
                        return;
                    }
                }
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_orphan_watch(_stop: CancellationToken) {}

#[cfg(not(unix))]
fn spawn_signal_handlers(
    stop: CancellationToken,
    debug: bool,
    _on_terminate: fn(),
    _terminating: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), WireError> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                res = tokio::signal::ctrl_c() => {
                    if res.is_err() || debug {
                        stop.cancel();
                        return;
                    }
                    tracing::debug!("ignoring Ctrl-C; Terraform stops providers itself");
                }
            }
        }
    });
    Ok(())
}

// ------------------------------------------------------------------ listener

/// Any byte stream we serve gRPC over (plain or TLS, unix or TCP).
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A served connection; boxing unifies the four transport/TLS combinations.
struct Conn(Box<dyn Io>);

impl Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// The listening socket. A unix socket lives in a fresh private temp directory that is
/// removed when the last handle is dropped.
#[derive(Clone)]
enum Listener {
    #[cfg(unix)]
    Unix(Arc<tokio::net::UnixListener>, Arc<SocketDir>),
    Tcp(Arc<tokio::net::TcpListener>),
}

impl Listener {
    fn bind(launch: &Launch) -> Result<Self, WireError> {
        #[cfg(unix)]
        if !launch.tcp {
            let dir = SocketDir::create()?;
            let listener = tokio::net::UnixListener::bind(&dir.socket).map_err(WireError::Io)?;
            return Ok(Listener::Unix(Arc::new(listener), Arc::new(dir)));
        }
        let range = handshake::port_range(launch.min_port.as_deref(), launch.max_port.as_deref())?;
        let std_listener = handshake::bind_tcp_in_range(range)?;
        std_listener.set_nonblocking(true).map_err(WireError::Io)?;
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(WireError::Io)?;
        Ok(Listener::Tcp(Arc::new(listener)))
    }

    fn network(&self) -> Network {
        match self {
            #[cfg(unix)]
            Listener::Unix(..) => Network::Unix,
            Listener::Tcp(_) => Network::Tcp,
        }
    }

    fn addr(&self) -> String {
        match self {
            #[cfg(unix)]
            Listener::Unix(_, dir) => dir.socket.display().to_string(),
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "127.0.0.1:0".to_owned()),
        }
    }

    async fn accept(&self) -> io::Result<Box<dyn Io>> {
        match self {
            #[cfg(unix)]
            Listener::Unix(l, _) => Ok(Box::new(l.accept().await?.0)),
            Listener::Tcp(l) => {
                let (stream, _) = l.accept().await?;
                // gRPC is latency-bound request/response traffic.
                let _ = stream.set_nodelay(true);
                Ok(Box::new(stream))
            }
        }
    }
}

/// A private (0700) directory holding the socket, like go-plugin's `plugin*` temp names.
#[cfg(unix)]
struct SocketDir {
    dir: std::path::PathBuf,
    socket: std::path::PathBuf,
}

#[cfg(unix)]
impl SocketDir {
    fn create() -> Result<Self, WireError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let base = std::env::temp_dir();
        let mut last_err = None;
        for _ in 0..8 {
            let dir = base.join(format!("plugin{:016x}", rand::random::<u64>()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let socket = dir.join("plugin.sock");
                    return Ok(Self { dir, socket });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(WireError::Io(e)),
            }
        }
        Err(WireError::Io(last_err.unwrap_or_else(|| {
            io::Error::other("no temp dir name available")
        })))
    }
}

#[cfg(unix)]
impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

// ------------------------------------------------------------------ go-plugin services

/// `plugin.GRPCController`: Terraform's way of ending the process after each walk.
struct Controller {
    stop: CancellationToken,
}

#[tonic::async_trait]
impl plugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(
        &self,
        _request: Request<plugin::Empty>,
    ) -> Result<Response<plugin::Empty>, Status> {
        tracing::debug!("GRPCController.Shutdown received; stopping");
        // Graceful: this response is still delivered, then the server stops.
        self.stop.cancel();
        Ok(Response::new(plugin::Empty {}))
    }
}

type BoxStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A stream that yields nothing and ends when the server stops.
fn idle_until<T: Send + 'static>(stop: CancellationToken) -> BoxStream<T> {
    Box::pin(
        futures::stream::once(stop.cancelled_owned()).filter_map(|()| futures::future::ready(None)),
    )
}

/// `plugin.GRPCStdio`: we never write to stdout/stderr through gRPC (logs go to fd 2), so
/// the stream stays open and empty. An open stream keeps go-plugin quiet, whereas
/// Unimplemented makes it log a warning on every connection.
struct Stdio {
    stop: CancellationToken,
}

#[tonic::async_trait]
impl plugin::grpc_stdio_server::GrpcStdio for Stdio {
    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<BoxStream<plugin::StdioData>>, Status> {
        Ok(Response::new(idle_until(self.stop.clone())))
    }
}

/// `plugin.GRPCBroker`: Terraform providers never broker extra connections; the client
/// still opens the stream on connect, so keep it open (and silent) until shutdown.
struct Broker {
    stop: CancellationToken,
}

#[tonic::async_trait]
impl plugin::grpc_broker_server::GrpcBroker for Broker {
    async fn start_stream(
        &self,
        request: Request<tonic::Streaming<plugin::ConnInfo>>,
    ) -> Result<Response<BoxStream<plugin::ConnInfo>>, Status> {
        // Drain what the client sends so its flow-control window never fills.
        let mut inbound = request.into_inner();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    msg = inbound.next() => if !matches!(msg, Some(Ok(_))) { return },
                }
            }
        });
        Ok(Response::new(idle_until(self.stop.clone())))
    }
}
