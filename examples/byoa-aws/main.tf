# A BYOA setup: the module registers the AWS account, and a data source looks
# it up by name the way another configuration (a subscription's) would.
terraform {
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}

provider "rediscloud" {}

variable "name" {
  type    = string
  default = "demo-byoa"
}

variable "secret_access_key" {
  type      = string
  sensitive = true
}

variable "console_password" {
  type      = string
  sensitive = true
}

module "byoa" {
  source = "../modules/byoa-aws"

  name              = var.name
  aws_account_id    = "123456789012"
  access_key_id     = "AKIAIOSFODNN7EXAMPL1"
  secret_access_key = var.secret_access_key
  console_password  = var.console_password
}

data "rediscloud_cloud_account" "byoa" {
  exclude_internal_account = true
  provider_type            = "AWS"
  name                     = var.name

  depends_on = [module.byoa]
}

output "cloud_account_id" {
  value = module.byoa.cloud_account_id
}

output "status" {
  value = data.rediscloud_cloud_account.byoa.status
}

output "aws_user_arn" {
  value = data.rediscloud_cloud_account.byoa.aws_user_arn
}
