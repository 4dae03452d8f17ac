//! Redis Cloud REST client: typed models, errors, rate limiting, retries and the task waiter. No Terraform types.
