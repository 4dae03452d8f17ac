terraform {
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}

# Credentials default to REDISCLOUD_ACCESS_KEY and REDISCLOUD_SECRET_KEY, and
# the URL to REDISCLOUD_URL (or https://api.redislabs.com/v1): prefer the
# environment to keeping keys in configuration.
provider "rediscloud" {}
