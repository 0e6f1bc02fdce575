//! The FireLens stand-in log router: `fargate-local firelens --config
//! <file>`, a Rust reimplementation of the part of Fluent Bit that FireLens
//! configs use (forward input, classic config, filters, routing, the AWS
//! outputs), so that a task's log router needs no image from a registry.
//! It runs inside the router container and talks to the emulator's API for
//! CloudWatch Logs and S3. It is not a general Fluent Bit: COVERAGE.md
//! lists the supported plugins and keys.

pub mod config;
pub mod engine;
pub mod filters;
pub mod forward;
pub mod inputs;
pub mod log;
pub mod outputs;
pub mod parsers;
pub mod pipeline;
pub mod record;
pub mod regex;
#[cfg(test)]
mod robustness;
pub mod router;

use std::path::PathBuf;

/// `fargate-local firelens` arguments (as `fluent-bit -c … -R …`).
#[derive(Debug, Clone, clap::Args)]
pub struct FirelensArgs {
    /// The classic-mode Fluent Bit configuration file.
    #[arg(short = 'c', long = "config")]
    pub config: PathBuf,

    /// A parsers file (repeatable), as `fluent-bit -R`.
    #[arg(short = 'R', long = "parser")]
    pub parsers: Vec<PathBuf>,

    /// Accepted for compatibility with `fluent-bit -e <plugin.so>`; the
    /// Go plugins are built in.
    #[arg(short = 'e', long = "plugin", hide = true)]
    pub plugins: Vec<PathBuf>,
}

/// The stand-in router's health check (`fargate-local firelens-health`):
/// what AWS's suggested FireLens check,
/// `echo '{"health": "check"}' | nc 127.0.0.1 8877 || exit 1`, does. The
/// stand-in's image has no shell, so the emulator runs this in its place.
/// Returns the process exit status: 0 when the router's health-check input
/// accepted the record.
pub fn health_check() -> i32 {
    use std::io::Write;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 8877));
    let sent = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))
        .and_then(|mut s| s.write_all(b"{\"health\": \"check\"}\n"));
    match sent {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("firelens-health: {addr}: {e}");
            1
        }
    }
}

/// Runs the router; returns the process exit status.
pub fn run(args: FirelensArgs) -> i32 {
    log::info(
        "fluent bit",
        "fargate-local FireLens router (a Fluent Bit stand-in)",
    );
    let plan = match engine::plan(&args.config, &args.parsers) {
        Ok(p) => p,
        Err(e) => {
            let msg = e.0;
            if let Some(scoped) = msg.strip_prefix('[') {
                // Already scoped: `[filter:grep:grep.0] …`.
                let (scope, rest) = scoped.split_once("] ").unwrap_or(("config", &msg));
                log::error(scope, rest);
            } else {
                log::error("config", msg);
            }
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error("engine", format!("cannot start the runtime: {e}"));
            return 1;
        }
    };
    let code = rt.block_on(engine::run(plan));
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}
