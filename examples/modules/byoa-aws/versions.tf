terraform {
  required_version = ">= 1.5"
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}
