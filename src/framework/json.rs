//! The JSON encoding of cty values (raw state and `DynamicValue.json`).
//!
//! Same shapes as msgpack, except: missing object attributes decode as null,
//! a dynamic value is `{"value": v, "type": T}`, and there are no unknowns.
//! Numbers are kept exact (`serde_json` runs with `arbitrary_precision`).

use std::collections::BTreeMap;

use serde_json::Value as Json;

pub use super::msgpack::CodecError;
use super::msgpack::{PathStep, value_kind};
use super::value::{Number, Type, Value};

/// What to do with an object attribute the type does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownAttributes {
    /// Fail, as Terraform's own decoder does.
    Reject,
    /// Drop it: for state written under another (e.g. the official provider's) schema.
    Ignore,
}

/// Decodes JSON `bytes` as a value of type `ty`.
///
/// Primitives are converted the way Terraform's own JSON decoder converts
/// them, because state written by SDKv2 providers is not always typed the way
/// the schema says: a string attribute may hold a JSON number or bool (taken
/// as its text), a number may be a JSON string holding decimal text, and a
/// bool may be the string `"true"` or `"false"`.
pub fn decode(
    bytes: &[u8],
    ty: &Type,
    unknown_attrs: UnknownAttributes,
) -> Result<Value, CodecError> {
    // serde_json bounds nesting (128 levels), so no input can overflow the stack.
    let json: Json =
        serde_json::from_slice(bytes).map_err(|e| CodecError::new(format!("invalid JSON: {e}")))?;
    decode_value(&json, ty, unknown_attrs)
}

