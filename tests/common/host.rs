//! A test host that plays the Vault/OpenBao server's side of the plugin
//! protocol: launches the built binary with the server's environment, reads the
//! handshake, connects over mutual TLS with a P-521 CA certificate like
//! go-plugin's, and serves Storage and SystemView from memory through the broker.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};

use vault_plugin_secrets_aws::plugin::tls::{client_config, server_config, Identity};
use vault_plugin_secrets_aws::proto::pb;
use vault_plugin_secrets_aws::proto::plugin::ConnInfo;

/// The plugin binary cargo built for this test run.
pub fn plugin_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vault-plugin-secrets-aws"))
}

/// A P-521 self-signed CA certificate for localhost, as go-plugin's host makes.
pub fn host_identity() -> (Identity, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("p521 key");
    let mut p = CertificateParams::new(vec!["localhost".into()]).expect("params");
    p.distinguished_name.push(DnType::CommonName, "localhost");
    p.distinguished_name
        .push(DnType::OrganizationName, "HashiCorp");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
        KeyUsagePurpose::KeyCertSign,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = p.self_signed(&key).expect("self-signed");
    let pem = cert.pem();
    (
        Identity::from_parts(cert.der().to_vec(), key.serialize_der()),
        pem,
    )
}

/// In-memory storage shared by the brokered Storage service and the test.
#[derive(Clone, Default)]
pub struct MemStorage(pub Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

impl MemStorage {
    pub fn get_json(&self, key: &str) -> Option<Value> {
        let m = self.0.lock().expect("lock");
        m.get(key).and_then(|v| serde_json::from_slice(v).ok())
    }
    pub fn put_json(&self, key: &str, v: &Value) {
        self.0
            .lock()
            .expect("lock")
            .insert(key.to_string(), serde_json::to_vec(v).expect("json"));
    }
    pub fn keys(&self) -> Vec<String> {
        self.0.lock().expect("lock").keys().cloned().collect()
    }
}

#[tonic::async_trait]
impl pb::storage_server::Storage for MemStorage {
    async fn list(
        &self,
        r: Request<pb::StorageListArgs>,
    ) -> Result<Response<pb::StorageListReply>, Status> {
        let prefix = r.into_inner().prefix;
        let m = self.0.lock().expect("lock");
        let mut keys: Vec<String> = Vec::new();
        for k in m.keys().filter(|k| k.starts_with(&prefix)) {
            let rest = &k[prefix.len()..];
            let child = match rest.find('/') {
                Some(i) => rest[..=i].to_string(),
                None => rest.to_string(),
            };
            if !keys.contains(&child) {
                keys.push(child);
            }
        }
        Ok(Response::new(pb::StorageListReply {
            keys,
            err: String::new(),
        }))
    }
    async fn list_page(
        &self,
        _: Request<pb::StorageListPageArgs>,
    ) -> Result<Response<pb::StorageListReply>, Status> {
        Err(NO())
    }
    async fn get(
        &self,
        r: Request<pb::StorageGetArgs>,
    ) -> Result<Response<pb::StorageGetReply>, Status> {
        let key = r.into_inner().key;
        let m = self.0.lock().expect("lock");
        let entry = m.get(&key).map(|v| pb::StorageEntry {
            key: key.clone(),
            value: v.clone(),
            seal_wrap: false,
        });
        Ok(Response::new(pb::StorageGetReply {
            entry,
            err: String::new(),
        }))
    }
    async fn put(
        &self,
        r: Request<pb::StoragePutArgs>,
    ) -> Result<Response<pb::StoragePutReply>, Status> {
        if let Some(e) = r.into_inner().entry {
            self.0.lock().expect("lock").insert(e.key, e.value);
        }
        Ok(Response::new(pb::StoragePutReply { err: String::new() }))
    }
    async fn delete(
        &self,
        r: Request<pb::StorageDeleteArgs>,
    ) -> Result<Response<pb::StorageDeleteReply>, Status> {
        self.0.lock().expect("lock").remove(&r.into_inner().key);
        Ok(Response::new(pb::StorageDeleteReply { err: String::new() }))
    }
}

/// SystemView with fixed TTLs (ns).
pub struct FixedSystemView {
    pub default_ttl: i64,
    pub max_ttl: i64,
}

const NO: fn() -> Status = || Status::unimplemented("not in the test host");

#[tonic::async_trait]
impl pb::system_view_server::SystemView for FixedSystemView {
    async fn default_lease_ttl(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::TtlReply>, Status> {
        Ok(Response::new(pb::TtlReply {
            ttl: self.default_ttl,
        }))
    }
    async fn max_lease_ttl(&self, _: Request<pb::Empty>) -> Result<Response<pb::TtlReply>, Status> {
        Ok(Response::new(pb::TtlReply { ttl: self.max_ttl }))
    }
    async fn tainted(&self, _: Request<pb::Empty>) -> Result<Response<pb::TaintedReply>, Status> {
        Ok(Response::new(pb::TaintedReply { tainted: false }))
    }
    async fn caching_disabled(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::CachingDisabledReply>, Status> {
        Ok(Response::new(pb::CachingDisabledReply { disabled: false }))
    }
    async fn replication_state(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::ReplicationStateReply>, Status> {
        Ok(Response::new(pb::ReplicationStateReply { state: 0 }))
    }
    async fn response_wrap_data(
        &self,
        _: Request<pb::ResponseWrapDataArgs>,
    ) -> Result<Response<pb::ResponseWrapDataReply>, Status> {
        Err(NO())
    }
    async fn mlock_enabled(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::MlockEnabledReply>, Status> {
        Ok(Response::new(pb::MlockEnabledReply { enabled: false }))
    }
    async fn local_mount(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::LocalMountReply>, Status> {
        Ok(Response::new(pb::LocalMountReply { local: false }))
    }
    async fn entity_info(
        &self,
        _: Request<pb::EntityInfoArgs>,
    ) -> Result<Response<pb::EntityInfoReply>, Status> {
        Err(NO())
    }
    async fn plugin_env(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::PluginEnvReply>, Status> {
        Err(NO())
    }
    async fn groups_for_entity(
        &self,
        _: Request<pb::EntityInfoArgs>,
    ) -> Result<Response<pb::GroupsForEntityReply>, Status> {
        Err(NO())
    }
    async fn generate_password_from_policy(
        &self,
        _: Request<pb::GeneratePasswordFromPolicyRequest>,
    ) -> Result<Response<pb::GeneratePasswordFromPolicyReply>, Status> {
        Err(NO())
    }
    async fn cluster_info(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::ClusterInfoReply>, Status> {
        Err(NO())
    }
}

/// A launched plugin and our connection to it.
pub struct Launched {
    pub child: Child,
    pub channel: Channel,
    pub socket: String,
    pub plugin_cert_der: Vec<u8>,
    pub host_pem: String,
    host: Identity,
    broker_tx: mpsc::Sender<ConnInfo>,
    _broker_stream: tokio::task::JoinHandle<()>,
    _tmp: tempfile::TempDir,
    pub stderr_lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects a TLS client to a plugin-style unix socket with `client_cfg`.
pub async fn connect_tls(
    socket: &str,
    client_cfg: Arc<rustls::ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    dial_tls(socket, client_cfg, None).await
}

/// [`connect_tls`], counting each dial in `dials` when given.
async fn dial_tls(
    socket: &str,
    client_cfg: Arc<rustls::ClientConfig>,
    dials: Option<Arc<std::sync::atomic::AtomicUsize>>,
) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_string();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            if let Some(d) = &dials {
                d.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            let socket = socket.clone();
            let cfg = client_cfg.clone();
            async move {
                let s = tokio::net::UnixStream::connect(&socket).await?;
                let name = rustls::pki_types::ServerName::try_from("localhost")
                    .map_err(std::io::Error::other)?;
                let tls = tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, s)
                    .await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
}

/// Spawns the plugin with the server's env and reads its handshake line.
pub fn spawn_plugin(extra_env: &[(&str, &str)], host_pem: &str) -> (Child, String) {
    let mut cmd = Command::new(plugin_binary());
    cmd.env(
        "VAULT_BACKEND_PLUGIN",
        "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
    )
    .env("PLUGIN_PROTOCOL_VERSIONS", "5")
    .env("PLUGIN_MIN_PORT", "10000")
    .env("PLUGIN_MAX_PORT", "25000")
    .env("PLUGIN_CLIENT_CERT", host_pem)
    .env("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true")
    .env("BAO_PLUGIN_AUTOMTLS_ENABLED", "true")
    .env("VAULT_PLUGIN_METADATA_MODE", "false")
    .env("BAO_PLUGIN_METADATA_MODE", "false")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn plugin");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("handshake line");
    (child, line.trim().to_string())
}

/// Launches the plugin, connects with mTLS and opens the broker stream.
pub async fn launch() -> Launched {
    let (host, host_pem) = host_identity();
    let (mut child, line) = spawn_plugin(&[], &host_pem);
    let parts: Vec<&str> = line.split('|').collect();
    assert_eq!(parts.len(), 6, "handshake line: {line}");
    assert_eq!(&parts[..3], &["1", "5", "unix"]);
    assert_eq!(parts[4], "grpc");
    let plugin_cert_der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(parts[5])
        .expect("raw std base64");
    let socket = parts[3].to_string();

    let stderr_lines = Arc::new(Mutex::new(Vec::new()));
    if let Some(err) = child.stderr.take() {
        let sink = stderr_lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(l);
            }
        });
    }

    let client_cfg = client_config(&host, plugin_cert_der.clone().into()).expect("client cfg");
    let channel = connect_tls(&socket, client_cfg)
        .await
        .expect("mTLS connect");

    let (broker_tx, rx) = mpsc::channel::<ConnInfo>(8);
    let mut broker =
        vault_plugin_secrets_aws::proto::plugin::grpc_broker_client::GrpcBrokerClient::new(
            channel.clone(),
        );
    let stream = tokio::spawn(async move {
        if let Ok(resp) = broker.start_stream(ReceiverStream::new(rx)).await {
            let mut inbound = resp.into_inner();
            while let Ok(Some(_)) = inbound.message().await {}
        }
    });
    Launched {
        child,
        channel,
        socket,
        plugin_cert_der,
        host_pem,
        host,
        broker_tx,
        _broker_stream: stream,
        _tmp: tempfile::tempdir().expect("tmp"),
        stderr_lines,
    }
}

impl Launched {
    /// Serves `storage` on a new brokered TLS listener and announces it as `broker_id`.
    pub async fn serve_broker(&self, broker_id: u32, storage: MemStorage) {
        let path = self._tmp.path().join(format!("broker{broker_id}"));
        let listener = tokio::net::UnixListener::bind(&path).expect("bind broker");
        let server_cfg =
            server_config(&self.host, self.plugin_cert_der.clone().into()).expect("server cfg");
        let acceptor = tokio_rustls::TlsAcceptor::from(server_cfg);
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(s).await {
                        let _ = tx.send(Ok::<_, std::io::Error>(TlsConn(tls))).await;
                    }
                });
            }
        });
        tokio::spawn(async move {
            let _ = Server::builder()
                .add_service(pb::storage_server::StorageServer::new(storage))
                .add_service(pb::system_view_server::SystemViewServer::new(
                    FixedSystemView {
                        default_ttl: 768 * 3600 * 1_000_000_000,
                        max_ttl: 768 * 3600 * 1_000_000_000,
                    },
                ))
                .serve_with_incoming(ReceiverStream::new(rx))
                .await;
        });
        self.broker_tx
            .send(ConnInfo {
                service_id: broker_id,
                network: "unix".into(),
                address: path.to_string_lossy().into_owned(),
                knock: None,
            })
            .await
            .expect("send conninfo");
    }

    /// Closes the broker stream, as a departing server does.
    pub fn close_broker(&mut self) {
        self._broker_stream.abort();
        let (tx, _) = mpsc::channel(1);
        self.broker_tx = tx;
    }

    /// A Backend client whose calls carry `multiplex_id`.
    pub fn backend(&self) -> pb::backend_client::BackendClient<Channel> {
        pb::backend_client::BackendClient::new(self.channel.clone())
    }

    /// Waits for the process to exit (bounded).
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Launched {
    /// Opens a second mutual-TLS connection to the plugin whose connector counts
    /// its dials: tonic's `Channel` reconnects silently, so a count above 1
    /// means the plugin dropped a connection.
    pub async fn connect_counted(&self) -> (Channel, Arc<std::sync::atomic::AtomicUsize>) {
        let cfg =
            client_config(&self.host, self.plugin_cert_der.clone().into()).expect("client cfg");
        let dials = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let channel = dial_tls(&self.socket, cfg, Some(dials.clone()))
            .await
            .expect("counted mTLS connect");
        (channel, dials)
    }
}

/// Wraps a request with the mount's multiplex id.
pub fn with_mount<T>(id: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("multiplex_id", id.parse().expect("ascii"));
    r
}

/// A `pb.Request` for `op` on `path` with JSON `data`.
pub fn request(op: &str, path: &str, data: Value) -> pb::HandleRequestArgs {
    pb::HandleRequestArgs {
        storage_id: 0,
        request: Some(pb::Request {
            id: "test".into(),
            operation: op.into(),
            path: path.into(),
            data: data.to_string(),
            display_name: "token".into(),
            mount_point: "aws/".into(),
            ..Default::default()
        }),
    }
}

/// Decodes a reply's response data.
pub fn data_of(reply: &pb::HandleRequestReply) -> Value {
    reply
        .response
        .as_ref()
        .map(|r| serde_json::from_str(&r.data).expect("response data is JSON"))
        .unwrap_or(Value::Null)
}

/// The broker-side TLS stream type for tonic.
pub struct TlsConn(pub tokio_rustls::server::TlsStream<tokio::net::UnixStream>);

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl tokio::io::AsyncRead for TlsConn {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsConn {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Sets up and initializes a mount `id` whose storage is served, from memory, as broker `broker_id`.
pub async fn setup_mount(l: &Launched, id: &str, broker_id: u32) -> MemStorage {
    let storage = MemStorage::default();
    l.serve_broker(broker_id, storage.clone()).await;
    let mut b = l.backend();
    let reply = b
        .setup(with_mount(
            id,
            pb::SetupArgs {
                broker_id,
                config: Default::default(),
                backend_uuid: "uuid".into(),
            },
        ))
        .await
        .expect("setup rpc")
        .into_inner();
    assert_eq!(reply.err, "", "setup error");
    let init = b
        .initialize(with_mount(id, pb::InitializeArgs {}))
        .await
        .expect("initialize")
        .into_inner();
    assert!(init.err.is_none());
    storage
}

/// One HandleRequest on mount `id`.
pub async fn call(
    l: &Launched,
    id: &str,
    op: &str,
    path: &str,
    data: serde_json::Value,
) -> pb::HandleRequestReply {
    l.backend()
        .handle_request(with_mount(id, request(op, path, data)))
        .await
        .expect("handle_request rpc")
        .into_inner()
}
