//! Step-by-step acceptance tests in the shape of terraform-plugin-testing: plan, apply the saved plan, prove
//! the next plan is empty, check state, verify import, and finally destroy and check nothing is left behind.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;

use regex::Regex;
use serde_json::Value;

use super::target::Target;
use super::workdir::{PLAN_FILE, Workdir};

/// A check over JSON from `terraform show -json`; `Err` carries the failure message.
pub type JsonCheck = Box<dyn Fn(&Value) -> Result<(), String>>;

/// One CLI interaction: write `config`, plan, check the plan, apply it, then check the result.
#[derive(Default)]
pub struct Step {
    /// The whole `main.tf` for this step.
    pub config: String,
    /// The plan or apply must fail with output (stdout + stderr) matching this; the step then ends there.
    pub expect_error: Option<Regex>,
    /// Allow (and require) a non-empty plan right after this step's apply.
    pub expect_non_empty_plan: bool,
    /// Run against the saved plan before it is applied.
    pub plan_checks: Vec<PlanCheck>,
    /// Run against the state after the apply.
    pub state_checks: Vec<StateCheck>,
    /// Import the resource into a fresh directory and compare it with this step's state.
    pub import_verify: Option<ImportVerify>,
}

impl Step {
    pub fn new(config: impl Into<String>) -> Step {
        Step {
            config: config.into(),
            ..Step::default()
        }
    }

    /// Expects the plan or apply to fail with output matching `pattern`.
    #[track_caller]
    pub fn expect_error(mut self, pattern: &str) -> Step {
        self.expect_error =
            Some(Regex::new(pattern).unwrap_or_else(|err| panic!("bad regex {pattern:?}: {err}")));
        self
    }

    pub fn expect_non_empty_plan(mut self) -> Step {
        self.expect_non_empty_plan = true;
        self
    }

    pub fn plan_check(mut self, check: PlanCheck) -> Step {
        self.plan_checks.push(check);
        self
    }

    pub fn state_check(mut self, check: StateCheck) -> Step {
        self.state_checks.push(check);
        self
    }

    pub fn import_verify(mut self, verify: ImportVerify) -> Step {
        self.import_verify = Some(verify);
        self
    }
}

/// Assertions on the saved plan (`terraform show -json <plan>`).
pub enum PlanCheck {
    /// Every resource change is a no-op.
    ExpectEmptyPlan,
    /// At least one resource change is not a no-op.
    ExpectNonEmptyPlan,
    /// The resource's `change.actions` equal these, e.g. `["delete", "create"]` for a replacement.
    ExpectResourceAction {
        address: String,
        actions: Vec<String>,
    },
    Custom(JsonCheck),
}

