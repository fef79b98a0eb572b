//! The engine description ([`Framework`]) and the gRPC `pb.Backend` service that
//! routes the server's calls into it, one instance per mount (`multiplex_id`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::sync::RwLock;
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status};

use crate::plugin::serve::TransportContext;
use crate::proto::pb;

use super::error::{Error, WireError};
use super::help;
use super::path::{BoxFut, Ctx, Field, FieldData, Handler, HandlerResult, Path};
use super::request::{LeaseInfo, Operation, Request, Response, SecretResponse};
use super::storage::{Storage, SystemView};
use super::wal;

/// Key in a secret's internal data naming its secret type (Go framework convention).
pub const SECRET_TYPE_KEY: &str = "secret_type";
/// The server's sentinel text for "AWS throttled us" (answered 502).
pub const UPSTREAM_RATE_LIMITED: &str = "upstream rate limited";
/// gRPC metadata key carrying the mount's id.
pub const MULTIPLEX_KEY: &str = "multiplex_id";

/// A kind of lease this engine issues, with its renew and revoke handlers.
pub struct SecretType<B> {
    pub name: &'static str,
    pub fields: Vec<Field>,
    pub renew: Option<Handler<B>>,
    pub revoke: Handler<B>,
}

/// Special paths reported to the server (static for the life of the binary).
#[derive(Debug, Clone, Default)]
pub struct SpecialPaths {
    pub root: Vec<String>,
    pub unauthenticated: Vec<String>,
    pub local_storage: Vec<String>,
    pub seal_wrap_storage: Vec<String>,
}

/// A WAL rollback callback: undo the half-done work `data` of kind `kind`.
pub type WalRollback<B> =
    Arc<dyn Fn(Ctx<B>, String, Value) -> BoxFut<Result<(), Error>> + Send + Sync>;
/// A hook run with the mount's storage (initialize, periodic).
pub type MountHook<B> = Arc<dyn Fn(Ctx<B>) -> BoxFut<Result<(), Error>> + Send + Sync>;
/// Builds a mount's state from the mount config (`SetupArgs.Config`).
pub type Factory<B> = Arc<dyn Fn(&HashMap<String, String>) -> B + Send + Sync>;
/// Called when a storage key changed elsewhere (drop caches).
pub type Invalidate<B> = Arc<dyn Fn(&B, &str) + Send + Sync>;
/// Called when a mount is unloaded.
pub type Cleanup<B> = Arc<dyn Fn(&B) + Send + Sync>;

/// Everything that describes an engine. Built once; shared by all mounts.
pub struct Framework<B> {
    pub help: &'static str,
    pub paths: Vec<Path<B>>,
    pub secrets: Vec<SecretType<B>>,
    pub special_paths: SpecialPaths,
    pub factory: Factory<B>,
    pub wal_rollback: Option<WalRollback<B>>,
    /// Entries younger than this are left alone by rollback (unless `immediate`).
    pub wal_rollback_min_age: Duration,
    pub periodic: Option<MountHook<B>>,
    pub initialize: Option<MountHook<B>>,
    pub invalidate: Option<Invalidate<B>>,
    pub cleanup: Option<Cleanup<B>>,
    pub version: String,
}

/// One mount's live state.
pub struct Instance<B> {
    pub backend: Arc<B>,
    pub storage: Storage,
    pub system: SystemView,
}

impl<B> Clone for Instance<B> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            storage: self.storage.clone(),
            system: self.system.clone(),
        }
    }
}

