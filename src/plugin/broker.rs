//! go-plugin's GRPCBroker: learning where the server's Storage/SystemView listen.
//!
//! The server opens a long-lived `StartStream` and announces one `ConnInfo` per
//! mount; `Setup` names the id it wants. The two travel on different HTTP/2
//! streams, so either can arrive first: announcements are kept by id and `dial`
//! waits for its id (5 s, as go-plugin). The stream closing means the server is
//! gone, which ends the process.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

use crate::proto::plugin::grpc_broker_server::GrpcBroker;
use crate::proto::plugin::ConnInfo;

use super::shutdown::Shutdown;
use super::tls::MtlsConfig;

/// How long `dial` waits for the server's announcement.
pub(crate) const CONN_INFO_TIMEOUT: Duration = Duration::from_secs(5);

/// Failures reaching a brokered service.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("timeout waiting for connection info")]
    Timeout,
    #[error("unsupported broker network {0:?}")]
    Network(String),
    #[error("cannot build broker endpoint: {0}")]
    Endpoint(#[from] tonic::transport::Error),
}

/// Announcements from the server plus what we need to dial them.
pub struct Broker {
    conns: Mutex<HashMap<u32, ConnInfo>>,
    arrived: Notify,
    tls: Option<MtlsConfig>,
    shutdown: Shutdown,
}

impl Broker {
    /// A broker that dials with `tls` (None = plaintext) and reports the server's
    /// departure through `shutdown`.
    pub fn new(tls: Option<MtlsConfig>, shutdown: Shutdown) -> Arc<Self> {
        Arc::new(Self {
            conns: Mutex::new(HashMap::new()),
            arrived: Notify::new(),
            tls,
            shutdown,
        })
    }

    fn record(&self, info: ConnInfo) {
        if let Ok(mut m) = self.conns.lock() {
            m.insert(info.service_id, info);
        }
        self.arrived.notify_waiters();
    }

    fn take(&self, id: u32) -> Option<ConnInfo> {
        self.conns.lock().ok().and_then(|mut m| m.remove(&id))
    }

    /// Waits for the announcement of `id` and returns a lazily connected channel to it.
    pub async fn dial(&self, id: u32) -> Result<Channel, BrokerError> {
        let deadline = tokio::time::Instant::now() + CONN_INFO_TIMEOUT;
        let info = loop {
            let notified = self.arrived.notified();
            if let Some(info) = self.take(id) {
                break info;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break self.take(id).ok_or(BrokerError::Timeout)?;
            }
        };
        connect(info, self.tls.clone())
    }
}

fn connect(info: ConnInfo, tls: Option<MtlsConfig>) -> Result<Channel, BrokerError> {
    if info.network != "unix" && info.network != "tcp" {
        return Err(BrokerError::Network(info.network));
    }
    let endpoint = Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let info = info.clone();
        let tls = tls.clone();
        async move { dial_stream(&info, tls).await }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

type BoxIo = Box<dyn IoStream>;
/// Any byte stream we can run HTTP/2 over.
pub(crate) trait IoStream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> IoStream for T {}

async fn dial_stream(info: &ConnInfo, tls: Option<MtlsConfig>) -> std::io::Result<TokioIo<BoxIo>> {
    let raw: BoxIo = if info.network == "unix" {
        Box::new(tokio::net::UnixStream::connect(&info.address).await?)
    } else {
        let s = tokio::net::TcpStream::connect(&info.address).await?;
        s.set_nodelay(true)?;
        Box::new(s)
    };
    let io: BoxIo = match tls {
        None => raw,
        Some(cfg) => {
            let name = rustls::pki_types::ServerName::try_from("localhost")
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let conn = tokio_rustls::TlsConnector::from(cfg.client)
                .connect(name, raw)
                .await?;
            Box::new(conn)
        }
    };
    Ok(TokioIo::new(io))
}

/// The gRPC side of the broker, served to the server.
pub(crate) struct BrokerService(pub Arc<Broker>);

type ConnInfoStream = Pin<Box<dyn Stream<Item = Result<ConnInfo, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcBroker for BrokerService {
    type StartStreamStream = ConnInfoStream;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut inbound = request.into_inner();
        let broker = self.0.clone();
        tokio::spawn(async move {
            while let Ok(Some(info)) = inbound.message().await {
                tracing::trace!(service_id = info.service_id, network = %info.network, "broker connection announced");
                broker.record(info);
            }
            tracing::debug!("broker stream closed by the server; exiting");
            broker.shutdown.trigger();
        });
        // We never announce services of our own: an outbound stream that stays
        // open until the process ends.
        let until_shutdown = self.0.shutdown.clone();
        let out = futures::stream::once(async move {
            until_shutdown.wait().await;
            Err(Status::unavailable("plugin shutting down"))
        });
        Ok(Response::new(Box::pin(out)))
    }
}
