//! Acceptance scenarios for the `rediscloud_cloud_account` list resource with real Terraform (1.14+): `terraform
//! query` in human and JSON output over accounts created through the REST API, as the Redis Cloud console would;
//! filters, `limit` and `include_resource`; bad list configurations failing on the attribute; and
//! `-generate-config-out` through to an import round trip that ends with an empty plan. No query writes to the API.
//!
//! Emulator only: the scenarios need accounts made outside Terraform and the emulator's request log.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Value, json};

use super::acc_cloud_account::config;
use super::support::{Emulator, Workdir};

const PROVIDER_BLOCK: &str = "provider \"rediscloud\" {}\n";

/// A work directory with the provider configured for `emulator` and `query` as `query.tfquery.hcl`.
fn workdir(name: &str, emulator: &Emulator, query: &str) -> Workdir {
    let mut w = Workdir::new(name);
    for (k, v) in emulator.provider_env() {
        w = w.env(&k, &v);
    }
    w.write_config(&config(&[PROVIDER_BLOCK.to_owned()]));
    w.write_file("query.tfquery.hcl", query);
    w
}

/// A `list` block.
fn list(label: &str, body: &str) -> String {
    format!("list \"rediscloud_cloud_account\" \"{label}\" {{\n  provider = rediscloud\n{body}}}\n")
}

/// The human output's result lines, by list address: `(identity, display name)` in order.
fn human_results(stdout: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let line = Regex::new(r"^(list\.\S+)\s+(\S+)\s{3}(.+)$").expect("regex");
    let mut found: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for l in stdout.lines() {
        if let Some(c) = line.captures(l.trim_end()) {
            found
                .entry(c[1].to_owned())
                .or_default()
                .push((c[2].to_owned(), c[3].to_owned()));
        }
    }
    found
}

/// The JSON output's messages of `kind` (`list_resource_found`, `list_complete`, `diagnostic`...).
fn json_messages(stdout: &str, kind: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["type"] == kind)
        .map(|m| m[kind].clone())
        .collect()
}

