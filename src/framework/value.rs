//! Terraform's value model (cty): types, values, unknowns and exact numbers.

use std::collections::BTreeMap;
use std::fmt;

/// A cty type, as it appears in schema `type` JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    /// `"bool"`
    Bool,
    /// `"number"`
    Number,
    /// `"string"`
    String,
    /// `"dynamic"`: the concrete type travels with the value.
    Dynamic,
    /// `["list", T]`
    List(Box<Type>),
    /// `["set", T]`
    Set(Box<Type>),
    /// `["map", T]`
    Map(Box<Type>),
    /// `["object", {name: T}]`
    Object(BTreeMap<String, Type>),
    /// `["tuple", [T...]]`
    Tuple(Vec<Type>),
}

/// An exact number. Terraform numbers are arbitrary-precision decimals, so
/// the value is kept as its canonical decimal text and never rounded through
/// `f64` unless a caller asks for that.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number(String);

/// What Terraform promised about an unknown value (msgpack extension 12).
/// Decoded so that nothing is lost; the framework never sends refinements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refinements {
    /// `Some(false)`: definitely not null.
    pub nullness: Option<bool>,
    /// A known prefix of an unknown string.
    pub string_prefix: Option<String>,
    /// Lower bound `(number, inclusive)`.
    pub number_lower: Option<(Number, bool)>,
    /// Upper bound `(number, inclusive)`.
    pub number_upper: Option<(Number, bool)>,
    /// Inclusive lower bound of a collection's length.
    pub length_lower: Option<u64>,
    /// Inclusive upper bound of a collection's length.
    pub length_upper: Option<u64>,
}

/// A cty value. Objects always carry every attribute of their type (null where
/// unset), which is what the msgpack wire format demands.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Null of any type.
    Null,
    /// Not known until apply.
    Unknown(Refinements),
    /// A known bool.
    Bool(bool),
    /// A known number.
    Number(Number),
    /// A known string.
    String(String),
    /// A list, or a tuple.
    List(Vec<Value>),
    /// A set; order carries no meaning.
    Set(Vec<Value>),
    /// A map with string keys.
    Map(BTreeMap<String, Value>),
    /// An object or a block.
    Object(BTreeMap<String, Value>),
    /// A value of a `dynamic` position: its concrete type travels with it.
    Dynamic(Type, Box<Value>),
}

impl Number {
    /// Parses decimal text (`-12`, `1.5`, `1e3`); `None` when it is not a number.
    pub fn parse(text: &str) -> Option<Number> {
        let t = text.trim();
        if t.is_empty() {
            return None;
        }
        // serde_json (arbitrary_precision) is the grammar of record for decimals.
        match serde_json::from_str::<serde_json::Number>(t) {
            Ok(n) => Some(Number(n.to_string())),
            Err(_) => None,
        }
    }

    /// The exact decimal text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as an `i64`, if it is exactly an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse::<i64>().ok()
    }

    /// The value as a `u64`, if it is exactly a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse::<u64>().ok()
    }

    /// The nearest `f64` (may round).
    pub fn as_f64(&self) -> f64 {
        self.0.parse::<f64>().unwrap_or(f64::NAN)
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Number(v.to_string())
    }
}

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        Number(v.to_string())
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Value {
    /// A plain unknown, with no refinements.
    pub fn unknown() -> Value {
        Value::Unknown(Refinements::default())
    }

    /// A known string.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A string, or null when `None`.
    pub fn opt_string(s: Option<impl Into<String>>) -> Value {
        s.map_or(Value::Null, |s| Value::String(s.into()))
    }

    /// True for null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True when this value itself is unknown (not looking inside).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown(_))
    }

    /// True when no unknown appears anywhere inside.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::List(v) | Value::Set(v) => v.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }

    /// The string inside a known string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Dynamic(_, v) => v.as_str(),
            _ => None,
        }
    }

    /// The bool inside a known bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Dynamic(_, v) => v.as_bool(),
            _ => None,
        }
    }

    /// The number inside a known number value.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            Value::Dynamic(_, v) => v.as_number(),
            _ => None,
        }
    }

    /// The attributes of a known object.
    pub fn as_object(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Mutable attributes of a known object.
    pub fn as_object_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Attribute `name` of an object; null for anything that is not a known object.
    pub fn attr(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Builds the null object of `ty` with every attribute null (blocks too).
    pub fn null_object(ty: &Type) -> Value {
        match ty {
            Type::Object(attrs) => {
                Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect())
            }
            _ => Value::Null,
        }
    }
}
