//! A simulated Terraform core for `rediscloud_cloud_account`: it keeps one instance's state,
//! private bytes and taint, and drives a `FrameworkServer` in process through the
//! `tfplugin6.Provider` trait the way Terraform does (refresh, plan with the proposed new state,
//! apply with taint on a failed create, delete-then-create replacement, destroy, import), checking
//! the rules Terraform enforces on the answers and each call's deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use pb::provider_server::Provider as _;
use terraform_provider_rediscloud::provider::RedisCloudProvider;
use terraform_provider_rediscloud::provider::cloud_account::model::{self, Operation};
use tfplugin::framework::msgpack;
use tfplugin::framework::schema::Schema;
use tfplugin::framework::server::FrameworkServer;
use tfplugin::framework::value::{Type, Value};
use tfplugin::wire::proto::tfplugin6 as pb;

/// The server under test.
pub type Server = FrameworkServer<RedisCloudProvider>;

/// The resource type every call names.
pub const TYPE: &str = "rediscloud_cloud_account";

/// How far past its deadline an operation may run before it counts as outliving it.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// Summary of the diagnostic the server answers with when a request panicked.
pub const INTERNAL_ERROR: &str = "Provider Internal Error";

pub fn schema() -> Schema {
    model::resource_schema()
}

pub fn resource_type() -> Type {
    schema().implied_type()
}

/// One resource instance as Terraform's state holds it.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Null when the address has no object.
    pub state: Value,
    pub private: Vec<u8>,
    pub tainted: bool,
}

impl Default for Instance {
    fn default() -> Self {
        Instance {
            state: Value::Null,
            private: Vec::new(),
            tainted: false,
        }
    }
}

impl Instance {
    pub fn id(&self) -> Option<&str> {
        self.state.attr("id").as_str()
    }
}

/// What one Terraform operation saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Error diagnostics, as `summary: detail`.
    pub errors: Vec<String>,
    /// Things Terraform would reject or the checker forbids: internal errors, invalid plans,
    /// inconsistent results, calls past their deadline.
    pub violations: Vec<String>,
    /// An ApplyResourceChange that created or updated the object returned no error.
    pub applied_ok: bool,
    /// RPC trace, for the step log.
    pub trace: Vec<String>,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: msgpack::encode(v, &resource_type()).expect("encode a value of the resource type"),
        json: vec![],
    })
}

fn decode(d: Option<&pb::DynamicValue>) -> Result<Value, String> {
    match d {
        None => Ok(Value::Null),
        Some(d) if d.msgpack.is_empty() => Ok(Value::Null),
        Some(d) => msgpack::decode(&d.msgpack, &resource_type()).map_err(|e| e.to_string()),
    }
}

fn caps() -> Option<pb::ClientCapabilities> {
    Some(pb::ClientCapabilities {
        write_only_attributes_allowed: true,
        ..Default::default()
    })
}

/// Terraform's proposed new state: configuration, with computed attributes the configuration
/// leaves null taken from the prior state (null on create). Write-only values come from config.
pub fn proposed_new(prior: &Value, config: &Value) -> Value {
    let mut out = config.clone();
    if let Some(obj) = out.as_object_mut() {
        for a in schema().block.attributes.iter().filter(|a| a.is_computed()) {
            if config.attr(&a.name).is_null() {
                obj.insert(a.name.to_owned(), prior.attr(&a.name).clone());
            }
        }
    }
    out
}

/// Drives one provider server.
pub struct Core<'a> {
    pub server: &'a Server,
}

struct Planned {
    planned: Value,
    private: Vec<u8>,
    requires_replace: bool,
}