impl PlanCheck {
    pub fn resource_action(address: &str, actions: &[&str]) -> PlanCheck {
        PlanCheck::ExpectResourceAction {
            address: address.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn check(&self, plan: &Value) -> Result<(), String> {
        let changes = resource_changes(plan);
        let pending: Vec<String> = changes
            .iter()
            .filter(|(_, actions)| actions.as_slice() != ["no-op"])
            .map(|(address, actions)| format!("{address}: {actions:?}"))
            .collect();
        match self {
            PlanCheck::ExpectEmptyPlan if pending.is_empty() => Ok(()),
            PlanCheck::ExpectEmptyPlan => {
                Err(format!("expected an empty plan, got changes: {pending:?}"))
            }
            PlanCheck::ExpectNonEmptyPlan if pending.is_empty() => {
                Err("expected a non-empty plan, got none".into())
            }
            PlanCheck::ExpectNonEmptyPlan => Ok(()),
            PlanCheck::ExpectResourceAction { address, actions } => {
                match changes.iter().find(|(a, _)| a == address) {
                    Some((_, got)) if got == actions => Ok(()),
                    Some((_, got)) => Err(format!(
                        "{address}: expected actions {actions:?}, got {got:?}"
                    )),
                    None => Err(format!("{address}: not in the plan; planned: {changes:?}")),
                }
            }
            PlanCheck::Custom(check) => check(plan),
        }
    }
}

/// `(address, actions)` of every `resource_changes[]` entry in a plan.
pub fn resource_changes(plan: &Value) -> Vec<(String, Vec<String>)> {
    let Some(changes) = plan.get("resource_changes").and_then(Value::as_array) else {
        return Vec::new();
    };
    changes
        .iter()
        .map(|change| {
            let address = change
                .get("address")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let actions = change
                .pointer("/change/actions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            (address, actions)
        })
        .collect()
}

/// Assertions on the state after apply (`terraform show -json`). Paths are dotted: `"tags.0.key"`.
pub enum StateCheck {
    /// The attribute at `path` of `address` equals `value` exactly.
    KnownValue {
        address: String,
        path: String,
        value: Value,
    },
    /// The attribute at `path` of `address` is a string matching `pattern`.
    Matches {
        address: String,
        path: String,
        pattern: Regex,
    },
    Custom(JsonCheck),
}

impl StateCheck {
    pub fn known_value(address: &str, path: &str, value: Value) -> StateCheck {
        StateCheck::KnownValue {
            address: address.to_owned(),
            path: path.to_owned(),
            value,
        }
    }

    /// The attribute is JSON `null` (unset) in state.
    pub fn null_value(address: &str, path: &str) -> StateCheck {
        StateCheck::known_value(address, path, Value::Null)
    }

    #[track_caller]
    pub fn matches(address: &str, path: &str, pattern: &str) -> StateCheck {
        let pattern =
            Regex::new(pattern).unwrap_or_else(|err| panic!("bad regex {pattern:?}: {err}"));
        StateCheck::Matches {
            address: address.to_owned(),
            path: path.to_owned(),
            pattern,
        }
    }

    fn check(&self, state: &Value) -> Result<(), String> {
        match self {
            StateCheck::KnownValue {
                address,
                path,
                value,
            } => {
                let got = attribute(state, address, path)?;
                if &got == value {
                    Ok(())
                } else {
                    Err(format!("{address}.{path}: expected {value}, got {got}"))
                }
            }
            StateCheck::Matches {
                address,
                path,
                pattern,
            } => match attribute(state, address, path)? {
                Value::String(s) if pattern.is_match(&s) => Ok(()),
                got => Err(format!(
                    "{address}.{path}: expected a string matching /{pattern}/, got {got}"
                )),
            },
            StateCheck::Custom(check) => check(state),
        }
    }
}

/// Compares one attribute across steps, e.g. to prove a replacement changed `id` or an update kept it.
#[derive(Clone)]
pub struct CompareValue {
    same: bool,
    seen: Rc<RefCell<Vec<Value>>>,
}

impl CompareValue {
    /// Every recorded value must equal the first.
    pub fn same() -> CompareValue {
        CompareValue {
            same: true,
            seen: Rc::default(),
        }
    }

    /// Every recorded value must differ from all earlier ones.
    pub fn differ() -> CompareValue {
        CompareValue {
            same: false,
            seen: Rc::default(),
        }
    }

    /// A state check that records the attribute and compares it with the values recorded by earlier steps.
    pub fn add(&self, address: &str, path: &str) -> StateCheck {
        let (tracker, address, path) = (self.clone(), address.to_owned(), path.to_owned());
        StateCheck::Custom(Box::new(move |state| {
            let value = attribute(state, &address, &path)?;
            let mut seen = tracker.seen.borrow_mut();
            let clash = if tracker.same {
                seen.iter().find(|earlier| **earlier != value)
            } else {
                seen.iter().find(|earlier| **earlier == value)
            };
            if let Some(earlier) = clash {
                let want = if tracker.same {
                    "the same as"
                } else {
                    "different from"
                };
                return Err(format!(
                    "{address}.{path} is {value}, expected {want} the earlier {earlier}"
                ));
            }
            seen.push(value);
            Ok(())
        }))
    }
}

/// Import the resource at `resource` into a fresh directory and compare every attribute with the applied state,
/// except those in `ignore` (dotted paths; an entry also covers everything below it).
pub struct ImportVerify {
    pub resource: String,
    /// Import ID; defaults to the resource's `id` attribute.
    pub id: Option<String>,
    pub ignore: Vec<String>,
}

impl ImportVerify {
    pub fn new(resource: &str, ignore: &[&str]) -> ImportVerify {
        ImportVerify {
            resource: resource.to_owned(),
            id: None,
            ignore: ignore.iter().map(|i| (*i).to_owned()).collect(),
        }
    }

    #[track_caller]
    fn run(&self, workdir: &Workdir, config: &str, state: &Value) -> Result<(), String> {
        let original = find_resource_values(state, &self.resource)
            .ok_or_else(|| format!("import verify: {} is not in state", self.resource))?;
        let id = match &self.id {
            Some(id) => id.clone(),
            None => original
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    format!(
                        "import verify: {} has no string `id`; set ImportVerify::id",
                        self.resource
                    )
                })?
                .to_owned(),
        };
        let fresh = workdir.sibling("import");
        fresh.write_config(config);
        let imported = fresh.import(&self.resource, &id);
        if !imported.success() {
            return Err(format!(
                "import verify: terraform import failed:\n{imported}"
            ));
        }
        let imported =
            find_resource_values(&fresh.show_json(), &self.resource).ok_or_else(|| {
                format!(
                    "import verify: {} is not in the imported state",
                    self.resource
                )
            })?;

        let ignored = |path: &str| {
            self.ignore.iter().any(|i| {
                path == i
                    || path
                        .strip_prefix(i.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            })
        };
        let (want, got) = (flatten(&original), flatten(&imported));
        let mut differences = Vec::new();
        for path in want
            .keys()
            .chain(got.keys().filter(|k| !want.contains_key(*k)))
        {
            if ignored(path) {
                continue;
            }
            let (w, g) = (want.get(path), got.get(path));
            if w != g {
                let show =
                    |v: Option<&Value>| v.map_or_else(|| "<absent>".to_owned(), Value::to_string);
                differences.push(format!(
                    "  {path}: applied {}, imported {}",
                    show(w),
                    show(g)
                ));
            }
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "ImportStateVerify attributes not equivalent:\n{}",
                differences.join("\n")
            ))
        }
    }
}