fn decode_value(json: &Json, ty: &Type, unknown: UnknownAttributes) -> Result<Value, CodecError> {
    if json.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        Type::Bool => match json {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::String(s) if s == "true" => Ok(Value::Bool(true)),
            Json::String(s) if s == "false" => Ok(Value::Bool(false)),
            other => Err(mismatch("bool", other)),
        },
        Type::Number => {
            let number = match json {
                Json::Number(n) => Number::from_decimal(&n.to_string()),
                Json::String(s) => Number::from_decimal(s),
                other => return Err(mismatch("number", other)),
            };
            number
                .map(Value::Number)
                .ok_or_else(|| CodecError::new("string does not hold a decimal number"))
        }
        Type::String => match json {
            Json::String(s) => Ok(Value::String(s.clone())),
            // The number's text exactly as written: that is what the writer meant.
            Json::Number(n) => Ok(Value::String(n.to_string())),
            Json::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(mismatch("string", other)),
        },
        Type::List(elem) | Type::Set(elem) => {
            let Json::Array(items) = json else {
                return Err(mismatch("list or set", json));
            };
            let values = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    decode_value(item, elem, unknown)
                        .map_err(|e| e.within(PathStep::Index(i as u64)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match ty {
                Type::Set(_) => Value::Set(values),
                _ => Value::List(values),
            })
        }
        Type::Tuple(elems) => {
            let Json::Array(items) = json else {
                return Err(mismatch("tuple", json));
            };
            if items.len() != elems.len() {
                return Err(CodecError::new(format!(
                    "expected a tuple of {} elements, found {}",
                    elems.len(),
                    items.len()
                )));
            }
            items
                .iter()
                .zip(elems)
                .enumerate()
                .map(|(i, (item, ety))| {
                    decode_value(item, ety, unknown)
                        .map_err(|e| e.within(PathStep::Index(i as u64)))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
        Type::Map(elem) => {
            let Json::Object(entries) = json else {
                return Err(mismatch("map", json));
            };
            entries
                .iter()
                .map(|(k, v)| {
                    let value = decode_value(v, elem, unknown)
                        .map_err(|e| e.within(PathStep::Key(k.clone())))?;
                    Ok((k.clone(), value))
                })
                .collect::<Result<BTreeMap<_, _>, CodecError>>()
                .map(Value::Map)
        }
        Type::Object(attrs) => {
            let Json::Object(entries) = json else {
                return Err(mismatch("object", json));
            };
            let mut out = BTreeMap::new();
            for (name, v) in entries {
                let Some(aty) = attrs.get(name) else {
                    match unknown {
                        UnknownAttributes::Ignore => continue,
                        UnknownAttributes::Reject => {
                            return Err(CodecError::new("unsupported attribute")
                                .within(PathStep::Attr(name.clone())));
                        }
                    }
                };
                let value = decode_value(v, aty, unknown)
                    .map_err(|e| e.within(PathStep::Attr(name.clone())))?;
                out.insert(name.clone(), value);
            }
            // Attributes added since the JSON was written are null.
            for name in attrs.keys() {
                out.entry(name.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(out))
        }
        Type::Dynamic => {
            let Json::Object(entries) = json else {
                return Err(mismatch("dynamic {\"value\", \"type\"} object", json));
            };
            if let Some(extra) = entries.keys().find(|k| *k != "value" && *k != "type") {
                return Err(CodecError::new(format!(
                    "unexpected key {extra:?} in a dynamic value"
                )));
            }
            let (Some(type_json), Some(value_json)) = (entries.get("type"), entries.get("value"))
            else {
                return Err(CodecError::new(
                    "a dynamic value needs both \"value\" and \"type\"",
                ));
            };
            let concrete = Type::from_json_value(type_json)?;
            if concrete == Type::Dynamic {
                return Err(CodecError::new(
                    "the concrete type of a dynamic value cannot be dynamic",
                ));
            }
            let value = decode_value(value_json, &concrete, unknown)?;
            Ok(Value::Dynamic(concrete, Box::new(value)))
        }
    }
}

fn mismatch(expected: &str, found: &Json) -> CodecError {
    let kind = match found {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    };
    CodecError::new(format!("expected {expected}, found JSON {kind}"))
}

/// Encodes `value` as JSON for type `ty`. Unknowns and infinite numbers have no
/// JSON form and are errors. Object attributes the value omits are written as null.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let json = encode_value(value, ty)?;
    serde_json::to_vec(&json).map_err(|e| CodecError::new(format!("JSON write failed: {e}")))
}

fn encode_value(value: &Value, ty: &Type) -> Result<Json, CodecError> {
    match (value, ty) {
        (Value::Null, _) => Ok(Json::Null),
        (Value::Unknown(_), _) => Err(CodecError::new(
            "an unknown value cannot be written as JSON",
        )),
        (Value::Dynamic(concrete, inner), Type::Dynamic) => {
            if *concrete == Type::Dynamic {
                return Err(CodecError::new(
                    "the concrete type of a dynamic value cannot be dynamic",
                ));
            }
            let mut out = serde_json::Map::new();
            out.insert("value".to_owned(), encode_value(inner, concrete)?);
            out.insert("type".to_owned(), concrete.to_json_value());
            Ok(Json::Object(out))
        }
        (Value::Bool(b), Type::Bool) => Ok(Json::Bool(*b)),
        (Value::Number(n), Type::Number) => {
            let canon = n.canonical();
            if canon.is_infinite() {
                return Err(CodecError::new(
                    "an infinite number cannot be written as JSON",
                ));
            }
            canon
                .as_str()
                .parse::<serde_json::Number>()
                .map(Json::Number)
                .map_err(|_| CodecError::new("number text is not a decimal number"))
        }
        (Value::String(s), Type::String) => Ok(Json::String(s.clone())),
        (Value::List(items), Type::List(elem)) | (Value::Set(items), Type::Set(elem)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                encode_value(item, elem).map_err(|e| e.within(PathStep::Index(i as u64)))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Json::Array),
        (Value::List(items), Type::Tuple(elems)) => {
            if items.len() != elems.len() {
                return Err(CodecError::new(format!(
                    "a tuple of {} elements cannot hold {}",
                    elems.len(),
                    items.len()
                )));
            }
            items
                .iter()
                .zip(elems)
                .enumerate()
                .map(|(i, (item, ety))| {
                    encode_value(item, ety).map_err(|e| e.within(PathStep::Index(i as u64)))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array)
        }
        (Value::Map(entries), Type::Map(elem)) => entries
            .iter()
            .map(|(k, v)| {
                let json = encode_value(v, elem).map_err(|e| e.within(PathStep::Key(k.clone())))?;
                Ok((k.clone(), json))
            })
            .collect::<Result<serde_json::Map<_, _>, CodecError>>()
            .map(Json::Object),
        (Value::Object(fields), Type::Object(attrs)) => {
            if let Some(extra) = fields.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::new("attribute not in the object type")
                    .within(PathStep::Attr(extra.clone())));
            }
            attrs
                .iter()
                .map(|(name, aty)| {
                    let v = fields.get(name).unwrap_or(&Value::Null);
                    let json =
                        encode_value(v, aty).map_err(|e| e.within(PathStep::Attr(name.clone())))?;
                    Ok((name.clone(), json))
                })
                .collect::<Result<serde_json::Map<_, _>, CodecError>>()
                .map(Json::Object)
        }
        (value, ty) => Err(CodecError::new(format!(
            "cannot encode a {} value as type {}",
            value_kind(value),
            ty.to_json()
        ))),
    }
}
