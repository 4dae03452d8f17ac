# Terraform 1.5+: import by ID with an import block.
import {
  to = rediscloud_cloud_account.example
  id = "12345"
}

# Terraform 1.12+: or import by resource identity.
# import {
#   to       = rediscloud_cloud_account.example
#   identity = { id = "12345" }
# }
