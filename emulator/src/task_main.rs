//! The `fargate-local-task` binary: only the commands that run inside a
//! task's containers (`infra`, the process of the infrastructure container,
//! and `firelens`/`firelens-health`, the stand-in log router), with the same
//! arguments as `fargate-local`'s. The emulator puts it, rather than its own
//! binary, into the tasks' infrastructure image: linked without the API,
//! the store, S3 and the AWS SDK, it is a fraction of the size. Not meant to
//! be run by hand.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "fargate-local", version)]
struct TaskCli {
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// The process of a task's infrastructure container.
    Infra,
    /// The FireLens log router stand-in.
    Firelens(fargate_local::firelens::FirelensArgs),
    /// The stand-in router's health check.
    FirelensHealth,
    /// Prints the id of the build this binary comes from (the emulator
    /// checks it is its own before using this binary).
    BuildId,
}

fn main() -> anyhow::Result<()> {
    match TaskCli::parse().command {
        TaskCommand::Firelens(args) => std::process::exit(fargate_local::firelens::run(args)),
        TaskCommand::FirelensHealth => std::process::exit(fargate_local::firelens::health_check()),
        TaskCommand::BuildId => {
            println!("{}", fargate_local::runtime::infra::BUILD_ID);
            Ok(())
        }
        TaskCommand::Infra => fargate_local::runtime::infra::run(),
    }
}