impl Core<'_> {
    /// Runs an RPC, abandoning it (and recording a violation) once it passes `budget` plus the margin.
    async fn call<T>(
        &self,
        what: &str,
        budget: Duration,
        out: &mut Outcome,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Option<T> {
        let started = Instant::now();
        match tokio::time::timeout(budget + DEADLINE_MARGIN, fut).await {
            Ok(Ok(r)) => Some(r.into_inner()),
            Ok(Err(status)) => {
                out.violations.push(format!(
                    "{what}: gRPC error instead of diagnostics: {status}"
                ));
                None
            }
            Err(_) => {
                out.violations.push(format!(
                    "{what} outlived its deadline: still running {:.1}s after it started (timeout {:?} + margin {:?})",
                    started.elapsed().as_secs_f64(),
                    budget,
                    DEADLINE_MARGIN
                ));
                None
            }
        }
    }

    fn diags(&self, what: &str, diags: &[pb::Diagnostic], out: &mut Outcome) -> bool {
        let mut error = false;
        for d in diags {
            if d.summary == INTERNAL_ERROR {
                out.violations
                    .push(format!("{what}: {}: {}", d.summary, d.detail));
            }
            if d.severity() == pb::diagnostic::Severity::Error {
                error = true;
                out.errors
                    .push(format!("{what}: {}: {}", d.summary, d.detail));
            }
        }
        error
    }

    /// ReadResource. False when it failed (Terraform stops the operation; state unchanged).
    pub async fn refresh(&self, inst: &mut Instance, out: &mut Outcome) -> bool {
        if inst.state.is_null() {
            return true;
        }
        let budget = model::timeout(&model::timeouts_of(&inst.state), Operation::Read);
        let req = pb::read_resource::Request {
            type_name: TYPE.into(),
            current_state: dv(&inst.state),
            private: inst.private.clone(),
            client_capabilities: caps(),
            ..Default::default()
        };
        let Some(resp) = self
            .call(
                "ReadResource",
                budget,
                out,
                self.server.read_resource(tonic::Request::new(req)),
            )
            .await
        else {
            return false;
        };
        if self.diags("ReadResource", &resp.diagnostics, out) {
            return false;
        }
        match decode(resp.new_state.as_ref()) {
            Ok(v) if v.is_null() => {
                out.trace.push(format!(
                    "read: {} gone",
                    inst.id().unwrap_or("?").to_owned()
                ));
                *inst = Instance::default();
            }
            Ok(v) => {
                if !v.is_wholly_known() {
                    out.violations
                        .push("ReadResource returned unknown values".to_owned());
                }
                inst.state = v;
                inst.private = resp.private;
            }
            Err(e) => {
                out.violations
                    .push(format!("ReadResource returned an undecodable state: {e}"));
                return false;
            }
        }
        true
    }

    async fn plan(
        &self,
        prior: &Value,
        private: &[u8],
        config: &Value,
        out: &mut Outcome,
    ) -> Option<Planned> {
        let req = pb::plan_resource_change::Request {
            type_name: TYPE.into(),
            prior_state: dv(prior),
            proposed_new_state: dv(&proposed_new(prior, config)),
            config: dv(config),
            prior_private: private.to_vec(),
            client_capabilities: caps(),
            ..Default::default()
        };
        let resp = self
            .call(
                "PlanResourceChange",
                Duration::from_secs(5),
                out,
                self.server.plan_resource_change(tonic::Request::new(req)),
            )
            .await?;
        if self.diags("PlanResourceChange", &resp.diagnostics, out) {
            return None;
        }
        let planned = match decode(resp.planned_state.as_ref()) {
            Ok(v) => v,
            Err(e) => {
                out.violations
                    .push(format!("PlanResourceChange: undecodable plan: {e}"));
                return None;
            }
        };
        // Terraform's AssertPlanValid: configured values are planned as configured; write-only null.
        for a in &schema().block.attributes {
            let p = planned.attr(&a.name);
            if a.write_only {
                if !p.is_null() {
                    out.violations.push(format!(
                        "invalid plan: write-only {} planned non-null",
                        a.name
                    ));
                }
            } else if a.is_configurable() && !a.is_computed() && p != config.attr(&a.name) {
                out.violations.push(format!(
                    "invalid plan: {} planned {p:?}, configured {:?}",
                    a.name,
                    config.attr(&a.name)
                ));
            } else if !prior.is_null()
                && a.is_computed()
                && !p.is_unknown()
                && p != prior.attr(&a.name)
                && config.attr(&a.name).is_null()
            {
                out.violations.push(format!(
                    "invalid plan: computed {} planned {p:?}, prior {:?}",
                    a.name,
                    prior.attr(&a.name)
                ));
            }
        }
        Some(Planned {
            planned,
            private: resp.planned_private,
            requires_replace: !resp.requires_replace.is_empty(),
        })
    }

    /// ApplyResourceChange; returns the new state (or None when the call itself was lost) and
    /// whether it reported errors. Checks the result against the plan when it succeeded.
    async fn apply_change(
        &self,
        prior: &Value,
        planned: &Planned,
        config: &Value,
        out: &mut Outcome,
    ) -> Option<(Value, Vec<u8>, bool)> {
        let (what, budget) = if planned.planned.is_null() {
            (
                "Apply(delete)",
                model::timeout(&model::timeouts_of(prior), Operation::Delete),
            )
        } else if prior.is_null() {
            (
                "Apply(create)",
                model::timeout(&model::timeouts_of(&planned.planned), Operation::Create),
            )
        } else {
            (
                "Apply(update)",
                model::timeout(&model::timeouts_of(&planned.planned), Operation::Update),
            )
        };
        let req = pb::apply_resource_change::Request {
            type_name: TYPE.into(),
            prior_state: dv(prior),
            planned_state: dv(&planned.planned),
            config: dv(config),
            planned_private: planned.private.clone(),
            ..Default::default()
        };
        let started = Instant::now();
        let resp = self
            .call(
                what,
                budget,
                out,
                self.server.apply_resource_change(tonic::Request::new(req)),
            )
            .await?;
        let failed = self.diags(what, &resp.diagnostics, out);
        let new = match decode(resp.new_state.as_ref()) {
            Ok(v) => v,
            Err(e) => {
                out.violations
                    .push(format!("{what}: undecodable new state: {e}"));
                return None;
            }
        };
        out.trace.push(format!(
            "{what} in {}ms -> {}{}",
            started.elapsed().as_millis(),
            new.attr("id")
                .as_str()
                .unwrap_or(if new.is_null() { "null" } else { "no id" }),
            if failed { " (error)" } else { "" }
        ));
        if !failed {
            if planned.planned.is_null() && !new.is_null() {
                out.violations.push(format!(
                    "{what}: inconsistent result after apply: delete returned a non-null state"
                ));
            }
            if let (Some(p), Some(n)) = (planned.planned.as_object(), new.as_object()) {
                for (k, pv) in p {
                    if pv.is_wholly_known() && Some(pv) != n.get(k) {
                        out.violations.push(format!(
                            "{what}: inconsistent result after apply: {k} planned {pv:?}, got {:?}",
                            n.get(k)
                        ));
                    }
                }
            }
            if !new.is_null() {
                out.applied_ok = true;
            }
        }
        Some((new, resp.private, failed))
    }

    async fn create(&self, inst: &mut Instance, config: &Value, out: &mut Outcome) {
        let Some(planned) = self.plan(&Value::Null, &[], config, out).await else {
            return;
        };
        let Some((new, private, failed)) =
            self.apply_change(&Value::Null, &planned, config, out).await
        else {
            return;
        };
        if !new.is_null() {
            inst.state = new;
            inst.private = private;
            inst.tainted = failed;
        }
    }

    /// Deletes the instance's object. False when the delete failed (the prior state is kept).
    async fn delete(&self, inst: &mut Instance, out: &mut Outcome) -> bool {
        let planned = Planned {
            planned: Value::Null,
            private: inst.private.clone(),
            requires_replace: false,
        };
        let prior = inst.state.clone();
        let Some((new, _, failed)) = self.apply_change(&prior, &planned, &Value::Null, out).await
        else {
            return false;
        };
        if failed {
            if !new.is_null() {
                inst.state = new;
            }
            return false;
        }
        *inst = Instance::default();
        true
    }

    /// `terraform apply` of one instance with `config`.
    pub async fn apply(&self, inst: &mut Instance, config: &Value, out: &mut Outcome) {
        if !self.refresh(inst, out).await {
            return;
        }
        if inst.state.is_null() {
            return self.create(inst, config, out).await;
        }
        let prior = inst.state.clone();
        let Some(plan) = self.plan(&prior, &inst.private, config, out).await else {
            return;
        };
        if inst.tainted || plan.requires_replace {
            out.trace.push(format!(
                "replace ({})",
                if inst.tainted {
                    "tainted"
                } else {
                    "requires_replace"
                }
            ));
            if self.delete(inst, out).await {
                self.create(inst, config, out).await;
            }
            return;
        }
        if plan.planned == prior {
            out.trace.push("no changes".to_owned());
            return;
        }
        let Some((new, private, failed)) = self.apply_change(&prior, &plan, config, out).await
        else {
            return;
        };
        if failed && new.is_null() {
            return;
        }
        inst.state = new;
        inst.private = private;
    }

    /// `terraform destroy` of one instance.
    pub async fn destroy(&self, inst: &mut Instance, out: &mut Outcome) {
        if !self.refresh(inst, out).await || inst.state.is_null() {
            return;
        }
        self.delete(inst, out).await;
    }

    /// `terraform import ADDR id` into an empty instance.
    pub async fn import(&self, inst: &mut Instance, id: &str, out: &mut Outcome) {
        let req = pb::import_resource_state::Request {
            type_name: TYPE.into(),
            id: id.to_owned(),
            client_capabilities: caps(),
            identity: None,
        };
        let Some(resp) = self
            .call(
                "ImportResourceState",
                model::DEFAULT_READ_TIMEOUT.min(Duration::from_secs(5)),
                out,
                self.server.import_resource_state(tonic::Request::new(req)),
            )
            .await
        else {
            return;
        };
        if self.diags("ImportResourceState", &resp.diagnostics, out) {
            return;
        }
        let [imported] = resp.imported_resources.as_slice() else {
            out.violations.push(format!(
                "ImportResourceState returned {} objects",
                resp.imported_resources.len()
            ));
            return;
        };
        let stub = match decode(imported.state.as_ref()) {
            Ok(v) => v,
            Err(e) => {
                out.violations
                    .push(format!("ImportResourceState: undecodable stub: {e}"));
                return;
            }
        };
        let mut fresh = Instance {
            state: stub,
            private: imported.private.clone(),
            tainted: false,
        };
        if !self.refresh(&mut fresh, out).await {
            return;
        }
        if fresh.state.is_null() {
            out.errors
                .push(format!("Cannot import non-existent remote object {id}"));
            return;
        }
        *inst = fresh;
    }
}
