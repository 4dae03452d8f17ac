# `terraform test` for this module, run against the Redis Cloud API emulator
# (see the guide "Test your module against the emulator in CI"). The provider
# takes REDISCLOUD_URL, REDISCLOUD_ACCESS_KEY and REDISCLOUD_SECRET_KEY from
# the environment, so nothing here is a real credential.

variables {
  name              = "module-test-byoa"
  aws_account_id    = "123456789012"
  access_key_id     = "AKIAIOSFODNN7EXAMPL6"
  secret_access_key = "module-test-secret"
  console_password  = "module-test-password"
}

# Bad input fails at plan, on the variable, before anything reaches the API.
run "rejects_a_malformed_access_key_id" {
  command = plan

  variables {
    access_key_id = "not-an-access-key"
  }

  expect_failures = [var.access_key_id]
}

run "rejects_an_aws_account_id_that_is_not_12_digits" {
  command = plan

  variables {
    aws_account_id = "1234"
  }

  expect_failures = [var.aws_account_id]
}

# The apply waits until Redis Cloud reports the account active.
run "creates_an_active_account" {
  assert {
    condition     = output.status == "active"
    error_message = "The account is ${output.status}, not active."
  }

  assert {
    condition     = can(regex("^[0-9]+$", output.cloud_account_id))
    error_message = "The cloud account ID ${output.cloud_account_id} is not numeric."
  }

  assert {
    condition     = startswith(output.aws_user_arn, "arn:aws:iam::")
    error_message = "The IAM user ARN ${output.aws_user_arn} is not an AWS ARN."
  }
}

# Another configuration finds the account by name with the data source.
run "is_found_by_name_with_the_data_source" {
  module {
    source = "./tests/lookup"
  }

  assert {
    condition     = output.id == run.creates_an_active_account.cloud_account_id
    error_message = "The data source found account ${output.id}, not the one the module created."
  }

  assert {
    condition     = output.access_key_id == var.access_key_id && output.status == "active"
    error_message = "The data source reads ${output.access_key_id} (${output.status})."
  }
}
