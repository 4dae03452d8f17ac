//! The resource lifecycle: ValidateResourceConfig, UpgradeResourceState, ReadResource, PlanResourceChange and ApplyResourceChange.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tonic::{Request, Response, Status};

use super::convert::{decode_dv, encode_dv, identity_data, to_pb_path};
use super::{FrameworkServer, panic_message};
use crate::framework::diag::Diagnostics;
use crate::framework::path::AttributePath;
use crate::framework::plan::{finish_state, keep_unplanned_computed_blocks, plan_change};
use crate::framework::private::PrivateState;
use crate::framework::provider::Provider;
use crate::framework::resource::{
    CheckPlanRequest, Checkpoint, CreateRequest, DeleteRequest, IgnoredAny, PlanRequest,
    ReadOutcome, ReadRequest, UpdateRequest,
};
use crate::framework::schema::Schema;
use crate::framework::value::Value;
use crate::wire::proto::tfplugin6 as pb;

impl<P: Provider> FrameworkServer<P> {
    pub(super) async fn handle_validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = request.into_inner();
        self.serve("ValidateResourceConfig", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            if let Some((resource, schema)) = self.resource(&req.type_name, &mut diags)
                && let Some(config) = decode_dv(
                    req.config.as_ref(),
                    &schema.implied_type(),
                    "configuration",
                    &mut diags,
                )
            {
                schema.validate_config(&config, &mut diags);
                resource.validate(&config, &mut diags);
                write_only_unsupported(
                    schema,
                    &config,
                    req.client_capabilities.as_ref(),
                    &mut diags,
                );
            }
            (pb::validate_resource_config::Response::default(), diags)
        })
        .await
    }

    pub(super) async fn handle_upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = request.into_inner();
        self.serve("UpgradeResourceState", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut upgraded_state = None;
            if let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) {
                let raw = req.raw_state.unwrap_or_default();
                if raw.json.is_empty() && !raw.flatmap.is_empty() {
                    diags.error(
                        "Unsupported State Format",
                        "This state was written by Terraform 0.11 or earlier (flatmap). Upgrade it with Terraform 0.12–0.13 and the original provider first.",
                    );
                } else if let Some(mut v) = resource.upgrade_state(schema, req.version, &raw.json, &mut diags) {
                    finish_state(schema, &mut v);
                    upgraded_state = encode_dv(&v, &schema.implied_type(), "upgraded state", &mut diags);
                }
            }
            (
                pb::upgrade_resource_state::Response {
                    upgraded_state,
                    ..Default::default()
                },
                diags,
            )
        })
        .await
    }

    pub(super) async fn handle_read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = request.into_inner();
        self.serve("ReadResource", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::read_resource::Response {
                private: req.private.clone(),
                new_identity: req.current_identity.clone(),
                ..Default::default()
            };
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            let Some(current) = decode_dv(req.current_state.as_ref(), &ty, "state", &mut diags)
            else {
                return (resp, diags);
            };
            if current.is_null() {
                resp.new_state = encode_dv(&Value::Null, &ty, "state", &mut diags);
                return (resp, diags);
            }
            let new_state = match self.configured(&mut diags) {
                Some(data) => {
                    let mut private = PrivateState::decode(&req.private);
                    let outcome = resource
                        .read(
                            &data,
                            ReadRequest {
                                current: &current,
                                current_model: &IgnoredAny,
                                private: &mut private,
                                stop: self.stop_token(),
                            },
                            &mut diags,
                        )
                        .await;
                    resp.private = private.encode();
                    match outcome {
                        ReadOutcome::Found(mut v) => {
                            finish_state(schema, &mut v);
                            v
                        }
                        ReadOutcome::Gone => Value::Null,
                    }
                }
                None => current,
            };
            if !new_state.is_null()
                && let Some(id) = identity_data(resource, &new_state, &mut diags)
            {
                resp.new_identity = Some(id);
            }
            resp.new_state = encode_dv(&new_state, &ty, "state", &mut diags);
            (resp, diags)
        })
        .await
    }

    pub(super) async fn handle_plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = request.into_inner();
        self.serve("PlanResourceChange", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::plan_resource_change::Response {
                planned_private: req.prior_private.clone(),
                ..Default::default()
            };
            let stores_planned_private = req
                .client_capabilities
                .as_ref()
                .is_some_and(|c| c.store_planned_private);
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            let decoded = (
                decode_dv(req.prior_state.as_ref(), &ty, "prior state", &mut diags),
                decode_dv(
                    req.proposed_new_state.as_ref(),
                    &ty,
                    "proposed new state",
                    &mut diags,
                ),
                decode_dv(req.config.as_ref(), &ty, "configuration", &mut diags),
            );
            let (Some(prior), Some(proposed), Some(config)) = decoded else {
                return (resp, diags);
            };
            if proposed.is_null() {
                resp.planned_state = encode_dv(&Value::Null, &ty, "planned state", &mut diags);
                return (resp, diags);
            }
            // Validate again: values unknown at validate time may be known now,
            // and bad input must stop here, before any API call.
            schema.validate_config(&config, &mut diags);
            resource.validate(&config, &mut diags);
            write_only_unsupported(
                schema,
                &config,
                req.client_capabilities.as_ref(),
                &mut diags,
            );
            if diags.has_error() {
                return (resp, diags);
            }
            let computed_blocks_allowed = req
                .client_capabilities
                .as_ref()
                .is_some_and(|c| c.computed_blocks_allowed);
            let mut plan = plan_change(schema, &prior, &proposed, &config, computed_blocks_allowed);
            resource.modify_plan(
                PlanRequest {
                    prior: &prior,
                    config: &config,
                },
                &mut plan.planned,
                &mut plan.requires_replace,
                &mut diags,
            );
            if !diags.has_error()
                && let Some(data) = self.data()
            {
                let mut private = PrivateState::decode(&req.prior_private);
                let first_plan = (stores_planned_private && !req.planned_private.is_empty())
                    .then(|| PrivateState::decode(&req.planned_private));
                resource
                    .check_plan(
                        &data,
                        CheckPlanRequest {
                            prior: &prior,
                            planned: &plan.planned,
                            config: &config,
                            private: &mut private,
                            first_plan_private: first_plan.as_ref(),
                            stop: self.stop_token(),
                        },
                        &mut diags,
                    )
                    .await;
                resp.planned_private = private.encode();
            }
            schema.block.null_write_only(&mut plan.planned);
            plan.requires_replace.sort_by_key(|p| p.to_string());
            plan.requires_replace.dedup();
            resp.requires_replace = plan.requires_replace.iter().map(to_pb_path).collect();
            if !prior.is_null() {
                resp.planned_identity = req
                    .prior_identity
                    .clone()
                    .or_else(|| identity_data(resource, &prior, &mut diags));
            }
            resp.planned_state = encode_dv(&plan.planned, &ty, "planned state", &mut diags);
            (resp, diags)
        })
        .await
    }

    pub(super) async fn handle_apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = request.into_inner();
        self.serve("ApplyResourceChange", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::apply_resource_change::Response {
                private: req.planned_private.clone(),
                ..Default::default()
            };
            let Some((resource, schema)) = self.resource(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            let decoded = (
                decode_dv(req.prior_state.as_ref(), &ty, "prior state", &mut diags),
                decode_dv(req.planned_state.as_ref(), &ty, "planned state", &mut diags),
                decode_dv(req.config.as_ref(), &ty, "configuration", &mut diags),
            );
            let (Some(prior), Some(planned), Some(config)) = decoded else {
                return (resp, diags);
            };
            let Some(data) = self.configured(&mut diags) else {
                resp.new_state = encode_dv(&prior, &ty, "state", &mut diags);
                return (resp, diags);
            };
            let stop = self.stop_token();
            let mut private = PrivateState::decode(&req.planned_private);
            let new_state = if planned.is_null() {
                resource.delete(&data, DeleteRequest { prior: &prior, prior_model: &IgnoredAny, private: &private, stop }, &mut diags).await;
                if diags.has_error() { prior.clone() } else { Value::Null }
            } else if prior.is_null() {
                let checkpoint = Checkpoint::default();
                let mut created_private = PrivateState::default();
                let create = resource.create(
                    &data,
                    CreateRequest { config: &config, config_model: &IgnoredAny, planned: &planned, private: &mut created_private, planned_private: &private, stop, checkpoint: checkpoint.clone() },
                    &mut diags,
                );
                // Recover a panic here, not only in `serve`, so the checkpoint still reaches state.
                let created = match AssertUnwindSafe(create).catch_unwind().await {
                    Ok(Some(state)) => Some((state, created_private)),
                    Ok(None) => checkpoint.last(),
                    Err(panic) => {
                        let msg = panic_message(panic.as_ref());
                        tracing::error!(panic = %msg, "create panicked; answering with the state it had recorded");
                        let saved = checkpoint.last();
                        diags.error(
                            "Provider Internal Error",
                            format!(
                                "The provider hit a bug while creating this {}: {msg}. {} Please report it, with the Terraform command you ran.",
                                req.type_name,
                                if saved.is_some() {
                                    "The object it had already created is recorded in state, marked tainted: the next apply replaces it, or run `terraform untaint` to keep it."
                                } else {
                                    "Nothing had been created yet."
                                }
                            ),
                        );
                        saved
                    }
                };
                if created.is_none() && !diags.has_error() {
                    diags.error(
                        "Missing Resource State After Create",
                        "The provider reported success but returned no state. This is a provider bug; please report it.",
                    );
                }
                let (state, created_private) = created.unwrap_or((Value::Null, PrivateState::default()));
                private = created_private;
                state
            } else {
                resource
                    .update(&data, UpdateRequest { prior: &prior, config: &config, planned: &planned, prior_model: &IgnoredAny, config_model: &IgnoredAny, planned_model: &IgnoredAny, private: &mut private, stop }, &mut diags)
                    .await
                    .unwrap_or_else(|| prior.clone())
            };
            resp.private = if new_state.is_null() { Vec::new() } else { private.encode() };
            let mut new_state = new_state;
            if !new_state.is_null() && !planned.is_null() {
                keep_unplanned_computed_blocks(&schema.block, &planned, &mut new_state);
            }
            if finish_state(schema, &mut new_state) && !diags.has_error() {
                diags.error(
                    "Provider Returned Unknown Values",
                    "The provider left values unknown after apply. This is a provider bug; please report it.",
                );
            }
            if !new_state.is_null() {
                resp.new_identity = identity_data(resource, &new_state, &mut diags);
            }
            resp.new_state = encode_dv(&new_state, &ty, "new state", &mut diags);
            (resp, diags)
        })
        .await
    }
}

fn write_only_unsupported(
    schema: &Schema,
    config: &Value,
    caps: Option<&pb::ClientCapabilities>,
    diags: &mut Diagnostics,
) {
    if caps.is_some_and(|c| c.write_only_attributes_allowed) {
        return;
    }
    for name in schema.block.write_only_set(config) {
        diags.attribute_error(
            AttributePath::root(name),
            "Write-only Attribute Not Allowed",
            format!("`{name}` is write-only, and write-only attributes are only supported in Terraform 1.11 and later. Upgrade Terraform, or use the attribute's plain form."),
        );
    }
}
