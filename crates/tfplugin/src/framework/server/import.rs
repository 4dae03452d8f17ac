//! Import, identity and configuration generation: GetResourceIdentitySchemas, UpgradeResourceIdentity, ImportResourceState and GenerateResourceConfig.

use tonic::{Request, Response, Status};

use super::FrameworkServer;
use super::convert::{decode_dv, encode_dv, identity_data, identity_type, to_pb_identity_schema};
use crate::framework::diag::Diagnostics;
use crate::framework::json;
use crate::framework::plan::finish_state;
use crate::framework::provider::Provider;
use crate::framework::resource::ImportRequest;
use crate::framework::value::Value;
use crate::wire::proto::tfplugin6 as pb;

impl<P: Provider> FrameworkServer<P> {
    pub(super) async fn handle_get_resource_identity_schemas(
        &self,
        _request: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        self.serve("GetResourceIdentitySchemas", "", async {
            (
                pb::get_resource_identity_schemas::Response {
                    identity_schemas: self
                        .resources
                        .iter()
                        .filter_map(|(k, (r, _))| {
                            r.identity_schema()
                                .map(|s| ((*k).to_owned(), to_pb_identity_schema(&s)))
                        })
                        .collect(),
                    diagnostics: Vec::new(),
                },
                Diagnostics::new(),
            )
        })
        .await
    }

    pub(super) async fn handle_upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let req = request.into_inner();
        self.serve("UpgradeResourceIdentity", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut upgraded_identity = None;
            if let Some((resource, _)) = self.resource(&req.type_name, &mut diags) {
                match resource.identity_schema() {
                    Some(s) if req.version <= s.version => {
                        let ty = identity_type(&s);
                        let raw = req.raw_identity.unwrap_or_default();
                        match json::decode(&raw.json, &ty, json::UnknownAttributes::Ignore) {
                            Ok(v) => {
                                upgraded_identity = encode_dv(&v, &ty, "identity", &mut diags)
                                    .map(|dv| pb::ResourceIdentityData { identity_data: Some(dv) });
                            }
                            Err(e) => diags.error("Invalid Resource Identity", format!("The stored identity could not be decoded: {e}")),
                        }
                    }
                    _ => diags.error(
                        "Unsupported Identity Version",
                        format!("The stored identity has version {}, which this provider does not know. Upgrade the provider.", req.version),
                    ),
                }
            }
            (
                pb::upgrade_resource_identity::Response {
                    upgraded_identity,
                    ..Default::default()
                },
                diags,
            )
        })
        .await
    }

    pub(super) async fn handle_import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = request.into_inner();
        self.serve("ImportResourceState", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::import_resource_state::Response::default();
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let identity = match (&req.identity, resource.identity_schema()) {
                (Some(data), Some(s)) => {
                    match decode_dv(
                        data.identity_data.as_ref(),
                        &identity_type(&s),
                        "identity",
                        &mut diags,
                    ) {
                        Some(v) => Some(v),
                        None => {
                            return (resp, diags);
                        }
                    }
                }
                _ => None,
            };
            let Some(data) = self.configured(&mut diags) else {
                return (resp, diags);
            };
            let stub = resource
                .import(
                    &data,
                    ImportRequest {
                        id: &req.id,
                        identity: identity.as_ref(),
                        stop: self.stop_token(),
                    },
                    &mut diags,
                )
                .await;
            if let Some(mut stub) = stub {
                finish_state(schema, &mut stub);
                let identity = identity_data(resource, &stub, &mut diags);
                if let Some(state) =
                    encode_dv(&stub, &schema.implied_type(), "imported state", &mut diags)
                {
                    resp.imported_resources
                        .push(pb::import_resource_state::ImportedResource {
                            type_name: req.type_name.clone(),
                            state: Some(state),
                            private: Vec::new(),
                            identity,
                        });
                }
            }
            (resp, diags)
        })
        .await
    }

    pub(super) async fn handle_generate_resource_config(
        &self,
        request: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        let req = request.into_inner();
        self.serve("GenerateResourceConfig", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::generate_resource_config::Response::default();
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            let Some(state) = decode_dv(req.state.as_ref(), &ty, "state", &mut diags) else {
                return (resp, diags);
            };
            // No state (a list result without its object): Terraform writes every
            // configurable attribute as null for the user to fill in.
            let mut config = if state.is_null() {
                Value::Null
            } else {
                resource.generate_config(schema, &state, &mut diags)
            };
            if !config.is_null() {
                finish_state(schema, &mut config);
            }
            resp.config = encode_dv(&config, &ty, "generated configuration", &mut diags);
            (resp, diags)
        })
        .await
    }
}
