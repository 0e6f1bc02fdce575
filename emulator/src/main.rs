//! The `fargate-local` binary: parses the command line and runs a command.

use clap::Parser;
use fargate_local::config::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Firelens(args) = cli.command {
        // Its own runtime and its own (Fluent Bit-style) log lines.
        std::process::exit(fargate_local::firelens::run(args));
    }
    if let Command::FirelensHealth = cli.command {
        std::process::exit(fargate_local::firelens::health_check());
    }
    if let Command::Health { listen } = cli.command {
        std::process::exit(fargate_local::config::health_check(listen));
    }
    if let Command::Infra = cli.command {
        return fargate_local::runtime::infra::run();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Infra => unreachable!("run on its own runtime above"),
        Command::Cleanup => {
            init_logging(cli.log_format);
            rt.block_on(cleanup())
        }
        Command::Exec(args) => {
            let code = rt.block_on(fargate_local::exec::client::run(args))?;
            // The runtime would wait for the blocked stdin reader.
            rt.shutdown_background();
            std::process::exit(code);
        }
        Command::Egress(args) => {
            let code = rt.block_on(fargate_local::services::egress::cli::run(args))?;
            std::process::exit(code);
        }
        Command::Iam(cmd) => {
            let code = rt.block_on(fargate_local::services::iam::cli::run(cmd))?;
            std::process::exit(code);
        }
        Command::Firelens(_) | Command::FirelensHealth | Command::Health { .. } => {
            unreachable!("handled above")
        }
        Command::Serve(args) => {
            init_logging(cli.log_format);
            rt.block_on(serve(args))
        }
    }
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_env("FARGATE_LOCAL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,s3s=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().with_ansi(false).init(),
        LogFormat::Text => {
            // Colour codes only where a person reads them: not in a file,
            // a pipe or `docker logs`, and never against NO_COLOR.
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            builder.with_ansi(colour).init()
        }
    }
}

/// Binds `addr` for `what`, or says what to do when it cannot.
async fn bind(
    addr: std::net::SocketAddr,
    what: &str,
    flag: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!(fargate_local::config::listen_error(addr, &e, what, flag)))
}

/// The embedded S3's own port unless --s3-listen says otherwise.
const DEFAULT_S3_LISTEN: &str = "127.0.0.1:4572";

async fn serve(args: fargate_local::config::ServeArgs) -> anyhow::Result<()> {
    // Ctrl-C while starting is kept for when serving begins, which then
    // shuts down in order instead of dying half-started.
    let interrupted = interrupted()?;
    let listener = bind(
        args.listen,
        "the API",
        "--listen ADDR (FARGATE_LOCAL_LISTEN)",
    )
    .await?;
    let s3_listener = match args.s3.s3_listen.as_deref() {
        Some("off") => None,
        Some(addr) => {
            let parsed = addr.parse().map_err(|e| {
                anyhow::anyhow!("--s3-listen {addr}: not an address (give HOST:PORT or off): {e}")
            })?;
            Some(
                bind(
                    parsed,
                    "S3's own port",
                    "--s3-listen ADDR (FARGATE_LOCAL_S3_LISTEN), or --s3-listen off",
                )
                .await?,
            )
        }
        None => match tokio::net::TcpListener::bind(DEFAULT_S3_LISTEN).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(listen = DEFAULT_S3_LISTEN, error = %e, "S3's own port is not available; S3 is served on the main port only");
                None
            }
        },
    };
    let app = fargate_local::app::App::start(args.clone()).await?;
    if let Some(l) = s3_listener {
        tracing::info!(listen = %l.local_addr()?, "S3 is serving");
        let router = fargate_local::api::s3::router(app.clone());
        let stop = app.shutdown_signal().signalled();
        app.shutdown_signal().spawn("S3 port", async move {
            if let Err(e) = axum::serve(no_delay(l), router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "the S3 port stopped");
            }
        });
    }
    tracing::info!(
        listen = %listener.local_addr()?,
        data_dir = ?args.data_dir(),
        instance = %app.instance().id,
        "fargate-local is serving"
    );
    let router = fargate_local::api::router(app.clone());
    // First the API stops accepting; then one signal stops everything else.
    axum::serve(no_delay(listener), router)
        .with_graceful_shutdown(interrupted)
        .await?;
    app.shutdown().await;
    Ok(())
}

/// A listener whose connections send each write at once (TCP_NODELAY): a
/// streamed answer (a forwarded call's, an S3 object's) goes out as headers
/// and then body chunks, and with Nagle's algorithm a chunk waits for the
/// client's delayed ACK of the headers, up to 40 ms.
fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set on a connection");
        }
    })
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: a signal sent as soon as the "serving"
/// line is out must find them.
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

async fn cleanup() -> anyhow::Result<()> {
    use fargate_local::runtime::Instance;
    use fargate_local::runtime::docker::{DockerOptions, DockerRuntime};
    let d = DockerRuntime::connect(
        Instance {
            id: "cleanup".into(),
            ephemeral: true,
        },
        DockerOptions {
            publish_address: "127.0.0.1".into(),
            network_name: String::new(),
        },
    )
    .await?;
    let r = d.remove_all_managed().await?;
    println!(
        "removed {} container(s), {} volume(s), {} network(s) and {} infrastructure image(s)",
        r.containers, r.volumes, r.networks, r.images
    );
    if r.refused.is_empty() {
        return Ok(());
    }
    for (object, why) in &r.refused {
        eprintln!("cleanup: Docker would not remove {object}: {why}");
    }
    eprintln!(
        "cleanup: Docker refused to remove {} object(s)",
        r.refused.len()
    );
    std::process::exit(1)
}
