//! Terraform provider for Redis Cloud "Bring Your Own Account" cloud accounts: the
//! `rediscloud_cloud_account` resource, data source and list resource.
//!
//! It glues two crates that know nothing of each other: [`tfplugin`] (Terraform's plugin
//! protocol and the framework) and [`rediscloud_api`] (the Redis Cloud REST client). The
//! emulator it is tested against, `rediscloud-emulator`, is a dev-dependency only.

pub mod provider;