/// `values` of the resource at `address` in `terraform show -json` output (root or child modules).
#[track_caller]
pub fn resource_values(state: &Value, address: &str) -> Value {
    find_resource_values(state, address).unwrap_or_else(|| {
        panic!(
            "{address} is not in state; resources present: {:?}",
            resource_addresses(state)
        )
    })
}

pub fn find_resource_values(state: &Value, address: &str) -> Option<Value> {
    resources(state)
        .into_iter()
        .find(|r| r.get("address").and_then(Value::as_str) == Some(address))?
        .get("values")
        .cloned()
}

/// Addresses of every resource and data source in a state.
pub fn resource_addresses(state: &Value) -> Vec<String> {
    resources(state)
        .into_iter()
        .filter_map(|r| r.get("address").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

fn resources(state: &Value) -> Vec<&Value> {
    fn walk<'a>(module: &'a Value, out: &mut Vec<&'a Value>) {
        if let Some(list) = module.get("resources").and_then(Value::as_array) {
            out.extend(list);
        }
        for child in module
            .get("child_modules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    if let Some(root) = state.pointer("/values/root_module") {
        walk(root, &mut out);
    }
    out
}

/// The value at a dotted `path` (object keys and array indexes) inside `value`.
pub fn value_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(value, |v, segment| match v {
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
            Value::Object(map) => map.get(segment),
            _ => None,
        })
}

fn attribute(state: &Value, address: &str, path: &str) -> Result<Value, String> {
    let values = find_resource_values(state, address).ok_or_else(|| {
        format!(
            "{address} is not in state; resources present: {:?}",
            resource_addresses(state)
        )
    })?;
    value_at(&values, path)
        .cloned()
        .ok_or_else(|| format!("{address} has no attribute `{path}`: {values}"))
}

/// Leaf values keyed by dotted path; empty objects and arrays are leaves too, so `{}` differs from `null`.
fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        let join = |key: &str| {
            if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            }
        };
        match value {
            Value::Object(map) if !map.is_empty() => {
                map.iter().for_each(|(k, v)| walk(&join(k), v, out))
            }
            Value::Array(items) if !items.is_empty() => {
                items
                    .iter()
                    .enumerate()
                    .for_each(|(i, v)| walk(&join(&i.to_string()), v, out));
            }
            leaf => {
                out.insert(prefix.to_owned(), leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// What to assert once the case has been destroyed.
pub type CheckDestroy = Box<dyn Fn(&Target) -> Result<(), String>>;

/// A sequence of steps plus the final destroy check.
pub struct TestCase {
    pub steps: Vec<Step>,
    /// Runs after `terraform destroy` (given the target when there is one). Default: the emulator holds no
    /// cloud account other than the built-in id 1.
    pub check_destroy: Option<CheckDestroy>,
}

impl TestCase {
    pub fn new(steps: Vec<Step>) -> TestCase {
        TestCase {
            steps,
            check_destroy: Some(Box::new(no_accounts_left)),
        }
    }

    pub fn check_destroy(
        mut self,
        check: impl Fn(&Target) -> Result<(), String> + 'static,
    ) -> TestCase {
        self.check_destroy = Some(Box::new(check));
        self
    }

    /// Runs every step in `workdir`, then destroys. Destroy also runs when a step fails, so a real-API run does
    /// not leak accounts; the step's failure is reported afterwards. `target` is `None` for configurations that
    /// use no Redis Cloud resources (the destroy check is then skipped).
    #[track_caller]
    pub fn run(self, target: Option<&Target>, workdir: &Workdir) {
        // The last configuration that planned successfully is the one to destroy with: a later step's
        // configuration may be deliberately invalid, and if none ever planned, nothing was applied.
        let mut destroy_config: Option<String> = None;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for (index, step) in self.steps.iter().enumerate() {
                run_step(workdir, index + 1, step, &mut destroy_config);
            }
        }));
        let Some(config) = destroy_config else {
            if let Err(panic) = outcome {
                resume_unwind(panic);
            }
            return;
        };
        workdir.write_config(&config);
        let destroy = workdir.destroy();
        if let Err(panic) = outcome {
            if !destroy.success() {
                eprintln!("destroy after the failed step also failed:\n{destroy}");
            }
            resume_unwind(panic);
        }
        assert!(destroy.success(), "destroy failed:\n{destroy}");
        let left = resource_addresses(&workdir.show_json());
        assert!(
            left.is_empty(),
            "resources left in state after destroy: {left:?}"
        );
        if let (Some(target), Some(check)) = (target, &self.check_destroy) {
            check(target).unwrap_or_else(|why| panic!("check destroy: {why}"));
        }
    }
}

