terraform {
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}

variable "aws_secret_access_key" {
  type      = string
  sensitive = true
}

variable "console_password" {
  type      = string
  sensitive = true
}

resource "rediscloud_cloud_account" "example" {
  name              = "production-byoa"
  provider_type     = "AWS"
  access_key_id     = "AKIAIOSFODNN7EXAMPLE"
  access_secret_key = var.aws_secret_access_key
  console_username  = "redis-cloud-console"
  console_password  = var.console_password
  sign_in_login_url = "https://123456789012.signin.aws.amazon.com/console"

  timeouts {
    create = "15m"
  }
}

output "cloud_account_id" {
  value = rediscloud_cloud_account.example.id
}
