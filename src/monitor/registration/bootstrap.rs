//! The RDAP bootstrap of a registration checker, loaded on first use, not when the checker is
//! built: `lapse serve` starts without asking anyone anything, and the bootstrap is fetched when
//! a lookup (or the scan engine sorting lookups into registry queues) first needs it.
//!
//! Built: the overrides are checked (a bad one stops start-up), and a cached copy still fresh at
//! build time is taken (a database read). First use: the cached copy when fresh enough, else a
//! new fetch (saved), else the stale copy, else overrides only; a failed fetch is a note in every
//! report, not an error. Loaded once per checker.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::OnceCell;

use super::RegistrationSetupError;
use crate::probe::rdap::{BootstrapRegistry, RdapClient};
use crate::store::{Store, StoreError};

/// The registry to use and why it may be incomplete.
#[derive(Debug)]
pub(super) struct Loaded {
    /// The bootstrap file with the overrides applied.
    pub(super) registry: BootstrapRegistry,
    /// Why the bootstrap is missing or old, for reports.
    pub(super) note: Option<String>,
}

#[derive(Debug)]
pub(super) struct LazyBootstrap {
    store: Store,
    url: String,
    overrides: BTreeMap<String, String>,
    refresh_after: TimeDelta,
    /// The overrides alone: what answers when no bootstrap file could be had.
    overrides_only: BootstrapRegistry,
    loaded: OnceCell<Loaded>,
}

impl LazyBootstrap {
    /// Checks the overrides and takes the cached copy when it is fresh at `now`; fetches nothing.
    pub(super) async fn new(
        store: &Store,
        rdap: &RdapClient,
        refresh_after: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Self, RegistrationSetupError> {
        let settings = rdap.settings();
        let overrides_only = BootstrapRegistry::empty()
            .with_overrides(&settings.overrides)
            .map_err(RegistrationSetupError::Bootstrap)?;
        let lazy = LazyBootstrap {
            store: store.clone(),
            url: settings.bootstrap_url.clone(),
            overrides: settings.overrides.clone(),
            refresh_after,
            overrides_only,
            loaded: OnceCell::new(),
        };
        if let Some(fresh) = lazy.cached().await?.filter(|r| lazy.is_fresh(r, now)) {
            let _ = lazy.loaded.set(lazy.finish(fresh, None));
        }
        Ok(lazy)
    }

    /// The bootstrap, loaded now if this is its first use.
    pub(super) async fn get(&self, rdap: &RdapClient, now: DateTime<Utc>) -> &Loaded {
        self.loaded.get_or_init(|| self.load(rdap, now)).await
    }

    async fn load(&self, rdap: &RdapClient, now: DateTime<Utc>) -> Loaded {
        let cached = self.cached().await.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the cached RDAP bootstrap");
            None
        });
        if let Some(fresh) = cached.as_ref().filter(|r| self.is_fresh(r, now)) {
            return self.finish(fresh.clone(), None);
        }
        match rdap.fetch_bootstrap(now).await {
            Ok(fetched) => {
                if let Err(error) = self
                    .store
                    .save_rdap_bootstrap(&self.url, &fetched.body, fetched.fetched_at)
                    .await
                {
                    tracing::warn!(%error, "cannot cache the RDAP bootstrap; it is used anyway");
                }
                tracing::info!(rdap.bootstrap_url = %self.url, tlds = fetched.registry.len(), "RDAP bootstrap refreshed");
                self.finish(fetched.registry, None)
            }
            Err(error) => {
                tracing::warn!(rdap.bootstrap_url = %self.url, %error, "cannot fetch the RDAP bootstrap; using the cached copy or overrides");
                let note = format!("RDAP bootstrap not refreshed ({error})");
                let registry = cached.unwrap_or_else(BootstrapRegistry::empty);
                self.finish(registry, Some(note))
            }
        }
    }

    /// The copy the store keeps for this bootstrap URL, if it reads.
    async fn cached(&self) -> Result<Option<BootstrapRegistry>, StoreError> {
        Ok(self
            .store
            .rdap_bootstrap()
            .await?
            .filter(|c| c.url == self.url)
            .and_then(|c| BootstrapRegistry::from_json(&c.body, c.fetched_at).ok()))
    }

    fn is_fresh(&self, registry: &BootstrapRegistry, now: DateTime<Utc>) -> bool {
        registry
            .fetched_at()
            .is_some_and(|at| now - at < self.refresh_after)
    }

    /// `registry` with the overrides (checked when built, so they apply).
    fn finish(&self, registry: BootstrapRegistry, note: Option<String>) -> Loaded {
        let registry = registry
            .with_overrides(&self.overrides)
            .unwrap_or_else(|_| self.overrides_only.clone());
        Loaded { registry, note }
    }
}
