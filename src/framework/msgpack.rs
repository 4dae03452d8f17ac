//! The msgpack encoding of cty values (`DynamicValue.msgpack`), driven by the
//! schema type, and the [`CodecError`] shared by every value codec.
//!
//! Input is first parsed generically by `rmpv` with a bounded depth (so no
//! input can overflow the stack, and forged length prefixes cannot make it
//! pre-allocate), then walked together with the expected [`Type`].

use std::collections::BTreeMap;
use std::fmt;

use rmpv::ValueRef;

use super::value::{Number, Refinements, Type, Value};

/// Depth bound of the generic pre-parse. rmpv spends two levels per container,
/// so this allows ~250 nested collections: far beyond any Terraform schema.
const MAX_DEPTH: usize = 512;

/// msgpack extension code of a refined unknown; every other code is a plain unknown.
const EXT_REFINED_UNKNOWN: i8 = 12;

/// One step from a value to a value inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    /// An object attribute: `.name`.
    Attr(String),
    /// A list, set or tuple element, by position in the encoding: `[3]`.
    Index(u64),
    /// A map element: `["key"]`.
    Key(String),
}

/// A value that could not be decoded or encoded, and where it sits.
///
/// Messages describe shapes and types only, never the data itself, since
/// values may be secrets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", path_prefix(path))]
pub struct CodecError {
    /// Steps from the root value to the offending one (empty for the root).
    pub path: Vec<PathStep>,
    /// What is wrong there.
    pub message: String,
}

impl CodecError {
    /// An error at the root value.
    pub fn new(message: impl Into<String>) -> CodecError {
        CodecError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    /// The same error seen from the parent value: `step` leads to where it was.
    pub fn within(mut self, step: PathStep) -> CodecError {
        self.path.insert(0, step);
        self
    }

    /// The path as text, e.g. `.timeouts.create` or `.tags["env"]`; empty for the root.
    pub fn path_string(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                PathStep::Attr(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                PathStep::Index(i) => out.push_str(&format!("[{i}]")),
                PathStep::Key(k) => out.push_str(&format!("[{k:?}]")),
            }
        }
        out
    }
}

fn path_prefix(path: &[PathStep]) -> String {
    if path.is_empty() {
        String::new()
    } else {
        let e = CodecError {
            path: path.to_vec(),
            message: String::new(),
        };
        format!("{}: ", e.path_string())
    }
}

/// Decodes msgpack `bytes` as a value of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut rest = bytes;
    let raw = rmpv::decode::read_value_ref_with_max_depth(&mut rest, MAX_DEPTH)
        .map_err(|e| CodecError::new(format!("malformed msgpack: {e}")))?;
    if !rest.is_empty() {
        return Err(CodecError::new(format!(
            "{} trailing bytes after the msgpack value",
            rest.len()
        )));
    }
    decode_value(&raw, ty)
}

