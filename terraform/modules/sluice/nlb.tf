# The bootstrap address: a network load balancer in front of every agent, one TCP listener per
# enabled Kafka listener (TLS passes through: agents terminate it). Clients only bootstrap
# through it; Metadata then points them at the agents' own (private) addresses.

resource "aws_lb" "bootstrap" {
  #checkov:skip=CKV_AWS_91:access logs of a bootstrap-only TCP load balancer say little; they need a log bucket the operator owns (set access_logs outside if wanted).
  #checkov:skip=CKV_AWS_150:deletion protection is var.nlb_deletion_protection (off by default so terraform destroy works for test clusters).
  name                             = "${var.name}-bootstrap"
  load_balancer_type               = "network"
  internal                         = var.nlb_internal
  subnets                          = coalesce(var.nlb_subnet_ids, [for zone in local.zones : var.subnets[zone]])
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.nlb_deletion_protection
  tags                             = local.tags
}

resource "aws_lb_target_group" "kafka" {
  for_each    = local.client_ports
  name        = "${var.name}-${each.key}"
  port        = each.value
  protocol    = "TCP"
  target_type = "instance"
  vpc_id      = var.vpc_id
  # A stopping agent turns not ready first; give its clients time to move.
  deregistration_delay = 30

  health_check {
    protocol            = "HTTP"
    port                = tostring(var.metrics_port)
    path                = "/health/ready"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
  tags = local.tags
}

resource "aws_lb_listener" "kafka" {
  #checkov:skip=CKV_AWS_2:TCP passthrough on purpose: the agents terminate TLS (and SASL) themselves, with the certificate from var.tls_secret_arn.
  #checkov:skip=CKV_AWS_103:same: TLS is terminated by the agents, not the load balancer.
  for_each          = local.client_ports
  load_balancer_arn = aws_lb.bootstrap.arn
  port              = each.value
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.kafka[each.key].arn
  }
  tags = local.tags
}
