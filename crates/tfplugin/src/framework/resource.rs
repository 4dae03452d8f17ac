//! The managed-resource contract: what a resource implements, and the
//! requests the framework hands it. Create, update and delete are told apart by
//! the framework from null prior and planned states, as Terraform's protocol has
//! a single ApplyResourceChange.
//!
//! A [`Resource`] names its [`Resource::Model`], the Rust type of its objects: the framework
//! decodes the configuration, plan and state into it once per call and hands the models over
//! in the request, beside the values they came from. [`AnyResource`] is the same resource with
//! its model type erased, as a provider lists its resources.

use std::fmt;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
/// The model of a resource that reads its values itself: decoding it reads nothing.
pub use serde::de::IgnoredAny;
use tokio_util::sync::CancellationToken;

use super::diag::Diagnostics;
use super::path::AttributePath;
use super::private::PrivateState;
use super::schema::{IdentitySchema, Schema};
use super::value::{Value, Withheld};

/// A create: there is no prior state. `M` is the resource's model; the framework builds the
/// request without one ([`IgnoredAny`]) and decodes the model before the resource sees it.
pub struct CreateRequest<'a, M = IgnoredAny> {
    /// The configuration, write-only values included.
    pub config: &'a Value,
    /// [`CreateRequest::config`], decoded.
    pub config_model: &'a M,
    /// The final plan.
    pub planned: &'a Value,
    /// Cancelled when Terraform sends StopProvider (Ctrl-C).
    pub stop: CancellationToken,
    /// The private state to store with the state the create answers with; it starts empty.
    pub private: &'a mut PrivateState,
    /// What the plan recorded for this apply ([`CheckPlanRequest::private`]).
    pub planned_private: &'a PrivateState,
    /// Where the create records its state as soon as the object has an ID.
    pub checkpoint: Checkpoint,
}

/// The last state a create recorded once its object had an ID.
///
/// Whatever follows (an error, a timeout, cancellation, even a panic), the framework answers
/// the create with this state when the create itself returns none, so Terraform records the
/// object (tainted) instead of losing it.
#[derive(Clone, Default)]
pub struct Checkpoint {
    saved: std::sync::Arc<std::sync::Mutex<Option<(Value, PrivateState)>>>,
}

impl Checkpoint {
    /// Records `state`, and the private state that goes with it, as what exists now.
    pub fn save(&self, state: &Value, private: &PrivateState) {
        *self.saved.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((state.clone(), private.clone()));
    }

    /// The last recorded state and private state.
    pub fn last(&self) -> Option<(Value, PrivateState)> {
        self.saved.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// An in-place update.
pub struct UpdateRequest<'a, M = IgnoredAny> {
    /// The state before the update.
    pub prior: &'a Value,
    /// The configuration, write-only values included.
    pub config: &'a Value,
    /// The final plan.
    pub planned: &'a Value,
    /// [`UpdateRequest::prior`], decoded.
    pub prior_model: &'a M,
    /// [`UpdateRequest::config`], decoded.
    pub config_model: &'a M,
    /// [`UpdateRequest::planned`], decoded.
    pub planned_model: &'a M,
    /// The private state; what the update leaves here is stored with the new state.
    pub private: &'a mut PrivateState,
    /// Cancelled when Terraform sends StopProvider.
    pub stop: CancellationToken,
}

/// A delete.
pub struct DeleteRequest<'a, M = IgnoredAny> {
    /// The state being destroyed.
    pub prior: &'a Value,
    /// [`DeleteRequest::prior`], decoded.
    pub prior_model: &'a M,
    /// The private state recorded with it.
    pub private: &'a PrivateState,
    /// Cancelled when Terraform sends StopProvider.
    pub stop: CancellationToken,
}

