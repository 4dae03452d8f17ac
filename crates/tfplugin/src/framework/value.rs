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
        // Canonical text, so equal numbers compare equal whatever their spelling.
        Number::from_decimal(text.trim())
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

/// Shows a value's shape but none of its contents: what the framework's requests print for the
/// configuration, plan and state they carry, which hold secrets (`access_secret_key`, the
/// provider's `secret_key`) as plain strings. [`Value`]'s own `Debug` prints everything, for
/// tests; a request printed in a log line must not.
pub struct Withheld<'a>(pub &'a Value);

impl fmt::Debug for Withheld<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("null"),
            Value::Unknown(_) => f.write_str("unknown"),
            Value::Object(attrs) => {
                let set: Vec<&str> = attrs
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, _)| k.as_str())
                    .collect();
                write!(f, "object (set: {}; values withheld)", set.join(", "))
            }
            _ => f.write_str("(value withheld)"),
        }
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

/// Canonical decimal text and exact `f64` conversion, used by the wire codecs.
///
/// The canonical text is what Terraform itself writes for a number (Go's
/// `big.Float.Text('f', -1)`): plain notation, no `+`, no leading or trailing
/// zeros, `0` for every zero, `+Inf`/`-Inf` for the infinities. Numbers decoded
/// from the wire are always canonical, so textual equality is value equality.
impl Number {
    /// Past this many characters the canonical text uses an exponent instead,
    /// so a forged `1e999999999` cannot make us allocate a gigabyte of zeros.
    /// Every finite `f64` fits in plain form below this bound (at most ~1080).
    const MAX_PLAIN_LEN: i64 = 1200;

