//! The plan and apply rules Terraform enforces on every provider, applied in
//! one place so resources cannot break them: write-only values are nulled,
//! computed values are marked unknown only when they may change, and
//! replacement is decided from the schema.

use super::path::AttributePath;
use super::schema::{Block, Schema};
use super::value::{Value, Withheld};

/// The framework's part of a plan.
pub struct Plan {
    /// The planned new state.
    pub planned: Value,
    /// Attributes whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("planned", &Withheld(&self.planned))
            .field("requires_replace", &self.requires_replace)
            .finish()
    }
}

/// Plans a create or update from Terraform's proposed new state.
///
/// `prior` is null for a create. Rules (the plan-validity rules in Terraform's
/// `AssertPlanValid`): non-computed attributes keep their configured values;
/// write-only attributes are null; computed attributes unset in config become
/// unknown on create, and on an update that changes something unless the
/// attribute keeps its prior value by declaration.
pub fn plan_change(
    schema: &Schema,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    computed_blocks_allowed: bool,
) -> Plan {
    let mut planned = proposed.clone();
    schema.block.null_write_only(&mut planned);
    let creating = prior.is_null();
    let changing = creating || &planned != prior;
    if changing {
        mark_computed_unknown(&schema.block, &mut planned, config, creating);
    }
    if computed_blocks_allowed {
        plan_computed_blocks(&schema.block, &mut planned, prior, changing);
    }
    let requires_replace = if creating {
        Vec::new()
    } else {
        schema
            .block
            .attributes
            .iter()
            .filter(|a| a.requires_replace && prior.attr(&a.name) != planned.attr(&a.name))
            .map(|a| AttributePath::root(&a.name))
            .collect()
    };
    Plan {
        planned,
        requires_replace,
    }
}

fn mark_computed_unknown(block: &Block, planned: &mut Value, config: &Value, creating: bool) {
    let Some(obj) = planned.as_object_mut() else {
        return;
    };
    for a in &block.attributes {
        if !a.is_computed() || !config.attr(&a.name).is_null() {
            continue;
        }
        if creating || !a.use_state_for_unknown {
            obj.insert(a.name.to_owned(), Value::unknown());
        }
    }
}

/// A computed block is the provider's to fill: "known after apply" when the object changes,
/// else what the prior state holds. Only for a Terraform that announced
/// `computed_blocks_allowed`; an older one keeps the block as configured (empty), and
/// [`keep_unplanned_computed_blocks`] keeps the applied state to that.
fn plan_computed_blocks(block: &Block, planned: &mut Value, prior: &Value, changing: bool) {
    let Some(obj) = planned.as_object_mut() else {
        return;
    };
    for b in block.blocks.iter().filter(|b| b.block.computed) {
        let value = if changing {
            Value::unknown()
        } else {
            prior.attr(&b.name).clone()
        };
        obj.insert(b.name.to_owned(), value);
    }
}

/// What a computed block holds after apply where the plan left it as configured (a Terraform
/// without `computed_blocks_allowed`): the planned value, so that the new state matches the plan.
pub fn keep_unplanned_computed_blocks(block: &Block, planned: &Value, state: &mut Value) {
    let Some(obj) = state.as_object_mut() else {
        return;
    };
    for b in block.blocks.iter().filter(|b| b.block.computed) {
        let was = planned.attr(&b.name);
        if !was.is_unknown() {
            obj.insert(b.name.to_owned(), was.clone());
        }
    }
}

/// Makes a state safe to hand back to Terraform after apply or read: write-only
/// values nulled and no unknowns left (a partial state after a failed create
/// may still hold some). Returns true when unknowns had to be removed.
pub fn finish_state(schema: &Schema, state: &mut Value) -> bool {
    schema.block.null_write_only(state);
    replace_unknowns(state)
}