/// A refresh.
pub struct ReadRequest<'a, M = IgnoredAny> {
    /// The state as last recorded.
    pub current: &'a Value,
    /// [`ReadRequest::current`], decoded.
    pub current_model: &'a M,
    /// The private state recorded with it; what the read leaves here is stored with the new state.
    pub private: &'a mut PrivateState,
    /// Cancelled when Terraform sends StopProvider.
    pub stop: CancellationToken,
}

/// What a refresh found.
pub enum ReadOutcome {
    /// The object exists; this is its new state.
    Found(Value),
    /// The object is gone: Terraform drops it from state and plans a create.
    Gone,
}

/// An import, by ID string or by identity.
pub struct ImportRequest<'a> {
    /// `terraform import ADDR ID` or `import { id = ... }`; empty when importing by identity.
    pub id: &'a str,
    /// `import { identity = {...} }`, when given.
    pub identity: Option<&'a Value>,
    /// Cancelled when Terraform sends StopProvider.
    pub stop: CancellationToken,
}

/// A plan's check against the remote API, after the plan rules ran.
pub struct CheckPlanRequest<'a> {
    /// Prior state; null on create (and in the plan of a replacement's create half).
    pub prior: &'a Value,
    /// The plan as it stands; it may hold unknowns.
    pub planned: &'a Value,
    /// The configuration.
    pub config: &'a Value,
    /// What this plan hands to apply, which receives it as [`CreateRequest::private`] or
    /// [`UpdateRequest::private`]. It starts as the prior object's private state; in the plan of
    /// a replacement's create half, as what the plan of the whole change recorded.
    pub private: &'a mut PrivateState,
    /// Terraform 1.16 (`store_planned_private`): in the final plan made during apply, the private
    /// state the first plan of this change returned; `None` otherwise.
    pub first_plan_private: Option<&'a PrivateState>,
    /// Cancelled when Terraform sends StopProvider.
    pub stop: CancellationToken,
}

/// What a plan customisation may see and change.
pub struct PlanRequest<'a> {
    /// Prior state; null on create.
    pub prior: &'a Value,
    /// The configuration (may hold unknowns until the final plan).
    pub config: &'a Value,
}

// The requests print the shape of the values they carry, never the values: configuration,
// plan and state hold secrets as plain strings.

impl<M> fmt::Debug for CreateRequest<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateRequest")
            .field("config", &Withheld(self.config))
            .field("planned", &Withheld(self.planned))
            .field("private", &self.private)
            .field("planned_private", &self.planned_private)
            .field("stop", &self.stop)
            .field("checkpoint", &self.checkpoint)
            .finish()
    }
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let saved = self.last();
        f.debug_struct("Checkpoint")
            .field("saved", &saved.as_ref().map(|(v, p)| (Withheld(v), p)))
            .finish()
    }
}

impl<M> fmt::Debug for UpdateRequest<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateRequest")
            .field("prior", &Withheld(self.prior))
            .field("config", &Withheld(self.config))
            .field("planned", &Withheld(self.planned))
            .field("private", &self.private)
            .field("stop", &self.stop)
            .finish()
    }
}

impl<M> fmt::Debug for DeleteRequest<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeleteRequest")
            .field("prior", &Withheld(self.prior))
            .field("private", &self.private)
            .field("stop", &self.stop)
            .finish()
    }
}

impl<M> fmt::Debug for ReadRequest<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadRequest")
            .field("current", &Withheld(self.current))
            .field("private", &self.private)
            .field("stop", &self.stop)
            .finish()
    }
}

impl fmt::Debug for ReadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadOutcome::Found(state) => f.debug_tuple("Found").field(&Withheld(state)).finish(),
            ReadOutcome::Gone => f.write_str("Gone"),
        }
    }
}

impl fmt::Debug for ImportRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportRequest")
            .field("id", &self.id)
            .field("identity", &self.identity.map(Withheld))
            .field("stop", &self.stop)
            .finish()
    }
}

