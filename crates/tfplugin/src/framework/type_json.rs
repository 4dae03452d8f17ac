//! The JSON text of cty types: schema `type` bytes and the type half of a
//! dynamic value.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::msgpack::CodecError;
use super::value::Type;

impl Type {
    /// Compact type JSON, e.g. `["object",{"a":"string"}]`. Deterministic:
    /// object attributes come out sorted.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }

    /// The type JSON as a `serde_json` tree (object keys in sorted order).
    pub fn to_json_value(&self) -> Json {
        let kind = |k: &str, inner: Json| Json::Array(vec![Json::String(k.to_owned()), inner]);
        match self {
            Type::Bool => Json::String("bool".to_owned()),
            Type::Number => Json::String("number".to_owned()),
            Type::String => Json::String("string".to_owned()),
            Type::Dynamic => Json::String("dynamic".to_owned()),
            Type::List(t) => kind("list", t.to_json_value()),
            Type::Set(t) => kind("set", t.to_json_value()),
            Type::Map(t) => kind("map", t.to_json_value()),
            Type::Object(attrs) => kind(
                "object",
                Json::Object(
                    attrs
                        .iter()
                        .map(|(k, t)| (k.clone(), t.to_json_value()))
                        .collect(),
                ),
            ),
            Type::Tuple(elems) => kind(
                "tuple",
                Json::Array(elems.iter().map(Type::to_json_value).collect()),
            ),
        }
    }

    /// Parses type JSON. An object type's optional third element (the names
    /// of optional attributes, which only type constraints carry) is accepted
    /// and ignored. Nesting is bounded by `serde_json`'s recursion limit.
    pub fn from_json(bytes: &[u8]) -> Result<Type, CodecError> {
        let json: Json = serde_json::from_slice(bytes)
            .map_err(|e| CodecError::new(format!("invalid type JSON: {e}")))?;
        Type::from_json_value(&json)
    }

    /// Like [`Type::from_json`], from an already parsed tree.
    pub fn from_json_value(json: &Json) -> Result<Type, CodecError> {
        let invalid = |what: &str| CodecError::new(format!("invalid type JSON: {what}"));
        match json {
            Json::String(name) => match name.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(invalid("unknown primitive type")),
            },
            Json::Array(parts) => {
                let (Some(Json::String(kind)), Some(arg)) = (parts.first(), parts.get(1)) else {
                    return Err(invalid("expected [kind, argument]"));
                };
                let exact_len = |n: usize| {
                    if parts.len() == n {
                        Ok(())
                    } else {
                        Err(invalid("wrong number of elements"))
                    }
                };
                match kind.as_str() {
                    "list" | "set" | "map" => {
                        exact_len(2)?;
                        let elem = Box::new(Type::from_json_value(arg)?);
                        Ok(match kind.as_str() {
                            "list" => Type::List(elem),
                            "set" => Type::Set(elem),
                            _ => Type::Map(elem),
                        })
                    }
                    "object" => {
                        let Json::Object(attrs) = arg else {
                            return Err(invalid("object attributes must be a JSON object"));
                        };
                        match parts.get(2) {
                            None => {}
                            Some(Json::Array(optional))
                                if parts.len() == 3 && optional.iter().all(Json::is_string) => {}
                            Some(_) => return Err(invalid("malformed optional attribute list")),
                        }
                        attrs
                            .iter()
                            .map(|(k, t)| Ok((k.clone(), Type::from_json_value(t)?)))
                            .collect::<Result<BTreeMap<_, _>, CodecError>>()
                            .map(Type::Object)
                    }
                    "tuple" => {
                        exact_len(2)?;
                        let Json::Array(elems) = arg else {
                            return Err(invalid("tuple elements must be a JSON array"));
                        };
                        elems
                            .iter()
                            .map(Type::from_json_value)
                            .collect::<Result<Vec<_>, _>>()
                            .map(Type::Tuple)
                    }
                    _ => Err(invalid("unknown type kind")),
                }
            }
            _ => Err(invalid("expected a string or an array")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(attrs: &[(&str, Type)]) -> Type {
        Type::Object(
            attrs
                .iter()
                .map(|(k, t)| ((*k).to_owned(), t.clone()))
                .collect(),
        )
    }

    #[test]
    fn every_kind_round_trips_with_sorted_keys() {
        let ty = obj(&[
            ("z", Type::String),
            ("a", Type::List(Box::new(Type::Number))),
            ("m", Type::Map(Box::new(Type::Bool))),
            ("s", Type::Set(Box::new(Type::Dynamic))),
            ("t", Type::Tuple(vec![Type::String, obj(&[])])),
        ]);
        let text = ty.to_json();
        assert_eq!(
            text,
            r#"["object",{"a":["list","number"],"m":["map","bool"],"s":["set","dynamic"],"t":["tuple",["string",["object",{}]]],"z":"string"}]"#
        );
        assert_eq!(Type::from_json(text.as_bytes()).unwrap(), ty);
    }

    #[test]
    fn optional_attribute_list_is_ignored() {
        let ty = Type::from_json(br#"["object",{"b":"bool","a":"string"},["a"]]"#).unwrap();
        assert_eq!(ty, obj(&[("a", Type::String), ("b", Type::Bool)]));
    }

    #[test]
    fn malformed_type_json_is_rejected() {
        for bad in [
            &br#""strin""#[..],
            br#"["list"]"#,
            br#"["list","string","x"]"#,
            br#"["object",["a"]]"#,
            br#"["object",{},[1]]"#,
            br#"["tuple",{}]"#,
            br#"["frob","string"]"#,
            b"42",
            b"not json",
        ] {
            assert!(
                Type::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn deep_type_json_errors_instead_of_overflowing() {
        let deep = format!(
            "{}\"string\"{}",
            "[\"list\",".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(Type::from_json(deep.as_bytes()).is_err());
    }
}