fn decode_value(raw: &ValueRef<'_>, ty: &Type) -> Result<Value, CodecError> {
    match raw {
        ValueRef::Nil => return Ok(Value::Null),
        ValueRef::Ext(code, payload) => return decode_unknown(*code, payload),
        _ => {}
    }
    match ty {
        Type::Bool => match raw {
            ValueRef::Boolean(b) => Ok(Value::Bool(*b)),
            other => Err(mismatch("bool", other)),
        },
        Type::Number => decode_number(raw).map(Value::Number),
        Type::String => match raw {
            ValueRef::String(s) => s
                .as_str()
                .map(Value::string)
                .ok_or_else(|| CodecError::new("string is not valid UTF-8")),
            ValueRef::Binary(b) => std::str::from_utf8(b)
                .map(Value::string)
                .map_err(|_| CodecError::new("binary string is not valid UTF-8")),
            other => Err(mismatch("string", other)),
        },
        Type::List(elem) | Type::Set(elem) => {
            let items = expect_array(raw, "list or set")?;
            let values = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    decode_value(item, elem).map_err(|e| e.within(PathStep::Index(i as u64)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match ty {
                Type::Set(_) => Value::Set(values),
                _ => Value::List(values),
            })
        }
        Type::Tuple(elems) => {
            let items = expect_array(raw, "tuple")?;
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
                    decode_value(item, ety).map_err(|e| e.within(PathStep::Index(i as u64)))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
        Type::Map(elem) => {
            let pairs = expect_map(raw, "map")?;
            let mut out = BTreeMap::new();
            for (k, v) in pairs {
                let key = map_key(k)?;
                let value =
                    decode_value(v, elem).map_err(|e| e.within(PathStep::Key(key.to_owned())))?;
                if out.insert(key.to_owned(), value).is_some() {
                    return Err(CodecError::new("duplicate key in map")
                        .within(PathStep::Key(key.to_owned())));
                }
            }
            Ok(Value::Map(out))
        }
        Type::Object(attrs) => {
            let pairs = expect_map(raw, "object")?;
            // cty requires every attribute, so a count mismatch is an error
            // even before looking at the names.
            if pairs.len() != attrs.len() {
                return Err(CodecError::new(format!(
                    "an object with {} attributes is required, found {}",
                    attrs.len(),
                    pairs.len()
                )));
            }
            let mut out = BTreeMap::new();
            for (k, v) in pairs {
                let name = map_key(k)?;
                let Some(aty) = attrs.get(name) else {
                    return Err(CodecError::new("unsupported attribute")
                        .within(PathStep::Attr(name.to_owned())));
                };
                let value =
                    decode_value(v, aty).map_err(|e| e.within(PathStep::Attr(name.to_owned())))?;
                if out.insert(name.to_owned(), value).is_some() {
                    return Err(CodecError::new("duplicate attribute")
                        .within(PathStep::Attr(name.to_owned())));
                }
            }
            Ok(Value::Object(out))
        }
        Type::Dynamic => {
            let items = expect_array(raw, "dynamic [type, value] pair")?;
            let [type_raw, value_raw] = items else {
                return Err(CodecError::new(format!(
                    "a dynamic value must be a 2-element array, found {} elements",
                    items.len()
                )));
            };
            let type_json = match type_raw {
                ValueRef::Binary(b) => *b,
                ValueRef::String(s) => s
                    .as_str()
                    .map(str::as_bytes)
                    .ok_or_else(|| CodecError::new("type JSON is not valid UTF-8"))?,
                other => return Err(mismatch("type JSON as bin or str", other)),
            };
            let concrete = Type::from_json(type_json)?;
            if concrete == Type::Dynamic {
                return Err(CodecError::new(
                    "the concrete type of a dynamic value cannot be dynamic",
                ));
            }
            let value = decode_value(value_raw, &concrete)?;
            Ok(Value::Dynamic(concrete, Box::new(value)))
        }
    }
}

fn decode_number(raw: &ValueRef<'_>) -> Result<Number, CodecError> {
    match raw {
        ValueRef::Integer(i) => i
            .as_i64()
            .map(Number::from)
            .or_else(|| i.as_u64().map(Number::from))
            .ok_or_else(|| CodecError::new("integer out of range")),
        ValueRef::F32(f) => {
            Number::from_f64(f64::from(*f)).ok_or_else(|| CodecError::new("NaN is not a number"))
        }
        ValueRef::F64(f) => {
            Number::from_f64(*f).ok_or_else(|| CodecError::new("NaN is not a number"))
        }
        ValueRef::String(s) => s
            .as_str()
            .and_then(Number::from_decimal)
            .ok_or_else(|| CodecError::new("string does not hold a decimal number")),
        other => Err(mismatch("number", other)),
    }
}

/// Any extension is an unknown; code 12 carries refinements.
fn decode_unknown(code: i8, payload: &[u8]) -> Result<Value, CodecError> {
    if code != EXT_REFINED_UNKNOWN {
        return Ok(Value::unknown());
    }
    let refinement_error = |what: &str| CodecError::new(format!("invalid refinements: {what}"));
    let mut rest = payload;
    // Refinements are a flat map whose deepest entry is a [number, bool] pair.
    let raw = rmpv::decode::read_value_ref_with_max_depth(&mut rest, 16)
        .map_err(|e| refinement_error(&format!("malformed msgpack: {e}")))?;
    if !rest.is_empty() {
        return Err(refinement_error("trailing bytes"));
    }
    let ValueRef::Map(pairs) = raw else {
        return Err(refinement_error("payload is not a map"));
    };
    let mut refinements = Refinements::default();
    for (key, value) in &pairs {
        let ValueRef::Integer(key) = key else {
            continue;
        };
        match key.as_i64() {
            Some(1) => match value {
                ValueRef::Boolean(b) => refinements.nullness = Some(*b),
                _ => return Err(refinement_error("nullness is not a bool")),
            },
            Some(2) => match value {
                ValueRef::String(s) => {
                    let prefix = s
                        .as_str()
                        .ok_or_else(|| refinement_error("string prefix is not UTF-8"))?;
                    refinements.string_prefix = Some(prefix.to_owned());
                }
                _ => return Err(refinement_error("string prefix is not a string")),
            },
            Some(k @ (3 | 4)) => {
                let bound = match value {
                    ValueRef::Array(items) => match items.as_slice() {
                        [number, ValueRef::Boolean(inclusive)] => (
                            decode_number(number).map_err(|e| refinement_error(&e.message))?,
                            *inclusive,
                        ),
                        _ => return Err(refinement_error("number bound is not [number, bool]")),
                    },
                    _ => return Err(refinement_error("number bound is not [number, bool]")),
                };
                if k == 3 {
                    refinements.number_lower = Some(bound);
                } else {
                    refinements.number_upper = Some(bound);
                }
            }
            Some(k @ (5 | 6)) => {
                let length = match value {
                    ValueRef::Integer(n) => n
                        .as_u64()
                        .ok_or_else(|| refinement_error("length bound is negative"))?,
                    _ => return Err(refinement_error("length bound is not an integer")),
                };
                if k == 5 {
                    refinements.length_lower = Some(length);
                } else {
                    refinements.length_upper = Some(length);
                }
            }
            // Newer Terraform versions may add refinements; they only narrow
            // the value, so ignoring them is safe.
            _ => {}
        }
    }
    Ok(Value::Unknown(refinements))
}

fn expect_array<'r, 'a>(
    raw: &'r ValueRef<'a>,
    what: &str,
) -> Result<&'r [ValueRef<'a>], CodecError> {
    match raw {
        ValueRef::Array(items) => Ok(items),
        other => Err(mismatch(what, other)),
    }
}

fn expect_map<'r, 'a>(
    raw: &'r ValueRef<'a>,
    what: &str,
) -> Result<&'r [(ValueRef<'a>, ValueRef<'a>)], CodecError> {
    match raw {
        ValueRef::Map(pairs) => Ok(pairs),
        other => Err(mismatch(what, other)),
    }
}

