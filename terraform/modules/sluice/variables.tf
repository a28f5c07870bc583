# Inputs of the Sluice module. Every variable is documented in terraform/README.md as well.

# --- placement ---------------------------------------------------------------------------

variable "name" {
  description = "Name prefix of every resource, and the value of the sluice:cluster tag. Lowercase letters, digits and dashes."
  type        = string
  default     = "sluice"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC to deploy into."
  type        = string
}

variable "subnets" {
  description = "Private subnet of each availability zone, as { \"us-east-1a\" = \"subnet-...\" }. Exactly three zones: one metadata node per zone, one agent group per zone."
  type        = map(string)

  validation {
    condition     = length(var.subnets) == 3
    error_message = "subnets must name exactly three availability zones (one metadata node each)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# --- image and instances -----------------------------------------------------------------

variable "sluice_image" {
  description = "Container image of Sluice (built from deploy/Dockerfile), e.g. \"123456789012.dkr.ecr.us-east-1.amazonaws.com/sluice:0.1.0\". ECR images are pulled with the instance role."
  type        = string
}

variable "architecture" {
  description = "CPU architecture of the instances and of the image: \"x86_64\" or \"arm64\". Picks the Amazon Linux 2023 AMI when ami_id is null."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI of every instance; null = the latest Amazon Linux 2023 for the architecture (the user data needs dnf, docker and the AWS CLI)."
  type        = string
  default     = null
}

variable "meta_instance_type" {
  description = "Instance type of the metadata nodes."
  type        = string
  default     = "m7i.large"
}

variable "agent_instance_type" {
  description = "Instance type of the agents."
  type        = string
  default     = "m7i.xlarge"
}

variable "agents_per_zone" {
  description = "Agents started in each zone (the desired and minimum size of each zone's autoscaling group)."
  type        = number
  default     = 1

  validation {
    condition     = var.agents_per_zone >= 1
    error_message = "agents_per_zone must be at least 1."
  }
}

variable "agents_max_per_zone" {
  description = "Most agents each zone's autoscaling group may grow to (by hand or by a scaling policy you add)."
  type        = number
  default     = 4
}

variable "enable_ssm" {
  description = "Attach AmazonSSMManagedInstanceCore to the instance role, for shell access through Session Manager (no SSH keys, no open SSH port)."
  type        = bool
  default     = true
}

# --- storage -----------------------------------------------------------------------------

variable "bucket_name" {
  description = "S3 bucket holding segments and metadata snapshots. Created by the module when create_bucket is true, else it must already exist."
  type        = string
}

variable "create_bucket" {
  description = "Create the bucket (encrypted, public access blocked, versioning off, lifecycle rule aborting incomplete multipart uploads). false = use an existing bucket by name; the module then only grants access to its prefix."
  type        = bool
  default     = true
}

variable "bucket_prefix" {
  description = "Key prefix of this cluster in the bucket (segments under <prefix>/segments/, raft snapshots under <prefix>/meta-snapshots/). The instance role may touch only this prefix."
  type        = string
  default     = "sluice"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]*[A-Za-z0-9]$", var.bucket_prefix))
    error_message = "bucket_prefix must be a non-empty key prefix without leading or trailing slashes."
  }
}

variable "bucket_force_destroy" {
  description = "Let terraform destroy delete a non-empty bucket (all data!). Only for test clusters."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the bucket's default encryption (SSE-KMS with a bucket key); null = the AWS managed aws/s3 key."
  type        = string
  default     = null
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which the bucket's lifecycle rule aborts multipart uploads never completed (a crashed agent's segment upload)."
  type        = number
  default     = 1
}

variable "express_one_zone" {
  description = "Also create one S3 Express One Zone directory bucket per zone (<name>-<zone>--<zone-id>--x-s3), encrypted, and let the instance role use it. Sluice does not yet write segments to them (see terraform/README.md); they are provisioned for the low-latency segment tier."
  type        = bool
  default     = false
}

variable "meta_volume_size_gb" {
  description = "Size of each metadata node's EBS volume (raft log and local snapshots), GiB."
  type        = number
  default     = 50
}

variable "meta_volume_type" {
  description = "EBS volume type of the metadata volumes."
  type        = string
  default     = "gp3"
}

