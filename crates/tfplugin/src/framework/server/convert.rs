//! Conversions between the wire types of `tfplugin6` and the framework's values,
//! schemas and diagnostics.

use super::DynResource;
use crate::framework::diag::{Diagnostic, Diagnostics, Severity};
use crate::framework::path::{AttributePath, PathStep};
use crate::framework::schema::{Block, IdentitySchema, Nesting, Presence, Schema};
use crate::framework::value::{Type, Value};
use crate::framework::{json, msgpack};
use crate::wire::proto::tfplugin6 as pb;

pub(super) fn decode_dv(
    dv: Option<&pb::DynamicValue>,
    ty: &Type,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let Some(dv) = dv else {
        return Some(Value::Null);
    };
    let decoded = if !dv.msgpack.is_empty() {
        msgpack::decode(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        json::decode(&dv.json, ty, json::UnknownAttributes::Reject)
    } else {
        Ok(Value::Null)
    };
    match decoded {
        Ok(v) => Some(v),
        Err(e) => {
            let summary = "Invalid Value From Terraform";
            let detail = format!("The provider could not decode the {what} Terraform sent: {e}");
            // A configuration's paths are the user's: Terraform points at the attribute (a list
            // block's own attributes sit under its `config` block).
            let within = match what {
                "configuration" | "provider configuration" => Some(vec![]),
                "list configuration" => Some(vec![PathStep::Attribute("config".to_owned())]),
                _ => None,
            };
            match (within, attribute_of(&e.path)) {
                (Some(mut steps), Some(path)) => {
                    steps.extend(path.steps);
                    diags.attribute_error(AttributePath { steps }, summary, detail);
                }
                _ => diags.error(summary, detail),
            }
            None
        }
    }
}

/// The attribute a codec error's path leads to, as far as Terraform can address it: up to
/// the first element found by position, since a set element has no address.
fn attribute_of(path: &[msgpack::PathStep]) -> Option<AttributePath> {
    let steps: Vec<PathStep> = path
        .iter()
        .map_while(|step| match step {
            msgpack::PathStep::Attr(name) => Some(PathStep::Attribute(name.clone())),
            msgpack::PathStep::Key(key) => Some(PathStep::ElementKeyString(key.clone())),
            msgpack::PathStep::Index(_) => None,
        })
        .collect();
    (!steps.is_empty()).then_some(AttributePath { steps })
}

pub(super) fn encode_dv(
    v: &Value,
    ty: &Type,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<pb::DynamicValue> {
    match msgpack::encode(v, ty) {
        Ok(bytes) => Some(pb::DynamicValue {
            msgpack: bytes,
            json: Vec::new(),
        }),
        Err(e) => {
            diags.error(
                "Provider Internal Error",
                format!(
                    "The provider produced a {what} it could not encode: {e}. Please report this."
                ),
            );
            None
        }
    }
}

pub(super) fn to_pb_path(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .steps
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(a) => Selector::AttributeName(a.clone()),
                    PathStep::ElementKeyString(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::ElementKeyInt(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

pub(super) fn to_pb_diag(d: &Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error as i32,
            Severity::Warning => pb::diagnostic::Severity::Warning as i32,
        },
        summary: d.summary.clone(),
        detail: d.detail.clone(),
        attribute: d.attribute.as_ref().map(to_pb_path),
    }
}

pub(super) fn to_pb_diags(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter().map(to_pb_diag).collect()
}

pub(super) fn to_pb_block(b: &Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b
            .attributes
            .iter()
            .map(|a| pb::schema::Attribute {
                name: a.name.to_owned(),
                r#type: a.ty.to_json().into_bytes(),
                nested_type: None,
                description: a.description.clone(),
                required: a.presence == Presence::Required,
                optional: matches!(a.presence, Presence::Optional | Presence::OptionalComputed),
                computed: a.is_computed(),
                sensitive: a.sensitive,
                description_kind: pb::StringKind::Markdown as i32,
                deprecated: a.deprecation.is_some(),
                write_only: a.write_only,
                deprecation_message: a.deprecation.clone().unwrap_or_default(),
            })
            .collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nb| pb::schema::NestedBlock {
                type_name: nb.name.to_owned(),
                block: Some(to_pb_block(&nb.block)),
                nesting: match nb.nesting {
                    Nesting::Single => pb::schema::nested_block::NestingMode::Single,
                    Nesting::List => pb::schema::nested_block::NestingMode::List,
                    Nesting::Set => pb::schema::nested_block::NestingMode::Set,
                } as i32,
                min_items: 0,
                // Terraform requires min = max for SINGLE: 0/0 means optional.
                max_items: 0,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecation.is_some(),
        deprecation_message: b.deprecation.clone().unwrap_or_default(),
        computed: b.computed,
    }
}

pub(super) fn to_pb_schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(to_pb_block(&s.block)),
    }
}

pub(super) fn identity_type(s: &IdentitySchema) -> Type {
    Type::Object(
        s.attributes
            .iter()
            .map(|a| (a.name.to_owned(), a.ty.clone()))
            .collect(),
    )
}

pub(super) fn to_pb_identity_schema(s: &IdentitySchema) -> pb::ResourceIdentitySchema {
    pb::ResourceIdentitySchema {
        version: s.version,
        identity_attributes: s
            .attributes
            .iter()
            .map(|a| pb::resource_identity_schema::IdentityAttribute {
                name: a.name.to_owned(),
                r#type: a.ty.to_json().into_bytes(),
                required_for_import: a.required_for_import,
                optional_for_import: !a.required_for_import,
                description: a.description.clone(),
            })
            .collect(),
    }
}

pub(super) fn identity_data<D: Send + Sync + 'static>(
    resource: &DynResource<D>,
    state: &Value,
    diags: &mut Diagnostics,
) -> Option<pb::ResourceIdentityData> {
    let schema = resource.identity_schema()?;
    let identity = resource.identity(state)?;
    let dv = encode_dv(
        &identity,
        &identity_type(&schema),
        "resource identity",
        diags,
    )?;
    Some(pb::ResourceIdentityData {
        identity_data: Some(dv),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn object(attrs: &[(&str, Type)]) -> Type {
        Type::Object(
            attrs
                .iter()
                .map(|(k, t)| ((*k).to_owned(), t.clone()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    /// msgpack of `{"name": true}`: a bool where the schema has a string.
    fn bool_for_name() -> pb::DynamicValue {
        let mut bytes = Vec::new();
        rmp::encode::write_map_len(&mut bytes, 1).unwrap();
        rmp::encode::write_str(&mut bytes, "name").unwrap();
        rmp::encode::write_bool(&mut bytes, true).unwrap();
        pb::DynamicValue {
            msgpack: bytes,
            json: Vec::new(),
        }
    }

    #[test]
    fn a_configuration_that_cannot_be_decoded_is_blamed_on_its_attribute() {
        let ty = object(&[("name", Type::String)]);
        let mut diags = Diagnostics::default();
        assert_eq!(
            decode_dv(Some(&bool_for_name()), &ty, "configuration", &mut diags),
            None
        );
        let d = diags.iter().next().expect("a diagnostic");
        assert_eq!(
            d.attribute,
            Some(AttributePath {
                steps: vec![PathStep::Attribute("name".to_owned())]
            })
        );
        assert!(d.detail.contains(".name"), "{}", d.detail);

        // A list block's attributes sit under its `config` block.
        let mut diags = Diagnostics::default();
        decode_dv(
            Some(&bool_for_name()),
            &ty,
            "list configuration",
            &mut diags,
        );
        assert_eq!(
            diags.iter().next().and_then(|d| d.attribute.clone()),
            Some(AttributePath {
                steps: vec![
                    PathStep::Attribute("config".to_owned()),
                    PathStep::Attribute("name".to_owned())
                ]
            })
        );

        // State is not the user's configuration: no attribute to point at there.
        let mut diags = Diagnostics::default();
        decode_dv(Some(&bool_for_name()), &ty, "prior state", &mut diags);
        assert_eq!(diags.iter().next().map(|d| d.attribute.clone()), Some(None));
    }

    #[test]
    fn paths_stop_at_the_first_element_found_by_position() {
        use msgpack::PathStep as C;
        assert_eq!(
            attribute_of(&[
                C::Attr("tags".to_owned()),
                C::Key("env".to_owned()),
                C::Index(2),
                C::Attr("x".to_owned())
            ]),
            Some(AttributePath {
                steps: vec![
                    PathStep::Attribute("tags".to_owned()),
                    PathStep::ElementKeyString("env".to_owned())
                ]
            })
        );
        assert_eq!(attribute_of(&[C::Index(0)]), None);
        assert_eq!(attribute_of(&[]), None);
    }
}
