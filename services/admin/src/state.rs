//! What every admin handler shares: NATS, the live catalog, the accepted
//! tokens, the address rules and the approval gate.

use hookline_bus::nats::Nats;
use hookline_bus::runs::Records;
use hookline_bus::store::CatalogView;
use hookline_model::catalog::{Catalog, Secret};
use hookline_model::ssrf::{self, Guard};

use crate::error::AdminError;

/// What admin handlers share.
pub struct AdminState {
    /// NATS.
    pub nats: Nats,
    /// The live catalog (for validating a change against the rest).
    pub catalog: CatalogView,
    /// Accepted bearer tokens.
    pub tokens: Vec<Secret>,
    /// Ingest's public base URL, where test events are sent.
    pub webhook_url: String,
    /// Run records, for manual runs.
    pub records: Records,
    /// The SSRF rule subscription URLs must pass (`HOOKLINE_DELIVERY_ALLOW`).
    pub guard: Guard,
    /// The rule model upstreams must pass (`HOOKLINE_EGRESS_ALLOW`).
    pub egress_guard: Guard,
    /// The approval gate.
    pub approvals: hookline_bus::approvals::Approvals,
}

impl AdminState {
    /// Reads `pick` of the live catalog, or answers 404 for `what` `id`.
    pub fn find<T>(&self, what: &str, id: &str, pick: impl FnOnce(&Catalog) -> Option<T>) -> Result<T, AdminError> {
        pick(&self.catalog.borrow()).ok_or_else(|| AdminError::NotFound(format!("no {what} `{id}`")))
    }

    /// Refuses a catalog whose subscription URLs or model upstreams the
    /// address rule refuses, with the same words as `hookline apply`.
    pub fn check_targets(&self, catalog: &Catalog) -> Result<(), AdminError> {
        ssrf::check_catalog(&self.guard, &self.egress_guard, catalog).map_err(AdminError::Invalid)
    }
}
