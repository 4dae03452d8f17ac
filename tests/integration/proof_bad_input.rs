//! Proof against bad input: malformed resource configurations, provider blocks and import IDs each
//! get a diagnostic that points at the offending attribute (or resource) at validate or plan time,
//! and the emulator sees no write at all.
//!
//! Cases are batched: every bad resource of the table sits in one configuration under its own label,
//! so one `terraform validate` (and one `plan`) reports them all; each case then finds its own
//! diagnostic by the resource named in Terraform's `with ...` / `in resource ...` context.

use serde_json::json;

use super::proof_faults::{account_block, squash, workdir_for};
use super::support::{Emulator, TfOutput};

/// One malformed resource: how it differs from a valid block, and what its diagnostic must say.
struct Bad {
    label: &'static str,
    /// `(attribute, replacement)`: the attribute's value as raw HCL, or `None` to remove the line.
    set: &'static [(&'static str, Option<&'static str>)],
    /// Extra lines inside the block.
    extra: &'static str,
    /// Every phrase must be in this resource's diagnostic.
    phrases: &'static [&'static str],
    /// The diagnostic comes from the provider with an attribute path: Terraform prints `with <address>,`.
    provider_scoped: bool,
}

const fn core(
    label: &'static str,
    set: &'static [(&'static str, Option<&'static str>)],
    extra: &'static str,
    phrases: &'static [&'static str],
) -> Bad {
    Bad {
        label,
        set,
        extra,
        phrases,
        provider_scoped: false,
    }
}

const fn ours(
    label: &'static str,
    set: &'static [(&'static str, Option<&'static str>)],
    extra: &'static str,
    phrases: &'static [&'static str],
) -> Bad {
    Bad {
        label,
        set,
        extra,
        phrases,
        provider_scoped: true,
    }
}

const WO_ACCESS: &str =
    "  access_secret_key_wo = \"wo-secret\"\n  access_secret_key_wo_version = 1\n";
const WO_CONSOLE: &str =
    "  console_password_wo = \"wo-password\"\n  console_password_wo_version = 1\n";

