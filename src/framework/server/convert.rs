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
        msgpack::decode(&dv.msgpack, ty).map_err(|e| e.to_string())
    } else if !dv.json.is_empty() {
        json::decode(&dv.json, ty, json::UnknownAttributes::Reject).map_err(|e| e.to_string())
    } else {
        Ok(Value::Null)
    };
    match decoded {
        Ok(v) => Some(v),
        Err(e) => {
            diags.error(
                "Invalid Value From Terraform",
                format!("The provider could not decode the {what} Terraform sent: {e}"),
            );
            None
        }
    }
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
                deprecated: false,
                write_only: a.write_only,
                deprecation_message: String::new(),
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
        deprecated: false,
        deprecation_message: String::new(),
        computed: false,
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