fn replace_unknowns(v: &mut Value) -> bool {
    match v {
        Value::Unknown(_) => {
            *v = Value::Null;
            true
        }
        Value::List(items) | Value::Set(items) => items
            .iter_mut()
            .fold(false, |acc, i| replace_unknowns(i) | acc),
        Value::Map(m) | Value::Object(m) => m
            .values_mut()
            .fold(false, |acc, i| replace_unknowns(i) | acc),
        Value::Dynamic(_, inner) => replace_unknowns(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, Presence};

    fn schema() -> Schema {
        Schema {
            version: 0,
            block: Block {
                description: String::new(),
                attributes: vec![
                    Attribute {
                        use_state_for_unknown: true,
                        ..Attribute::string("id", Presence::Computed)
                    },
                    Attribute::string("status", Presence::Computed),
                    Attribute::string("name", Presence::Required),
                    Attribute {
                        requires_replace: true,
                        ..Attribute::string("kind", Presence::Required)
                    },
                    Attribute {
                        write_only: true,
                        ..Attribute::string("secret_wo", Presence::Optional)
                    },
                ],
                blocks: vec![],
                ..Block::default()
            },
            config_validators: vec![],
        }
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn create_marks_computed_unknown_and_nulls_write_only() {
        let config = obj(&[
            ("id", Value::Null),
            ("status", Value::Null),
            ("name", Value::string("a")),
            ("kind", Value::string("AWS")),
            ("secret_wo", Value::string("s")),
        ]);
        let p = plan_change(&schema(), &Value::Null, &config, &config, true);
        assert!(p.planned.attr("id").is_unknown());
        assert!(p.planned.attr("status").is_unknown());
        assert_eq!(p.planned.attr("secret_wo"), &Value::Null);
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn no_op_update_keeps_prior_values_exactly() {
        let prior = obj(&[
            ("id", Value::string("7")),
            ("status", Value::string("active")),
            ("name", Value::string("a")),
            ("kind", Value::string("AWS")),
            ("secret_wo", Value::Null),
        ]);
        let config = obj(&[
            ("id", Value::Null),
            ("status", Value::Null),
            ("name", Value::string("a")),
            ("kind", Value::string("AWS")),
            ("secret_wo", Value::string("s")),
        ]);
        let mut proposed = prior.clone();
        proposed
            .as_object_mut()
            .unwrap()
            .insert("secret_wo".into(), Value::string("s"));
        let p = plan_change(&schema(), &prior, &proposed, &config, true);
        assert_eq!(p.planned, prior);
    }

    #[test]
    fn update_keeps_declared_values_and_replaces_on_kind_change() {
        let prior = obj(&[
            ("id", Value::string("7")),
            ("status", Value::string("active")),
            ("name", Value::string("a")),
            ("kind", Value::string("AWS")),
            ("secret_wo", Value::Null),
        ]);
        let mut proposed = prior.clone();
        let m = proposed.as_object_mut().unwrap();
        m.insert("name".into(), Value::string("b"));
        m.insert("kind".into(), Value::string("GCP"));
        // Terraform's config never holds computed-only attributes.
        let mut config = proposed.clone();
        let c = config.as_object_mut().unwrap();
        c.insert("id".into(), Value::Null);
        c.insert("status".into(), Value::Null);
        let p = plan_change(&schema(), &prior, &proposed, &config, true);
        assert_eq!(p.planned.attr("id"), &Value::string("7"));
        assert!(p.planned.attr("status").is_unknown());
        assert_eq!(p.requires_replace, vec![AttributePath::root("kind")]);
    }

    #[test]
    fn finish_state_removes_unknowns_and_write_only_values() {
        let mut s = obj(&[
            ("id", Value::string("7")),
            ("status", Value::unknown()),
            ("name", Value::string("a")),
            ("kind", Value::string("AWS")),
            ("secret_wo", Value::string("s")),
        ]);
        assert!(finish_state(&schema(), &mut s));
        assert_eq!(s.attr("status"), &Value::Null);
        assert_eq!(s.attr("secret_wo"), &Value::Null);
        assert!(!finish_state(&schema(), &mut s));
    }
}