impl fmt::Debug for CheckPlanRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckPlanRequest")
            .field("prior", &Withheld(self.prior))
            .field("planned", &Withheld(self.planned))
            .field("config", &Withheld(self.config))
            .field("private", &self.private)
            .field("first_plan_private", &self.first_plan_private)
            .field("stop", &self.stop)
            .finish()
    }
}

impl fmt::Debug for PlanRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanRequest")
            .field("prior", &Withheld(self.prior))
            .field("config", &Withheld(self.config))
            .finish()
    }
}

/// A Terraform managed resource type.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// What the provider's ConfigureProvider produced (an API client).
    type Data: Send + Sync + 'static;

    /// The Rust type of this resource's objects, read through serde
    /// ([`model::read`](super::model::read)): its configuration, plan and state are decoded
    /// into it once per call. A type made with [`model::schema_of`](super::model::schema_of)
    /// in mind is the one declaration of the schema too.
    type Model: DeserializeOwned + Send + Sync + 'static;

    /// Full type name, e.g. `example_widget`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// The identity schema, for resources that have one.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }

    /// The identity of a known state object.
    fn identity(&self, _state: &Value) -> Option<Value> {
        None
    }

    /// Extra validation beyond the schema's validators; `config` may hold unknowns.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// The configuration `-generate-config-out` writes for an existing object whose
    /// state is `state` (after an import, or a `terraform query` result). Terraform
    /// writes it as HCL: every non-computed attribute appears, a null as `null`, and a
    /// sensitive one as `null # sensitive` whatever its value. The default keeps what
    /// configuration may set and drops what only the provider sets.
    /// `schema` is this resource's [`Resource::schema`], built once by the server.
    fn generate_config(&self, schema: &Schema, state: &Value, _diags: &mut Diagnostics) -> Value {
        schema.block.config_from_state(state)
    }

    /// Adjusts the plan after the framework's own rules ran.
    fn modify_plan(
        &self,
        _req: PlanRequest<'_>,
        _planned: &mut Value,
        _requires_replace: &mut Vec<AttributePath>,
        _diags: &mut Diagnostics,
    ) {
    }

    /// Checks the plan against the remote API (something another object already holds, for
    /// instance) and records in [`CheckPlanRequest::private`] what the apply should know.
    /// Runs after [`Resource::modify_plan`], only when the provider is configured and the plan
    /// has no error.
    async fn check_plan(
        &self,
        _data: &Self::Data,
        _req: CheckPlanRequest<'_>,
        _diags: &mut Diagnostics,
    ) {
    }

    /// Creates the object. Must return `Some(state)` whenever something was
    /// created, even with errors, so that Terraform taints rather than loses it;
    /// [`CreateRequest::checkpoint`] guarantees that for every exit once the ID is known.
    async fn create(
        &self,
        data: &Self::Data,
        req: CreateRequest<'_, Self::Model>,
        diags: &mut Diagnostics,
    ) -> Option<Value>;

    /// Refreshes the object.
    async fn read(
        &self,
        data: &Self::Data,
        req: ReadRequest<'_, Self::Model>,
        diags: &mut Diagnostics,
    ) -> ReadOutcome;

    /// Updates the object in place; returns the new state (the prior one on failure).
    async fn update(
        &self,
        data: &Self::Data,
        req: UpdateRequest<'_, Self::Model>,
        diags: &mut Diagnostics,
    ) -> Option<Value>;

    /// Deletes the object. An object that is already gone counts as deleted.
    async fn delete(
        &self,
        data: &Self::Data,
        req: DeleteRequest<'_, Self::Model>,
        diags: &mut Diagnostics,
    );

    /// Builds the state stub an import starts from (ReadResource follows). By default the
    /// resource cannot be imported, and says so.
    async fn import(
        &self,
        _data: &Self::Data,
        _req: ImportRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        diags.error(
            "Import Not Supported",
            format!("A {} cannot be imported.", self.type_name()),
        );
        None
    }

    /// Converts raw JSON state of schema version `version` to the current
    /// schema, `schema` ([`Resource::schema`], built once by the server). The default decodes it
    /// with the current type, ignoring attributes the schema no longer has and filling new ones
    /// with null.
    fn upgrade_state(
        &self,
        schema: &Schema,
        version: i64,
        json: &[u8],
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        if version > schema.version {
            diags.error(
                "Unsupported State Version",
                format!(
                    "The state of this {} was written by a newer provider (schema version {version}; this provider knows up to {}). Upgrade the provider.",
                    self.type_name(),
                    schema.version
                ),
            );
            return None;
        }
        match super::json::decode(
            json,
            &schema.implied_type(),
            super::json::UnknownAttributes::Ignore,
        ) {
            Ok(v) => Some(v),
            Err(e) => {
                diags.error(
                    "Unable to Read Prior State",
                    format!(
                        "The stored state of this {} could not be decoded: {e}",
                        self.type_name()
                    ),
                );
                None
            }
        }
    }
}

