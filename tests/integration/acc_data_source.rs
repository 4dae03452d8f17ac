//! Acceptance scenario for the `rediscloud_cloud_account` data source: exactly one match fills every output;
//! zero and several matches fail with counts and advice; `exclude_internal_account` drops Redis's own
//! account (id 1, "Redis Internal Resources", which the emulator always lists).

use serde_json::{Value, json};

use super::acc_cloud_account::{Account, Creds, config, unique_name};
use super::support::{StateCheck, Step, Target, Workdir, resource_values, run_steps};

const ONE: &str = "data.rediscloud_cloud_account.one";

/// Outputs that must be identical in the data source and the resource it found.
const SHARED: [&str; 7] = [
    "id",
    "name",
    "provider_type",
    "access_key_id",
    "status",
    "aws_user_arn",
    "aws_console_role_arn",
];

fn data(label: &str, body: &str) -> String {
    format!("data \"rediscloud_cloud_account\" \"{label}\" {{\n{body}}}\n")
}

/// The data source found exactly the resource `resource`, and the `one` output carries the same values.
fn same_as_resource(data_addr: &'static str, resource: &'static str) -> StateCheck {
    StateCheck::Custom(Box::new(move |state| {
        let (found, managed) = (
            resource_values(state, data_addr),
            resource_values(state, resource),
        );
        for attr in SHARED {
            if found.get(attr) != managed.get(attr) || found.get(attr).is_none_or(Value::is_null) {
                return Err(format!(
                    "{data_addr}.{attr} = {:?}, but {resource}.{attr} = {:?}",
                    found.get(attr),
                    managed.get(attr)
                ));
            }
        }
        Ok(())
    }))
}

/// The root output `name` has `value`.
fn output_is(name: &'static str, value: Value) -> StateCheck {
    StateCheck::Custom(Box::new(move |state| {
        let found = state.pointer(&format!("/values/outputs/{name}/value"));
        if found == Some(&value) {
            Ok(())
        } else {
            Err(format!("output {name} = {found:?}, want {value}"))
        }
    }))
}

fn output_matches_resource(resource: &'static str) -> StateCheck {
    StateCheck::Custom(Box::new(move |state| {
        let output = state
            .pointer("/values/outputs/one/value")
            .cloned()
            .ok_or_else(|| format!("no output `one` in {state}"))?;
        let managed = resource_values(state, resource);
        for attr in SHARED {
            if output.get(attr) != managed.get(attr) {
                return Err(format!(
                    "output one.{attr} = {:?}, resource has {:?}",
                    output.get(attr),
                    managed.get(attr)
                ));
            }
        }
        Ok(())
    }))
}

