//! Typed models: a Rust struct is the one declaration of a block's attributes. Its fields give the
//! names and types, their doc comments the descriptions, and a `#[schemars(transform = …)]` per field the
//! Terraform flags and validators; [`schema_of`] derives the [`Schema`] from it through `schemars`.
//! [`read`] and [`write`] move cty values in and out of the struct through serde, with [`Val`] for
//! values that may be null or unknown.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, SchemaGenerator, transform::Transform};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::schema::{
    Attribute, Block, ConfigValidator, IdentityAttribute, IdentitySchema, NestedBlock, Nesting,
    Presence, Schema, Validator,
};
use super::value::{Number, Type, Value};

/// Serde name by which [`Val`] asks the value deserializer for null and unknown.
const VAL: &str = "$cty::val";
/// Serde name of an unknown value on the way out.
const UNKNOWN: &str = "$cty::unknown";
/// Serde name of an exact number, carried as its decimal text.
const NUMBER: &str = "$cty::number";
/// Schema extension holding an attribute's [`AttributeSpec`].
const SPEC_KEY: &str = "x-terraform";
/// Schema extension holding a block's config validators.
const CONFIG_VALIDATORS_KEY: &str = "x-terraform-config-validators";

/// A value that may be null or unknown, as Terraform's values may be.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Val<T> {
    /// Not set.
    #[default]
    Null,
    /// Known only after apply.
    Unknown,
    /// A known value.
    Known(T),
}

impl<T> Val<T> {
    /// The known value, if any.
    pub fn known(&self) -> Option<&T> {
        match self {
            Val::Known(v) => Some(v),
            _ => None,
        }
    }

    /// The known value, consuming `self`.
    pub fn into_known(self) -> Option<T> {
        match self {
            Val::Known(v) => Some(v),
            _ => None,
        }
    }

    /// True when null.
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// True when unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Val::Unknown)
    }
}

impl<T> From<Option<T>> for Val<T> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Val::Known)
    }
}

impl Val<String> {
    /// The known string, if any.
    pub fn as_deref(&self) -> Option<&str> {
        self.known().map(String::as_str)
    }
}

impl<T: Serialize> Serialize for Val<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Null => serializer.serialize_none(),
            Val::Unknown => serializer.serialize_unit_struct(UNKNOWN),
            Val::Known(v) => v.serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Val<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ValVisitor<T> {
            type Value = Val<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value, null or unknown")
            }
            fn visit_none<E: de::Error>(self) -> Result<Val<T>, E> {
                Ok(Val::Null)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Val<T>, E> {
                Ok(Val::Unknown)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val<T>, D::Error> {
                T::deserialize(d).map(Val::Known)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Val<T>, D::Error> {
                T::deserialize(d).map(Val::Known)
            }
        }
        deserializer.deserialize_newtype_struct(VAL, ValVisitor(PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Val<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T>()
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(NUMBER, self.as_str())
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                Number::parse(v).ok_or_else(|| E::custom(format!("{v:?} is not a number")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::from(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number::from(v))
            }
        }
        deserializer.deserialize_newtype_struct(NUMBER, NumberVisitor)
    }
}

impl JsonSchema for Number {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Number".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "number" })
    }
}

/// Why a value did not fit its model, or a model its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError(String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

impl de::Error for ModelError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ModelError(msg.to_string())
    }
}

impl ser::Error for ModelError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ModelError(msg.to_string())
    }
}

/// Reads a cty value into a model.
pub fn read<T: DeserializeOwned>(value: &Value) -> Result<T, ModelError> {
    T::deserialize(ValueDeserializer(value))
}

/// Writes a model as a cty value.
pub fn write<T: Serialize>(model: &T) -> Result<Value, ModelError> {
    model.serialize(ValueSerializer)
}

/// Deserializes from a borrowed [`Value`].
struct ValueDeserializer<'a>(&'a Value);

