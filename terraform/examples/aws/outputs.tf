output "bootstrap_server" {
  description = "Give this to Kafka clients (bootstrap.servers)."
  value       = module.sluice.bootstrap_server
}

output "bootstrap_servers" {
  description = "Bootstrap address of each enabled listener."
  value       = module.sluice.bootstrap_servers
}

output "bucket" {
  description = "The bucket and prefix holding the cluster's data."
  value       = module.sluice.bucket
}

output "metrics_endpoints" {
  description = "Prometheus targets (metadata nodes) and agent discovery settings."
  value       = module.sluice.metrics_endpoints
}

output "meta_endpoints" {
  description = "Metadata nodes, for sluice meta members --meta ..."
  value       = module.sluice.meta_endpoints
}