/// A [`Resource`] with its model type erased: what [`Provider::resources`] lists
/// (`Arc::new(MyResource)` becomes one), and what the server calls. Every [`Resource`] is one;
/// its create, read, update and delete decode their models here, once, and a value that does
/// not decode is an error diagnostic instead of a call.
///
/// [`Provider::resources`]: super::provider::Provider::resources
#[async_trait]
pub trait AnyResource: Send + Sync + 'static {
    /// [`Resource::Data`].
    type Data: Send + Sync + 'static;
    /// [`Resource::type_name`].
    fn type_name(&self) -> &'static str;
    /// [`Resource::schema`].
    fn schema(&self) -> Schema;
    /// [`Resource::identity_schema`].
    fn identity_schema(&self) -> Option<IdentitySchema>;
    /// [`Resource::identity`].
    fn identity(&self, state: &Value) -> Option<Value>;
    /// [`Resource::validate`].
    fn validate(&self, config: &Value, diags: &mut Diagnostics);
    /// [`Resource::generate_config`].
    fn generate_config(&self, schema: &Schema, state: &Value, diags: &mut Diagnostics) -> Value;
    /// [`Resource::modify_plan`].
    fn modify_plan(
        &self,
        req: PlanRequest<'_>,
        planned: &mut Value,
        requires_replace: &mut Vec<AttributePath>,
        diags: &mut Diagnostics,
    );
    /// [`Resource::check_plan`].
    async fn check_plan(
        &self,
        data: &Self::Data,
        req: CheckPlanRequest<'_>,
        diags: &mut Diagnostics,
    );
    /// [`Resource::create`], its model decoded.
    async fn create(
        &self,
        data: &Self::Data,
        req: CreateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
    /// [`Resource::read`], its model decoded.
    async fn read(
        &self,
        data: &Self::Data,
        req: ReadRequest<'_>,
        diags: &mut Diagnostics,
    ) -> ReadOutcome;
    /// [`Resource::update`], its models decoded.
    async fn update(
        &self,
        data: &Self::Data,
        req: UpdateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
    /// [`Resource::delete`], its model decoded.
    async fn delete(&self, data: &Self::Data, req: DeleteRequest<'_>, diags: &mut Diagnostics);
    /// [`Resource::import`].
    async fn import(
        &self,
        data: &Self::Data,
        req: ImportRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
    /// [`Resource::upgrade_state`].
    fn upgrade_state(
        &self,
        schema: &Schema,
        version: i64,
        json: &[u8],
        diags: &mut Diagnostics,
    ) -> Option<Value>;
}

/// Decodes `value` (`what` it is, for the error) into a model, or says why it cannot.
fn decode<M: DeserializeOwned>(
    type_name: &str,
    what: &str,
    value: &Value,
    diags: &mut Diagnostics,
) -> Option<M> {
    match super::model::read(value) {
        Ok(m) => Some(m),
        Err(e) => {
            diags.error(
                "Unreadable Resource Object",
                format!("The {what} of this {type_name} does not fit its model: {e}"),
            );
            None
        }
    }
}

#[async_trait]
impl<R: Resource> AnyResource for R {
    type Data = R::Data;
    fn type_name(&self) -> &'static str {
        Resource::type_name(self)
    }
    fn schema(&self) -> Schema {
        Resource::schema(self)
    }
    fn identity_schema(&self) -> Option<IdentitySchema> {
        Resource::identity_schema(self)
    }
    fn identity(&self, state: &Value) -> Option<Value> {
        Resource::identity(self, state)
    }
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        Resource::validate(self, config, diags);
    }
    fn generate_config(&self, schema: &Schema, state: &Value, diags: &mut Diagnostics) -> Value {
        Resource::generate_config(self, schema, state, diags)
    }
    fn modify_plan(
        &self,
        req: PlanRequest<'_>,
        planned: &mut Value,
        requires_replace: &mut Vec<AttributePath>,
        diags: &mut Diagnostics,
    ) {
        Resource::modify_plan(self, req, planned, requires_replace, diags);
    }
    async fn check_plan(&self, data: &R::Data, req: CheckPlanRequest<'_>, diags: &mut Diagnostics) {
        Resource::check_plan(self, data, req, diags).await;
    }
    async fn create(
        &self,
        data: &R::Data,
        req: CreateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let name = Resource::type_name(self);
        let config: R::Model = decode(name, "configuration", req.config, diags)?;
        let req = CreateRequest {
            config: req.config,
            config_model: &config,
            planned: req.planned,
            stop: req.stop,
            private: req.private,
            planned_private: req.planned_private,
            checkpoint: req.checkpoint,
        };
        Resource::create(self, data, req, diags).await
    }
    async fn read(
        &self,
        data: &R::Data,
        req: ReadRequest<'_>,
        diags: &mut Diagnostics,
    ) -> ReadOutcome {
        let name = Resource::type_name(self);
        let Some(current) = decode::<R::Model>(name, "state", req.current, diags) else {
            return ReadOutcome::Found(req.current.clone());
        };
        let req = ReadRequest {
            current: req.current,
            current_model: &current,
            private: req.private,
            stop: req.stop,
        };
        Resource::read(self, data, req, diags).await
    }
    async fn update(
        &self,
        data: &R::Data,
        req: UpdateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let name = Resource::type_name(self);
        let prior: Option<R::Model> = decode(name, "prior state", req.prior, diags);
        let config: Option<R::Model> = decode(name, "configuration", req.config, diags);
        let planned: Option<R::Model> = decode(name, "plan", req.planned, diags);
        let (Some(prior), Some(config), Some(planned)) = (prior, config, planned) else {
            return Some(req.prior.clone());
        };
        let req = UpdateRequest {
            prior: req.prior,
            config: req.config,
            planned: req.planned,
            prior_model: &prior,
            config_model: &config,
            planned_model: &planned,
            private: req.private,
            stop: req.stop,
        };
        Resource::update(self, data, req, diags).await
    }
    async fn delete(&self, data: &R::Data, req: DeleteRequest<'_>, diags: &mut Diagnostics) {
        let name = Resource::type_name(self);
        let Some(prior) = decode::<R::Model>(name, "state", req.prior, diags) else {
            return;
        };
        let req = DeleteRequest {
            prior: req.prior,
            prior_model: &prior,
            private: req.private,
            stop: req.stop,
        };
        Resource::delete(self, data, req, diags).await;
    }
    async fn import(
        &self,
        data: &R::Data,
        req: ImportRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        Resource::import(self, data, req, diags).await
    }
    fn upgrade_state(
        &self,
        schema: &Schema,
        version: i64,
        json: &[u8],
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        Resource::upgrade_state(self, schema, version, json, diags)
    }
}
