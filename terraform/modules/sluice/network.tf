# Security groups and the metadata nodes' fixed network interfaces.
#
# - agents: Kafka ports from client_cidrs (the load balancer preserves client addresses) and
#   from the load balancer; the metrics/health port from the load balancer (health checks) and
#   metrics_cidrs.
# - meta: meta_port only from agents and metadata nodes; the metrics/health port from
#   metrics_cidrs.
# Egress: HTTPS (S3, ECR, Secrets Manager, STS, the JWKS URL) and meta_port to metadata nodes.

resource "aws_security_group" "agent" {
  name        = "${var.name}-agent"
  description = "Sluice agents: Kafka listeners and metrics"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-agent" })
}

resource "aws_security_group" "meta" {
  name        = "${var.name}-meta"
  description = "Sluice metadata nodes: raft and agent API, metrics"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-meta" })
}

resource "aws_security_group" "nlb" {
  name        = "${var.name}-nlb"
  description = "Sluice bootstrap load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-nlb" })
}

# --- load balancer ---

resource "aws_vpc_security_group_ingress_rule" "nlb_kafka" {
  for_each = { for pair in setproduct(keys(local.client_ports), var.client_cidrs) : "${pair[0]}-${pair[1]}" => { port = local.client_ports[pair[0]], cidr = pair[1] } }

  security_group_id = aws_security_group.nlb.id
  description       = "Kafka clients (bootstrap)"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_agents" {
  for_each = merge(local.client_ports, { metrics = var.metrics_port })

  security_group_id            = aws_security_group.nlb.id
  description                  = "to agents (${each.key})"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.agent.id
}

# --- agents ---

resource "aws_vpc_security_group_ingress_rule" "agent_kafka" {
  for_each = { for pair in setproduct(keys(local.client_ports), var.client_cidrs) : "${pair[0]}-${pair[1]}" => { port = local.client_ports[pair[0]], cidr = pair[1] } }

  security_group_id = aws_security_group.agent.id
  description       = "Kafka clients (${each.key})"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_ingress_rule" "agent_from_nlb" {
  for_each = merge(local.client_ports, { metrics = var.metrics_port })

  security_group_id            = aws_security_group.agent.id
  description                  = "load balancer (${each.key})"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.nlb.id
}

resource "aws_vpc_security_group_ingress_rule" "agent_metrics" {
  for_each = toset(var.metrics_cidrs)

  security_group_id = aws_security_group.agent.id
  description       = "metrics and health"
  ip_protocol       = "tcp"
  from_port         = var.metrics_port
  to_port           = var.metrics_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "agent_https" {
  security_group_id = aws_security_group.agent.id
  description       = "HTTPS: S3, ECR, Secrets Manager, STS, JWKS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "agent_to_meta" {
  security_group_id            = aws_security_group.agent.id
  description                  = "metadata quorum"
  ip_protocol                  = "tcp"
  from_port                    = var.meta_port
  to_port                      = var.meta_port
  referenced_security_group_id = aws_security_group.meta.id
}

# --- metadata nodes ---

resource "aws_vpc_security_group_ingress_rule" "meta_from" {
  for_each = { agent = aws_security_group.agent.id, meta = aws_security_group.meta.id }

  security_group_id            = aws_security_group.meta.id
  description                  = "metadata port from ${each.key}s"
  ip_protocol                  = "tcp"
  from_port                    = var.meta_port
  to_port                      = var.meta_port
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_ingress_rule" "meta_metrics" {
  for_each = toset(var.metrics_cidrs)

  security_group_id = aws_security_group.meta.id
  description       = "metrics and health"
  ip_protocol       = "tcp"
  from_port         = var.metrics_port
  to_port           = var.metrics_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "meta_https" {
  security_group_id = aws_security_group.meta.id
  description       = "HTTPS: S3, ECR, EC2 API, STS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "meta_to_meta" {
  security_group_id            = aws_security_group.meta.id
  description                  = "raft between metadata nodes"
  ip_protocol                  = "tcp"
  from_port                    = var.meta_port
  to_port                      = var.meta_port
  referenced_security_group_id = aws_security_group.meta.id
}

# A fixed address per metadata node: the replacement instance of a zone attaches the same
# interface, so --peers and the agents' --meta never change.
resource "aws_network_interface" "meta" {
  for_each        = local.meta_nodes
  subnet_id       = each.value.subnet
  security_groups = [aws_security_group.meta.id]
  description     = "${var.name} metadata node ${each.value.id}"
  tags            = merge(local.tags, { Name = "${var.name}-meta-${each.value.id}" })
}