impl<'a> ValueDeserializer<'a> {
    /// The value itself, looking through a dynamic wrapper.
    fn inner(&self) -> &'a Value {
        let mut v = self.0;
        while let Value::Dynamic(_, inner) = v {
            v = inner;
        }
        v
    }
}

fn unknown_error() -> ModelError {
    ModelError("a value is unknown where it must be known".to_owned())
}

impl<'de, 'a> Deserializer<'de> for ValueDeserializer<'a> {
    type Error = ModelError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ModelError> {
        match self.inner() {
            Value::Null => visitor.visit_none(),
            Value::Unknown(_) => Err(unknown_error()),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => visitor.visit_i64(i),
                (None, Some(u)) => visitor.visit_u64(u),
                _ => visitor.visit_str(n.as_str()),
            },
            Value::String(s) => visitor.visit_str(s),
            Value::List(items) | Value::Set(items) => visitor.visit_seq(
                de::value::SeqDeserializer::new(items.iter().map(ValueDeserializer)),
            ),
            Value::Map(map) | Value::Object(map) => {
                visitor.visit_map(de::value::MapDeserializer::new(
                    map.iter().map(|(k, v)| (k.as_str(), ValueDeserializer(v))),
                ))
            }
            Value::Dynamic(..) => unreachable!("inner() looks through dynamic values"),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ModelError> {
        match self.inner() {
            Value::Null => visitor.visit_none(),
            Value::Unknown(_) => Err(unknown_error()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ModelError> {
        match (name, self.inner()) {
            (VAL, Value::Null) => visitor.visit_none(),
            (VAL, Value::Unknown(_)) => visitor.visit_unit(),
            (NUMBER, Value::Number(n)) => visitor.visit_str(n.as_str()),
            (NUMBER, other) => Err(ModelError(format!(
                "expected a number, found {}",
                super::msgpack::value_kind(other)
            ))),
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ModelError> {
        match self.inner() {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => Err(ModelError(format!(
                "expected a string, found {}",
                super::msgpack::value_kind(other)
            ))),
        }
    }

    /// A field the model does not hold may be anything, unknown included.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ModelError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl<'de, 'a> IntoDeserializer<'de, ModelError> for ValueDeserializer<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// Serializes into a [`Value`].
struct ValueSerializer;

fn unsupported(what: &str) -> ModelError {
    ModelError(format!("a model cannot hold {what}"))
}

impl Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ModelError;
    type SerializeSeq = SeqSerializer;
    type SerializeTuple = SeqSerializer;
    type SerializeTupleStruct = SeqSerializer;
    type SerializeTupleVariant = ser::Impossible<Value, ModelError>;
    type SerializeMap = MapSerializer;
    type SerializeStruct = MapSerializer;
    type SerializeStructVariant = ser::Impossible<Value, ModelError>;

    fn serialize_bool(self, v: bool) -> Result<Value, ModelError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ModelError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ModelError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ModelError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ModelError> {
        Ok(Value::Number(Number::from(v)))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ModelError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ModelError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ModelError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ModelError> {
        Ok(Value::Number(Number::from(v)))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ModelError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ModelError> {
        Number::parse(&v.to_string())
            .filter(|_| v.is_finite())
            .map(Value::Number)
            .ok_or_else(|| unsupported("a number that is not finite"))
    }
    fn serialize_char(self, v: char) -> Result<Value, ModelError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ModelError> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Value, ModelError> {
        Err(unsupported("bytes"))
    }
    fn serialize_none(self) -> Result<Value, ModelError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<Value, ModelError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ModelError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<Value, ModelError> {
        Ok(if name == UNKNOWN {
            Value::unknown()
        } else {
            Value::Null
        })
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ModelError> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, ModelError> {
        let inner = value.serialize(self)?;
        if name != NUMBER {
            return Ok(inner);
        }
        inner
            .as_str()
            .and_then(Number::parse)
            .map(Value::Number)
            .ok_or_else(|| unsupported("a number without decimal text"))
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Value, ModelError> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSerializer, ModelError> {
        Ok(SeqSerializer(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSerializer, ModelError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<SeqSerializer, ModelError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ModelError> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapSerializer, ModelError> {
        Ok(MapSerializer {
            map: BTreeMap::new(),
            key: None,
            object: false,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapSerializer, ModelError> {
        Ok(MapSerializer {
            map: BTreeMap::new(),
            key: None,
            object: true,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ModelError> {
        Err(unsupported("an enum variant with data"))
    }
}

/// Collects a list.
struct SeqSerializer(Vec<Value>);

impl ser::SerializeSeq for SeqSerializer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ModelError> {
        self.0.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(Value::List(self.0))
    }
}

impl ser::SerializeTuple for SeqSerializer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ModelError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ModelError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqSerializer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ModelError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ModelError> {
        ser::SerializeSeq::end(self)
    }
}

/// Collects a map, or a struct's attributes as an object.
struct MapSerializer {
    map: BTreeMap<String, Value>,
    key: Option<String>,
    object: bool,
}

impl ser::SerializeMap for MapSerializer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), ModelError> {
        match key.serialize(ValueSerializer)? {
            Value::String(k) => {
                self.key = Some(k);
                Ok(())
            }
            _ => Err(unsupported("a map whose keys are not strings")),
        }
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ModelError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| unsupported("a map value without a key"))?;
        self.map.insert(key, value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(if self.object {
            Value::Object(self.map)
        } else {
            Value::Map(self.map)
        })
    }
}

impl ser::SerializeStruct for MapSerializer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ModelError> {
        self.map
            .insert(key.to_owned(), value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        ser::SerializeMap::end(self)
    }
}

/// An attribute's Terraform flags and validators, attached to a model field with
/// `#[schemars(transform = tf::required().sensitive())]` and the like.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AttributeSpec {
    presence: Presence,
    sensitive: bool,
    write_only: bool,
    requires_replace: bool,
    use_state_for_unknown: bool,
    validators: Vec<Validator>,
    /// Set for a nested block rather than an attribute.
    nesting: Option<Nesting>,
    /// Why configuring it is deprecated.
    #[serde(default)]
    deprecation: Option<String>,
    /// A block the provider fills in ([`crate::framework::schema::Block::computed`]).
    #[serde(default)]
    computed: bool,
}

/// The builders of [`AttributeSpec`], named for use as `tf::required()` in a model's attributes.
pub mod tf {
    use super::{AttributeSpec, ConfigValidators};
    use crate::framework::schema::{ConfigValidator, Nesting, Presence};

    fn spec(presence: Presence) -> AttributeSpec {
        AttributeSpec {
            presence,
            sensitive: false,
            write_only: false,
            requires_replace: false,
            use_state_for_unknown: false,
            validators: Vec::new(),
            nesting: None,
            deprecation: None,
            computed: false,
        }
    }

    /// Must be set in configuration.
    pub fn required() -> AttributeSpec {
        spec(Presence::Required)
    }

    /// May be set in configuration.
    pub fn optional() -> AttributeSpec {
        spec(Presence::Optional)
    }

    /// Set by the provider only.
    pub fn computed() -> AttributeSpec {
        spec(Presence::Computed)
    }

    /// May be set; the provider fills it in when unset.
    pub fn optional_computed() -> AttributeSpec {
        spec(Presence::OptionalComputed)
    }

    /// A nested block (the field's type is the block's model).
    pub fn block(nesting: Nesting) -> AttributeSpec {
        AttributeSpec {
            nesting: Some(nesting),
            ..spec(Presence::Optional)
        }
    }

    /// A nested block the provider fills in, never configuration (Terraform 1.16).
    pub fn computed_block(nesting: Nesting) -> AttributeSpec {
        AttributeSpec {
            nesting: Some(nesting),
            computed: true,
            ..spec(Presence::Computed)
        }
    }

    /// Rules across the attributes of the model they are attached to.
    pub fn config_validators(rules: &[ConfigValidator]) -> ConfigValidators {
        ConfigValidators(rules.to_vec())
    }

    /// Exactly one of these attributes must be set.
    pub fn exactly_one_of(names: &[&str]) -> ConfigValidator {
        ConfigValidator::ExactlyOneOf(names.iter().map(|n| (*n).to_owned()).collect())
    }

    /// When `first` is set, `second` must be set too.
    pub fn requires_with(first: &str, second: &str) -> ConfigValidator {
        ConfigValidator::RequiresWith(first.to_owned(), second.to_owned())
    }
}

impl AttributeSpec {
    /// Redacted in Terraform's UI.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Never stored in plan or state (Terraform 1.11+).
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    /// A change replaces the resource.
    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }

    /// On update, keep the prior value instead of planning "known after apply".
    pub fn use_state_for_unknown(mut self) -> Self {
        self.use_state_for_unknown = true;
        self
    }

    /// Deprecated: configuring it warns with `why` (what to use instead).
    pub fn deprecated(mut self, why: &str) -> Self {
        self.deprecation = Some(why.to_owned());
        self
    }

    /// Adds a validator.
    pub fn validate(mut self, validator: Validator) -> Self {
        self.validators.push(validator);
        self
    }
}

impl Transform for AttributeSpec {
    fn transform(&mut self, schema: &mut schemars::Schema) {
        if let Ok(spec) = serde_json::to_value(&*self) {
            schema.insert(SPEC_KEY.to_owned(), spec);
        }
    }
}

/// A model's rules across attributes, attached with `#[schemars(transform = tf::config_validators(&[…]))]`.
#[derive(Clone, Debug)]
pub struct ConfigValidators(Vec<ConfigValidator>);

impl Transform for ConfigValidators {
    fn transform(&mut self, schema: &mut schemars::Schema) {
        if let Ok(rules) = serde_json::to_value(&self.0) {
            schema.insert(CONFIG_VALIDATORS_KEY.to_owned(), rules);
        }
    }
}

/// The schema a model declares, at state version `version`.
///
/// # Panics
/// When the model declares something Terraform's schema cannot hold (a field without its `tf::…` spec, or a type
/// other than string, number, bool or a nested model). Models are fixed at compile time and every one is derived
/// by a unit test, so this cannot happen at run time.
pub fn schema_of<T: JsonSchema>(version: i64) -> Schema {
    let root = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let root = root.as_value();
    let defs = root.get("$defs").cloned().unwrap_or_default();
    let config_validators = root
        .get(CONFIG_VALIDATORS_KEY)
        .map(|v| {
            serde_json::from_value(v.clone())
                .unwrap_or_else(|e| panic!("{}: config validators: {e}", T::schema_name()))
        })
        .unwrap_or_default();
    Schema {
        version,
        block: block_from(&T::schema_name(), root, &defs),
        config_validators,
    }
}

/// The identity schema a model declares, at identity version `version`: each field one identity attribute, required
/// for import when its spec is `tf::required()`.
///
/// # Panics
/// As [`schema_of`].
pub fn identity_schema_of<T: JsonSchema>(version: i64) -> IdentitySchema {
    let block = schema_of::<T>(version).block;
    assert!(
        block.blocks.is_empty(),
        "{}: an identity has no nested blocks",
        T::schema_name()
    );
    IdentitySchema {
        version,
        attributes: block
            .attributes
            .into_iter()
            .map(|a| IdentityAttribute {
                required_for_import: a.presence == Presence::Required,
                name: a.name,
                ty: a.ty,
                description: a.description,
            })
            .collect(),
    }
}

/// A nested model's block.
fn block_from(model: &str, schema: &serde_json::Value, defs: &serde_json::Value) -> Block {
    let mut block = Block {
        description: description(schema),
        ..Block::default()
    };
    let properties = schema.get("properties").and_then(|p| p.as_object());
    for (name, field) in properties.into_iter().flatten() {
        let spec: AttributeSpec = field
            .get(SPEC_KEY)
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_else(|| {
                panic!("{model}.{name} has no Terraform spec: add #[schemars(transform = tf::…)]")
            });
        let resolved = resolve(field, defs);
        if let Some(nesting) = spec.nesting {
            let mut inner = block_from(&format!("{model}.{name}"), resolved, defs);
            let own = description(field);
            if !own.is_empty() {
                inner.description = own;
            }
            inner.deprecation = spec.deprecation.clone();
            inner.computed = spec.computed;
            block.blocks.push(NestedBlock {
                name: name.clone(),
                nesting,
                block: inner,
            });
            continue;
        }
        block.attributes.push(Attribute {
            name: name.clone(),
            ty: primitive(resolved).unwrap_or_else(|| {
                panic!("{model}.{name}: only strings, numbers and bools can be attributes, found {resolved}")
            }),
            description: description(field),
            presence: spec.presence,
            sensitive: spec.sensitive,
            write_only: spec.write_only,
            requires_replace: spec.requires_replace,
            use_state_for_unknown: spec.use_state_for_unknown,
            validators: spec.validators,
            deprecation: spec.deprecation,
        });
    }
    block
}

/// Follows a `$ref` into `$defs`.
fn resolve<'a>(
    schema: &'a serde_json::Value,
    defs: &'a serde_json::Value,
) -> &'a serde_json::Value {
    schema
        .get("$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| defs.get(name))
        .unwrap_or(schema)
}

/// The Terraform type of a JSON schema's primitive `type`.
fn primitive(schema: &serde_json::Value) -> Option<Type> {
    let types: Vec<&str> = match schema.get("type")? {
        serde_json::Value::String(t) => vec![t.as_str()],
        serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => return None,
    };
    match types.iter().find(|t| **t != "null").copied()? {
        "string" => Some(Type::String),
        "integer" | "number" => Some(Type::Number),
        "boolean" => Some(Type::Bool),
        _ => None,
    }
}

/// A doc comment as markdown: lines of a paragraph joined by spaces (as markdown renders them), paragraphs by a
/// blank line. (`schemars` titles are not used: it names a root schema after its type.)
fn description(schema: &serde_json::Value) -> String {
    let text = schema
        .get("description")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    text.split("\n\n")
        .map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block used by the tests.
    ///
    /// Second paragraph,
    /// over two lines.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[schemars(transform = tf::config_validators(&[tf::exactly_one_of(&["secret", "token"])]))]
    struct Sample {
        /// The name.
        #[schemars(transform = tf::required().requires_replace().validate(Validator::NotBlank))]
        name: Val<String>,
        /// A secret.
        #[schemars(transform = tf::optional().sensitive().write_only())]
        secret: Val<String>,
        /// A token.
        #[schemars(transform = tf::optional())]
        token: Val<String>,
        /// A count.
        #[schemars(transform = tf::computed().use_state_for_unknown())]
        count: Val<Number>,
        /// A switch.
        #[schemars(transform = tf::optional_computed())]
        enabled: Val<bool>,
        /// Settings.
        #[schemars(transform = tf::block(Nesting::Single))]
        settings: Val<Settings>,
    }

    /// Settings' own description.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    struct Settings {
        /// How long.
        #[schemars(transform = tf::optional().validate(Validator::Duration))]
        wait: Val<String>,
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn the_schema_comes_from_the_struct_its_doc_comments_and_specs() {
        let schema = schema_of::<Sample>(2);
        assert_eq!(schema.version, 2);
        assert_eq!(
            schema.block.description,
            "A block used by the tests.\n\nSecond paragraph, over two lines."
        );
        let names: Vec<&str> = schema
            .block
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, ["name", "secret", "token", "count", "enabled"]);
        let name = schema.block.attribute("name").unwrap();
        assert_eq!(
            (
                name.ty.clone(),
                name.presence,
                name.requires_replace,
                name.description.as_str()
            ),
            (Type::String, Presence::Required, true, "The name.")
        );
        assert_eq!(name.validators, [Validator::NotBlank]);
        let secret = schema.block.attribute("secret").unwrap();
        assert!(secret.sensitive && secret.write_only && !secret.requires_replace);
        let count = schema.block.attribute("count").unwrap();
        assert_eq!(
            (count.ty.clone(), count.presence),
            (Type::Number, Presence::Computed)
        );
        assert!(count.use_state_for_unknown);
        assert_eq!(schema.block.attribute("enabled").unwrap().ty, Type::Bool);
        assert_eq!(schema.block.blocks.len(), 1);
        let settings = &schema.block.blocks[0];
        assert_eq!(
            (settings.name.as_str(), settings.nesting),
            ("settings", Nesting::Single)
        );
        assert_eq!(settings.block.description, "Settings.");
        assert_eq!(
            settings.block.attributes[0].validators,
            [Validator::Duration]
        );
        assert_eq!(
            schema.config_validators,
            [ConfigValidator::ExactlyOneOf(vec![
                "secret".into(),
                "token".into()
            ])]
        );
    }

    #[test]
    fn values_round_trip_through_the_model_with_null_and_unknown() {
        let value = obj(&[
            ("name", Value::string("a")),
            ("secret", Value::Null),
            ("token", Value::unknown()),
            (
                "count",
                Value::Number(Number::parse("12345678901234567890123").unwrap()),
            ),
            ("enabled", Value::Bool(true)),
            ("settings", obj(&[("wait", Value::string("5m"))])),
        ]);
        let model: Sample = read(&value).unwrap();
        assert_eq!(model.name, Val::Known("a".to_owned()));
        assert_eq!(model.secret, Val::Null);
        assert_eq!(model.token, Val::Unknown);
        assert_eq!(
            model.count.known().unwrap().as_str(),
            "12345678901234567890123"
        );
        assert_eq!(model.settings.known().unwrap().wait.as_deref(), Some("5m"));
        assert_eq!(write(&model).unwrap(), value);
        let null_block = obj(&[
            ("name", Value::string("a")),
            ("secret", Value::Null),
            ("token", Value::Null),
            ("count", Value::Null),
            ("enabled", Value::Null),
            ("settings", Value::Null),
        ]);
        let model: Sample = read(&null_block).unwrap();
        assert!(model.settings.is_null());
        assert_eq!(write(&model).unwrap(), null_block);
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_an_error_not_a_panic() {
        let wrong = obj(&[("name", Value::Bool(true))]);
        assert!(read::<Sample>(&wrong).is_err());
        assert!(read::<Sample>(&Value::Null).is_err());
        assert!(read::<Sample>(&Value::unknown()).is_err());
        let number_as_text = obj(&[
            ("name", Value::string("a")),
            ("secret", Value::Null),
            ("token", Value::Null),
            ("count", Value::string("many")),
            ("enabled", Value::Null),
            ("settings", Value::Null),
        ]);
        assert!(read::<Sample>(&number_as_text).is_err());
    }

    #[test]
    fn a_model_of_some_attributes_reads_an_object_whose_others_are_unknown() {
        #[derive(Deserialize)]
        struct NameOnly {
            name: Val<String>,
        }
        let planned = obj(&[
            ("name", Value::string("a")),
            ("count", Value::unknown()),
            ("settings", obj(&[("wait", Value::unknown())])),
        ]);
        let m: NameOnly = read(&planned).unwrap();
        assert_eq!(m.name.as_deref(), Some("a"));
    }
}
