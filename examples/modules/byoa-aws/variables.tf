variable "name" {
  description = "Name of the cloud account in Redis Cloud (unique per Redis Cloud account)."
  type        = string

  validation {
    condition     = length(trimspace(var.name)) > 0
    error_message = "The name must not be empty."
  }
}

variable "aws_account_id" {
  description = "The 12-digit ID of the AWS account Redis Cloud deploys into."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "The AWS account ID must be exactly 12 digits."
  }
}

variable "access_key_id" {
  description = "Access key ID of the IAM user created for Redis Cloud."
  type        = string

  validation {
    condition     = can(regex("^(AKIA|ASIA)[A-Z0-9]{16}$", var.access_key_id))
    error_message = "The access key ID must look like an AWS access key ID (AKIA followed by 16 characters)."
  }
}

variable "secret_access_key" {
  description = "Secret access key of that IAM user."
  type        = string
  sensitive   = true
}

variable "console_username" {
  description = "Console user (or role) name Redis Cloud uses."
  type        = string
  default     = "redis-cloud-console"
}

variable "console_password" {
  description = "Password of the console user."
  type        = string
  sensitive   = true
}

variable "create_timeout" {
  description = "How long to wait for the account to become active."
  type        = string
  default     = "15m"
}
