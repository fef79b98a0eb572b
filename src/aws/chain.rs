//! Role chaining (hashicorp/vault#13697: "a few hundred accounts… thousands of IAM roles"): an
//! `assumed_role` role with a `source_role_arn` is assumed with the credentials of that
//! intermediate role, which the engine assumes with its own. One hub role then reaches every
//! account that trusts it, and the engine's own key needs only `sts:AssumeRole` on the hub.
//!
//! The intermediate credentials are cached per mount and source role (and external id) until
//! five minutes before they expire, so a burst of requests costs one extra `AssumeRole`, not
//! one per request. An entry serves only the root clients it was built with: `config/root`
//! changes build new clients, and the cache is dropped with them ([`ChainCache::clear`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::framework::Error;

use super::clients::{assume_target, session_clients, AssumeTarget, CallContext, Clients};
use super::config_root::RootConfig;

/// Intermediate credentials are refreshed this long before AWS says they expire.
pub(crate) const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// The intermediate role of a chained role.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ChainSource {
    pub(crate) role_arn: String,
    /// `""` means none.
    pub(crate) external_id: String,
}

/// Clients signing as the intermediate role, while they are fresh enough.
struct Cached {
    /// The root config the intermediate session was obtained with.
    root: Arc<RootConfig>,
    clients: Arc<Clients>,
    refresh_at: SystemTime,
}

/// One mount's intermediate sessions. Each source role has its own slot, locked while its
/// session is fetched, so concurrent requests wait for one `AssumeRole` instead of racing.
#[derive(Default)]
pub(crate) struct ChainCache {
    slots: Mutex<HashMap<ChainSource, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
}

impl ChainCache {
    /// Clients that sign as `source`, assumed with `root`'s credentials when the cached ones
    /// are missing, were built from other root clients, or are within
    /// [`REFRESH_BEFORE_EXPIRY`] of expiring.
    pub(crate) async fn clients(
        &self,
        root: &Clients,
        source: &ChainSource,
        ctx: &CallContext,
    ) -> Result<Arc<Clients>, Error> {
        let slot = self.slot(source);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref() {
            if Arc::ptr_eq(&c.root, &root.config) && SystemTime::now() < c.refresh_at {
                return Ok(c.clients.clone());
            }
        }
        let session_name = format!(
            "vault-chain-{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        );
        let target = AssumeTarget {
            role_arn: &source.role_arn,
            session_name: &session_name,
            external_id: &source.external_id,
        };
        let prefix = format!("Error assuming source role {}", source.role_arn);
        let session = assume_target(root, &target, &prefix).await?;
        let expires = SystemTime::try_from(*session.expiration()).unwrap_or(UNIX_EPOCH);
        let clients = Arc::new(session_clients(root, &session, ctx).await);
        tracing::info!(source_role = %source.role_arn, session = %session_name, "assumed the source role of a chained role");
        *cached = Some(Cached {
            root: root.config.clone(),
            clients: clients.clone(),
            refresh_at: expires
                .checked_sub(REFRESH_BEFORE_EXPIRY)
                .unwrap_or(UNIX_EPOCH),
        });
        Ok(clients)
    }

    fn slot(&self, source: &ChainSource) -> Arc<tokio::sync::Mutex<Option<Cached>>> {
        match self.slots.lock() {
            Ok(mut m) => m.entry(source.clone()).or_default().clone(),
            // A poisoned map only loses caching; the request still gets fresh credentials.
            Err(_) => Arc::default(),
        }
    }

    /// Forgets every intermediate session (`config/root` changed here or on another node).
    pub(crate) fn clear(&self) {
        if let Ok(mut m) = self.slots.lock() {
            m.clear();
        }
    }
}
