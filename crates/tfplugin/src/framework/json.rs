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

#[cfg(test)]
mod tests {
    use super::super::msgpack::{self, arb};
    use super::*;
    use proptest::prelude::*;

    fn obj_type(attrs: &[(&str, Type)]) -> Type {
        Type::Object(
            attrs
                .iter()
                .map(|(k, t)| ((*k).to_owned(), t.clone()))
                .collect(),
        )
    }

    fn num(text: &str) -> Value {
        Value::Number(Number::from_decimal(text).unwrap())
    }

    fn decode_strict(json: &str, ty: &Type) -> Result<Value, CodecError> {
        decode(json.as_bytes(), ty, UnknownAttributes::Reject)
    }

    /// The state the official Go provider writes for a BYOA cloud account.
    const OFFICIAL_STATE: &str = r#"{"access_key_id":"AKIAEXAMPLE","access_secret_key":"s3cr3t","console_password":"pw","console_username":"user","id":"42","name":"byoa","provider_type":"AWS","sign_in_login_url":"https://123.signin.aws.amazon.com/console","status":"active","timeouts":null}"#;

    fn official_type(extra: &[(&str, Type)]) -> Type {
        let timeouts = obj_type(&[
            ("create", Type::String),
            ("read", Type::String),
            ("update", Type::String),
            ("delete", Type::String),
        ]);
        let mut attrs: Vec<(&str, Type)> = [
            "id",
            "access_key_id",
            "access_secret_key",
            "console_password",
            "console_username",
            "name",
            "provider_type",
            "sign_in_login_url",
            "status",
        ]
        .iter()
        .map(|k| (*k, Type::String))
        .collect();
        attrs.push(("timeouts", timeouts));
        attrs.extend(extra.iter().cloned());
        obj_type(&attrs)
    }

    #[test]
    fn official_provider_state_decodes_with_new_attributes_null() {
        let ty = official_type(&[
            ("account_id", Type::Number),
            ("regions", Type::List(Box::new(Type::String))),
            ("secret_wo_version", Type::Number),
        ]);
        let value = decode_strict(OFFICIAL_STATE, &ty).unwrap();
        assert_eq!(value.attr("id"), &Value::string("42"));
        assert_eq!(value.attr("access_secret_key"), &Value::string("s3cr3t"));
        assert_eq!(
            value.attr("sign_in_login_url"),
            &Value::string("https://123.signin.aws.amazon.com/console")
        );
        assert_eq!(value.attr("timeouts"), &Value::Null);
        for new in ["account_id", "regions", "secret_wo_version"] {
            assert_eq!(value.attr(new), &Value::Null, "{new}");
        }
        // Complete, so it can be sent to Terraform as msgpack right away.
        assert_eq!(value.as_object().unwrap().len(), 13);
        let bytes = msgpack::encode(&value, &ty).unwrap();
        assert_eq!(msgpack::decode(&bytes, &ty).unwrap(), value);
    }

    #[test]
    fn unknown_attributes_are_rejected_or_ignored_on_request() {
        // Our schema without `console_password`: the official state has one more attribute.
        let official = official_type(&[]);
        let Type::Object(mut attrs) = official else {
            unreachable!()
        };
        attrs.remove("console_password");
        let ours = Type::Object(attrs);
        let err = decode_strict(OFFICIAL_STATE, &ours).unwrap_err();
        assert_eq!(err.to_string(), ".console_password: unsupported attribute");
        let value = decode(OFFICIAL_STATE.as_bytes(), &ours, UnknownAttributes::Ignore).unwrap();
        assert_eq!(value.attr("name"), &Value::string("byoa"));
        assert!(value.as_object().unwrap().get("console_password").is_none());
        // Ignoring reaches nested objects too.
        let nested = obj_type(&[("t", obj_type(&[("a", Type::String)]))]);
        let json = br#"{"t":{"a":"x","gone":1}}"#;
        assert!(decode(json, &nested, UnknownAttributes::Reject).is_err());
        let v = decode(json, &nested, UnknownAttributes::Ignore).unwrap();
        assert_eq!(v.attr("t").attr("a"), &Value::string("x"));
    }

