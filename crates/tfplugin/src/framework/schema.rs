//! Schemas as data: attributes, nested blocks, validators and plan behaviour.
//! The same values drive the wire schema, validation, planning and the generated docs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::diag::Diagnostics;
use super::path::AttributePath;
use super::value::{Type, Value};

/// A resource, data source or provider schema.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// State schema version; raw state of a lower version is upgraded.
    pub version: i64,
    /// The top-level block.
    pub block: Block,
    /// Rules across several attributes, checked at validate and plan time.
    pub config_validators: Vec<ConfigValidator>,
}

/// A block: attributes and nested blocks.
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// Markdown description, shown in generated docs.
    pub description: String,
    /// The attributes, in documentation order.
    pub attributes: Vec<Attribute>,
    /// Nested blocks.
    pub blocks: Vec<NestedBlock>,
    /// Why configuring this block is deprecated; Terraform and validation warn with it.
    pub deprecation: Option<String>,
    /// Filled in by the provider, not by configuration (protocol 6.11, Terraform 1.16). Planned
    /// "known after apply" only for a Terraform that announces `computed_blocks_allowed`; for an
    /// older one it stays as configured, empty.
    pub computed: bool,
}

/// How an attribute may be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Presence {
    /// Must be set in configuration.
    Required,
    /// May be set in configuration.
    Optional,
    /// Set by the provider only.
    Computed,
    /// May be set; the provider fills it in when unset.
    OptionalComputed,
}

/// One attribute.
#[derive(Clone, Debug)]
pub struct Attribute {
    /// Attribute name (`[a-z0-9_]+`).
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Markdown description.
    pub description: String,
    /// Required, optional, computed.
    pub presence: Presence,
    /// Redacted in Terraform's UI.
    pub sensitive: bool,
    /// Never stored in plan or state (Terraform 1.11+).
    pub write_only: bool,
    /// A change to this attribute replaces the resource.
    pub requires_replace: bool,
    /// On update, keep the prior value instead of planning "known after apply".
    pub use_state_for_unknown: bool,
    /// Checks on the value, run when it is known.
    pub validators: Vec<Validator>,
    /// Why configuring this attribute is deprecated; Terraform and validation warn with it.
    pub deprecation: Option<String>,
}

/// How a nested block repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Nesting {
    /// At most one; null when absent.
    Single,
    /// A list of blocks.
    List,
    /// A set of blocks.
    Set,
}

/// A nested block type.
#[derive(Clone, Debug)]
pub struct NestedBlock {
    /// Block type name.
    pub name: String,
    /// How it repeats.
    pub nesting: Nesting,
    /// Its contents.
    pub block: Block,
}

/// A check on a single known value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Validator {
    /// The string must be one of these (case-sensitive).
    OneOf(Vec<String>),
    /// The string must not be empty or blank.
    NotBlank,
    /// The string must be an absolute `https://` URL with a host.
    HttpsUrl,
    /// The string must be an absolute `http://` or `https://` URL with a host.
    HttpUrl,
    /// The string must be a Go-style duration such as `30s`, `5m` or `1h30m`.
    Duration,
    /// A Go-style duration of at least this long.
    DurationAtLeast(std::time::Duration),
    /// The number must be a whole number of at least this value.
    IntegerAtLeast(i64),
    /// The string must be a valid regular expression (RE2 syntax).
    Regex,
    /// The string is sent as an HTTP header value: no control character (a line break from
    /// `file()`), no space at either end. The value is never echoed, so it suits secrets.
    HeaderValue,
}

/// A rule across attributes of one block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConfigValidator {
    /// Exactly one of these attributes must be set.
    ExactlyOneOf(Vec<String>),
    /// When the first attribute is set, the second must be set too.
    RequiresWith(String, String),
}

/// The identity schema of a managed resource (Terraform 1.12+).
#[derive(Clone, Debug)]
pub struct IdentitySchema {
    /// Identity schema version.
    pub version: i64,
    /// The identity attributes.
    pub attributes: Vec<IdentityAttribute>,
}

