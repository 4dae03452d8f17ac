terraform {
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}

# Exactly one account must match; otherwise the read fails and says how many did.
data "rediscloud_cloud_account" "byoa" {
  exclude_internal_account = true
  provider_type            = "AWS"
  name                     = "production-byoa"
}

output "cloud_account_id" {
  value = data.rediscloud_cloud_account.byoa.id
}