    #[test]
    fn numbers_are_lossless() {
        let n = Type::Number;
        for text in [
            "12345678901234567890123",
            "1.1",
            "-0.5",
            "0.1000000000000000000000000001",
        ] {
            let v = decode_strict(text, &n).unwrap();
            assert_eq!(v, num(text));
            assert_eq!(String::from_utf8(encode(&v, &n).unwrap()).unwrap(), text);
        }
        // Old providers sometimes wrote numbers as strings.
        assert_eq!(decode_strict(r#""12.50""#, &n).unwrap(), num("12.5"));
        assert!(decode_strict(r#""twelve""#, &n).is_err());
        assert_eq!(decode_strict("1e3", &n).unwrap(), num("1000"));
        assert!(encode(&num("+Inf"), &n).is_err());
    }

    #[test]
    fn sdkv2_primitive_spellings_are_accepted() {
        // SDKv2 stores through string conversions, so a string attribute may
        // hold a number or bool and a bool may be spelled as a string.
        assert_eq!(
            decode_strict("42", &Type::String).unwrap(),
            Value::string("42")
        );
        assert_eq!(
            decode_strict("1.50", &Type::String).unwrap(),
            Value::string("1.50")
        );
        assert_eq!(
            decode_strict("true", &Type::String).unwrap(),
            Value::string("true")
        );
        assert_eq!(
            decode_strict(r#""true""#, &Type::Bool).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            decode_strict(r#""false""#, &Type::Bool).unwrap(),
            Value::Bool(false)
        );
        assert!(decode_strict(r#""yes""#, &Type::Bool).is_err());
        assert!(decode_strict("[]", &Type::String).is_err());
        assert!(decode_strict("1", &Type::Bool).is_err());
    }

    #[test]
    fn dynamic_values_are_value_and_type() {
        let v = Value::Dynamic(
            Type::List(Box::new(Type::Number)),
            Box::new(Value::List(vec![num("1"), num("2.5")])),
        );
        let bytes = encode(&v, &Type::Dynamic).unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"value":[1,2.5],"type":["list","number"]}"#
        );
        assert_eq!(
            decode_strict(std::str::from_utf8(&bytes).unwrap(), &Type::Dynamic).unwrap(),
            v
        );
        // Key order does not matter on input.
        let reordered = r#"{"type":"string","value":"x"}"#;
        assert_eq!(
            decode_strict(reordered, &Type::Dynamic).unwrap(),
            Value::Dynamic(Type::String, Box::new(Value::string("x")))
        );
        assert_eq!(decode_strict("null", &Type::Dynamic).unwrap(), Value::Null);
        assert!(decode_strict(r#"{"value":"x"}"#, &Type::Dynamic).is_err());
        assert!(decode_strict(r#"{"type":"string","value":"x","z":1}"#, &Type::Dynamic).is_err());
        assert!(decode_strict(r#""bare""#, &Type::Dynamic).is_err());
    }

    #[test]
    fn unknowns_have_no_json_form() {
        let ty = obj_type(&[("a", Type::List(Box::new(Type::String)))]);
        let v = Value::Object([("a".to_owned(), Value::List(vec![Value::unknown()]))].into());
        let err = encode(&v, &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            ".a[0]: an unknown value cannot be written as JSON"
        );
    }

    #[test]
    fn nested_blocks_sets_and_tuples_round_trip() {
        let rule = obj_type(&[("cidr", Type::String), ("prio", Type::Number)]);
        let ty = obj_type(&[
            ("rules", Type::Set(Box::new(rule.clone()))),
            ("by_name", Type::Map(Box::new(rule))),
            ("pair", Type::Tuple(vec![Type::String, Type::Bool])),
        ]);
        let r = |c: &str, p: &str| {
            Value::Object(
                [
                    ("cidr".to_owned(), Value::string(c)),
                    ("prio".to_owned(), num(p)),
                ]
                .into(),
            )
        };
        let v = Value::Object(
            [
                (
                    "rules".to_owned(),
                    Value::Set(vec![r("10.0.0.0/8", "1"), r("::/0", "2.25")]),
                ),
                (
                    "by_name".to_owned(),
                    Value::Map([("a".to_owned(), r("x", "3"))].into()),
                ),
                (
                    "pair".to_owned(),
                    Value::List(vec![Value::string("s"), Value::Bool(true)]),
                ),
            ]
            .into(),
        );
        let bytes = encode(&v, &ty).unwrap();
        assert_eq!(decode(&bytes, &ty, UnknownAttributes::Reject).unwrap(), v);
        let err = decode_strict(r#"{"pair":["s"]}"#, &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            ".pair: expected a tuple of 2 elements, found 1"
        );
        let err = decode_strict(r#"{"rules":[{"cidr":7,"prio":"x"}]}"#, &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            ".rules[0].prio: string does not hold a decimal number"
        );
    }

    #[test]
    fn hostile_json_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(decode_strict(&deep, &Type::Dynamic).is_err());
        assert!(decode_strict("{\"a\":", &arb::resource_type()).is_err());
        assert!(decode_strict("", &Type::String).is_err());
    }

    proptest! {
        #![proptest_config(arb::cases(1000))]

        /// Arbitrary bytes, and arbitrary text, never panic the decoder.
        #[test]
        fn arbitrary_input_never_panics(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
            text in "[\\[\\]{}\":,0-9a-z.eE+\\- ]{0,64}",
        ) {
            for input in [&bytes[..], text.as_bytes()] {
                let _ = decode(input, &arb::resource_type(), UnknownAttributes::Reject);
                let _ = decode(input, &Type::Dynamic, UnknownAttributes::Ignore);
            }
        }
    }

    proptest! {
        #![proptest_config(arb::cases(512))]

        /// Every value of every type (no unknowns or infinities: JSON has
        /// neither) survives encode then decode exactly.
        #[test]
        fn values_round_trip((ty, value) in arb::typed_value(false)) {
            let bytes = encode(&value, &ty).unwrap();
            prop_assert_eq!(decode(&bytes, &ty, UnknownAttributes::Reject).unwrap(), value);
        }
    }
}
