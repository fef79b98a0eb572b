//! Assembles the plugin's gRPC server, prints the handshake line and runs until
//! the server stops us (or disappears).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::transport::Server;

use crate::proto::grpc::health::v1::health_server::HealthServer;
use crate::proto::logical::plugin_version_server::PluginVersionServer;
use crate::proto::pb::backend_server::{Backend, BackendServer};
use crate::proto::plugin::grpc_broker_server::GrpcBrokerServer;
use crate::proto::plugin::grpc_controller_server::GrpcControllerServer;
use crate::proto::plugin::grpc_stdio_server::GrpcStdioServer;
use crate::proto::pluginutil::multiplexing::plugin_multiplexing_server::PluginMultiplexingServer;

use super::broker::{Broker, BrokerService};
use super::controller::{Controller, HealthService, Multiplexing, Stdio, Version};
use super::handshake::{handshake_line, LaunchEnv};
use super::shutdown::Shutdown;
use super::tls::{client_config, parse_pem_cert, server_config, Identity, MtlsConfig};

/// How long in-flight calls may finish after Shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(300);

/// Errors that stop the plugin before or while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the handshake line: {0}")]
    Handshake(std::io::Error),
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// What the backend layer gets from the transport.
pub struct TransportContext {
    /// Dials the server's Storage/SystemView for a mount.
    pub broker: Arc<Broker>,
    /// True in legacy metadata mode (no storage; refuse requests).
    pub metadata_mode: bool,
}

/// Runs the plugin: the backend service is built by `make_backend` from the broker.
pub async fn serve<B, F>(
    launch: LaunchEnv,
    version: String,
    make_backend: F,
) -> Result<(), ServeError>
where
    B: Backend,
    F: FnOnce(TransportContext) -> B,
{
    let shutdown = Shutdown::new();
    let tls = match &launch.client_cert_pem {
        Some(pem) => {
            let peer = parse_pem_cert(pem)?;
            let id = Identity::generate()?;
            let mtls = MtlsConfig {
                server: server_config(&id, peer.clone())?,
                client: client_config(&id, peer)?,
            };
            Some((id.cert_der, mtls))
        }
        None => None,
    };
    let broker = Broker::new(tls.as_ref().map(|(_, m)| m.clone()), shutdown.clone());
    let backend = make_backend(TransportContext {
        broker: broker.clone(),
        metadata_mode: launch.metadata_mode,
    });

    let (listener, socket_path) = bind(&launch.socket_dir)?;
    let incoming = accept_loop(
        listener,
        tls.as_ref().map(|(_, m)| m.server.clone()),
        shutdown.clone(),
    );

    const MAX: usize = usize::MAX;
    let router = Server::builder()
        .tcp_nodelay(true)
        .add_service(
            BackendServer::new(backend)
                .max_decoding_message_size(MAX)
                .max_encoding_message_size(MAX),
        )
        .add_service(GrpcBrokerServer::new(BrokerService(broker)))
        .add_service(GrpcControllerServer::new(Controller(shutdown.clone())))
        .add_service(GrpcStdioServer::new(Stdio(shutdown.clone())))
        .add_service(HealthServer::new(HealthService))
        .add_service(PluginMultiplexingServer::new(Multiplexing))
        .add_service(PluginVersionServer::new(Version(version)));

    // The listener is bound, so the server can connect as soon as it reads the line.
    let line = handshake_line(
        "unix",
        &socket_path.to_string_lossy(),
        tls.as_ref().map(|(c, _)| c.as_ref()),
    );
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(ServeError::Handshake)?;
    }

    spawn_watchdogs(shutdown.clone());
    // The server keeps its connection (and the broker and stdio streams) open,
    // so a graceful stop would wait forever: give in-flight calls a moment, then go.
    let stop = shutdown.clone();
    let serving = router.serve_with_incoming_shutdown(incoming, async move { stop.wait().await });
    let result = tokio::select! {
        r = serving => r,
        _ = async {
            shutdown.wait().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    };
    let _ = std::fs::remove_file(&socket_path);
    tracing::debug!("plugin server stopped");
    result.map_err(ServeError::from)
}

fn bind(dir: &Path) -> Result<(UnixListener, PathBuf), ServeError> {
    let mut last = None;
    for _ in 0..16 {
        let path = dir.join(format!("plugin{}", rand::random::<u32>()));
        match UnixListener::bind(&path) {
            Ok(l) => return Ok((l, path)),
            Err(e) => last = Some((path, e)),
        }
    }
    let (path, source) =
        last.unwrap_or_else(|| (dir.to_path_buf(), std::io::Error::other("no attempt")));
    Err(ServeError::Listen {
        path: path.to_string_lossy().into_owned(),
        source,
    })
}

/// Accepts connections and finishes TLS handshakes off the accept path; peers
/// that fail the handshake (no or wrong client cert, plaintext) are dropped.
fn accept_loop(
    listener: UnixListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: Shutdown,
) -> ReceiverStream<Result<Conn, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        loop {
            let accepted = tokio::select! {
                _ = shutdown.wait() => break,
                a = listener.accept() => a,
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let conn = match acceptor {
                    None => Conn::Plain(stream),
                    Some(a) => {
                        match tokio::time::timeout(Duration::from_secs(10), a.accept(stream)).await
                        {
                            Ok(Ok(s)) => Conn::Tls(Box::new(s)),
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "refused a connection that failed mutual TLS");
                                return;
                            }
                            Err(_) => {
                                tracing::warn!(
                                    "refused a connection that did not finish its TLS handshake"
                                );
                                return;
                            }
                        }
                    }
                };
                let _ = tx.send(Ok(conn)).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Exit when the server can no longer reach us: our parent changed (the server
/// died and we were re-parented). SIGINT is ignored, as go-plugin does, so that
/// Ctrl-C on a foreground server leaves the shutdown to the server.
fn spawn_watchdogs(shutdown: Shutdown) {
    let parent = std::os::unix::process::parent_id();
    let s = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if std::os::unix::process::parent_id() != parent {
                tracing::debug!("parent process is gone; exiting");
                s.trigger();
                return;
            }
        }
    });
    tokio::spawn(async move {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        {
            while sig.recv().await.is_some() {
                tracing::trace!("ignoring SIGINT; the server stops plugins itself");
            }
        }
    });
}

/// A connection from the server: TLS (normal) or plaintext (no AutoMTLS).
pub enum Conn {
    Tls(Box<tokio_rustls::server::TlsStream<UnixStream>>),
    Plain(UnixStream),
}

impl Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
