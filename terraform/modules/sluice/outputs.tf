output "bootstrap_servers" {
  description = "Bootstrap address of each enabled Kafka listener (plaintext, ssl, sasl), host:port on the load balancer."
  value       = { for k, port in local.client_ports : k => "${aws_lb.bootstrap.dns_name}:${port}" }
}

output "bootstrap_server" {
  description = "The bootstrap address clients use: the SASL listener if enabled, else SSL, else PLAINTEXT."
  value       = "${aws_lb.bootstrap.dns_name}:${coalesce(lookup(local.client_ports, "sasl", null), lookup(local.client_ports, "ssl", null), lookup(local.client_ports, "plaintext", null))}"
}

output "bucket" {
  description = "Bucket name and the cluster's prefix in it, as the object store URL the nodes use."
  value = {
    name       = local.bucket_name
    arn        = local.bucket_arn
    prefix     = var.bucket_prefix
    url        = local.store_url
    express    = { for zone, b in aws_s3_directory_bucket.express : zone => b.bucket }
    created_by = var.create_bucket ? "this module" : "you (existing bucket)"
  }
}

output "meta_endpoints" {
  description = "HTTP addresses of the metadata nodes (for --meta of admin commands: sluice meta members --meta ...)."
  value       = local.meta_urls
}

output "metrics_endpoints" {
  description = "Prometheus targets: the metadata nodes' fixed addresses, and how to discover agents (EC2 service discovery on the tags below, port metrics_port). Health: /health/live and /health/ready on the same ports."
  value = {
    meta = [for zone in local.zones : "http://${aws_network_interface.meta[zone].private_ip}:${var.metrics_port}/metrics"]
    agents = {
      ec2_sd_tag_filters = { "tag:sluice:cluster" = var.name, "tag:sluice:role" = "agent" }
      port               = var.metrics_port
      path               = "/metrics"
    }
  }
}

output "security_group_ids" {
  description = "Security groups of the agents, metadata nodes and load balancer (add your own rules to them)."
  value = {
    agent = aws_security_group.agent.id
    meta  = aws_security_group.meta.id
    nlb   = aws_security_group.nlb.id
  }
}

output "instance_role_arns" {
  description = "IAM roles of the agents and metadata nodes (attach more policies to them if needed)."
  value       = { for k, r in aws_iam_role.node : k => r.arn }
}

output "autoscaling_group_names" {
  description = "Autoscaling groups: one per zone for agents, one per metadata node."
  value = {
    agents = { for zone, g in aws_autoscaling_group.agent : zone => g.name }
    meta   = { for zone, g in aws_autoscaling_group.meta : zone => g.name }
  }
}