const RESOURCE_CASES: &[Bad] = &[
    // Wrong types (values Terraform cannot convert to the attribute's type).
    core(
        "type_name_list",
        &[("name", Some("[\"a\", \"b\"]"))],
        "",
        &[
            "Incorrect attribute value type",
            "Inappropriate value for attribute \"name\": string required",
        ],
    ),
    core(
        "type_provider_type_object",
        &[("provider_type", Some("{ cloud = \"AWS\" }"))],
        "",
        &[
            "Incorrect attribute value type",
            "attribute \"provider_type\": string required",
        ],
    ),
    core(
        "type_access_key_id_list",
        &[("access_key_id", Some("[\"AKIA\"]"))],
        "",
        &[
            "Incorrect attribute value type",
            "attribute \"access_key_id\": string required",
        ],
    ),
    core(
        "type_console_password_object",
        &[("console_password", Some("{ value = \"x\" }"))],
        "",
        &[
            "Incorrect attribute value type",
            "attribute \"console_password\": string required",
        ],
    ),
    core(
        "type_wo_version_string",
        &[("access_secret_key", None)],
        "  access_secret_key_wo = \"wo-secret\"\n  access_secret_key_wo_version = \"one\"\n",
        &[
            "Incorrect attribute value type",
            "attribute \"access_secret_key_wo_version\": a number is required",
        ],
    ),
    core(
        "type_timeouts_as_attribute",
        &[],
        "  timeouts = \"10m\"\n",
        &[
            "Unsupported argument",
            "An argument named \"timeouts\" is not expected here",
        ],
    ),
    // Empty and blank strings.
    ours(
        "empty_name",
        &[("name", Some("\"\""))],
        "",
        &[
            "Invalid Attribute Value",
            "Attribute name must not be empty or blank",
        ],
    ),
    ours(
        "blank_name",
        &[("name", Some("\"   \""))],
        "",
        &[
            "Invalid Attribute Value",
            "Attribute name must not be empty or blank",
        ],
    ),
    ours(
        "empty_access_key_id",
        &[("access_key_id", Some("\"\""))],
        "",
        &["Attribute access_key_id must not be empty or blank"],
    ),
    ours(
        "empty_console_username",
        &[("console_username", Some("\"\""))],
        "",
        &["Attribute console_username must not be empty or blank"],
    ),
    ours(
        "empty_access_secret_key",
        &[("access_secret_key", Some("\"\""))],
        "",
        &["Attribute access_secret_key must not be empty or blank"],
    ),
    ours(
        "empty_console_password",
        &[("console_password", Some("\"\""))],
        "",
        &["Attribute console_password must not be empty or blank"],
    ),
    // Bad enums.
    ours(
        "enum_unknown_cloud",
        &[("provider_type", Some("\"AZURE\""))],
        "",
        &[
            "Invalid Attribute Value Match",
            "Attribute provider_type value must be one of: [\"AWS\", \"GCP\"], got: \"AZURE\"",
        ],
    ),
    ours(
        "enum_lowercase",
        &[("provider_type", Some("\"aws\""))],
        "",
        &["Invalid Attribute Value Match", "got: \"aws\""],
    ),
    ours(
        "enum_empty",
        &[("provider_type", Some("\"\""))],
        "",
        &["Invalid Attribute Value Match", "got: \"\""],
    ),
    // Bad URLs.
    ours(
        "url_not_a_url",
        &[("sign_in_login_url", Some("\"not a url\""))],
        "",
        &["Attribute sign_in_login_url must be an absolute https:// URL"],
    ),
    ours(
        "url_plain_http",
        &[(
            "sign_in_login_url",
            Some("\"http://123456789012.signin.aws.amazon.com/console\""),
        )],
        "",
        &["Attribute sign_in_login_url must be an absolute https:// URL"],
    ),
    ours(
        "url_without_host",
        &[("sign_in_login_url", Some("\"https://\""))],
        "",
        &["Attribute sign_in_login_url must be an absolute https:// URL"],
    ),
    ours(
        "url_empty",
        &[("sign_in_login_url", Some("\"\""))],
        "",
        &["Attribute sign_in_login_url must be an absolute https:// URL"],
    ),
    // Plain and write-only forms of a secret: both, neither, and half of a write-only pair.
    ours(
        "secret_both_forms",
        &[],
        WO_ACCESS,
        &[
            "Invalid Attribute Combination",
            "Exactly one of `access_secret_key` or `access_secret_key_wo` may be set",
        ],
    ),
    ours(
        "secret_neither_form",
        &[("access_secret_key", None)],
        "",
        &[
            "Missing Attribute Configuration",
            "Exactly one of `access_secret_key` or `access_secret_key_wo` must be set",
        ],
    ),
    ours(
        "password_both_forms",
        &[],
        WO_CONSOLE,
        &[
            "Invalid Attribute Combination",
            "Exactly one of `console_password` or `console_password_wo` may be set",
        ],
    ),
    ours(
        "password_neither_form",
        &[("console_password", None)],
        "",
        &[
            "Missing Attribute Configuration",
            "Exactly one of `console_password` or `console_password_wo` must be set",
        ],
    ),
    ours(
        "secret_wo_without_version",
        &[("access_secret_key", None)],
        "  access_secret_key_wo = \"wo-secret\"\n",
        &["`access_secret_key_wo_version` must be set when `access_secret_key_wo` is set"],
    ),
    ours(
        "secret_version_without_wo",
        &[],
        "  access_secret_key_wo_version = 1\n",
        &["`access_secret_key_wo` must be set when `access_secret_key_wo_version` is set"],
    ),
    ours(
        "password_wo_without_version",
        &[("console_password", None)],
        "  console_password_wo = \"wo-password\"\n",
        &["`console_password_wo_version` must be set when `console_password_wo` is set"],
    ),
    ours(
        "password_version_without_wo",
        &[],
        "  console_password_wo_version = 2\n",
        &["`console_password_wo` must be set when `console_password_wo_version` is set"],
    ),
    ours(
        "wo_version_negative",
        &[("access_secret_key", None)],
        "  access_secret_key_wo = \"wo-secret\"\n  access_secret_key_wo_version = -1\n",
        &["Attribute access_secret_key_wo_version must be a whole number of at least 0, got: -1"],
    ),
    ours(
        "wo_version_fraction",
        &[("console_password", None)],
        "  console_password_wo = \"wo-password\"\n  console_password_wo_version = 1.5\n",
        &["Attribute console_password_wo_version must be a whole number of at least 0, got: 1.5"],
    ),
    // Unknown and read-only attributes, required ones missing.
    core(
        "unknown_attribute",
        &[],
        "  region = \"us-east-1\"\n",
        &[
            "Unsupported argument",
            "An argument named \"region\" is not expected here",
        ],
    ),
    core(
        "unknown_timeouts_attribute",
        &[],
        "  timeouts {\n    forever = \"1m\"\n  }\n",
        &[
            "Unsupported argument",
            "An argument named \"forever\" is not expected here",
        ],
    ),
    core(
        "missing_name",
        &[("name", None)],
        "",
        &[
            "Missing required argument",
            "The argument \"name\" is required",
        ],
    ),
    ours(
        "read_only_id",
        &[],
        "  id = \"42\"\n",
        &[
            "Read-Only Attribute Set in Configuration",
            "Attribute id is set by the provider and cannot be configured",
        ],
    ),
    ours(
        "read_only_status",
        &[],
        "  status = \"active\"\n",
        &[
            "Read-Only Attribute Set in Configuration",
            "Attribute status is set by the provider",
        ],
    ),
    core(
        "two_timeouts_blocks",
        &[],
        "  timeouts {\n    create = \"1m\"\n  }\n  timeouts {\n    delete = \"1m\"\n  }\n",
        &[
            "Duplicate timeouts block",
            "Only one block of type \"timeouts\" is allowed",
        ],
    ),
    // Bad timeouts.
    ours(
        "timeout_words",
        &[],
        "  timeouts {\n    create = \"ten minutes\"\n  }\n",
        &[
            "Invalid Attribute Value",
            "timeouts.create must be a duration such as \"30s\"",
            "got: \"ten minutes\"",
        ],
    ),
    ours(
        "timeout_empty",
        &[],
        "  timeouts {\n    delete = \"\"\n  }\n",
        &[
            "Invalid Attribute Value",
            "timeouts.delete must be a duration",
        ],
    ),
    ours(
        "timeout_negative",
        &[],
        "  timeouts {\n    read = \"-5m\"\n  }\n",
        &["timeouts.read must be a duration", "got: \"-5m\""],
    ),
    ours(
        "timeout_unitless",
        &[],
        "  timeouts {\n    update = \"600\"\n  }\n",
        &["timeouts.update must be a duration", "got: \"600\""],
    ),
    // A timeout that is certain to run out before anything is done.
    ours(
        "timeout_zero",
        &[],
        "  timeouts {\n    create = \"0s\"\n  }\n",
        &[
            "Invalid Attribute Value",
            "timeouts.create must be at least 1s",
            "got: \"0s\"",
        ],
    ),
    ours(
        "timeout_bare_zero",
        &[],
        "  timeouts {\n    delete = \"0\"\n  }\n",
        &["timeouts.delete must be at least 1s", "got: \"0\""],
    ),
    ours(
        "timeout_below_a_second",
        &[],
        "  timeouts {\n    read = \"500ms\"\n  }\n",
        &["timeouts.read must be at least 1s", "got: \"500ms\""],
    ),
];

