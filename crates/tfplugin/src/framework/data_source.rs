//! The data-source contract.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::diag::Diagnostics;
use super::schema::Schema;
use super::value::{Value, Withheld};

/// A data-source read.
pub struct DataSourceReadRequest<'a> {
    /// The wholly known configuration.
    pub config: &'a Value,
    /// Cancelled when Terraform sends StopProvider.
    pub stop: CancellationToken,
}

impl std::fmt::Debug for DataSourceReadRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSourceReadRequest")
            .field("config", &Withheld(self.config))
            .field("stop", &self.stop)
            .finish()
    }
}

/// A Terraform data source type.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// What the provider's ConfigureProvider produced.
    type Data: Send + Sync + 'static;

    /// Full type name, e.g. `example_widget`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Extra validation beyond the schema's validators; `config` may hold unknowns.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Reads; returns the complete, wholly known object.
    async fn read(
        &self,
        data: &Self::Data,
        req: DataSourceReadRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
}
