resource "rediscloud_cloud_account" "this" {
  name              = var.name
  provider_type     = "AWS"
  access_key_id     = var.access_key_id
  access_secret_key = var.secret_access_key
  console_username  = var.console_username
  console_password  = var.console_password
  sign_in_login_url = "https://${var.aws_account_id}.signin.aws.amazon.com/console"

  timeouts {
    create = var.create_timeout
  }
}
