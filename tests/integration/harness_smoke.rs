//! The harness against real Terraform, using only the built-in `terraform_data` resource (no provider, no API).

use serde_json::json;

use super::support::{
    CompareValue, ImportVerify, MIN_TERRAFORM, PlanCheck, StateCheck, Step, TestCase, Workdir,
    resource_values, terraform_version, version_at_least,
};

const DATA_V1: &str = r#"
resource "terraform_data" "smoke" {
  input = "v1"
}
"#;

const DATA_V2: &str = r#"
resource "terraform_data" "smoke" {
  input = "v2"
}
"#;

const REPLACED: &str = r#"
resource "terraform_data" "smoke" {
  input            = "v2"
  triggers_replace = ["rotate"]
}
"#;

#[test]
fn terraform_is_new_enough() {
    let version = terraform_version();
    assert!(
        version_at_least(&version, MIN_TERRAFORM),
        "Terraform {version} is older than {}.{}",
        MIN_TERRAFORM.0,
        MIN_TERRAFORM.1
    );
}

#[test]
fn init_and_validate_builtin_config() {
    let workdir = Workdir::new("smoke_validate");
    workdir.write_config(DATA_V1);
    workdir
        .init()
        .assert_success()
        .assert_matches("Terraform has been successfully initialized");
    workdir
        .validate()
        .assert_success()
        .assert_matches("The configuration is valid");

    workdir.write_config("resource \"terraform_data\" \"smoke\" {\n  unknown_argument = 1\n}\n");
    workdir
        .validate()
        .assert_failure()
        .assert_matches("Unsupported argument");
}

#[test]
fn steps_apply_update_replace_import_and_destroy() {
    let workdir = Workdir::new("smoke_steps");
    let id_kept = CompareValue::same();
    let id_replaced = CompareValue::differ();
    TestCase::new(vec![
        Step::new(DATA_V1)
            .plan_check(PlanCheck::resource_action(
                "terraform_data.smoke",
                &["create"],
            ))
            .state_check(StateCheck::known_value(
                "terraform_data.smoke",
                "output",
                json!("v1"),
            ))
            .state_check(StateCheck::matches(
                "terraform_data.smoke",
                "id",
                "^[0-9a-f-]{36}$",
            ))
            .state_check(id_kept.add("terraform_data.smoke", "id"))
            .state_check(id_replaced.add("terraform_data.smoke", "id"))
            // Import cannot know the configured input, so `input` and its echo `output` are ignored.
            .import_verify(ImportVerify::new(
                "terraform_data.smoke",
                &["input", "output"],
            )),
        Step::new(DATA_V2)
            .plan_check(PlanCheck::resource_action(
                "terraform_data.smoke",
                &["update"],
            ))
            .state_check(StateCheck::known_value(
                "terraform_data.smoke",
                "output",
                json!("v2"),
            ))
            .state_check(id_kept.add("terraform_data.smoke", "id")),
        Step::new(REPLACED)
            .plan_check(PlanCheck::resource_action(
                "terraform_data.smoke",
                &["delete", "create"],
            ))
            .state_check(id_replaced.add("terraform_data.smoke", "id")),
        Step::new(REPLACED).plan_check(PlanCheck::ExpectEmptyPlan),
        Step::new("resource \"terraform_data\" \"smoke\" {\n  input = var.missing\n}\n")
            .expect_error("Reference to undeclared input variable"),
    ])
    .run(None, &workdir);

    assert!(
        workdir
            .state_file()
            .is_some_and(|s| s.contains("\"resources\": []")),
        "state after destroy is empty"
    );
}

#[test]
fn perpetual_diff_fails_the_step() {
    // `timestamp()` changes on every plan, so the post-apply plan is never empty.
    let config = "resource \"terraform_data\" \"drift\" {\n  input = timestamp()\n}\n";
    let workdir = Workdir::new("smoke_perpetual_diff");
    let failure =
        std::panic::catch_unwind(|| TestCase::new(vec![Step::new(config)]).run(None, &workdir))
            .err()
            .and_then(|panic| panic.downcast::<String>().ok())
            .expect("a perpetual diff must fail the step");
    assert!(
        failure.contains("After applying this test step, the plan was not empty"),
        "{failure}"
    );

    // Declaring it makes the same step pass, and destroy still cleans up.
    let workdir = Workdir::new("smoke_expected_diff");
    TestCase::new(vec![Step::new(config).expect_non_empty_plan()]).run(None, &workdir);
}

#[test]
fn unmatched_expect_error_fails_the_step() {
    let workdir = Workdir::new("smoke_expect_error");
    let failure = std::panic::catch_unwind(|| {
        TestCase::new(vec![Step::new(DATA_V1).expect_error("never printed")]).run(None, &workdir)
    })
    .err()
    .and_then(|panic| panic.downcast::<String>().ok())
    .expect("a step that succeeds despite expect_error must fail");
    assert!(
        failure.contains("expected an error matching /never printed/"),
        "{failure}"
    );
}

#[test]
fn case_failing_at_plan_needs_no_destroy() {
    let workdir = Workdir::new("smoke_plan_error_only");
    TestCase::new(vec![
        Step::new("resource \"terraform_data\" \"x\" {\n  input = 1 +\n}\n")
            .expect_error("Invalid expression"),
    ])
    .run(None, &workdir);
    assert!(workdir.state_file().is_none(), "nothing was applied");
}

#[test]
fn state_and_outputs_are_readable_as_json() {
    let workdir = Workdir::new("smoke_outputs");
    workdir.write_config(&format!(
        "{DATA_V1}\noutput \"echo\" {{\n  value = terraform_data.smoke.output\n}}\n"
    ));
    workdir.apply().assert_success();
    assert_eq!(
        resource_values(&workdir.show_json(), "terraform_data.smoke")["input"],
        json!("v1")
    );
    assert_eq!(workdir.output_json()["echo"]["value"], json!("v1"));
    workdir.plan_detailed().assert_code(0);
    workdir.destroy().assert_success();
}