/// One identity attribute.
#[derive(Clone, Debug)]
pub struct IdentityAttribute {
    /// Name.
    pub name: String,
    /// Primitive type.
    pub ty: Type,
    /// Description.
    pub description: String,
    /// Required in `import { identity = {...} }`.
    pub required_for_import: bool,
}

impl Attribute {
    fn new(name: &str, ty: Type, presence: Presence) -> Self {
        Attribute {
            name: name.to_owned(),
            ty,
            description: String::new(),
            presence,
            sensitive: false,
            write_only: false,
            requires_replace: false,
            use_state_for_unknown: false,
            validators: Vec::new(),
            deprecation: None,
        }
    }

    /// A string attribute.
    pub fn string(name: &str, presence: Presence) -> Self {
        Self::new(name, Type::String, presence)
    }

    /// A number attribute.
    pub fn number(name: &str, presence: Presence) -> Self {
        Self::new(name, Type::Number, presence)
    }

    /// A bool attribute.
    pub fn bool(name: &str, presence: Presence) -> Self {
        Self::new(name, Type::Bool, presence)
    }

    /// True when configuration may set it.
    pub fn is_configurable(&self) -> bool {
        self.presence != Presence::Computed
    }

    /// True when the provider may set it.
    pub fn is_computed(&self) -> bool {
        matches!(
            self.presence,
            Presence::Computed | Presence::OptionalComputed
        )
    }
}

impl Block {
    /// The object type of this block's value.
    pub fn implied_type(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self
            .attributes
            .iter()
            .map(|a| (a.name.to_owned(), a.ty.clone()))
            .collect();
        for b in &self.blocks {
            let inner = b.block.implied_type();
            let ty = match b.nesting {
                Nesting::Single => inner,
                Nesting::List => Type::List(Box::new(inner)),
                Nesting::Set => Type::Set(Box::new(inner)),
            };
            attrs.insert(b.name.to_owned(), ty);
        }
        Type::Object(attrs)
    }

    /// Looks an attribute up by name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Sets every write-only attribute (at any depth) to null.
    pub fn null_write_only(&self, value: &mut Value) {
        let Some(obj) = value.as_object_mut() else {
            return;
        };
        for a in self.attributes.iter().filter(|a| a.write_only) {
            obj.insert(a.name.to_owned(), Value::Null);
        }
        for b in &self.blocks {
            if let Some(v) = obj.get_mut(&b.name) {
                match v {
                    Value::List(items) | Value::Set(items) => {
                        items.iter_mut().for_each(|i| b.block.null_write_only(i))
                    }
                    other => b.block.null_write_only(other),
                }
            }
        }
    }

    /// The configuration that would produce `state`, as far as the state tells: every
    /// attribute only the provider sets (computed, not optional) and every write-only one
    /// null, at any depth; the rest as in `state`.
    pub fn config_from_state(&self, state: &Value) -> Value {
        let mut config = state.clone();
        let Some(obj) = config.as_object_mut() else {
            return config;
        };
        for a in &self.attributes {
            if a.presence == Presence::Computed || a.write_only {
                obj.insert(a.name.to_owned(), Value::Null);
            }
        }
        for b in &self.blocks {
            if let Some(v) = obj.get_mut(&b.name) {
                match v {
                    Value::List(items) | Value::Set(items) => items
                        .iter_mut()
                        .for_each(|i| *i = b.block.config_from_state(i)),
                    other => *other = b.block.config_from_state(other),
                }
            }
        }
        config
    }

