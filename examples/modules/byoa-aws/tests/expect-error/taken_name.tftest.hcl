# Expected to FAIL, and so kept out of the default `terraform test` run:
# Terraform's test framework cannot expect a provider's error (expect_failures
# takes variables, outputs, checks and resources' custom conditions only), so
# CI runs `terraform test -test-directory=tests/expect-error` and checks its
# message. A second account with a name already taken fails at apply, on
# `name`, naming the account that holds it; nothing is sent.

variables {
  name              = "module-test-taken"
  aws_account_id    = "123456789012"
  access_key_id     = "AKIAIOSFODNN7EXAMPL7"
  secret_access_key = "module-test-secret"
  console_password  = "module-test-password"
}

run "first_account" {}

run "second_account_with_the_same_name" {
  # A state of its own: a second instance of the module, not an update of the first.
  state_key = "second"

  variables {
    access_key_id = "AKIAIOSFODNN7EXAMPL8"
  }
}
