# Terraform 1.11+: the secrets arrive as ephemeral variables (for example
# TF_VAR_secret_access_key from a secrets manager) and go into write-only
# attributes, so they are sent to Redis Cloud but never stored in the plan or
# the state. Bump the *_wo_version numbers to send new values.
terraform {
  required_version = ">= 1.11"
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}

variable "secret_access_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "console_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "secrets_version" {
  type    = number
  default = 1
}

resource "rediscloud_cloud_account" "byoa" {
  name                         = "write-only-byoa"
  provider_type                = "AWS"
  access_key_id                = "AKIAIOSFODNN7EXAMPL2"
  access_secret_key_wo         = var.secret_access_key
  access_secret_key_wo_version = var.secrets_version
  console_username             = "redis-cloud-console"
  console_password_wo          = var.console_password
  console_password_wo_version  = var.secrets_version
  sign_in_login_url            = "https://123456789012.signin.aws.amazon.com/console"
}

output "status" {
  value = rediscloud_cloud_account.byoa.status
}