/// Runs `steps` against `target` in `workdir` with the default destroy check.
#[track_caller]
pub fn run_steps(target: &Target, workdir: &Workdir, steps: Vec<Step>) {
    TestCase::new(steps).run(Some(target), workdir);
}

/// The default destroy check: only the emulator's built-in account (id 1) remains.
pub fn no_accounts_left(target: &Target) -> Result<(), String> {
    let Some(emulator) = target.admin("no cloud account left after destroy") else {
        return Ok(());
    };
    let left: Vec<u64> = emulator
        .live_account_ids()
        .into_iter()
        .filter(|id| *id != 1)
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "cloud accounts still exist after destroy: {left:?}"
        ))
    }
}

/// Runs one step. `destroy_config` is set once the step's configuration has planned (and so may be applied).
#[track_caller]
fn run_step(workdir: &Workdir, number: usize, step: &Step, destroy_config: &mut Option<String>) {
    workdir.write_config(&step.config);

    let expected_failure = |output: &super::terraform::TfOutput, phase: &str| -> bool {
        match &step.expect_error {
            Some(re) if re.is_match(&output.combined()) => true,
            Some(re) => step_failed(
                workdir,
                number,
                format!("{phase} failed, but not with an error matching /{re}/:\n{output}"),
            ),
            None => step_failed(workdir, number, format!("{phase} failed:\n{output}")),
        }
    };

    let plan = workdir.plan_out(PLAN_FILE);
    if !plan.success() && expected_failure(&plan, "plan") {
        return;
    }
    *destroy_config = Some(step.config.clone());
    if !step.plan_checks.is_empty() {
        let plan_json = workdir.show_plan_json(PLAN_FILE);
        for check in &step.plan_checks {
            check
                .check(&plan_json)
                .unwrap_or_else(|why| step_failed(workdir, number, format!("plan check: {why}")));
        }
    }

    let apply = workdir.apply_plan(PLAN_FILE);
    if !apply.success() && expected_failure(&apply, "apply") {
        return;
    }
    if let Some(re) = &step.expect_error {
        step_failed(
            workdir,
            number,
            format!("expected an error matching /{re}/, but plan and apply succeeded:\n{apply}"),
        );
    }

    // The perpetual-diff check every step gets for free: a correct provider converges after one apply.
    let replan = workdir.plan_detailed();
    match (replan.status, step.expect_non_empty_plan) {
        (Some(0), false) | (Some(2), true) => {}
        (Some(2), false) => step_failed(
            workdir,
            number,
            format!("After applying this test step, the plan was not empty.\n{replan}"),
        ),
        (Some(0), true) => step_failed(
            workdir,
            number,
            format!(
                "Expected a non-empty plan after applying this step, got an empty one.\n{replan}"
            ),
        ),
        _ => step_failed(
            workdir,
            number,
            format!("plan after apply failed:\n{replan}"),
        ),
    }

    if step.state_checks.is_empty() && step.import_verify.is_none() {
        return;
    }
    let state = workdir.show_json();
    for check in &step.state_checks {
        check
            .check(&state)
            .unwrap_or_else(|why| step_failed(workdir, number, format!("state check: {why}")));
    }
    if let Some(verify) = &step.import_verify {
        verify
            .run(workdir, &step.config, &state)
            .unwrap_or_else(|why| step_failed(workdir, number, why));
    }
}