fn map_key<'r>(raw: &'r ValueRef<'_>) -> Result<&'r str, CodecError> {
    match raw {
        ValueRef::String(s) => s
            .as_str()
            .ok_or_else(|| CodecError::new("map key is not valid UTF-8")),
        other => Err(CodecError::new(format!(
            "map key must be a string, found {}",
            raw_kind(other)
        ))),
    }
}

fn mismatch(expected: &str, found: &ValueRef<'_>) -> CodecError {
    CodecError::new(format!("expected {expected}, found {}", raw_kind(found)))
}

fn raw_kind(raw: &ValueRef<'_>) -> &'static str {
    match raw {
        ValueRef::Nil => "nil",
        ValueRef::Boolean(_) => "bool",
        ValueRef::Integer(_) => "integer",
        ValueRef::F32(_) | ValueRef::F64(_) => "float",
        ValueRef::String(_) => "str",
        ValueRef::Binary(_) => "bin",
        ValueRef::Array(_) => "array",
        ValueRef::Map(_) => "map",
        ValueRef::Ext(..) => "extension",
    }
}

/// Encodes `value` as msgpack for type `ty`.
///
/// Unknowns are written as the plain unknown `d4 00 00`: refinements are never
/// sent, since a provider must then honour them. An object value may omit
/// attributes (they are written as nil, as cty requires every attribute), but
/// may not carry attributes its type lacks.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(&mut out, value, ty)?;
    Ok(out)
}

fn write_failed(e: impl fmt::Display) -> CodecError {
    CodecError::new(format!("msgpack write failed: {e}"))
}

fn length_u32(len: usize) -> Result<u32, CodecError> {
    u32::try_from(len).map_err(|_| CodecError::new("too many elements for msgpack"))
}

