//! `terraform-provider-rediscloud`: the provider binary Terraform launches.

fn main() {}