    /// Names of the write-only attributes set (non-null) in `config`, at top level.
    pub fn write_only_set<'a>(&'a self, config: &'a Value) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |a| a.write_only && !config.attr(&a.name).is_null())
            .map(|a| a.name.as_str())
    }

    /// Runs attribute validators on every known value of `config`, recursively,
    /// and rejects known values for computed-only attributes and nulls for required
    /// ones (Terraform leaves those checks to providers).
    pub fn validate_values(&self, config: &Value, base: &AttributePath, diags: &mut Diagnostics) {
        for a in &self.attributes {
            let v = config.attr(&a.name);
            let path = base.clone().attr(&a.name);
            if a.presence == Presence::Computed && !v.is_null() && !v.is_unknown() {
                let detail = format!(
                    "Attribute {path} is set by the provider and cannot be configured. Remove `{} = ...` from this block.",
                    a.name
                );
                diags.attribute_error(path, "Read-Only Attribute Set in Configuration", detail);
                continue;
            }
            // Terraform itself stops a required attribute that is absent, but passes on
            // one written as `null` (as generated configuration does for values it lacks).
            if a.presence == Presence::Required && v.is_null() {
                let detail = format!(
                    "Attribute {path} is required, but the configuration sets it to null. Give `{}` a value.",
                    a.name
                );
                diags.attribute_error(path, "Missing Configuration for Required Attribute", detail);
                continue;
            }
            if let Some(why) = &a.deprecation
                && !v.is_null()
            {
                diags.attribute_warning(
                    path.clone(),
                    "Attribute Deprecated",
                    format!("Attribute {path} is deprecated: {why}"),
                );
            }
            for validator in &a.validators {
                validator.check(v, &path, diags);
            }
        }
        for b in &self.blocks {
            let v = config.attr(&b.name);
            let path = base.clone().attr(&b.name);
            if let Some(why) = &b.block.deprecation
                && !is_empty_block(v)
            {
                diags.attribute_warning(
                    path.clone(),
                    "Block Deprecated",
                    format!("Block {path} is deprecated: {why}"),
                );
            }
            match v {
                Value::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let mut p = path.clone();
                        p.steps.push(super::path::PathStep::ElementKeyInt(i as i64));
                        b.block.validate_values(item, &p, diags);
                    }
                }
                Value::Set(items) => {
                    for item in items {
                        b.block.validate_values(item, &path, diags);
                    }
                }
                Value::Object(_) => b.block.validate_values(v, &path, diags),
                _ => {}
            }
        }
    }
}

impl Schema {
    /// The object type of the whole configuration or state.
    pub fn implied_type(&self) -> Type {
        self.block.implied_type()
    }

    /// All validation that needs no API call: attribute validators and
    /// cross-attribute rules. Unknown values are skipped; they are checked
    /// again once known (the final plan).
    pub fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        if !matches!(config, Value::Object(_)) {
            return;
        }
        self.block
            .validate_values(config, &AttributePath::default(), diags);
        for rule in &self.config_validators {
            rule.check(config, diags);
        }
    }
}

/// Whether a block's configured value holds nothing: absent, unknown as a whole, or no items.
fn is_empty_block(v: &Value) -> bool {
    match v {
        Value::List(items) | Value::Set(items) => items.is_empty(),
        other => other.is_null() || other.is_unknown(),
    }
}

impl ConfigValidator {
    fn check(&self, config: &Value, diags: &mut Diagnostics) {
        match self {
            ConfigValidator::ExactlyOneOf(names) => {
                if names.iter().any(|n| config.attr(n).is_unknown()) {
                    return;
                }
                let set: Vec<&str> = names
                    .iter()
                    .map(String::as_str)
                    .filter(|n| !config.attr(n).is_null())
                    .collect();
                let list = names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                match set.len() {
                    1 => {}
                    0 => {
                        // Point where the configuration is heading: a write-only attribute
                        // whose `<name>_version` companion is set, else the first name.
                        let at = names
                            .iter()
                            .find(|n| {
                                let version = config.attr(&format!("{n}_version"));
                                !version.is_null() && !version.is_unknown()
                            })
                            .unwrap_or(&names[0]);
                        diags.attribute_error(
                            AttributePath::root(at),
                            "Missing Attribute Configuration",
                            format!(
                                "Exactly one of {list} must be set, and neither is. A value that is null, such as a variable given no value, counts as not set."
                            ),
                        );
                    }
                    _ => diags.attribute_error(
                        AttributePath::root(set[1]),
                        "Invalid Attribute Combination",
                        format!(
                            "Exactly one of {list} may be set, but {} are set. Keep one.",
                            set.iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(" and ")
                        ),
                    ),
                }
            }
            ConfigValidator::RequiresWith(first, second) => {
                let a = config.attr(first);
                let b = config.attr(second);
                // Point at the attribute that is set: Terraform can only show
                // the source line of an attribute present in the configuration.
                if !a.is_null() && !a.is_unknown() && b.is_null() {
                    diags.attribute_error(
                        AttributePath::root(first),
                        "Missing Attribute Configuration",
                        format!("`{second}` must be set when `{first}` is set."),
                    );
                }
            }
        }
    }