fn encode_into(out: &mut Vec<u8>, value: &Value, ty: &Type) -> Result<(), CodecError> {
    use rmp::encode as w;
    match (value, ty) {
        (Value::Null, _) => w::write_nil(out).map_err(write_failed),
        (Value::Unknown(_), _) => {
            w::write_ext_meta(out, 1, 0).map_err(write_failed)?;
            out.push(0);
            Ok(())
        }
        (Value::Dynamic(concrete, inner), Type::Dynamic) => {
            if *concrete == Type::Dynamic {
                return Err(CodecError::new(
                    "the concrete type of a dynamic value cannot be dynamic",
                ));
            }
            w::write_array_len(out, 2).map_err(write_failed)?;
            w::write_bin(out, concrete.to_json().as_bytes()).map_err(write_failed)?;
            encode_into(out, inner, concrete)
        }
        (Value::Bool(b), Type::Bool) => w::write_bool(out, *b).map_err(write_failed),
        (Value::Number(n), Type::Number) => write_number(out, n),
        (Value::String(s), Type::String) => w::write_str(out, s).map_err(write_failed),
        (Value::List(items), Type::List(elem)) | (Value::Set(items), Type::Set(elem)) => {
            w::write_array_len(out, length_u32(items.len())?).map_err(write_failed)?;
            for (i, item) in items.iter().enumerate() {
                encode_into(out, item, elem).map_err(|e| e.within(PathStep::Index(i as u64)))?;
            }
            Ok(())
        }
        (Value::List(items), Type::Tuple(elems)) => {
            if items.len() != elems.len() {
                return Err(CodecError::new(format!(
                    "a tuple of {} elements cannot hold {}",
                    elems.len(),
                    items.len()
                )));
            }
            w::write_array_len(out, length_u32(items.len())?).map_err(write_failed)?;
            for (i, (item, ety)) in items.iter().zip(elems).enumerate() {
                encode_into(out, item, ety).map_err(|e| e.within(PathStep::Index(i as u64)))?;
            }
            Ok(())
        }
        (Value::Map(entries), Type::Map(elem)) => {
            w::write_map_len(out, length_u32(entries.len())?).map_err(write_failed)?;
            for (k, v) in entries {
                w::write_str(out, k).map_err(write_failed)?;
                encode_into(out, v, elem).map_err(|e| e.within(PathStep::Key(k.clone())))?;
            }
            Ok(())
        }
        (Value::Object(fields), Type::Object(attrs)) => {
            if let Some(extra) = fields.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::new("attribute not in the object type")
                    .within(PathStep::Attr(extra.clone())));
            }
            w::write_map_len(out, length_u32(attrs.len())?).map_err(write_failed)?;
            for (name, aty) in attrs {
                w::write_str(out, name).map_err(write_failed)?;
                let v = fields.get(name).unwrap_or(&Value::Null);
                encode_into(out, v, aty).map_err(|e| e.within(PathStep::Attr(name.clone())))?;
            }
            Ok(())
        }
        (value, ty) => Err(CodecError::new(format!(
            "cannot encode a {} value as type {}",
            value_kind(value),
            ty.to_json()
        ))),
    }
}

/// cty's rule, except that integers above `i64::MAX` are never sent as uint64:
/// Terraform's Go decoder reads every integer code through `int64` and would
/// wrap them negative, so they go as float64 when exact, else as text.
fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), CodecError> {
    use rmp::encode as w;
    let canon = n.canonical();
    if let Some(i) = canon.as_i64() {
        w::write_sint(out, i).map_err(write_failed)?;
    } else if let Some(f) = canon.to_exact_f64() {
        w::write_f64(out, f).map_err(write_failed)?;
    } else if Number::from_decimal(canon.as_str()).is_some() {
        w::write_str(out, canon.as_str()).map_err(write_failed)?;
    } else {
        return Err(CodecError::new("number text is not a decimal number"));
    }
    Ok(())
}

/// A short name of a value's variant, for error messages.
pub(crate) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Unknown(_) => "unknown",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Map(_) => "map",
        Value::Object(_) => "object",
        Value::Dynamic(..) => "dynamic",
    }
}
