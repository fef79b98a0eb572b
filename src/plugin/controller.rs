//! The small go-plugin and Vault side services: controller (Shutdown), stdio,
//! health, multiplexing support and plugin version.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use crate::proto::grpc::health::v1::health_check_response::ServingStatus;
use crate::proto::grpc::health::v1::health_server::Health;
use crate::proto::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use crate::proto::logical::plugin_version_server::PluginVersion;
use crate::proto::logical::{Empty as LogicalEmpty, VersionReply};
use crate::proto::plugin::grpc_controller_server::GrpcController;
use crate::proto::plugin::grpc_stdio_server::GrpcStdio;
use crate::proto::plugin::{Empty as PluginEmpty, StdioData};
use crate::proto::pluginutil::multiplexing::plugin_multiplexing_server::PluginMultiplexing;
use crate::proto::pluginutil::multiplexing::{
    MultiplexingSupportRequest, MultiplexingSupportResponse,
};

use super::shutdown::Shutdown;

/// go-plugin's health service name.
pub(crate) const HEALTH_SERVICE: &str = "plugin";

/// `plugin.GRPCController`: the server's way to stop us.
pub(crate) struct Controller(pub Shutdown);

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _: Request<PluginEmpty>) -> Result<Response<PluginEmpty>, Status> {
        tracing::debug!("shutdown requested by the server");
        let s = self.0.clone();
        // Answer first, then stop: the server waits for the reply.
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            s.trigger();
        });
        Ok(Response::new(PluginEmpty {}))
    }
}

type StdioStream = Pin<Box<dyn Stream<Item = Result<StdioData, Status>> + Send>>;

/// `plugin.GRPCStdio`: we never write to stdout/stderr through it; the stream
/// stays open (and silent) until shutdown.
pub(crate) struct Stdio(pub Shutdown);

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = StdioStream;
    async fn stream_stdio(
        &self,
        _: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        let s = self.0.clone();
        let out = futures::stream::once(async move {
            s.wait().await;
            Err(Status::unavailable("plugin shutting down"))
        });
        Ok(Response::new(Box::pin(out)))
    }
}

/// `grpc.health.v1.Health`: SERVING for go-plugin's service name.
pub(crate) struct HealthService;

type HealthStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

fn status_of(service: &str) -> Result<ServingStatus, Status> {
    if service.is_empty() || service == HEALTH_SERVICE {
        Ok(ServingStatus::Serving)
    } else {
        Err(Status::not_found(format!("unknown service {service:?}")))
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        req: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let status = status_of(&req.into_inner().service)?;
        Ok(Response::new(HealthCheckResponse {
            status: status as i32,
        }))
    }

    type WatchStream = HealthStream;
    async fn watch(
        &self,
        req: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let status = status_of(&req.into_inner().service)?;
        let first = futures::stream::once(async move {
            Ok(HealthCheckResponse {
                status: status as i32,
            })
        });
        Ok(Response::new(Box::pin(
            first.chain(futures::stream::pending()),
        )))
    }
}

use futures::StreamExt;

/// `pluginutil.multiplexing.PluginMultiplexing`: all per-mount state is keyed by
/// `multiplex_id`, so one process serves every mount.
pub(crate) struct Multiplexing;

#[tonic::async_trait]
impl PluginMultiplexing for Multiplexing {
    async fn multiplexing_support(
        &self,
        _: Request<MultiplexingSupportRequest>,
    ) -> Result<Response<MultiplexingSupportResponse>, Status> {
        Ok(Response::new(MultiplexingSupportResponse {
            supported: true,
        }))
    }
}

/// `logical.PluginVersion`: the semver the catalog records at registration.
pub(crate) struct Version(pub String);

#[tonic::async_trait]
impl PluginVersion for Version {
    async fn version(&self, _: Request<LogicalEmpty>) -> Result<Response<VersionReply>, Status> {
        Ok(Response::new(VersionReply {
            plugin_version: self.0.clone(),
        }))
    }
}
