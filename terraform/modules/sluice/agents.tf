# Agents: an autoscaling group per zone, registered with the bootstrap load balancer.

resource "aws_launch_template" "agent" {
  for_each      = var.subnets
  name_prefix   = "${var.name}-agent-${each.key}-"
  image_id      = local.ami_id
  instance_type = var.agent_instance_type
  user_data = base64encode(templatefile("${path.module}/templates/agent-user-data.sh.tftpl", {
    common                  = local.common_user_data
    image                   = var.sluice_image
    zone                    = each.key
    meta_urls               = local.meta_urls
    store_url               = local.store_url
    kafka_port              = var.kafka_port
    plaintext_bind          = var.plaintext_listener ? "0.0.0.0" : "127.0.0.1"
    metrics_port            = var.metrics_port
    advertise_dns_name      = var.advertise_dns_name
    tls                     = local.tls
    tls_secret_arn          = local.tls ? var.tls_secret_arn : ""
    tls_port                = var.tls_port
    sasl                    = local.sasl
    sasl_protocol           = local.sasl_protocol
    sasl_port               = var.sasl_port
    sasl_mechanisms         = join(",", var.sasl_mechanisms)
    oauth_jwks_url          = coalesce(var.oauth_jwks_url, "")
    oauth_expected_issuer   = coalesce(var.oauth_expected_issuer, "")
    oauth_expected_audience = join(",", var.oauth_expected_audience)
    authorizer              = var.authorizer
    super_users             = join(";", var.super_users)
    extra_args              = var.agent_extra_args
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.node["agent"].arn
  }
  vpc_security_group_ids = [aws_security_group.agent.id]

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  monitoring {
    enabled = true
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      # Root volume, also the disk tier of the read cache (/var/lib/sluice/cache).
      volume_size = 40
      volume_type = "gp3"
      encrypted   = true
    }
  }
  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-agent-${each.key}", "sluice:role" = "agent" })
  }
  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }
  tags = local.tags
}

resource "aws_autoscaling_group" "agent" {
  # Not ELB health checks: the load balancer's health check is /health/ready, which fails on every agent while the metadata quorum is down; ELB health checks would then make the group terminate all agents at once. EC2 status checks replace lost instances and docker restarts a crashed process.
  for_each            = var.subnets
  name                = "${var.name}-agent-${each.key}"
  vpc_zone_identifier = [each.value]
  min_size            = var.agents_per_zone
  max_size            = max(var.agents_max_per_zone, var.agents_per_zone)
  desired_capacity    = var.agents_per_zone
  target_group_arns   = [for tg in aws_lb_target_group.kafka : tg.arn]

  health_check_type         = "EC2"
  health_check_grace_period = 300
  # Agents are stateless: a terminating one stops taking traffic (not ready), flushes, leaves.
  default_instance_warmup = 120

  launch_template {
    id      = aws_launch_template.agent[each.key].id
    version = aws_launch_template.agent[each.key].latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.name}-agent-${each.key}", "sluice:role" = "agent" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}
