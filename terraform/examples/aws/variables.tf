# The example's inputs; each is passed to the module (see terraform/README.md for all of the
# module's variables).

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "sluice"
}

variable "vpc_id" {
  description = "VPC to deploy into."
  type        = string
}

variable "subnets" {
  description = "Private subnet per availability zone: exactly three, { \"us-east-1a\" = \"subnet-...\", ... }."
  type        = map(string)
}

variable "sluice_image" {
  description = "Sluice container image (docker build -f deploy/Dockerfile, pushed to ECR)."
  type        = string
}

variable "bucket_name" {
  description = "S3 bucket for segments and metadata snapshots."
  type        = string
}

variable "create_bucket" {
  description = "Create the bucket (false = use an existing one by name)."
  type        = bool
  default     = true
}

variable "client_cidrs" {
  description = "CIDR blocks of Kafka clients."
  type        = list(string)
}

variable "metrics_cidrs" {
  description = "CIDR blocks allowed to scrape metrics and health."
  type        = list(string)
  default     = []
}

variable "agents_per_zone" {
  description = "Agents per availability zone."
  type        = number
  default     = 1
}

variable "express_one_zone" {
  description = "Also create an S3 Express One Zone directory bucket per zone."
  type        = bool
  default     = false
}

variable "tls_secret_arn" {
  description = "Secrets Manager secret with the agents' TLS certificate and key (JSON: certificate, private_key); null = no TLS."
  type        = string
  default     = null
}

variable "sasl_mechanisms" {
  description = "SASL mechanisms of the SASL listener; empty = none."
  type        = list(string)
  default     = []
}

variable "oauth_jwks_url" {
  description = "OIDC JWKS URL for OAUTHBEARER; null = off."
  type        = string
  default     = null
}

variable "authorizer" {
  description = "Enforce ACLs."
  type        = bool
  default     = false
}

variable "super_users" {
  description = "Principals that bypass ACLs."
  type        = list(string)
  default     = []
}