    /// Markdown sentence for generated docs.
    pub fn description(&self) -> String {
        match self {
            ConfigValidator::ExactlyOneOf(names) => format!(
                "Exactly one of {} must be set.",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ConfigValidator::RequiresWith(a, b) => {
                format!("`{b}` must be set when `{a}` is set.")
            }
        }
    }
}

impl Validator {
    /// [`Validator::OneOf`] these options.
    pub fn one_of(options: &[&str]) -> Validator {
        Validator::OneOf(options.iter().map(|o| (*o).to_owned()).collect())
    }

    /// Checks one value; null and unknown values always pass.
    pub fn check(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        match self {
            Validator::IntegerAtLeast(min) => {
                let Some(n) = value.as_number() else { return };
                match n.as_i64() {
                    Some(i) if i >= *min => {}
                    _ => diags.attribute_error(
                        path.clone(),
                        "Invalid Attribute Value",
                        format!(
                            "Attribute {path} must be a whole number of at least {min}, got: {n}"
                        ),
                    ),
                }
            }
            _ => {
                let Some(s) = value.as_str() else { return };
                if let Some(problem) = self.problem(s) {
                    let summary = match self {
                        Validator::OneOf(_) => "Invalid Attribute Value Match",
                        _ => "Invalid Attribute Value",
                    };
                    diags.attribute_error(
                        path.clone(),
                        summary,
                        format!("Attribute {path} {problem}"),
                    );
                }
            }
        }
    }