#[track_caller]
fn step_failed(workdir: &Workdir, number: usize, why: String) -> ! {
    panic!(
        "step {number}: {why}\n(work directory: {})",
        workdir.path().display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> Value {
        json!({"values": {"root_module": {
            "resources": [{"address": "a.x", "values": {"id": "1", "tags": [{"key": "k"}], "m": {}}}],
            "child_modules": [{"resources": [{"address": "module.m.b.y", "values": {"id": "2"}}]}]
        }}})
    }

    #[test]
    fn finds_resources_in_root_and_child_modules() {
        assert_eq!(resource_addresses(&state()), ["a.x", "module.m.b.y"]);
        assert_eq!(
            resource_values(&state(), "module.m.b.y"),
            json!({"id": "2"})
        );
        assert_eq!(find_resource_values(&state(), "c.z"), None);
    }

    #[test]
    fn state_checks_walk_dotted_paths() {
        assert!(
            StateCheck::known_value("a.x", "tags.0.key", json!("k"))
                .check(&state())
                .is_ok()
        );
        assert!(
            StateCheck::known_value("a.x", "tags.0.key", json!("v"))
                .check(&state())
                .is_err()
        );
        assert!(
            StateCheck::known_value("a.x", "tags.1.key", json!("k"))
                .check(&state())
                .is_err()
        );
        assert!(
            StateCheck::matches("a.x", "id", "^[0-9]+$")
                .check(&state())
                .is_ok()
        );
    }

    #[test]
    fn plan_checks_read_resource_change_actions() {
        let plan = json!({"resource_changes": [
            {"address": "a.x", "change": {"actions": ["delete", "create"]}},
            {"address": "a.y", "change": {"actions": ["no-op"]}}
        ]});
        assert!(
            PlanCheck::resource_action("a.x", &["delete", "create"])
                .check(&plan)
                .is_ok()
        );
        assert!(
            PlanCheck::resource_action("a.x", &["update"])
                .check(&plan)
                .is_err()
        );
        assert!(
            PlanCheck::resource_action("a.z", &["create"])
                .check(&plan)
                .is_err()
        );
        assert!(PlanCheck::ExpectEmptyPlan.check(&plan).is_err());
        assert!(PlanCheck::ExpectNonEmptyPlan.check(&plan).is_ok());
        assert!(PlanCheck::ExpectEmptyPlan.check(&json!({})).is_ok());
    }

    #[test]
    fn compare_value_tracks_across_steps() {
        let differ = CompareValue::differ();
        let check = |id: &str| {
            differ
                .add("a.x", "id")
                .check(&json!({"values": {"root_module": {"resources": [
            {"address": "a.x", "values": {"id": id}}]}}}))
        };
        assert!(check("1").is_ok());
        assert!(check("2").is_ok());
        assert!(check("1").is_err());
    }

    #[test]
    fn flatten_keeps_empty_containers_as_leaves() {
        let flat = flatten(&json!({"a": {"b": [1, {"c": null}]}, "e": {}}));
        let keys: Vec<&str> = flat.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a.b.0", "a.b.1.c", "e"]);
    }
}