#[test]
fn acc_list_query_filters_limit_and_objects() {
    let emulator = Emulator::start(&[]);
    // The real API masks access keys in its list: the objects must still carry the real ones.
    emulator.config(json!({"mask_list_access_keys": true}));
    let eu = emulator.create_account("prod-eu", "AWS", "AKIAQUERYEU");
    let us = emulator.create_account("prod-us", "GCP", "AKIAQUERYUS");
    let staging = emulator.create_account("staging", "AWS", "AKIAQUERYST");
    emulator.set_status(staging, "error");
    let query = [
        list("all", ""),
        list("by_name", "  config {\n    name = \"staging\"\n  }\n"),
        list("by_regex", "  config {\n    name_regex = \"^prod-\"\n  }\n"),
        list("gcp", "  config {\n    provider_type = \"GCP\"\n  }\n"),
        list("errored", "  config {\n    status = \"error\"\n  }\n"),
        list(
            "aws_prod",
            "  config {\n    name_regex    = \"^prod-\"\n    provider_type = \"AWS\"\n  }\n",
        ),
        list("first_two", "  limit = 2\n"),
        list(
            "with_objects",
            "  include_resource = true\n  config {\n    name = \"prod-eu\"\n  }\n",
        ),
    ]
    .join("\n");
    let w = workdir("acc_list_query", &emulator, &query);
    let writes = emulator.writes_count();

    let shown = |id: u64, name: &str| (format!("id={id}"), format!("{name} ({id})"));
    let want: BTreeMap<String, Vec<(String, String)>> = [
        (
            "all",
            vec![
                shown(eu, "prod-eu"),
                shown(us, "prod-us"),
                shown(staging, "staging"),
            ],
        ),
        ("by_name", vec![shown(staging, "staging")]),
        ("by_regex", vec![shown(eu, "prod-eu"), shown(us, "prod-us")]),
        ("gcp", vec![shown(us, "prod-us")]),
        ("errored", vec![shown(staging, "staging")]),
        ("aws_prod", vec![shown(eu, "prod-eu")]),
        (
            "first_two",
            vec![shown(eu, "prod-eu"), shown(us, "prod-us")],
        ),
        ("with_objects", vec![shown(eu, "prod-eu")]),
    ]
    .into_iter()
    .map(|(label, rows)| (format!("list.rediscloud_cloud_account.{label}"), rows))
    .collect();

    // Human output: one line per account, "address   id=<ID>   <name> (<ID>)"; never Redis's internal account.
    let human = w.run(&["query", "-no-color"]);
    human.assert_success();
    assert_eq!(human_results(&human.stdout), want, "{human}");
    assert!(!human.stdout.contains("id=1 "), "{human}");

    // JSON output: the same results, and the resource object only where asked for.
    let out = w.run(&["query", "-json"]);
    out.assert_success();
    let found = json_messages(&out.stdout, "list_resource_found");
    let mut by_address: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for f in &found {
        let address = f["address"].as_str().expect("address").to_owned();
        let id = f["identity"]["id"].as_str().expect("identity id");
        let display = f["display_name"].as_str().expect("display name");
        by_address
            .entry(address.clone())
            .or_default()
            .push((format!("id={id}"), display.to_owned()));
        assert_eq!(f["resource_type"], "rediscloud_cloud_account");
        assert_eq!(
            f.get("resource_object").is_some(),
            address.ends_with(".with_objects"),
            "{f}"
        );
    }
    assert_eq!(by_address, want, "{out}");
    let totals: BTreeMap<String, u64> = json_messages(&out.stdout, "list_complete")
        .iter()
        .map(|c| {
            (
                c["address"].as_str().expect("address").to_owned(),
                c["total"].as_u64().expect("total"),
            )
        })
        .collect();
    for (address, rows) in &want {
        assert_eq!(totals.get(address), Some(&(rows.len() as u64)), "{address}");
    }
    let object = &found
        .iter()
        .find(|f| f["address"] == "list.rediscloud_cloud_account.with_objects")
        .expect("with_objects")["resource_object"];
    assert_eq!(object["id"], eu.to_string());
    assert_eq!(object["name"], "prod-eu");
    assert_eq!(object["provider_type"], "AWS");
    assert_eq!(
        object["access_key_id"], "AKIAQUERYEU",
        "the real key, not the list's mask"
    );
    assert_eq!(object["status"], "active");
    assert!(object["aws_user_arn"].is_string() && object["sign_in_login_url"].is_string());
    for secret in [
        "access_secret_key",
        "access_secret_key_wo",
        "console_username",
        "console_password",
        "console_password_wo",
    ] {
        assert!(object[secret].is_null(), "{secret} in {object}");
    }
    assert_eq!(emulator.writes_count(), writes, "a query never writes");
}

#[test]
fn acc_list_an_account_that_cannot_be_read_is_left_out_with_a_warning() {
    let emulator = Emulator::start(&[]);
    emulator.config(json!({"mask_list_access_keys": true}));
    let gone = emulator.create_account("vanishing", "AWS", "AKIAQUERYGONE");
    let kept = emulator.create_account("kept", "AWS", "AKIAQUERYKEPT");
    // The masked entry of one account cannot be read by ID (just deleted, or not visible yet).
    emulator.fault(json!({
        "status": 404, "method": "GET", "path_prefix": format!("/v1/cloud-accounts/{gone}"), "count": 50,
    }));
    let query = list("objects", "  include_resource = true\n");
    let w = workdir("acc_list_unreadable", &emulator, &query);
    let out = w.run(&["query", "-json"]);
    out.assert_success();
    let found: Vec<String> = json_messages(&out.stdout, "list_resource_found")
        .iter()
        .map(|f| {
            f["identity"]["id"]
                .as_str()
                .expect("identity id")
                .to_owned()
        })
        .collect();
    assert_eq!(found, vec![kept.to_string()], "{out}");
    let warnings = json_messages(&out.stdout, "diagnostic");
    assert!(
        warnings.iter().any(|d| d["severity"] == "warning"
            && d["detail"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("Cloud account {gone}")))),
        "no warning naming account {gone}: {out}"
    );
}

