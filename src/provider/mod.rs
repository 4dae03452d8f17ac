//! The Redis Cloud provider: the provider block, the `rediscloud_cloud_account` resource and data source.