/// The valid block for `case.label`, with the case's changes applied.
fn bad_block(case: &Bad) -> String {
    let valid = account_block(
        case.label,
        &format!("bad-{}", case.label),
        &format!("AKIA-{}", case.label),
        case.extra,
    );
    valid
        .lines()
        .filter_map(|line| {
            let attr = line.split('=').next().unwrap_or_default().trim();
            match case.set.iter().find(|(name, _)| *name == attr) {
                None => Some(line.to_owned()),
                Some((_, None)) => None,
                Some((name, Some(value))) => Some(format!("  {name} = {value}")),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Terraform's error diagnostics, one whitespace-squashed string per `Error:`.
fn diagnostics(output: &TfOutput) -> Vec<String> {
    let text = squash(&output.combined());
    text.split("Error: ").skip(1).map(str::to_owned).collect()
}

/// Asserts that `diag_for(case)` finds one diagnostic with the case's phrases, naming its resource.
#[track_caller]
fn assert_each_case(output: &TfOutput, cases: &[Bad]) {
    assert!(!output.success(), "expected a failure:\n{output}");
    let diags = diagnostics(output);
    let mut failures = Vec::new();
    for case in cases {
        let address = format!("rediscloud_cloud_account.{}", case.label);
        let in_resource = format!(
            "in resource \"rediscloud_cloud_account\" \"{}\"",
            case.label
        );
        let mine: Vec<&String> = diags
            .iter()
            .filter(|d| d.contains(&format!("{in_resource}:")))
            .collect();
        let found = mine.iter().any(|d| {
            case.phrases.iter().all(|p| d.contains(&squash(p)))
                && (!case.provider_scoped || d.contains(&format!("with {address},")))
        });
        if !found {
            failures.push(format!(
                "{}: no diagnostic with {:?} (provider-scoped: {}); its diagnostics: {mine:#?}",
                case.label, case.phrases, case.provider_scoped
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n--- output ---\n{output}",
        failures.join("\n")
    );
}

#[test]
fn malformed_resources_are_rejected_at_validate_and_plan_with_zero_writes() {
    assert!(
        RESOURCE_CASES.len() >= 30,
        "the matrix must stay at least 30 cases wide"
    );
    let emulator = Emulator::start(&[]);
    let workdir = workdir_for("proof_bad_resources", &emulator);
    let config: String = RESOURCE_CASES.iter().map(bad_block).collect();
    workdir.write_config(&config);

    let validate = workdir.validate();
    assert_each_case(&validate, RESOURCE_CASES);
    let plan = workdir.plan();
    assert_each_case(&plan, RESOURCE_CASES);
    assert_eq!(
        emulator.writes_count(),
        0,
        "a malformed configuration reached the API"
    );
    assert!(
        emulator.requests().is_empty(),
        "validation needs no API call: {:?}",
        emulator.requests()
    );

    // The checker itself: a valid block in the same position yields no diagnostic.
    workdir.write_config(&account_block("fine", "bad-fine", "AKIA-fine", ""));
    workdir.validate().assert_success();
}

/// Malformed provider blocks: `(bad line, phrases)`. Each runs as its own configuration.
const PROVIDER_CASES: &[(&str, &[&str])] = &[
    (
        "url = \"not-a-url\"",
        &[
            "Invalid Attribute Value",
            "Attribute url must be an absolute http:// or https:// URL",
            "got: \"not-a-url\"",
        ],
    ),
    (
        "url = \"ftp://example.com/v1\"",
        &["Attribute url must be an absolute http:// or https:// URL"],
    ),
    (
        "url = \"\"",
        &["Attribute url must be an absolute http:// or https:// URL"],
    ),
    (
        "api_key = \"\"",
        &[
            "Invalid Attribute Value",
            "Attribute api_key must not be empty or blank",
        ],
    ),
    (
        "secret_key = \"   \"",
        &["Attribute secret_key must not be empty or blank"],
    ),
    (
        "api_key = \"key-from-a-file\\n\"",
        &[
            "Invalid Attribute Value",
            "Attribute api_key must not contain a line break or other control character",
            "trimspace(file(...))",
        ],
    ),
    (
        "secret_key = \" padded\"",
        &[
            "Attribute secret_key must not contain a line break or other control character, nor a space at either end",
        ],
    ),
    (
        "api_key = [\"k\"]",
        &[
            "Incorrect attribute value type",
            "attribute \"api_key\": string required",
        ],
    ),
    (
        "region = \"us-east-1\"",
        &[
            "Unsupported argument",
            "An argument named \"region\" is not expected here",
        ],
    ),
];

#[test]
fn malformed_provider_blocks_are_rejected_with_zero_writes() {
    let emulator = Emulator::start(&[]);
    let workdir = workdir_for("proof_bad_provider", &emulator);
    let resource = account_block("test", "bad-provider", "AKIA-provider", "");
    for (line, phrases) in PROVIDER_CASES {
        workdir.write_config(&format!(
            "provider \"rediscloud\" {{\n  {line}\n}}\n{resource}"
        ));
        let plan = workdir.plan();
        assert!(!plan.success(), "`{line}` was accepted:\n{plan}");
        let diags = diagnostics(&plan);
        // Scoped to the provider block and its offending line.
        let hit = diags.iter().any(|d| {
            d.contains("in provider \"rediscloud\":")
                && d.contains(&squash(line))
                && phrases.iter().all(|p| d.contains(&squash(p)))
        });
        assert!(
            hit,
            "`{line}`: no provider-scoped diagnostic with {phrases:?}:\n{plan}"
        );
    }
    assert_eq!(
        emulator.writes_count(),
        0,
        "a malformed provider block reached the API"
    );
}

/// Import IDs that are not a manageable cloud account ID, and what the diagnostic says about each.
const IMPORT_CASES: &[(&str, &str)] = &[
    (
        "abc",
        "must be a positive whole number such as \"12345\", got: \"abc\"",
    ),
    ("-5", "got: \"-5\""),
    ("0", "got: \"0\""),
    ("1", "Cloud account 1 is Redis Cloud's internal account"),
    ("1.5", "got: \"1.5\""),
    ("12abc", "got: \"12abc\""),
    ("99999999999999999999", "got: \"99999999999999999999\""),
    ("0x1F", "got: \"0x1F\""),
];

#[test]
fn bad_import_ids_are_rejected_with_zero_writes() {
    let emulator = Emulator::start(&[]);
    let workdir = workdir_for("proof_bad_import", &emulator);

    // `import` blocks: one plan reports every case, each under its own resource.
    let mut config = String::new();
    for (i, (id, _)) in IMPORT_CASES.iter().enumerate() {
        let label = format!("import_{i}");
        config.push_str(&format!(
            "import {{\n  to = rediscloud_cloud_account.{label}\n  id = {}\n}}\n",
            json!(id)
        ));
        config.push_str(&account_block(
            &label,
            &format!("bad-import-{i}"),
            &format!("AKIA-import-{i}"),
            "",
        ));
    }
    workdir.write_config(&config);
    let plan = workdir.plan();
    assert!(!plan.success(), "bad import IDs were accepted:\n{plan}");
    // Terraform attaches no block context to import diagnostics, so each names the ID it rejects.
    let diags = diagnostics(&plan);
    for (id, phrase) in IMPORT_CASES {
        let hit = diags
            .iter()
            .any(|d| d.starts_with("Invalid Import ID") && d.contains(&squash(phrase)));
        assert!(
            hit,
            "import ID {id:?}: no `Invalid Import ID` with {phrase:?}:\n{plan}"
        );
    }

    // `terraform import` on the command line, for the classic cases.
    workdir.write_config(&account_block("test", "bad-import", "AKIA-import", ""));
    for (id, phrase) in IMPORT_CASES
        .iter()
        .filter(|(id, _)| ["abc", "-5", "0", "1"].contains(id))
    {
        let import = workdir.import("rediscloud_cloud_account.test", id);
        assert!(
            !import.success(),
            "import ID {id:?} was accepted:\n{import}"
        );
        let text = squash(&import.combined());
        assert!(
            text.contains("Error: Invalid Import ID") && text.contains(&squash(phrase)),
            "import ID {id:?}:\n{import}"
        );
        assert!(
            workdir
                .state_file()
                .is_none_or(|s| !s.contains("\"rediscloud_cloud_account\"")),
            "a rejected import left state behind"
        );
    }
    assert_eq!(
        emulator.writes_count(),
        0,
        "a bad import ID reached the API as a write"
    );
}
