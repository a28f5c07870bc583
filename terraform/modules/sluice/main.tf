# Sluice on AWS: a bucket, 3 metadata nodes (one per zone), agents in an autoscaling group per
# zone behind a network load balancer. See terraform/README.md.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zone" "zone" {
  for_each = var.subnets
  name     = each.key
}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

locals {
  zones  = sort(keys(var.subnets))
  ami_id = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)
  region = data.aws_region.current.name

  # Metadata node ids 1, 2, 3 in zone order; node 1 initializes the cluster on first start.
  meta_nodes = { for i, zone in local.zones : zone => { id = i + 1, subnet = var.subnets[zone] } }
  peers      = join(",", [for zone in local.zones : "${local.meta_nodes[zone].id}=${aws_network_interface.meta[zone].private_ip}:${var.meta_port}"])
  meta_urls  = join(",", [for zone in local.zones : "http://${aws_network_interface.meta[zone].private_ip}:${var.meta_port}"])

  bucket_name = var.create_bucket ? aws_s3_bucket.data[0].id : var.bucket_name
  bucket_arn  = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}"
  store_url   = "s3://${var.bucket_name}/${var.bucket_prefix}"

  tls           = var.tls_secret_arn != null
  sasl          = length(var.sasl_mechanisms) > 0
  sasl_protocol = local.tls ? "SASL_SSL" : "SASL_PLAINTEXT"
  # Kafka ports clients may use (security groups and load balancer listeners).
  client_ports = merge(
    var.plaintext_listener ? { plaintext = var.kafka_port } : {},
    local.tls ? { ssl = var.tls_port } : {},
    local.sasl ? { sasl = var.sasl_port } : {},
  )

  ecr_image    = can(regex("^[0-9]+\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com/", var.sluice_image))
  ecr_registry = local.ecr_image ? split("/", var.sluice_image)[0] : ""

  express_buckets = var.express_one_zone ? {
    for zone in local.zones : zone => "${var.name}-${zone}--${data.aws_availability_zone.zone[zone].zone_id}--x-s3"
  } : {}

  tags = merge(var.tags, { "sluice:cluster" = var.name })
}
