//! Schema and metadata: GetMetadata and GetProviderSchema, the first calls of every provider process.

use tonic::{Request, Response, Status};

use super::FrameworkServer;
use super::convert::to_pb_schema;
use crate::framework::diag::Diagnostics;
use crate::framework::provider::Provider;
use crate::wire::proto::tfplugin6 as pb;

impl<P: Provider> FrameworkServer<P> {
    pub(super) async fn handle_get_metadata(
        &self,
        _request: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        self.serve("GetMetadata", "", async {
            (
                pb::get_metadata::Response {
                    server_capabilities: Some(server_capabilities()),
                    resources: self
                        .resources
                        .keys()
                        .map(|k| pb::get_metadata::TypeName {
                            type_name: (*k).to_owned(),
                        })
                        .collect(),
                    data_sources: self
                        .data_sources
                        .keys()
                        .map(|k| pb::get_metadata::TypeName {
                            type_name: (*k).to_owned(),
                        })
                        .collect(),
                    list_resources: self
                        .list_resources
                        .keys()
                        .map(|k| pb::get_metadata::TypeName {
                            type_name: (*k).to_owned(),
                        })
                        .collect(),
                    ..Default::default()
                },
                Diagnostics::new(),
            )
        })
        .await
    }

    pub(super) async fn handle_get_provider_schema(
        &self,
        _request: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        self.serve("GetProviderSchema", "", async {
            (
                pb::get_provider_schema::Response {
                    provider: Some(to_pb_schema(&self.provider_schema)),
                    resource_schemas: self
                        .resources
                        .iter()
                        .map(|(k, (_, s))| ((*k).to_owned(), to_pb_schema(s)))
                        .collect(),
                    data_source_schemas: self
                        .data_sources
                        .iter()
                        .map(|(k, (_, s))| ((*k).to_owned(), to_pb_schema(s)))
                        .collect(),
                    // Only the `config` block: Terraform wraps it in the `list` block.
                    list_resource_schemas: self
                        .list_resources
                        .iter()
                        .map(|(k, (_, s))| ((*k).to_owned(), to_pb_schema(s)))
                        .collect(),
                    server_capabilities: Some(server_capabilities()),
                    ..Default::default()
                },
                Diagnostics::new(),
            )
        })
        .await
    }
}

pub(super) fn server_capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: false,
        // Later processes of one Terraform run may reuse the first schema.
        get_provider_schema_optional: true,
        move_resource_state: false,
        // `-generate-config-out` asks the resource what configuration to write.
        generate_resource_config: true,
    }
}
