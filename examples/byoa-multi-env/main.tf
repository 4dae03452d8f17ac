# One cloud account per environment, as Redis Cloud advises: each environment
# deploys into an AWS account of its own, with an IAM user (and access key) of
# its own, through the same module. Adding an environment is one map entry.
terraform {
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}

provider "rediscloud" {}

variable "environments" {
  description = "Per environment: the AWS account Redis Cloud deploys into, and the access key ID of the IAM user created there for Redis Cloud."
  type = map(object({
    aws_account_id = string
    access_key_id  = string
  }))
  default = {
    dev = {
      aws_account_id = "111111111111"
      access_key_id  = "AKIAIOSFODNN7EXAMPL3"
    }
    staging = {
      aws_account_id = "222222222222"
      access_key_id  = "AKIAIOSFODNN7EXAMPL4"
    }
    production = {
      aws_account_id = "333333333333"
      access_key_id  = "AKIAIOSFODNN7EXAMPL5"
    }
  }
}

variable "secret_access_keys" {
  description = "Secret access key of each environment's IAM user, by environment (for example TF_VAR_secret_access_keys='{\"dev\":\"...\",...}')."
  type        = map(string)
  sensitive   = true
}

variable "console_passwords" {
  description = "Console password of each environment, by environment."
  type        = map(string)
  sensitive   = true
}

module "byoa" {
  source   = "../modules/byoa-aws"
  for_each = var.environments

  name              = "byoa-${each.key}"
  aws_account_id    = each.value.aws_account_id
  access_key_id     = each.value.access_key_id
  secret_access_key = var.secret_access_keys[each.key]
  console_password  = var.console_passwords[each.key]
}

output "cloud_account_ids" {
  description = "Cloud account ID by environment, for each environment's subscriptions."
  value       = { for env, account in module.byoa : env => account.cloud_account_id }
}

output "statuses" {
  value = { for env, account in module.byoa : env => account.status }
}