    /// What is wrong with `s`, completing "Attribute … "; `None` when it passes.
    pub fn problem(&self, s: &str) -> Option<String> {
        match self {
            Validator::OneOf(options) => (!options.iter().any(|o| o == s)).then(|| {
                format!(
                    "value must be one of: [{}], got: {s:?}",
                    options
                        .iter()
                        .map(|o| format!("{o:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
            Validator::NotBlank => s
                .trim()
                .is_empty()
                .then(|| "must not be empty or blank.".to_owned()),
            Validator::HttpsUrl => url_problem(s, &["https"]),
            Validator::HttpUrl => url_problem(s, &["http", "https"]),
            Validator::Duration => parse_duration(s).is_none().then(|| {
                format!("must be a duration such as \"30s\", \"5m\" or \"1h30m\", got: {s:?}")
            }),
            Validator::DurationAtLeast(min) => match parse_duration(s) {
                None => Validator::Duration.problem(s),
                Some(d) if d < *min => Some(format!(
                    "must be at least {}, got: {s:?}",
                    go_duration(*min)
                )),
                Some(_) => None,
            },
            Validator::IntegerAtLeast(_) => None,
            Validator::Regex => regex::Regex::new(s).err().map(|e| {
                // The parser's own message, without its repeat of the pattern.
                let why = match &e {
                    regex::Error::Syntax(text) => {
                        text.lines().rfind(|l| l.starts_with("error:")).map_or_else(
                            || text.clone(),
                            |l| l.trim_start_matches("error:").trim().to_owned(),
                        )
                    }
                    other => other.to_string(),
                };
                format!("must be a valid regular expression, got: {s:?} ({why})")
            }),
            Validator::HeaderValue => {
                let bad_char = s.chars().any(char::is_control);
                let padded = s.trim() != s;
                (bad_char || padded).then(|| {
                    "must not contain a line break or other control character, nor a space at either end: it is sent in an HTTP header. A value read with `file()` usually needs `trimspace(file(...))`.".to_owned()
                })
            }
        }
    }

    /// Markdown sentence for generated docs.
    pub fn description(&self) -> String {
        match self {
            Validator::OneOf(o) => format!(
                "Must be one of {}.",
                o.iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Validator::NotBlank => "Must not be empty.".to_owned(),
            Validator::HttpsUrl => "Must be an `https://` URL.".to_owned(),
            Validator::HttpUrl => "Must be an `http://` or `https://` URL.".to_owned(),
            Validator::Duration => "A duration such as `30s`, `5m` or `1h30m`.".to_owned(),
            Validator::DurationAtLeast(min) => format!(
                "A duration such as `30s`, `5m` or `1h30m`, of at least `{}`.",
                go_duration(*min)
            ),
            Validator::IntegerAtLeast(n) => format!("A whole number of at least {n}."),
            Validator::Regex => "Must be a valid regular expression.".to_owned(),
            Validator::HeaderValue => {
                "Must not contain a line break or other control character, nor a space at either end.".to_owned()
            }
        }
    }
}

fn url_problem(s: &str, schemes: &[&str]) -> Option<String> {
    let want = schemes
        .iter()
        .map(|s| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(" or ");
    match url::Url::parse(s) {
        Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some_and(|h| !h.is_empty()) => {
            None
        }
        Ok(_) => Some(format!("must be an absolute {want} URL, got: {s:?}")),
        // The parser's own words ("relative URL without a base") name its rule, not the fix.
        Err(url::ParseError::RelativeUrlWithoutBase) => Some(format!(
            "must be an absolute {want} URL, got: {s:?}, which has no scheme (write it as {:?})",
            format!(
                "{}://{s}",
                if schemes.contains(&"https") {
                    "https"
                } else {
                    schemes[0]
                }
            )
        )),
        Err(e) => Some(format!("must be an absolute {want} URL, got: {s:?} ({e})")),
    }
}

/// A whole number of hours, minutes, seconds or milliseconds as Go writes it (`1s`, `5m`,
/// `1h30m`, `250ms`).
fn go_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Parses a Go-style duration (`300ms`, `45s`, `5m`, `1h30m`, `2h`), as
/// Terraform users write in `timeouts` blocks.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    (total.is_finite() && total < 1e9).then(|| std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_below_its_minimum_is_rejected_with_the_minimum() {
        let v = Validator::DurationAtLeast(std::time::Duration::from_secs(1));
        for ok in ["1s", "1000ms", "1m", "1h30m"] {
            assert_eq!(v.problem(ok), None, "{ok}");
        }
        assert_eq!(
            v.problem("0s").as_deref(),
            Some("must be at least 1s, got: \"0s\"")
        );
        assert_eq!(
            v.problem("0").as_deref(),
            Some("must be at least 1s, got: \"0\"")
        );
        assert_eq!(
            v.problem("999ms").as_deref(),
            Some("must be at least 1s, got: \"999ms\"")
        );
        // A malformed value gets the format message, not the minimum.
        assert!(v.problem("-5m").unwrap().starts_with("must be a duration"));
        assert_eq!(
            v.description(),
            "A duration such as `30s`, `5m` or `1h30m`, of at least `1s`."
        );
        assert_eq!(go_duration(std::time::Duration::from_secs(5400)), "1h30m");
        assert_eq!(go_duration(std::time::Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(
            parse_duration("5m"),
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration("1h30m"),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("1.5s"),
            Some(std::time::Duration::from_millis(1500))
        );
        for bad in ["", "5", "m", "5x", "-1s", "1h 30m"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn one_of_reports_the_attribute_and_the_choices() {
        let mut d = Diagnostics::new();
        Validator::one_of(&["AWS", "GCP"]).check(
            &Value::string("AZURE"),
            &AttributePath::root("provider_type"),
            &mut d,
        );
        let diag = &d.0[0];
        assert_eq!(diag.summary, "Invalid Attribute Value Match");
        assert_eq!(diag.attribute, Some(AttributePath::root("provider_type")));
        // In HCL's own notation, as the user would write the list.
        assert!(
            diag.detail.contains("[\"AWS\", \"GCP\"]"),
            "{}",
            diag.detail
        );
    }

    #[test]
    fn unknown_and_null_values_pass_every_validator() {
        let mut d = Diagnostics::new();
        for v in [
            Validator::NotBlank,
            Validator::HttpsUrl,
            Validator::one_of(&["A"]),
            Validator::IntegerAtLeast(1),
        ] {
            v.check(&Value::unknown(), &AttributePath::root("x"), &mut d);
            v.check(&Value::Null, &AttributePath::root("x"), &mut d);
        }
        assert!(d.0.is_empty());
    }

    #[test]
    fn regex_says_what_is_wrong_with_the_pattern() {
        let mut d = Diagnostics::new();
        Validator::Regex.check(
            &Value::string("^prod-.*$"),
            &AttributePath::root("r"),
            &mut d,
        );
        assert!(d.0.is_empty());
        Validator::Regex.check(&Value::string("(prod"), &AttributePath::root("r"), &mut d);
        assert_eq!(d.0[0].attribute, Some(AttributePath::root("r")));
        assert_eq!(
            d.0[0].detail,
            "Attribute r must be a valid regular expression, got: \"(prod\" (unclosed group)"
        );
    }

    #[test]
    fn https_url_rejects_other_schemes_and_relative_urls() {
        for (s, ok) in [
            ("https://123.signin.aws.amazon.com/console", true),
            ("http://example.com", false),
            ("example.com/console", false),
            ("https://", false),
        ] {
            let mut d = Diagnostics::new();
            Validator::HttpsUrl.check(&Value::string(s), &AttributePath::root("u"), &mut d);
            assert_eq!(d.0.is_empty(), ok, "{s}");
        }
    }

    #[test]
    fn exactly_one_of_catches_both_and_neither_but_waits_for_unknowns() {
        let rule = ConfigValidator::ExactlyOneOf(vec!["a".into(), "a_wo".into()]);
        let obj = |a: Value, b: Value| {
            Value::Object(
                [("a".to_owned(), a), ("a_wo".to_owned(), b)]
                    .into_iter()
                    .collect(),
            )
        };
        let mut d = Diagnostics::new();
        rule.check(&obj(Value::string("x"), Value::Null), &mut d);
        assert!(d.0.is_empty());
        rule.check(&obj(Value::unknown(), Value::Null), &mut d);
        assert!(d.0.is_empty());
        rule.check(&obj(Value::string("x"), Value::string("y")), &mut d);
        assert_eq!(d.0[0].summary, "Invalid Attribute Combination");
        assert_eq!(d.0[0].attribute, Some(AttributePath::root("a_wo")));
        rule.check(&obj(Value::Null, Value::Null), &mut d);
        assert_eq!(d.0[1].summary, "Missing Attribute Configuration");
        assert_eq!(d.0[1].attribute, Some(AttributePath::root("a")));
        // Neither set, but the write-only form's version is: that is where the user is heading.
        let mut heading = obj(Value::Null, Value::Null);
        if let Value::Object(m) = &mut heading {
            m.insert("a_wo_version".to_owned(), Value::Number(1i64.into()));
        }
        rule.check(&heading, &mut d);
        assert_eq!(d.0[2].attribute, Some(AttributePath::root("a_wo")));
        assert!(
            d.0[2].detail.contains("counts as not set"),
            "{}",
            d.0[2].detail
        );
    }

    #[test]
    fn requires_with_points_at_the_attribute_that_is_set() {
        let rule = ConfigValidator::RequiresWith("s_wo".into(), "s_wo_version".into());
        let obj = |a: Value, b: Value| {
            Value::Object(
                [("s_wo".to_owned(), a), ("s_wo_version".to_owned(), b)]
                    .into_iter()
                    .collect(),
            )
        };
        let mut d = Diagnostics::new();
        rule.check(&obj(Value::string("x"), Value::Number(1i64.into())), &mut d);
        rule.check(&obj(Value::Null, Value::Null), &mut d);
        rule.check(&obj(Value::unknown(), Value::Null), &mut d);
        assert!(d.0.is_empty());
        rule.check(&obj(Value::string("x"), Value::Null), &mut d);
        assert_eq!(d.0[0].attribute, Some(AttributePath::root("s_wo")));
        assert!(
            d.0[0].detail.contains("`s_wo_version`"),
            "{}",
            d.0[0].detail
        );
    }

    #[test]
    fn config_from_state_drops_what_only_the_provider_sets() {
        let block = Block {
            description: String::new(),
            attributes: vec![
                Attribute::string("id", Presence::Computed),
                Attribute::string("name", Presence::Required),
                Attribute::string("region", Presence::OptionalComputed),
                Attribute {
                    write_only: true,
                    ..Attribute::string("secret_wo", Presence::Optional)
                },
            ],
            blocks: vec![NestedBlock {
                name: "inner".to_owned(),
                nesting: Nesting::List,
                block: Block {
                    description: String::new(),
                    attributes: vec![
                        Attribute::string("arn", Presence::Computed),
                        Attribute::string("tag", Presence::Optional),
                    ],
                    blocks: vec![],
                    ..Block::default()
                },
            }],
            ..Block::default()
        };
        let obj = |pairs: &[(&str, Value)]| {
            Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            )
        };
        let state = obj(&[
            ("id", Value::string("7")),
            ("name", Value::string("n")),
            ("region", Value::string("eu")),
            ("secret_wo", Value::string("leak")),
            (
                "inner",
                Value::List(vec![obj(&[
                    ("arn", Value::string("arn:x")),
                    ("tag", Value::string("t")),
                ])]),
            ),
        ]);
        let config = block.config_from_state(&state);
        assert_eq!(
            config,
            obj(&[
                ("id", Value::Null),
                ("name", Value::string("n")),
                ("region", Value::string("eu")),
                ("secret_wo", Value::Null),
                (
                    "inner",
                    Value::List(vec![obj(&[
                        ("arn", Value::Null),
                        ("tag", Value::string("t"))
                    ])])
                ),
            ])
        );
        assert_eq!(block.config_from_state(&Value::Null), Value::Null);
    }

    #[test]
    fn computed_only_attributes_cannot_be_configured() {
        let block = Block {
            description: String::new(),
            attributes: vec![
                Attribute::string("id", Presence::Computed),
                Attribute::string("name", Presence::Optional),
            ],
            blocks: vec![],
            ..Block::default()
        };
        let config = |id: Value| {
            Value::Object(
                [
                    ("id".to_owned(), id),
                    ("name".to_owned(), Value::string("n")),
                ]
                .into_iter()
                .collect(),
            )
        };
        // Unknown values wait until they are known, like every other check.
        for id in [Value::Null, Value::unknown()] {
            let mut d = Diagnostics::new();
            block.validate_values(&config(id), &AttributePath::default(), &mut d);
            assert!(d.0.is_empty());
        }
        let mut d = Diagnostics::new();
        block.validate_values(
            &config(Value::string("42")),
            &AttributePath::default(),
            &mut d,
        );
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].summary, "Read-Only Attribute Set in Configuration");
        assert_eq!(d.0[0].attribute, Some(AttributePath::root("id")));
    }
}
