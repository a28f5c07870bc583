# A production-shaped Sluice in one region: copy terraform.tfvars.example to terraform.tfvars,
# fill it in, then `terraform init && terraform apply`.

provider "aws" {
  region = var.region

  default_tags {
    tags = { "managed-by" = "terraform", "app" = "sluice" }
  }
}

module "sluice" {
  source = "../../modules/sluice"

  name          = var.name
  vpc_id        = var.vpc_id
  subnets       = var.subnets
  sluice_image  = var.sluice_image
  bucket_name   = var.bucket_name
  create_bucket = var.create_bucket
  client_cidrs  = var.client_cidrs
  metrics_cidrs = var.metrics_cidrs

  agents_per_zone  = var.agents_per_zone
  express_one_zone = var.express_one_zone

  tls_secret_arn  = var.tls_secret_arn
  sasl_mechanisms = var.sasl_mechanisms
  oauth_jwks_url  = var.oauth_jwks_url
  authorizer      = var.authorizer
  super_users     = var.super_users
}
