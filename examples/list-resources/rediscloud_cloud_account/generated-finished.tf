# As generated, but for the three values the API cannot return: access_secret_key_wo and
# console_password_wo (generated as `null # sensitive`) now take variables, and console_username
# (generated as `null`) the console user name.
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

# __generated__ by Terraform
resource "rediscloud_cloud_account" "production_0" {
  provider                     = rediscloud
  access_key_id                = "AKIAIOSFODNN7EXAMPLE"
  access_secret_key            = null # sensitive
  access_secret_key_wo         = var.secret_access_key
  access_secret_key_wo_version = 1
  console_password             = null # sensitive
  console_password_wo          = var.console_password
  console_password_wo_version  = 1
  console_username             = "redis-cloud-console"
  name                         = "production-byoa"
  provider_type                = "AWS"
  sign_in_login_url            = "https://123456789012.signin.aws.amazon.com/console"
}

import {
  to       = rediscloud_cloud_account.production_0
  provider = rediscloud
  identity = {
    id = "12345"
  }
}