#[test]
fn acc_list_bad_config_fails_on_the_attribute() {
    let emulator = Emulator::start(&[]);
    emulator.create_account("prod-eu", "AWS", "AKIABADQUERY");
    for (attr, value, summary, detail) in [
        (
            "provider_type",
            "\"AZURE\"",
            "Invalid Attribute Value Match",
            r#"value must be one of: \["AWS", "GCP"\], got: "AZURE""#,
        ),
        (
            "name_regex",
            "\"^(prod\"",
            "Invalid Attribute Value",
            r#"must be a valid regular expression, got: "\^\(prod"\s+\(unclosed group\)"#,
        ),
        (
            "status",
            "\"deleted\"",
            "Invalid Attribute Value Match",
            r#"value must be one of"#,
        ),
    ] {
        let body = format!("  config {{\n    name = \"prod-eu\"\n    {attr} = {value}\n  }}\n");
        let w = workdir("acc_list_bad", &emulator, &list("bad", &body));
        let writes = emulator.writes_count();
        // Human output: the error quotes the offending line of the query file.
        let human = w.run(&["query", "-no-color"]);
        human.assert_failure().assert_matches(&format!(
            r#"(?s)Error: {summary}.*on query\.tfquery\.hcl line 5, in list "rediscloud_cloud_account" "bad":\s+5:\s+{attr} = {}.*Attribute {attr} {detail}"#,
            regex::escape(value)
        ));
        // JSON output: the diagnostic's range is that attribute.
        let out = w.run(&["query", "-json"]);
        out.assert_failure();
        let errors: Vec<Value> = json_messages(&out.stdout, "diagnostic")
            .into_iter()
            .filter(|d| d["severity"] == "error")
            .collect();
        assert_eq!(errors.len(), 1, "{out}");
        assert_eq!(errors[0]["summary"], summary);
        assert_eq!(errors[0]["range"]["filename"], "query.tfquery.hcl");
        assert_eq!(errors[0]["range"]["start"]["line"], 5, "{}", errors[0]);
        assert!(
            errors[0]["snippet"]["code"]
                .as_str()
                .is_some_and(|c| c.contains(attr)),
            "{}",
            errors[0]
        );
        assert!(json_messages(&out.stdout, "list_resource_found").is_empty());
        assert_eq!(emulator.writes_count(), writes);
    }
}

/// `generated` with the three values the API cannot return filled in, as a user would: in each generated block,
/// `value(account name, attribute)` replaces `access_secret_key_wo = null # sensitive`,
/// `console_password_wo = null # sensitive` and `console_username = null`. Nothing else changes.
fn fill(generated: &str, value: impl Fn(&str, &str) -> String) -> String {
    let block =
        Regex::new(r#"(?s)resource "rediscloud_cloud_account" "[^"]+" \{.*?\n\}"#).expect("regex");
    let name = Regex::new(r#"\n\s*name\s+= "([^"]+)""#).expect("regex");
    block
        .replace_all(generated, |c: &regex::Captures<'_>| {
            let text = &c[0];
            let account = name.captures(text).expect("a name in every block")[1].to_owned();
            let mut filled = String::new();
            for line in text.lines() {
                let (key, rest) = line.split_once('=').unwrap_or((line, ""));
                let attr = key.trim();
                let replaced = matches!(
                    (attr, rest.trim()),
                    (
                        "access_secret_key_wo" | "console_password_wo",
                        "null # sensitive"
                    ) | ("console_username", "null")
                );
                if replaced {
                    filled.push_str(&format!("{key}= {}\n", value(&account, attr)));
                } else {
                    filled.push_str(line);
                    filled.push('\n');
                }
            }
            filled.trim_end().to_owned()
        })
        .into_owned()
}

/// Credentials from the `credentials` variable, keyed by account name.
fn fill_credentials(generated: &str) -> String {
    fill(generated, |account, attr| match attr {
        "access_secret_key_wo" => format!("var.credentials[\"{account}\"].access_secret_key"),
        "console_password_wo" => format!("var.credentials[\"{account}\"].console_password"),
        _ => format!("\"console-{account}\""),
    })
}

const CREDENTIALS_VARIABLE: &str = r#"variable "credentials" {
  type = map(object({
    access_secret_key = string
    console_password  = string
  }))
  sensitive = true
  ephemeral = true
}
"#;

