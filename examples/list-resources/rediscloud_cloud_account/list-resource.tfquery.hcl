# Every cloud account the API key can see (Redis Cloud's internal account is never listed).
list "rediscloud_cloud_account" "all" {
  provider = rediscloud
}

# AWS accounts whose name starts with "production-", each with every attribute the API returns.
list "rediscloud_cloud_account" "production" {
  provider         = rediscloud
  include_resource = true

  config {
    name_regex    = "^production-"
    provider_type = "AWS"
  }
}