variable "meta_snapshot_every" {
  description = "A metadata node builds a raft snapshot (and uploads it to the bucket) after this many log entries (--snapshot-every)."
  type        = number
  default     = 10000
}

# --- network -----------------------------------------------------------------------------

variable "client_cidrs" {
  description = "CIDR blocks allowed to reach the Kafka listeners (agents and load balancer)."
  type        = list(string)
}

variable "metrics_cidrs" {
  description = "CIDR blocks allowed to scrape metrics and health (metrics_port on agents and metadata nodes), e.g. your Prometheus."
  type        = list(string)
  default     = []
}

variable "kafka_port" {
  description = "PLAINTEXT Kafka listener port of the agents (--listen)."
  type        = number
  default     = 9092
}

variable "plaintext_listener" {
  description = "Serve PLAINTEXT on kafka_port to client_cidrs and through the load balancer. false = PLAINTEXT is bound to 127.0.0.1 only; clients must use the TLS or SASL listener."
  type        = bool
  default     = true
}

variable "tls_port" {
  description = "SSL listener port (only with tls_secret_arn)."
  type        = number
  default     = 9093
}

variable "sasl_port" {
  description = "SASL listener port (SASL_SSL with tls_secret_arn, else SASL_PLAINTEXT; only with sasl_mechanisms)."
  type        = number
  default     = 9094
}

variable "meta_port" {
  description = "HTTP port of the metadata nodes (raft and agents). Open only to agents and metadata nodes."
  type        = number
  default     = 9500
}

variable "metrics_port" {
  description = "Metrics and health port of every node (--metrics-listen): /metrics, /health/live, /health/ready."
  type        = number
  default     = 9100
}

variable "nlb_internal" {
  description = "Make the bootstrap network load balancer internal (clients in the VPC or peered networks). Agents advertise private addresses either way, so clients must reach those."
  type        = bool
  default     = true
}

variable "nlb_subnet_ids" {
  description = "Subnets of the load balancer; null = the subnets of var.subnets. Give public subnets for an internet-facing one."
  type        = list(string)
  default     = null
}

variable "nlb_deletion_protection" {
  description = "Deletion protection of the load balancer."
  type        = bool
  default     = false
}

variable "advertise_dns_name" {
  description = "Agents advertise their private DNS name (ip-10-0-1-5.<region>.compute.internal) instead of their private IP, e.g. to match a wildcard TLS certificate."
  type        = bool
  default     = false
}

# --- security ----------------------------------------------------------------------------

variable "tls_secret_arn" {
  description = "Secrets Manager secret holding the agents' TLS certificate, as JSON {\"certificate\": \"<PEM chain>\", \"private_key\": \"<PEM key>\"}. Set = an SSL listener on tls_port (and SASL over TLS). null = no TLS."
  type        = string
  default     = null
}

variable "sasl_mechanisms" {
  description = "SASL mechanisms offered on the SASL listener (sasl_port): any of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER. Empty = no SASL listener. SCRAM users live in the quorum: create them with any admin client (kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=...]')."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.sasl_mechanisms : contains(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"], m)])
    error_message = "sasl_mechanisms may hold PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER."
  }
}

variable "oauth_jwks_url" {
  description = "JWKS URL of your OIDC provider: turns on OAUTHBEARER (--sasl-oauthbearer-jwks-endpoint-url). null = off."
  type        = string
  default     = null
}

variable "oauth_expected_issuer" {
  description = "Required iss claim of OAUTHBEARER tokens; null = not checked."
  type        = string
  default     = null
}

variable "oauth_expected_audience" {
  description = "Accepted aud values of OAUTHBEARER tokens; empty = not checked."
  type        = list(string)
  default     = []
}

variable "authorizer" {
  description = "Enforce ACLs (--authorizer): deny by default except super_users."
  type        = bool
  default     = false
}

variable "super_users" {
  description = "Principals that bypass ACLs, e.g. [\"User:admin\"] (--super-users)."
  type        = list(string)
  default     = []
}

# --- escape hatches ----------------------------------------------------------------------

variable "agent_extra_args" {
  description = "More flags for every agent (e.g. [\"--linger-ms\", \"100\"]); see sluice agent --help."
  type        = list(string)
  default     = []
}

variable "meta_extra_args" {
  description = "More flags for every metadata node; see sluice meta --help."
  type        = list(string)
  default     = []
}
