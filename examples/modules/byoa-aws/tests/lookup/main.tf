# Test helper: looks an account up by name, as a subscription's configuration
# would, to check what the module created.
terraform {
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}

variable "name" {
  type = string
}

data "rediscloud_cloud_account" "this" {
  exclude_internal_account = true
  provider_type            = "AWS"
  name                     = var.name
}

output "id" {
  value = data.rediscloud_cloud_account.this.id
}

output "status" {
  value = data.rediscloud_cloud_account.this.status
}

output "access_key_id" {
  value = data.rediscloud_cloud_account.this.access_key_id
}
