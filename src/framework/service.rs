//! The gRPC `pb.Backend` service: one [`Instance`] per mount (`multiplex_id`), each call
//! decoded by the codec, routed by the [`Framework`], and its outcome encoded back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::RwLock;
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status};

use crate::plugin::serve::TransportContext;
use crate::proto::pb;

use super::codec::{decode_request, encode_result, error_reply};
use super::error::Error;
use super::request::Operation;
use super::router::{Framework, Instance, MountConfig};
use super::storage::{Storage, SystemView};

/// gRPC metadata key carrying the mount's id.
pub(crate) const MULTIPLEX_KEY: &str = "multiplex_id";

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
                err: error_reply(&e, false).err,
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
                clean(inst.backend.clone()).await;
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
        let backend = Arc::new((self.fw.factory)(&MountConfig {
            config: args.config,
            backend_uuid: args.backend_uuid,
        }));
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
            err: result.err().and_then(|e| error_reply(&e, false).err),
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
