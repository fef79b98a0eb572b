//! The engine description ([`Framework`]) and how one request is routed through it: the
//! SDK's `HandleRequest` contract step by step (path match, operation, field parsing,
//! handler, unknown-field warning), renew and revoke by secret type, and the rollback tick.
//! Plain Rust types only; the wire is `service.rs` and `codec.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::error::Error;
use super::fields::{replaced_params_warning, unrecognized_params_warning};
use super::help;
use super::path::{BoxFut, Ctx, Field, FieldData, Handler, HandlerResult, Path};
use super::request::{Operation, Request, Response};
use super::storage::{Storage, SystemView};
use super::wal;

/// Key in a secret's internal data naming its secret type (Go framework convention).
pub const SECRET_TYPE_KEY: &str = "secret_type";

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
pub type Factory<B> = Arc<dyn Fn(&MountConfig) -> B + Send + Sync>;

/// What the server tells a new mount about itself (`SetupArgs`).
#[derive(Debug, Clone, Default)]
pub struct MountConfig {
    /// The mount's configuration map (`SetupArgs.Config`).
    pub config: HashMap<String, String>,
    /// The mount's UUID (`SetupArgs.backendUUID`): stable across restarts, reloads and
    /// failovers, and different for every mount, so it can label what the mount creates outside.
    pub backend_uuid: String,
}
/// Called when a storage key changed elsewhere (drop caches).
pub type Invalidate<B> = Arc<dyn Fn(&B, &str) + Send + Sync>;
/// Called when a mount is unloaded (reload, unmount, seal, step-down); the server waits for
/// it, so background work may finish what it started.
pub type Cleanup<B> = Arc<dyn Fn(Arc<B>) -> BoxFut<()> + Send + Sync>;

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
        let mut replaced = Vec::new();
        for (k, v) in captures {
            if raw.get(&k).is_some_and(|old| !old.is_null()) {
                replaced.push(k.clone());
            }
            raw.insert(k, v);
        }
        let (fields, unknown) = FieldData::parse(&path.fields, &raw)?;
        let resp = (spec.handler)(self.ctx(inst, req, fields)).await?;
        // As the SDK: warnings only on a response that exists.
        Ok(resp.map(|mut r| {
            r.warnings.extend(unrecognized_params_warning(&unknown));
            r.warnings.extend(replaced_params_warning(&replaced));
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
