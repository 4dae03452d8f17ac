//! The provider contract: its own configuration block and the types it serves.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::data_source::DataSource;
use super::diag::Diagnostics;
use super::list_resource::ListResource;
use super::resource::AnyResource;
use super::schema::Schema;
use super::value::{Value, Withheld};

/// A ConfigureProvider call.
pub struct ConfigureRequest<'a> {
    /// The provider block; during plan it may hold unknowns.
    pub config: &'a Value,
    /// The Terraform version calling, e.g. `1.15.5`.
    pub terraform_version: &'a str,
    /// Cancelled by StopProvider: a configuration that calls out must stop waiting then.
    pub stop: CancellationToken,
}

impl std::fmt::Debug for ConfigureRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigureRequest")
            .field("config", &Withheld(self.config))
            .field("terraform_version", &self.terraform_version)
            .finish_non_exhaustive()
    }
}

/// A Terraform provider.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// What configuration produces and every resource receives.
    type Data: Send + Sync + 'static;

    /// The provider's type name, e.g. `example`.
    fn type_name(&self) -> &'static str;

    /// The provider block schema; none (an empty block) by default.
    fn schema(&self) -> Schema {
        Schema::default()
    }

    /// Extra validation of the provider block; `config` may hold unknowns.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Builds the data resources need. Called by every plan, apply and import
    /// walk, possibly more than once per process: it must be idempotent.
    async fn configure(
        &self,
        req: ConfigureRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Self::Data>;

    /// The managed resource types.
    fn resources(&self) -> Vec<Arc<dyn AnyResource<Data = Self::Data>>>;

    /// The data source types; none by default.
    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Data = Self::Data>>> {
        Vec::new()
    }

    /// The list resource types (`terraform query`), each named after a managed
    /// resource type that has an identity schema.
    fn list_resources(&self) -> Vec<Arc<dyn ListResource<Data = Self::Data>>> {
        Vec::new()
    }
}
