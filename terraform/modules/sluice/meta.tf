# Three metadata nodes, one per zone. Each zone has an autoscaling group of exactly one
# instance (replaced automatically when it fails its EC2 status checks), a fixed network
# interface and an EBS volume; the instance attaches both at boot (templates/).

resource "aws_ebs_volume" "meta" {
  for_each          = local.meta_nodes
  availability_zone = each.key
  size              = var.meta_volume_size_gb
  type              = var.meta_volume_type
  encrypted         = true
  kms_key_id        = var.kms_key_arn
  tags              = merge(local.tags, { Name = "${var.name}-meta-${each.value.id}" })
}

locals {
  common_user_data = templatefile("${path.module}/templates/common.sh.tftpl", {
    image        = var.sluice_image
    ecr_registry = local.ecr_registry
  })
}

resource "aws_launch_template" "meta" {
  for_each      = local.meta_nodes
  name_prefix   = "${var.name}-meta-${each.value.id}-"
  image_id      = local.ami_id
  instance_type = var.meta_instance_type
  user_data = base64encode(templatefile("${path.module}/templates/meta-user-data.sh.tftpl", {
    common         = local.common_user_data
    image          = var.sluice_image
    node_id        = each.value.id
    zone           = each.key
    eni_id         = aws_network_interface.meta[each.key].id
    volume_id      = aws_ebs_volume.meta[each.key].id
    advertised     = "${aws_network_interface.meta[each.key].private_ip}:${var.meta_port}"
    peers          = local.peers
    meta_port      = var.meta_port
    metrics_port   = var.metrics_port
    store_url      = local.store_url
    snapshot_every = var.meta_snapshot_every
    extra_args     = var.meta_extra_args
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.node["meta"].arn
  }
  vpc_security_group_ids = [aws_security_group.meta.id]

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
      volume_size = 20
      volume_type = "gp3"
      encrypted   = true
    }
  }
  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-meta-${each.value.id}", "sluice:role" = "meta" })
  }
  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }
  tags = local.tags
}

resource "aws_autoscaling_group" "meta" {
  for_each            = local.meta_nodes
  name                = "${var.name}-meta-${each.value.id}"
  vpc_zone_identifier = [each.value.subnet]
  min_size            = 1
  max_size            = 1
  desired_capacity    = 1
  # EC2 status checks: a crashed process is restarted by docker (--restart always); only a lost
  # instance is replaced, and the replacement rejoins the quorum by itself.
  health_check_type         = "EC2"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.meta[each.key].id
    version = aws_launch_template.meta[each.key].latest_version
  }

  # Template changes roll one node at a time (one group per zone, applied in turn).
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 0
    }
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.name}-meta-${each.value.id}", "sluice:role" = "meta" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}