#[test]
fn acc_list_generated_configuration_imports_with_only_credentials_added() {
    let emulator = Emulator::start(&[]);
    let a = emulator.create_account("found-a", "AWS", "AKIAGENERATEA");
    let b = emulator.create_account("found-b", "GCP", "AKIAGENERATEB");
    emulator.create_account("elsewhere", "AWS", "AKIAGENERATEC");
    let query = list("found", "  config {\n    name_regex = \"^found-\"\n  }\n");
    let w = workdir("acc_list_generate", &emulator, &query);
    let credentials = json!({
        "found-a": {"access_secret_key": "generated-secret-a", "console_password": "generated-password-a"},
        "found-b": {"access_secret_key": "generated-secret-b", "console_password": "generated-password-b"},
    });
    let w = w.env("TF_VAR_credentials", &credentials.to_string());
    let writes = emulator.writes_count();

    let out = w.run(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    out.assert_success();
    assert_eq!(emulator.writes_count(), writes, "a query never writes");
    let generated = std::fs::read_to_string(w.path().join("generated.tf")).expect("generated.tf");
    // A resource block and an import block (by identity) per account found; nothing else.
    for (label, id, name) in [("found_0", a, "found-a"), ("found_1", b, "found-b")] {
        for needle in [
            format!("resource \"rediscloud_cloud_account\" \"{label}\" {{"),
            format!("to       = rediscloud_cloud_account.{label}"),
            format!("    id = \"{id}\""),
            format!("= \"{name}\""),
        ] {
            assert!(generated.contains(&needle), "{needle:?} in\n{generated}");
        }
    }
    assert_eq!(
        generated
            .matches("resource \"rediscloud_cloud_account\"")
            .count(),
        2
    );
    assert_eq!(generated.matches("import {").count(), 2);
    assert!(!generated.contains("elsewhere"), "{generated}");
    // Nothing only the provider sets; the write-only versions set, the secrets left for the user.
    for absent in [
        "status",
        "aws_user_arn",
        "aws_console_role_arn",
        "timeouts",
        "\n  id ",
    ] {
        assert!(!generated.contains(absent), "{absent:?} in\n{generated}");
    }
    assert_eq!(
        generated
            .matches("access_secret_key_wo_version = 1")
            .count(),
        2
    );
    assert_eq!(
        generated
            .matches("console_password_wo_version  = 1")
            .count(),
        2
    );

    // As generated, a plan says exactly what is missing, on those lines, and sends nothing.
    let plan = w.plan();
    plan.assert_failure();
    for missing in [
        r"Exactly one of `access_secret_key` or\s+`access_secret_key_wo` must be set",
        r"Exactly one of `console_password` or\s+`console_password_wo` must be set",
        r"(?s)Missing Configuration for Required Attribute.*console_username\s+= null",
    ] {
        plan.assert_matches(missing);
    }
    assert_eq!(emulator.writes_count(), writes);

    // The user adds the credentials (write-only, from a variable) and nothing else.
    let filled = fill_credentials(&generated);
    let changed: Vec<&str> = filled
        .lines()
        .filter(|l| !generated.lines().any(|g| g == *l))
        .collect();
    assert_eq!(changed.len(), 6, "three lines per account: {changed:?}");
    w.write_file("generated.tf", &filled);
    w.write_file("variables.tf", CREDENTIALS_VARIABLE);
    w.run(&["fmt", "-check", "generated.tf"]).assert_success();

    // The plan: the two imports and the credential update the README explains, nothing created or destroyed.
    let plan = w.plan();
    plan.assert_success()
        .assert_matches(r"Plan: 2 to import, 0 to add, 2 to change, 0 to destroy\.");
    for secret in ["generated-secret-a", "generated-password-b"] {
        assert!(
            !plan.combined().contains(secret),
            "{secret} in the plan output"
        );
    }
    assert_eq!(emulator.writes_count(), writes, "a plan never writes");
    let applied = w.apply();
    applied.assert_success().assert_matches(
        r"Apply complete! Resources: 2 imported, 0 added, 2 changed, 0 destroyed\.",
    );
    // Two credential updates, and no other write.
    assert_eq!(
        emulator.writes_count(),
        writes + 2,
        "{:?}",
        emulator.requests()
    );
    let state = w.state_file().expect("state");
    for secret in ["generated-secret-a", "generated-password-a"] {
        assert!(!state.contains(secret), "{secret} in the state");
    }
    w.plan_detailed().assert_code(0);

    // The accounts are now managed: destroy removes them, and only them.
    w.destroy().assert_success();
    let live = emulator.live_account_ids();
    assert!(!live.contains(&a) && !live.contains(&b), "{live:?}");
    assert_eq!(
        live.len(),
        2,
        "the internal account and `elsewhere` remain: {live:?}"
    );
}

fn example(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines that carry configuration: comments, blank lines and indentation dropped.
fn significant_lines(hcl: &str) -> Vec<String> {
    hcl.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The documented example query lists what it says, and the documented finished block is exactly what
/// `-generate-config-out` writes plus the three values, and imports with an empty plan after.
#[test]
fn acc_list_documented_example_and_finished_block() {
    const DIR: &str = "list-resources/rediscloud_cloud_account";
    let emulator = Emulator::start(&[]);
    let production = emulator.create_account("production-byoa", "AWS", "AKIAIOSFODNN7EXAMPLE");
    let staging = emulator.create_account("staging-byoa", "AWS", "AKIASTAGINGEXAMPLE");
    let query = example(&format!("{DIR}/list-resource.tfquery.hcl"));
    let mut w = Workdir::new("acc_list_example");
    for (k, v) in emulator.provider_env() {
        w = w.env(&k, &v);
    }
    w.write_config(&example("provider/provider.tf"));
    w.write_file("query.tfquery.hcl", &query);
    let out = w.run(&["query", "-no-color"]);
    out.assert_success();
    let found = human_results(&out.stdout);
    let shown = |id: u64, name: &str| (format!("id={id}"), format!("{name} ({id})"));
    assert_eq!(
        found["list.rediscloud_cloud_account.all"],
        [
            shown(production, "production-byoa"),
            shown(staging, "staging-byoa")
        ]
    );
    assert_eq!(
        found["list.rediscloud_cloud_account.production"],
        [shown(production, "production-byoa")]
    );

    // Generating from the `production` block alone.
    // (the last block of the example).
    let production_block = &query[query
        .find("list \"rediscloud_cloud_account\" \"production\"")
        .expect("the production block")..];
    w.write_file("query.tfquery.hcl", production_block);
    w.run(&["query", "-no-color", "-generate-config-out=generated.tf"])
        .assert_success();
    let generated = std::fs::read_to_string(w.path().join("generated.tf")).expect("generated.tf");
    let filled = fill(&generated, |_, attr| match attr {
        "access_secret_key_wo" => "var.secret_access_key".to_owned(),
        "console_password_wo" => "var.console_password".to_owned(),
        _ => "\"redis-cloud-console\"".to_owned(),
    });
    let documented = example(&format!("{DIR}/generated-finished.tf"))
        .replace("\"12345\"", &format!("\"{production}\""));
    let variables = documented
        .find("resource \"rediscloud_cloud_account\"")
        .expect("a resource block");
    assert_eq!(
        significant_lines(&filled),
        significant_lines(&documented[variables..]),
        "the documented block is not what Terraform generates:\n{generated}"
    );

    // The documented block, as it stands, imports the account with an update and then plans nothing.
    std::fs::remove_file(w.path().join("generated.tf")).expect("rm");
    std::fs::remove_file(w.path().join("query.tfquery.hcl")).expect("rm");
    w.write_file("generated.tf", &documented);
    let w = w
        .env("TF_VAR_secret_access_key", "documented-secret")
        .env("TF_VAR_console_password", "documented-password");
    w.plan()
        .assert_success()
        .assert_matches(r"Plan: 1 to import, 0 to add, 1 to change, 0 to destroy\.");
    w.apply().assert_success();
    w.plan_detailed().assert_code(0);
    w.destroy().assert_success();
    assert_eq!(emulator.live_account_ids(), [1, staging]);
}
