//! Load generator (being written).
use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {}

pub async fn run(_a: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("sluice bench is not implemented yet")
}