impl<B: Send + Sync + 'static> Framework<B> {
    fn ctx(&self, inst: &Instance<B>, req: Request, fields: FieldData) -> Ctx<B> {
        Ctx {
            backend: inst.backend.clone(),
            storage: inst.storage.clone(),
            system: inst.system.clone(),
            req,
            fields,
        }
    }

    fn find_path(&self, path: &str) -> Option<(&Path<B>, Map<String, Value>)> {
        self.paths
            .iter()
            .find_map(|p| p.captures(path).map(|c| (p, c)))
    }

    /// Routes one request: the framework's whole request-handling contract.
    pub async fn handle(&self, inst: &Instance<B>, req: Request) -> HandlerResult {
        match req.operation {
            Operation::Rollback => return self.rollback(inst, req).await,
            Operation::Renew | Operation::Revoke => return self.renew_revoke(inst, req).await,
            Operation::Help if req.path.is_empty() => return Ok(Some(self.root_help())),
            Operation::Other(_) => return Err(Error::UnsupportedOperation),
            _ => {}
        }
        let (path, captures) = self.find_path(&req.path).ok_or(Error::UnsupportedPath)?;
        if req.operation == Operation::Help {
            return Ok(Some(self.path_help(path, &req.path)));
        }
        let spec = path
            .operation(&req.operation)
            .ok_or(Error::UnsupportedOperation)?;
        let mut raw = req.data.clone();
        for (k, v) in captures {
            raw.insert(k, v);
        }
        let (fields, unknown) = FieldData::parse(&path.fields, &raw)?;
        let resp = (spec.handler)(self.ctx(inst, req, fields)).await?;
        Ok(resp.map(|mut r| {
            if !unknown.is_empty() {
                r.warn(format!(
                    "Endpoint ignored these unrecognized parameters: [{}]",
                    unknown.join(" ")
                ));
            }
            r
        }))
    }

    /// `HandleExistenceCheck`: (check_found, exists).
    pub async fn existence(&self, inst: &Instance<B>, req: Request) -> Result<(bool, bool), Error> {
        let (path, captures) = self.find_path(&req.path).ok_or(Error::UnsupportedPath)?;
        let Some(check) = &path.existence_check else {
            return Ok((false, false));
        };
        let mut raw = req.data.clone();
        for (k, v) in captures {
            raw.insert(k, v);
        }
        let (fields, _) = FieldData::parse(&path.fields, &raw)?;
        let exists = check(self.ctx(inst, req, fields)).await?;
        Ok((true, exists))
    }

    fn help_response(text: String, openapi: Value) -> Response {
        let mut m = Map::new();
        m.insert("help".into(), text.into());
        m.insert("see_also".into(), Value::Null);
        m.insert("openapi".into(), openapi);
        Response::with_data(m)
    }

    fn root_help(&self) -> Response {
        Self::help_response(
            help::root_help(self.help, &self.paths),
            help::openapi(&self.paths, &self.version, self.help.trim()),
        )
    }

    fn path_help(&self, path: &Path<B>, request_path: &str) -> Response {
        let single = std::slice::from_ref(path);
        Self::help_response(
            help::path_help(path, request_path),
            help::openapi(single, &self.version, self.help.trim()),
        )
    }

    async fn renew_revoke(&self, inst: &Instance<B>, req: Request) -> HandlerResult {
        let lease = req
            .lease
            .as_ref()
            .ok_or_else(|| Error::bad("request has no secret"))?;
        let kind = lease
            .internal_data
            .get(SECRET_TYPE_KEY)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::bad("secret is unsupported by this backend"))?;
        let secret = self
            .secrets
            .iter()
            .find(|s| s.name == kind)
            .ok_or_else(|| Error::bad("secret is unsupported by this backend"))?;
        let handler = match req.operation {
            Operation::Renew => secret.renew.clone().ok_or(Error::UnsupportedOperation)?,
            _ => secret.revoke.clone(),
        };
        let (fields, _) = FieldData::parse(&secret.fields, &req.data).unwrap_or_default();
        let name = secret.name;
        let resp = handler(self.ctx(inst, req, fields)).await?;
        Ok(resp.map(|mut r| {
            if let Some(s) = r.secret.as_mut() {
                s.internal_data.insert(SECRET_TYPE_KEY.into(), name.into());
            }
            r
        }))
    }

    /// The rollback tick: periodic work first, then WAL entries old enough
    /// (all of them when the request data has `immediate`).
    async fn rollback(&self, inst: &Instance<B>, req: Request) -> HandlerResult {
        if self.periodic.is_none() && self.wal_rollback.is_none() {
            return Err(Error::UnsupportedOperation);
        }
        let immediate = req.data.contains_key("immediate");
        let mut errors = Vec::new();
        if let Some(periodic) = &self.periodic {
            if let Err(e) = periodic(self.ctx(inst, req.clone(), FieldData::default())).await {
                errors.push(e.to_string());
            }
        }
        if let Some(rollback) = &self.wal_rollback {
            let ids = wal::list(&inst.storage).await?;
            let now = SystemTime::now();
            for id in ids {
                let Some(entry) = wal::get(&inst.storage, &id).await? else {
                    continue;
                };
                if !immediate && entry.age(now) < self.wal_rollback_min_age {
                    continue;
                }
                let ctx = self.ctx(inst, req.clone(), FieldData::default());
                match rollback(ctx, entry.kind.clone(), entry.data.clone()).await {
                    Ok(()) => wal::delete(&inst.storage, &id).await?,
                    Err(e) => {
                        tracing::warn!(wal_id = %id, kind = %entry.kind, error = %e, "rollback of WAL entry failed; will retry");
                        errors.push(e.to_string());
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(None)
        } else {
            Err(Error::bad(errors.join("; ")))
        }
    }

    /// Initialize hook.
    pub async fn initialize(&self, inst: &Instance<B>) -> Result<(), Error> {
        match &self.initialize {
            Some(init) => {
                init(self.ctx(
                    inst,
                    Request::new(Operation::Other("initialize".into()), ""),
                    FieldData::default(),
                ))
                .await
            }
            None => Ok(()),
        }
    }
}

/// The gRPC `pb.Backend` service, serving every mount of this process.
pub struct BackendService<B> {
    fw: Arc<Framework<B>>,
    transport: TransportContext,
    instances: RwLock<HashMap<String, Instance<B>>>,
}

impl<B: Send + Sync + 'static> BackendService<B> {
    /// Serves `fw` over `transport`.
    pub fn new(fw: Arc<Framework<B>>, transport: TransportContext) -> Self {
        Self {
            fw,
            transport,
            instances: RwLock::new(HashMap::new()),
        }
    }

    async fn instance(&self, id: &str) -> Result<Instance<B>, Error> {
        self.instances.read().await.get(id).cloned().ok_or_else(|| {
            Error::internal(
                "no backend instance found for this mount; the server will set it up again",
            )
        })
    }

    fn refuse_in_metadata_mode(&self) -> Result<(), Status> {
        if self.transport.metadata_mode {
            Err(Status::failed_precondition(
                "plugin server can not perform action while in metadata mode",
            ))
        } else {
            Ok(())
        }
    }
}

fn multiplex_id<T>(req: &GrpcRequest<T>) -> String {
    req.metadata()
        .get(MULTIPLEX_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("single")
        .to_string()
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn duration_of(ns: i64) -> Duration {
    Duration::from_nanos(ns.max(0) as u64)
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn json_object(text: &str, what: &str) -> Result<Map<String, Value>, Error> {
    let t = text.trim();
    if t.is_empty() || t == "null" {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(Error::bad(format!("{what} must be a JSON object"))),
        Err(e) => Err(Error::bad(format!("{what} is not valid JSON: {e}"))),
    }
}

/// Decodes the wire request.
pub fn decode_request(r: pb::Request) -> Result<Request, Error> {
    let data = json_object(&r.data, "request data")?;
    let lease = match r.secret {
        None => None,
        Some(s) => {
            let lo = s.lease_options.unwrap_or_default();
            Some(LeaseInfo {
                lease_id: s.lease_id,
                internal_data: json_object(&s.internal_data, "secret internal data")?,
                ttl: duration_of(lo.ttl),
                max_ttl: duration_of(lo.max_ttl),
                increment: duration_of(lo.increment),
                renewable: lo.renewable,
                issue_time: lo.issue_time.and_then(|t| {
                    UNIX_EPOCH.checked_add(Duration::new(
                        t.seconds.max(0) as u64,
                        t.nanos.max(0) as u32,
                    ))
                }),
            })
        }
    };
    Ok(Request {
        id: r.id,
        operation: Operation::parse(&r.operation),
        path: r.path,
        data,
        lease,
        display_name: r.display_name,
        mount_point: r.mount_point,
        entity_id: r.entity_id,
    })
}

fn encode_secret(s: SecretResponse, issue_time: SystemTime) -> pb::Secret {
    pb::Secret {
        lease_options: Some(pb::LeaseOptions {
            ttl: nanos(s.ttl),
            renewable: s.renewable,
            increment: 0,
            issue_time: Some(timestamp(issue_time)),
            max_ttl: nanos(s.max_ttl),
        }),
        internal_data: Value::Object(s.internal_data).to_string(),
        lease_id: String::new(),
    }
}

/// Encodes a response (`data` is always valid JSON, `issue_time` always set).
pub fn encode_response(r: Response, issue_time: SystemTime) -> pb::Response {
    pb::Response {
        secret: r.secret.map(|s| encode_secret(s, issue_time)),
        data: r
            .data
            .map(|d| Value::Object(d).to_string())
            .unwrap_or_else(|| "null".into()),
        warnings: r.warnings,
        ..Default::default()
    }
}

/// Encodes a handler outcome into the reply, mapping errors once.
pub fn encode_result(result: HandlerResult, issue_time: SystemTime) -> pb::HandleRequestReply {
    match result {
        Ok(resp) => pb::HandleRequestReply {
            response: resp.map(|r| encode_response(r, issue_time)),
            err: None,
        },
        Err(e) => match e.to_wire() {
            WireError::ErrorResponse(msg) => {
                let mut m = Map::new();
                m.insert("error".into(), msg.into());
                pb::HandleRequestReply {
                    response: Some(encode_response(Response::with_data(m), issue_time)),
                    err: None,
                }
            }
            WireError::Proto {
                err_type,
                msg,
                code,
            } => {
                // A 502 is sent as Vault's engines do (`ErrorResponse` +
                // `ErrUpstreamRateLimited`): the server takes the status from the
                // sentinel text and the plain message from the error response.
                let upstream = err_type == super::error::err_type::CODED && code == 502;
                let response = upstream.then(|| {
                    let mut m = Map::new();
                    m.insert("error".into(), msg.clone().into());
                    encode_response(Response::with_data(m), issue_time)
                });
                let (err_type, msg, code) = if upstream {
                    (
                        super::error::err_type::UNKNOWN,
                        UPSTREAM_RATE_LIMITED.to_string(),
                        0,
                    )
                } else {
                    (err_type, msg, code)
                };
                pb::HandleRequestReply {
                    response,
                    err: Some(pb::ProtoError {
                        err_type,
                        err_msg: msg,
                        err_code: code,
                    }),
                }
            }
        },
    }
}

/// Errors outside `HandleRequest` carry no response, so bad input travels as
/// a user error (type 1): the server answers those 400 (e.g. a failed
/// existence check) and any other kind 500.
fn proto_err(e: &Error) -> Option<pb::ProtoError> {
    match e.to_wire() {
        WireError::ErrorResponse(msg) => Some(pb::ProtoError {
            err_type: 1,
            err_msg: msg,
            err_code: 0,
        }),
        WireError::Proto {
            err_type,
            msg,
            code,
        } => Some(pb::ProtoError {
            err_type,
            err_msg: msg,
            err_code: code,
        }),
    }
}

#[tonic::async_trait]
impl<B: Send + Sync + 'static> pb::backend_server::Backend for BackendService<B> {
    async fn handle_request(
        &self,
        request: GrpcRequest<pb::HandleRequestArgs>,
    ) -> Result<GrpcResponse<pb::HandleRequestReply>, Status> {
        self.refuse_in_metadata_mode()?;
        let id = multiplex_id(&request);
        let args = request.into_inner();
        let result = async {
            let req = decode_request(args.request.unwrap_or_default())?;
            let issue_time = req
                .lease
                .as_ref()
                .and_then(|l| l.issue_time)
                .filter(|_| req.operation == Operation::Renew)
                .unwrap_or_else(SystemTime::now);
            let inst = self.instance(&id).await?;
            tracing::trace!(operation = req.operation.as_str(), path = %req.path, "request");
            Ok::<_, Error>((self.fw.handle(&inst, req).await, issue_time))
        }
        .await;
        let reply = match result {
            Ok((r, t)) => encode_result(r, t),
            Err(e) => encode_result(Err(e), SystemTime::now()),
        };
        Ok(GrpcResponse::new(reply))
    }

    async fn special_paths(
        &self,
        _: GrpcRequest<pb::Empty>,
    ) -> Result<GrpcResponse<pb::SpecialPathsReply>, Status> {
        let s = &self.fw.special_paths;
        Ok(GrpcResponse::new(pb::SpecialPathsReply {
            paths: Some(pb::Paths {
                root: s.root.clone(),
                unauthenticated: s.unauthenticated.clone(),
                local_storage: s.local_storage.clone(),
                seal_wrap_storage: s.seal_wrap_storage.clone(),
                write_forwarded_storage: Vec::new(),
            }),
        }))
    }

    async fn handle_existence_check(
        &self,
        request: GrpcRequest<pb::HandleExistenceCheckArgs>,
    ) -> Result<GrpcResponse<pb::HandleExistenceCheckReply>, Status> {
        self.refuse_in_metadata_mode()?;
        let id = multiplex_id(&request);
        let args = request.into_inner();
        let result = async {
            let req = decode_request(args.request.unwrap_or_default())?;
            let inst = self.instance(&id).await?;
            self.fw.existence(&inst, req).await
        }
        .await;
        let reply = match result {
            Ok((check_found, exists)) => pb::HandleExistenceCheckReply {
                check_found,
                exists,
                err: None,
            },
            Err(e) => pb::HandleExistenceCheckReply {
                check_found: false,
                exists: false,
                err: proto_err(&e),
            },
        };
        Ok(GrpcResponse::new(reply))
    }

    async fn cleanup(
        &self,
        request: GrpcRequest<pb::Empty>,
    ) -> Result<GrpcResponse<pb::Empty>, Status> {
        let id = multiplex_id(&request);
        if let Some(inst) = self.instances.write().await.remove(&id) {
            if let Some(clean) = &self.fw.cleanup {
                clean(&inst.backend);
            }
            tracing::debug!(multiplex_id = %id, "mount cleaned up");
        }
        Ok(GrpcResponse::new(pb::Empty {}))
    }

    async fn invalidate_key(
        &self,
        request: GrpcRequest<pb::InvalidateKeyArgs>,
    ) -> Result<GrpcResponse<pb::Empty>, Status> {
        self.refuse_in_metadata_mode()?;
        let id = multiplex_id(&request);
        let key = request.into_inner().key;
        if let (Ok(inst), Some(inv)) = (self.instance(&id).await, &self.fw.invalidate) {
            inv(&inst.backend, &key);
        }
        Ok(GrpcResponse::new(pb::Empty {}))
    }

    async fn setup(
        &self,
        request: GrpcRequest<pb::SetupArgs>,
    ) -> Result<GrpcResponse<pb::SetupReply>, Status> {
        let id = multiplex_id(&request);
        let args = request.into_inner();
        let channel = if self.transport.metadata_mode {
            // No storage in metadata mode: a channel that is never used.
            tonic::transport::Endpoint::from_static("http://localhost").connect_lazy()
        } else {
            match self.transport.broker.dial(args.broker_id).await {
                Ok(c) => c,
                Err(e) => {
                    return Ok(GrpcResponse::new(pb::SetupReply { err: e.to_string() }));
                }
            }
        };
        let backend = Arc::new((self.fw.factory)(&args.config));
        let inst = Instance {
            backend,
            storage: Storage::new(channel.clone()),
            system: SystemView::new(channel),
        };
        self.instances.write().await.insert(id.clone(), inst);
        tracing::debug!(multiplex_id = %id, broker_id = args.broker_id, "mount set up");
        Ok(GrpcResponse::new(pb::SetupReply { err: String::new() }))
    }

    async fn initialize(
        &self,
        request: GrpcRequest<pb::InitializeArgs>,
    ) -> Result<GrpcResponse<pb::InitializeReply>, Status> {
        self.refuse_in_metadata_mode()?;
        let id = multiplex_id(&request);
        let result = async {
            let inst = self.instance(&id).await?;
            self.fw.initialize(&inst).await
        }
        .await;
        Ok(GrpcResponse::new(pb::InitializeReply {
            err: result.err().and_then(|e| proto_err(&e)),
        }))
    }

    async fn r#type(
        &self,
        _: GrpcRequest<pb::Empty>,
    ) -> Result<GrpcResponse<pb::TypeReply>, Status> {
        // 1 = logical backend (a secrets engine).
        Ok(GrpcResponse::new(pb::TypeReply { r#type: 1 }))
    }
}
