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

/// Generators of types and values for the property tests of every codec.
#[cfg(test)]
pub(crate) mod arb {
    use proptest::prelude::*;

    use super::super::value::{Number, Type, Value};

    /// Test case count: `default` unless `PROPTEST_CASES` is set, which is
    /// the knob for longer runs (e.g. `PROPTEST_CASES=100000 cargo test --lib framework::`).
    pub(crate) fn cases(default: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default);
        ProptestConfig::with_cases(cases)
    }

    /// Any type, nested a few levels, `dynamic` included.
    pub(crate) fn any_type() -> BoxedStrategy<Type> {
        let leaf = prop_oneof![
            Just(Type::Bool),
            Just(Type::Number),
            Just(Type::String),
            Just(Type::Dynamic),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Type::List(Box::new(t))),
                inner.clone().prop_map(|t| Type::Set(Box::new(t))),
                inner.clone().prop_map(|t| Type::Map(Box::new(t))),
                prop::collection::btree_map("[a-z_]{1,8}", inner.clone(), 0..4)
                    .prop_map(Type::Object),
                prop::collection::vec(inner, 0..4).prop_map(Type::Tuple),
            ]
        })
        .boxed()
    }

    /// Exact numbers of every shape the wire carries: small and huge integers,
    /// exact floats, and decimals that no float holds.
    pub(crate) fn any_number(infinities: bool) -> BoxedStrategy<Number> {
        let finite = prop_oneof![
            any::<i64>().prop_map(Number::from),
            any::<u64>().prop_map(Number::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| Number::from_f64(f).unwrap_or_else(|| Number::from(0i64))),
            (any::<i64>(), -40i32..40).prop_map(|(m, e)| {
                Number::from_decimal(&format!("{m}e{e}")).unwrap_or_else(|| Number::from(0i64))
            }),
            "-?[1-9][0-9]{0,40}\\.[0-9]{0,30}[1-9]"
                .prop_map(|s| { Number::from_decimal(&s).unwrap_or_else(|| Number::from(0i64)) }),
        ];
        if infinities {
            prop_oneof![
                10 => finite,
                1 => prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY)]
                    .prop_map(|f| Number::from_f64(f).unwrap_or_else(|| Number::from(0i64))),
            ]
            .boxed()
        } else {
            finite.boxed()
        }
    }

    /// A value of `ty`. With `msgpack`, plain msgpack may appear anywhere and
    /// numbers may be infinite; JSON has neither.
    pub(crate) fn value_of(ty: &Type, msgpack: bool, depth: u32) -> BoxedStrategy<Value> {
        let known = known_of(ty, msgpack, depth);
        if msgpack {
            prop_oneof![1 => Just(Value::Null), 1 => Just(Value::unknown()), 6 => known].boxed()
        } else {
            prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
        }
    }

    fn known_of(ty: &Type, msgpack: bool, depth: u32) -> BoxedStrategy<Value> {
        match ty {
            Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Type::Number => any_number(msgpack).prop_map(Value::Number).boxed(),
            Type::String => ".{0,12}".prop_map(Value::String).boxed(),
            Type::List(elem) => prop::collection::vec(value_of(elem, msgpack, depth), 0..4)
                .prop_map(Value::List)
                .boxed(),
            Type::Set(elem) => prop::collection::vec(value_of(elem, msgpack, depth), 0..4)
                .prop_map(Value::Set)
                .boxed(),
            Type::Map(elem) => {
                prop::collection::btree_map(".{0,6}", value_of(elem, msgpack, depth), 0..4)
                    .prop_map(Value::Map)
                    .boxed()
            }
            Type::Tuple(elems) => elems
                .iter()
                .map(|t| value_of(t, msgpack, depth))
                .collect::<Vec<_>>()
                .prop_map(Value::List)
                .boxed(),
            Type::Object(attrs) => attrs
                .iter()
                .map(|(k, t)| (Just(k.clone()), value_of(t, msgpack, depth)))
                .collect::<Vec<_>>()
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
                .boxed(),
            Type::Dynamic if depth == 0 => prop_oneof![
                Just(Value::Dynamic(Type::Bool, Box::new(Value::Bool(true)))),
                Just(Value::Dynamic(Type::String, Box::new(Value::Null))),
            ]
            .boxed(),
            Type::Dynamic => any_type()
                .prop_filter("concrete", |t| *t != Type::Dynamic)
                .prop_flat_map(move |t| {
                    value_of(&t, msgpack, depth - 1)
                        .prop_map(move |v| Value::Dynamic(t.clone(), Box::new(v)))
                })
                .boxed(),
        }
    }

    /// An object type shaped like a real resource: strings, a nested block,
    /// collections of objects and numbers, a dynamic attribute and a tuple.
    pub(crate) fn resource_type() -> Type {
        let obj = |attrs: &[(&str, Type)]| {
            Type::Object(
                attrs
                    .iter()
                    .map(|(k, t)| ((*k).to_owned(), t.clone()))
                    .collect(),
            )
        };
        let timeouts = obj(&[
            ("create", Type::String),
            ("read", Type::String),
            ("update", Type::String),
            ("delete", Type::String),
        ]);
        obj(&[
            ("id", Type::String),
            ("name", Type::String),
            ("enabled", Type::Bool),
            ("port", Type::Number),
            ("timeouts", timeouts),
            ("ports", Type::List(Box::new(Type::Number))),
            ("tags", Type::Map(Box::new(Type::String))),
            (
                "rules",
                Type::Set(Box::new(obj(&[
                    ("cidr", Type::String),
                    ("prio", Type::Number),
                ]))),
            ),
            ("extra", Type::Dynamic),
            ("pair", Type::Tuple(vec![Type::String, Type::Bool])),
        ])
    }

    /// A type and a value of it (see [`value_of`] for `msgpack`).
    pub(crate) fn typed_value(msgpack: bool) -> BoxedStrategy<(Type, Value)> {
        any_type()
            .prop_flat_map(move |t| (Just(t.clone()), value_of(&t, msgpack, 2)))
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes from spaced hex, as Terraform's encoder would write them.
    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    fn obj_type(attrs: &[(&str, Type)]) -> Type {
        Type::Object(
            attrs
                .iter()
                .map(|(k, t)| ((*k).to_owned(), t.clone()))
                .collect(),
        )
    }

    fn obj(attrs: &[(&str, Value)]) -> Value {
        Value::Object(
            attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn num(text: &str) -> Value {
        Value::Number(Number::from_decimal(text).unwrap())
    }

    fn round_trip(value: &Value, ty: &Type) {
        let bytes = encode(value, ty).unwrap();
        assert_eq!(&decode(&bytes, ty).unwrap(), value, "{ty:?}");
    }

    #[test]
    fn terraform_object_encoding_decodes_and_re_encodes_identically() {
        let ty = obj_type(&[
            ("id", Type::String),
            ("n", Type::Number),
            ("ok", Type::Bool),
            ("tags", Type::Map(Box::new(Type::String))),
        ]);
        // {"id":"x","n":1,"ok":true,"tags":{"k":"v"}}, keys sorted as Terraform writes them.
        let bytes = hex("84 a2 69 64 a1 78 a1 6e 01 a2 6f 6b c3 a4 74 61 67 73 81 a1 6b a1 76");
        let value = decode(&bytes, &ty).unwrap();
        let tags = Value::Map([("k".to_owned(), Value::string("v"))].into());
        let expected = obj(&[
            ("id", Value::string("x")),
            ("n", num("1")),
            ("ok", Value::Bool(true)),
            ("tags", tags),
        ]);
        assert_eq!(value, expected);
        assert_eq!(encode(&value, &ty).unwrap(), bytes);
    }

    #[test]
    fn object_keys_in_any_order_are_accepted_and_written_sorted() {
        let ty = obj_type(&[("a", Type::Number), ("b", Type::Number)]);
        let value = decode(&hex("82 a1 62 01 a1 61 02"), &ty).unwrap();
        assert_eq!(value, obj(&[("a", num("2")), ("b", num("1"))]));
        assert_eq!(encode(&value, &ty).unwrap(), hex("82 a1 61 02 a1 62 01"));
    }

    #[test]
    fn object_attribute_count_must_match() {
        let ty = obj_type(&[("a", Type::Number), ("b", Type::Number)]);
        for bad in ["81 a1 61 01", "83 a1 61 01 a1 62 01 a1 63 01", "80"] {
            let err = decode(&hex(bad), &ty).unwrap_err();
            assert!(err.message.contains("2 attributes is required"), "{err}");
        }
        let err = decode(&hex("82 a1 61 01 a1 63 01"), &ty).unwrap_err();
        assert_eq!(err.to_string(), ".c: unsupported attribute");
        let err = decode(&hex("82 a1 61 01 a1 61 01"), &ty).unwrap_err();
        assert_eq!(err.to_string(), ".a: duplicate attribute");
        // The attribute-less object type is the one that takes an empty map.
        assert_eq!(
            decode(&hex("80"), &obj_type(&[])).unwrap(),
            Value::Object(BTreeMap::new())
        );
    }

    #[test]
    fn errors_name_the_attribute_path() {
        let ty = obj_type(&[("timeouts", obj_type(&[("create", Type::String)]))]);
        let err = decode(
            &hex("81 a8 74 69 6d 65 6f 75 74 73 81 a6 63 72 65 61 74 65 05"),
            &ty,
        )
        .unwrap_err();
        assert_eq!(
            err.path,
            vec![
                PathStep::Attr("timeouts".into()),
                PathStep::Attr("create".into())
            ]
        );
        assert_eq!(
            err.to_string(),
            ".timeouts.create: expected string, found integer"
        );

        let ty = Type::Map(Box::new(Type::List(Box::new(Type::Bool))));
        let err = decode(&hex("81 a1 6b 92 c3 a1 78"), &ty).unwrap_err();
        assert_eq!(err.to_string(), "[\"k\"][1]: expected bool, found str");

        let err = encode(
            &obj(&[("timeouts", obj(&[("create", num("1"))]))]),
            &obj_type(&[("timeouts", obj_type(&[("create", Type::String)]))]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(".timeouts.create: cannot encode a number"),
            "{err}"
        );
    }

    #[test]
    fn numbers_stay_exact() {
        let n = Type::Number;
        // A decimal that no float holds arrives as text and leaves as the same text.
        let one_one = hex("a3 31 2e 31");
        assert_eq!(decode(&one_one, &n).unwrap(), num("1.1"));
        assert_eq!(encode(&num("1.1"), &n).unwrap(), one_one);
        // 2^63 as uint64 decodes exactly; it is written back as the exact float64,
        // which Terraform's int64-based reader cannot misread.
        let two63 = decode(&hex("cf 80 00 00 00 00 00 00 00"), &n).unwrap();
        assert_eq!(two63, num("9223372036854775808"));
        assert_eq!(
            encode(&two63, &n).unwrap(),
            hex("cb 43 e0 00 00 00 00 00 00")
        );
        assert_eq!(
            decode(&hex("cb 43 e0 00 00 00 00 00 00"), &n).unwrap(),
            two63
        );
        // u64::MAX has no exact float, so it goes as text.
        let max = decode(&hex("cf ff ff ff ff ff ff ff ff"), &n).unwrap();
        assert_eq!(max, num("18446744073709551615"));
        assert_eq!(encode(&max, &n).unwrap()[0], 0xb4);
        round_trip(&max, &n);
        // Big decimals as text.
        let big = "12345678901234567890123.000000000000000000001";
        let mut bytes = vec![0xd9, big.len() as u8];
        bytes.extend_from_slice(big.as_bytes());
        assert_eq!(decode(&bytes, &n).unwrap(), num(big));
        assert_eq!(encode(&num(big), &n).unwrap(), bytes);
        // Exact floats travel as float64.
        let half = hex("cb bf e0 00 00 00 00 00 00");
        assert_eq!(decode(&half, &n).unwrap(), num("-0.5"));
        assert_eq!(encode(&num("-0.5"), &n).unwrap(), half);
        assert_eq!(decode(&hex("ca 3f c0 00 00"), &n).unwrap(), num("1.5"));
        // A float that is not a short decimal keeps its exact value, so it
        // leaves as the same float64.
        let tenth = rmp_f64(0.1);
        let v = decode(&tenth, &n).unwrap();
        assert_eq!(
            v.as_number().unwrap().as_str(),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_eq!(encode(&v, &n).unwrap(), tenth);
        // Integers: smallest encoding, full range.
        assert_eq!(encode(&num("42"), &n).unwrap(), hex("2a"));
        assert_eq!(decode(&hex("ff"), &n).unwrap(), num("-1"));
        let min = hex("d3 80 00 00 00 00 00 00 00");
        assert_eq!(decode(&min, &n).unwrap(), num("-9223372036854775808"));
        assert_eq!(encode(&num("-9223372036854775808"), &n).unwrap(), min);
        // Infinity is a float; NaN and non-numeric text are errors.
        let inf = hex("cb 7f f0 00 00 00 00 00 00");
        assert_eq!(decode(&inf, &n).unwrap(), num("+Inf"));
        assert_eq!(encode(&num("+Inf"), &n).unwrap(), inf);
        assert!(decode(&hex("cb 7f f8 00 00 00 00 00 00"), &n).is_err());
        assert!(decode(&hex("a3 61 62 63"), &n).is_err());
        // Non-canonical text is written canonically.
        let written = Value::Number(Number::parse("1.10e1").unwrap());
        assert_eq!(encode(&written, &n).unwrap(), hex("0b"));
    }

    #[test]
    fn number_text_is_canonical() {
        for (input, canonical) in [
            ("0", "0"),
            ("-0", "0"),
            ("0.000", "0"),
            ("+12", "12"),
            ("007", "7"),
            ("1.10", "1.1"),
            ("1e3", "1000"),
            ("1.5E-3", "0.0015"),
            (".5", "0.5"),
            ("5.", "5"),
            ("-12.5e1", "-125"),
            ("123e-5", "0.00123"),
            ("inf", "+Inf"),
            ("-Infinity", "-Inf"),
            ("1e999999999999", "1e999999999999"),
            ("-2.50e-99999", "-2.5e-99999"),
        ] {
            let n = Number::from_decimal(input).unwrap();
            assert_eq!(n.as_str(), canonical, "{input}");
            assert_eq!(
                Number::from_decimal(n.as_str()).unwrap(),
                n,
                "idempotent {input}"
            );
        }
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "1..2", "0x10", "1,5", "nan", "1 2",
        ] {
            assert!(Number::from_decimal(bad).is_none(), "{bad:?}");
        }
        assert_eq!(Number::from_f64(5e-324).unwrap().as_str().len(), 1076);
        assert_eq!(Number::from_f64(-3.0).unwrap().as_str(), "-3");
        assert_eq!(num("1e22").as_number().unwrap().to_exact_f64(), Some(1e22));
        assert_eq!(num("1e23").as_number().unwrap().to_exact_f64(), None);
        assert_eq!(num("0.1").as_number().unwrap().to_exact_f64(), None);
        assert!(num("+Inf").as_number().unwrap().as_f64().is_infinite());
    }

    fn rmp_f64(f: f64) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_f64(&mut out, f).unwrap();
        out
    }

    #[test]
    fn every_extension_is_an_unknown() {
        let ty = resource_type_for_tests();
        for bytes in [
            "d4 00 00",
            "c7 00 00",
            "d5 00 00 00",
            "d4 07 00",
            "d4 ff 01",
            "c7 01 05 00",
        ] {
            for t in [&Type::String, &Type::Dynamic, &ty] {
                assert_eq!(decode(&hex(bytes), t).unwrap(), Value::unknown(), "{bytes}");
            }
        }
        let refined = Refinements {
            nullness: Some(false),
            ..Refinements::default()
        };
        assert_eq!(
            encode(&Value::Unknown(refined), &Type::String).unwrap(),
            hex("d4 00 00")
        );
    }

    fn resource_type_for_tests() -> Type {
        arb::resource_type()
    }

    #[test]
    fn refined_unknowns_decode() {
        // Not null, as Terraform writes it: ext8, code 12, payload {1: false}.
        let v = decode(&hex("c7 03 0c 81 01 c2"), &Type::String).unwrap();
        let expected = Refinements {
            nullness: Some(false),
            ..Refinements::default()
        };
        assert_eq!(v, Value::Unknown(expected));

        // Every refinement, plus a key from the future (99) that is ignored:
        // {1: false, 2: "ab", 3: [1, true], 4: ["1.5", false], 5: 1, 6: 3, 99: "x"}
        let payload =
            hex("87 01 c2 02 a2 61 62 03 92 01 c3 04 92 a3 31 2e 35 c2 05 01 06 03 63 a1 78");
        let mut bytes = vec![0xc7, payload.len() as u8, 0x0c];
        bytes.extend_from_slice(&payload);
        let Value::Unknown(r) = decode(&bytes, &Type::Number).unwrap() else {
            panic!("not unknown");
        };
        assert_eq!(r.nullness, Some(false));
        assert_eq!(r.string_prefix.as_deref(), Some("ab"));
        assert_eq!(r.number_lower, Some((Number::from(1i64), true)));
        assert_eq!(
            r.number_upper,
            Some((Number::from_decimal("1.5").unwrap(), false))
        );
        assert_eq!((r.length_lower, r.length_upper), (Some(1), Some(3)));

        // A malformed refinement payload is an error, not silently dropped.
        assert!(decode(&hex("c7 02 0c 81 01"), &Type::String).is_err());
        assert!(decode(&hex("c7 03 0c 81 05 ff"), &Type::String).is_err());
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        let hi = Value::Dynamic(Type::String, Box::new(Value::string("hi")));
        // [bin("\"string\""), "hi"]
        let bin = hex("92 c4 08 22 73 74 72 69 6e 67 22 a2 68 69");
        assert_eq!(decode(&bin, &Type::Dynamic).unwrap(), hi);
        assert_eq!(encode(&hi, &Type::Dynamic).unwrap(), bin);
        // The type JSON may also be a str.
        let str_form = hex("92 a8 22 73 74 72 69 6e 67 22 a2 68 69");
        assert_eq!(decode(&str_form, &Type::Dynamic).unwrap(), hi);
        assert_eq!(decode(&hex("c0"), &Type::Dynamic).unwrap(), Value::Null);
        assert_eq!(
            decode(&hex("d4 00 00"), &Type::Dynamic).unwrap(),
            Value::unknown()
        );

        let list = Type::List(Box::new(Type::Number));
        round_trip(
            &Value::Dynamic(list.clone(), Box::new(Value::List(vec![num("1.5")]))),
            &Type::Dynamic,
        );
        round_trip(
            &Value::Dynamic(list, Box::new(Value::unknown())),
            &Type::Dynamic,
        );
        round_trip(
            &Value::Dynamic(Type::Bool, Box::new(Value::Null)),
            &Type::Dynamic,
        );

        assert!(
            decode(
                &hex("93 a8 22 73 74 72 69 6e 67 22 a2 68 69 c0"),
                &Type::Dynamic
            )
            .is_err()
        );
        // "dynamic" is not a concrete type.
        assert!(
            decode(
                &hex("92 c4 09 22 64 79 6e 61 6d 69 63 22 c0"),
                &Type::Dynamic
            )
            .is_err()
        );
        assert!(encode(&Value::string("bare"), &Type::Dynamic).is_err());
    }

    #[test]
    fn collections_round_trip() {
        let objects = Type::Set(Box::new(obj_type(&[
            ("cidr", Type::String),
            ("prio", Type::Number),
        ])));
        let set = Value::Set(vec![
            obj(&[("cidr", Value::string("10.0.0.0/8")), ("prio", num("1"))]),
            obj(&[("cidr", Value::Null), ("prio", Value::unknown())]),
        ]);
        round_trip(&set, &objects);
        let nested = obj_type(&[
            (
                "block",
                Type::List(Box::new(obj_type(&[("inner", objects.clone())]))),
            ),
            ("pair", Type::Tuple(vec![Type::String, Type::Bool])),
            ("empty", obj_type(&[])),
        ]);
        round_trip(
            &obj(&[
                (
                    "block",
                    Value::List(vec![
                        obj(&[("inner", set)]),
                        obj(&[("inner", Value::Set(vec![]))]),
                    ]),
                ),
                (
                    "pair",
                    Value::List(vec![Value::string("a"), Value::Bool(false)]),
                ),
                ("empty", Value::Object(BTreeMap::new())),
            ]),
            &nested,
        );
        let tuple = Type::Tuple(vec![Type::String, Type::Bool]);
        assert!(decode(&hex("91 a1 61"), &tuple).is_err());
        assert!(encode(&Value::List(vec![Value::Null]), &tuple).is_err());
        let map = Type::Map(Box::new(Type::Bool));
        assert!(decode(&hex("81 01 c3"), &map).is_err(), "non-string key");
        assert!(
            decode(&hex("82 a1 6b c3 a1 6b c2"), &map).is_err(),
            "duplicate key"
        );
        // A string also arrives as bin holding UTF-8.
        assert_eq!(
            decode(&hex("c4 02 68 69"), &Type::String).unwrap(),
            Value::string("hi")
        );
        assert!(decode(&hex("c4 01 ff"), &Type::String).is_err());
    }

    #[test]
    fn object_values_missing_attributes_are_written_as_nil() {
        let ty = obj_type(&[("a", Type::String), ("b", Type::String)]);
        let bytes = encode(&obj(&[("b", Value::string("x"))]), &ty).unwrap();
        assert_eq!(bytes, hex("82 a1 61 c0 a1 62 a1 78"));
        assert!(encode(&obj(&[("zz", Value::Null)]), &ty).is_err());
    }

    #[test]
    fn hostile_input_is_an_error_not_a_crash() {
        let ty = resource_type_for_tests();
        let list = Type::List(Box::new(Type::String));
        for bytes in [
            "",
            "dd ff ff ff ff",    // array32 claiming 4 billion elements
            "df ff ff ff ff",    // map32
            "db ff ff ff ff",    // str32
            "c6 ff ff ff ff",    // bin32
            "c9 ff ff ff ff 00", // ext32
            "c7 ff 0c 80",       // ext8 claiming more than is there
            "c0 c0",             // trailing bytes
        ] {
            for t in [&ty, &list, &Type::Dynamic, &Type::Number] {
                assert!(decode(&hex(bytes), t).is_err(), "{bytes} as {t:?}");
            }
        }
        // Deep nesting stops at the depth bound.
        let mut deep = vec![0x91; 200_000];
        deep.push(0xc0);
        let mut deep_type = Type::String;
        for _ in 0..300 {
            deep_type = Type::List(Box::new(deep_type));
        }
        for t in [&ty, &list, &Type::Dynamic, &deep_type] {
            assert!(decode(&deep, t).is_err());
        }
        // Dynamic values that nest dynamic values, a thousand deep.
        let mut chain = Vec::new();
        let ty_json = br#"["list","dynamic"]"#;
        for _ in 0..1000 {
            chain.extend_from_slice(&[0x92, 0xc4, ty_json.len() as u8]);
            chain.extend_from_slice(ty_json);
            chain.push(0x91);
        }
        chain.push(0xc0);
        assert!(decode(&chain, &Type::Dynamic).is_err());
    }

    proptest! {
        #![proptest_config(arb::cases(1000))]

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes, &arb::resource_type());
            let _ = decode(&bytes, &Type::Dynamic);
        }

        /// Valid encodings with a byte changed or cut short never panic the decoder.
        #[test]
        fn corrupted_encodings_never_panic(
            (ty, value) in arb::typed_value(true),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut bytes = encode(&value, &ty).unwrap();
            let i = at.index(bytes.len());
            if cut {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            let _ = decode(&bytes, &ty);
        }
    }

    proptest! {
        #![proptest_config(arb::cases(512))]

        /// Every value of every type survives encode then decode exactly.
        #[test]
        fn values_round_trip((ty, value) in arb::typed_value(true)) {
            let bytes = encode(&value, &ty).unwrap();
            prop_assert_eq!(decode(&bytes, &ty).unwrap(), value);
        }
    }
}
