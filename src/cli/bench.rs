//! `lapse bench seed`: a fake fleet in a fresh database, for the API
//! benchmark (`benches/api.sh`).

use chrono::Utc;
use clap::Subcommand;

use super::CliError;
use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fill a fresh database with a fake fleet for load tests.
    Seed {
        /// Domains to create.
        #[arg(long, default_value_t = 100_000)]
        domains: u32,
        /// Endpoints per domain (1 to 8), each with one current observation.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
        endpoints_per_domain: u32,
        /// Clients the domains are spread over.
        #[arg(long, default_value_t = 1000)]
        clients: u32,
    },
}

pub async fn run(app: &App, cmd: BenchCommand) -> Result<(), CliError> {
    match cmd {
        BenchCommand::Seed {
            domains,
            endpoints_per_domain,
            clients,
        } => {
            let started = std::time::Instant::now();
            let report = app
                .store
                .seed_benchmark(clients, domains, endpoints_per_domain, Utc::now())
                .await?;
            println!(
                "seeded {} clients, {} domains, {} endpoints, {} observations into {} in {:.1} s",
                report.clients,
                report.domains,
                report.endpoints,
                report.observations,
                app.store.location(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