#[test]
fn acc_data_source_matches() {
    let target = Target::from_env();
    let workdir = Workdir::for_target("acc_data_source_matches", &target);
    let emulated = !target.is_real();
    let a = Account::aws("a", &unique_name("ds-a"), Creds::for_target(&target, 1));
    let mut parts = vec![a.hcl()];
    if emulated {
        // A second account of the other cloud; the real API would need a second prepared cloud account.
        let mut b = Account::aws("b", &unique_name("ds-b"), Creds::for_target(&target, 2));
        b.provider_type = "GCP".to_owned();
        parts.push(b.hcl());
    } else {
        eprintln!("SKIP (real API): a second (GCP) cloud account and the exact match counts");
    }
    let resources = parts.clone();
    // Exactly one: by name (read once the account exists, as the name comes from the resource).
    parts.push(data(
        "one",
        "  name                     = rediscloud_cloud_account.a.name\n  exclude_internal_account = true\n",
    ));
    parts.push(
        "output \"one\" {\n  value = {\n    id                   = data.rediscloud_cloud_account.one.id\n    name                 = data.rediscloud_cloud_account.one.name\n    provider_type        = data.rediscloud_cloud_account.one.provider_type\n    access_key_id        = data.rediscloud_cloud_account.one.access_key_id\n    status               = data.rediscloud_cloud_account.one.status\n    aws_user_arn         = data.rediscloud_cloud_account.one.aws_user_arn\n    aws_console_role_arn = data.rediscloud_cloud_account.one.aws_console_role_arn\n  }\n}\n"
            .to_owned(),
    );
    if emulated {
        // Exactly one by provider type, but only with the internal account excluded (it is AWS too).
        parts.push(data(
            "aws",
            "  provider_type            = \"AWS\"\n  exclude_internal_account = true\n  depends_on               = [rediscloud_cloud_account.a, rediscloud_cloud_account.b]\n",
        ));
        parts.push(data("internal", "  name = \"Redis Internal Resources\"\n"));
        // Unset, `exclude_internal_account` reads back as its default, not null.
        parts.push(
            "output \"internal_excluded\" {\n  value = data.rediscloud_cloud_account.internal.exclude_internal_account\n}\n"
                .to_owned(),
        );
    }
    let base = config(&parts);

    let mut first = Step::new(base.clone())
        .state_check(same_as_resource(ONE, "rediscloud_cloud_account.a"))
        .state_check(output_matches_resource("rediscloud_cloud_account.a"))
        .state_check(StateCheck::known_value(ONE, "status", json!("active")));
    if emulated {
        first = first
            .state_check(same_as_resource(
                "data.rediscloud_cloud_account.aws",
                "rediscloud_cloud_account.a",
            ))
            .state_check(StateCheck::known_value(
                "data.rediscloud_cloud_account.internal",
                "id",
                json!("1"),
            ))
            .state_check(StateCheck::known_value(
                "data.rediscloud_cloud_account.internal",
                "provider_type",
                json!("AWS"),
            ))
            .state_check(StateCheck::known_value(
                "data.rediscloud_cloud_account.internal",
                "exclude_internal_account",
                json!(false),
            ))
            .state_check(output_is("internal_excluded", json!(false)));
    }
    first = first.state_check(StateCheck::known_value(
        ONE,
        "exclude_internal_account",
        json!(true),
    ));
    // The number of accounts in the list: the internal one plus the two created here.
    let (total, aws_total, internal) = if emulated {
        ("3", "2", r#"1\s+\("Redis\s+Internal\s+Resources"\)"#)
    } else {
        (r"\d+", r"\d+", r"1\s+\(")
    };
    let with = |label: &str, body: &str| format!("{base}\n{}", data(label, body));
    let mut steps = vec![
        first,
        // Zero matches: says so, with how many accounts were searched.
        Step::new(with(
            "none",
            &format!("  name = \"{}\"\n", unique_name("no-such-account")),
        ))
        .expect_error(&format!(
            r"(?s)No Cloud Accounts Found.*0\s+of\s+{total}\s+cloud\s+accounts\s+match"
        )),
        // Many: AWS alone also matches the internal account, and the error says how to narrow.
        Step::new(with("aws_all", "  provider_type = \"AWS\"\n")).expect_error(&format!(
            r#"(?s)Multiple Cloud Accounts Found.*{aws_total}\s+cloud\s+accounts\s+match.*{internal}.*Narrow\s+the\s+search.*exclude_internal_account\s+=\s+true"#
        )),
        // Zero matches, but a name that differs only in case: "did you mean".
        Step::new(with(
            "case",
            "  name = upper(rediscloud_cloud_account.a.name)\n",
        ))
        .expect_error(r#"(?s)No Cloud Accounts Found.*Did\s+you\s+mean\s+"tf-test-ds-a-"#),
        // Many, with no filter at all: every account.
        Step::new(with("all", "")).expect_error(&format!(
            r"(?s)Multiple Cloud Accounts Found.*{total}\s+cloud\s+accounts\s+match\s+\(no\s+filters\)"
        )),
    ];
    if emulated {
        // Many although `exclude_internal_account = true` is set (a second external AWS account
        // joins): the advice names only the filter not set yet.
        let c = Account::aws("c", &unique_name("ds-c"), Creds::for_target(&target, 3));
        steps.push(
            Step::new(format!(
                "{base}\n{}\n{}",
                c.hcl(),
                data(
                    "aws_external",
                    "  provider_type            = \"AWS\"\n  exclude_internal_account = true\n  depends_on               = [rediscloud_cloud_account.c]\n",
                )
            ))
            .expect_error(
                r"(?s)Multiple Cloud Accounts Found.*2\s+cloud\s+accounts\s+match.*Narrow\s+the\s+search\s+with\s+`name`\s+so",
            ),
        );
        // Back to the resources alone (`c` goes), so that destroy has no data source that fails.
        steps.push(Step::new(config(&resources)));
    }
    run_steps(&target, &workdir, steps);
}
