output "cloud_account_id" {
  description = "ID of the cloud account; pass it to a subscription's cloud_account_id."
  value       = rediscloud_cloud_account.this.id
}

output "status" {
  description = "Status of the cloud account (active once applied)."
  value       = rediscloud_cloud_account.this.status
}

output "aws_user_arn" {
  description = "ARN of the IAM user, as Redis Cloud reports it."
  value       = rediscloud_cloud_account.this.aws_user_arn
}
