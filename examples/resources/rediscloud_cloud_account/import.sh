# A cloud account is imported by its numeric ID.
terraform import rediscloud_cloud_account.example 12345