    /// Parses decimal text (`-12`, `1.50`, `1e3`, `.5`, `+Inf`) into its
    /// canonical form; `None` when it is not a number.
    pub fn from_decimal(text: &str) -> Option<Number> {
        let t = text.trim();
        let (neg, body) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
            let inf = if neg { "-Inf" } else { "+Inf" };
            return Some(Number(inf.to_owned()));
        }
        let (mantissa, exp_text) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !all_digits(int_part)
            || !all_digits(frac_part)
        {
            return None;
        }
        let exp = match exp_text {
            None => 0,
            Some(e) => Self::parse_exponent(e)?,
        };
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        let significant = digits.trim_end_matches('0');
        if significant.is_empty() {
            return Some(Number("0".to_owned()));
        }
        // value = significant × 10^point
        let point = exp - i64::try_from(frac_part.len()).ok()?
            + i64::try_from(digits.len() - significant.len()).ok()?;
        Some(Number(Self::render(neg, significant, point)))
    }

    /// Exponent digits, saturated far beyond any plain rendering so that
    /// arithmetic on it cannot overflow.
    fn parse_exponent(text: &str) -> Option<i64> {
        const CAP: i64 = 1_000_000_000_000_000;
        let (neg, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let magnitude = digits
            .bytes()
            .fold(0i64, |acc, b| (acc * 10 + i64::from(b - b'0')).min(CAP));
        Some(if neg { -magnitude } else { magnitude })
    }

    /// Renders `significant × 10^point` (digits without leading or trailing zeros).
    fn render(neg: bool, significant: &str, point: i64) -> String {
        let n = significant.len() as i64;
        let plain_len = if point >= 0 {
            n + point
        } else {
            n.max(-point) + 2
        };
        let mut out = String::with_capacity(plain_len.clamp(0, Self::MAX_PLAIN_LEN) as usize + 2);
        if neg {
            out.push('-');
        }
        if plain_len > Self::MAX_PLAIN_LEN {
            let (first, rest) = significant.split_at(1);
            out.push_str(first);
            if !rest.is_empty() {
                out.push('.');
                out.push_str(rest);
            }
            out.push('e');
            out.push_str(&(point + n - 1).to_string());
        } else if point >= 0 {
            out.push_str(significant);
            out.extend(std::iter::repeat_n('0', point as usize));
        } else {
            let frac = (-point) as usize;
            if frac >= significant.len() {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', frac - significant.len()));
                out.push_str(significant);
            } else {
                let (int, fraction) = significant.split_at(significant.len() - frac);
                out.push_str(int);
                out.push('.');
                out.push_str(fraction);
            }
        }
        out
    }

    /// The exact value of `v` (every finite `f64` is a finite decimal), or
    /// ±infinity; `None` for NaN. Exact rather than shortest, so that a float
    /// Terraform sends comes back as the very same float.
    pub fn from_f64(v: f64) -> Option<Number> {
        if v.is_nan() {
            return None;
        }
        if v.is_infinite() {
            let inf = if v > 0.0 { "+Inf" } else { "-Inf" };
            return Some(Number(inf.to_owned()));
        }
        if v == 0.0 {
            return Some(Number("0".to_owned()));
        }
        // v = m × 2^e with m odd has exactly max(0, -e) fractional decimal digits,
        // and Rust's fixed-precision formatting is exact.
        let bits = v.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1u64 << 52) - 1);
        let (m, e) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1u64 << 52), biased - 1075)
        };
        let e = e + i64::from(m.trailing_zeros());
        let text = if e >= 0 {
            format!("{v:.0}")
        } else {
            format!("{v:.prec$}", prec = (-e) as usize)
        };
        Self::from_decimal(&text)
    }

    /// This number in canonical form (`Number::parse` keeps the text as written).
    pub fn canonical(&self) -> Number {
        Self::from_decimal(&self.0).unwrap_or_else(|| self.clone())
    }

    /// The `f64` equal to this number, if one exists exactly (±infinity included).
    pub fn to_exact_f64(&self) -> Option<f64> {
        let canon = self.canonical();
        match canon.0.as_str() {
            "+Inf" => return Some(f64::INFINITY),
            "-Inf" => return Some(f64::NEG_INFINITY),
            text if text.contains('e') => return None,
            _ => {}
        }
        let v: f64 = canon.0.parse().ok()?;
        if !v.is_finite() {
            return None;
        }
        (Self::from_f64(v)? == canon).then_some(v)
    }

    /// True for `+Inf` and `-Inf`.
    pub fn is_infinite(&self) -> bool {
        matches!(self.canonical().0.as_str(), "+Inf" | "-Inf")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::data_source::DataSourceReadRequest;
    use crate::framework::list_resource::{ListItem, ListRequest};
    use crate::framework::provider::ConfigureRequest;
    use crate::framework::resource::{
        Checkpoint, CreateRequest, DeleteRequest, IgnoredAny, ImportRequest, PlanRequest,
        ReadOutcome, ReadRequest, UpdateRequest,
    };
    use tokio_util::sync::CancellationToken;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY";

    /// What a resource would see: a secret among other attributes.
    fn with_secret() -> Value {
        Value::Object(BTreeMap::from([
            ("name".to_owned(), Value::string("prod")),
            ("access_secret_key".to_owned(), Value::string(SECRET)),
            ("console_password_wo".to_owned(), Value::Null),
        ]))
    }

    #[test]
    fn requests_print_no_value_they_carry() {
        let v = with_secret();
        let stop = CancellationToken::new;
        let checkpoint = Checkpoint::default();
        let mut private = crate::framework::private::PrivateState::default();
        private.set("created_at_ms", &1u64);
        checkpoint.save(&v, &private);
        let mut p = (private.clone(), private.clone(), private.clone());
        let printed = [
            format!(
                "{:?}",
                CreateRequest {
                    config: &v,
                    config_model: &IgnoredAny,
                    planned: &v,
                    private: &mut p.0,
                    planned_private: &private,
                    stop: stop(),
                    checkpoint: checkpoint.clone()
                }
            ),
            format!(
                "{:?}",
                UpdateRequest {
                    prior: &v,
                    config: &v,
                    planned: &v,
                    prior_model: &IgnoredAny,
                    config_model: &IgnoredAny,
                    planned_model: &IgnoredAny,
                    private: &mut p.1,
                    stop: stop()
                }
            ),
            format!(
                "{:?}",
                DeleteRequest {
                    prior: &v,
                    prior_model: &IgnoredAny,
                    private: &private,
                    stop: stop()
                }
            ),
            format!(
                "{:?}",
                ReadRequest {
                    current: &v,
                    current_model: &IgnoredAny,
                    private: &mut p.2,
                    stop: stop()
                }
            ),
            format!(
                "{:?}",
                PlanRequest {
                    prior: &v,
                    config: &v
                }
            ),
            format!(
                "{:?}",
                ImportRequest {
                    id: "42",
                    identity: Some(&v),
                    stop: stop()
                }
            ),
            format!("{:?}", ReadOutcome::Found(v.clone())),
            format!(
                "{:?}",
                crate::framework::plan::Plan {
                    planned: v.clone(),
                    requires_replace: Vec::new()
                }
            ),
            format!("{checkpoint:?}"),
            format!(
                "{:?}",
                ConfigureRequest {
                    config: &v,
                    terraform_version: "1.15.5",
                    stop: stop()
                }
            ),
            format!(
                "{:?}",
                DataSourceReadRequest {
                    config: &v,
                    stop: stop()
                }
            ),
            format!(
                "{:?}",
                ListRequest {
                    config: &v,
                    include_resource: true,
                    limit: 1,
                    stop: stop()
                }
            ),
            format!(
                "{:?}",
                ListItem {
                    identity: Value::Null,
                    display_name: "a name for humans".to_owned(),
                    resource: Some(v.clone())
                }
            ),
        ];
        for p in &printed {
            assert!(!p.contains(SECRET), "a secret was printed: {p}");
            assert!(!p.contains("prod\""), "a value was printed: {p}");
        }
        // What is set is still there to see, and the write-only attribute is not among it.
        assert!(
            printed[0].contains("object (set: access_secret_key, name; values withheld)"),
            "{}",
            printed[0]
        );
        // A value's own Debug prints everything: it is for tests, and no log line uses it.
        assert!(format!("{v:?}").contains(SECRET));
    }
}
