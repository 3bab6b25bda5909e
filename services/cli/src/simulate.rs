//! `simulate`: replays a scenario through the real engine (being written in this session).

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (YAML), or the name of a shipped scenario.
    #[arg(long)]
    pub scenario: Option<String>,
}

/// Runs the simulation.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("simulate is not built yet")
}
