//! The router process: loads the config, binds the inputs, runs records
//! through the pipeline and drives one worker per output (flush every
//! `Flush` seconds, retries with backoff up to `Retry_Limit`). On
//! SIGTERM/SIGINT it stops reading input, flushes what it holds within
//! `Grace` seconds and returns 0; a config error returns 1 before anything
//! is bound; a rewrite_tag cycle returns 255.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::config::{self, ConfigError, Section};
use super::inputs::{self, Ingest, InputSpec};
use super::log;
use super::outputs::{self, Item, Output};
use super::parsers::Parsers;
use super::pipeline::{Pipeline, Routed};
use super::router::MatchSpec;

/// Everything the config describes, built and checked.
pub struct Plan {
    pub flush: Duration,
    pub grace: Duration,
    pub inputs: Vec<InputSpec>,
    pub pipeline: Pipeline,
    pub outputs: Vec<OutputPlan>,
    pub warnings: Vec<String>,
}

pub struct OutputPlan {
    pub name: String,
    pub output: Box<dyn Output>,
    /// None: retry for ever (`Retry_Limit no_limits`/`False`).
    pub retry_limit: Option<u32>,
}

/// Reads the main config, the parsers files it names and `-R` files.
pub fn plan(config_path: &Path, parser_files: &[PathBuf]) -> Result<Plan, ConfigError> {
    let src = config::Fs;
    let mut vars = HashMap::new();
    let mut warnings = Vec::new();
    let sections = config::load(&src, config_path, &mut vars, &mut warnings)?;
    plan_sections(&src, sections, parser_files, vars, warnings)
}

pub fn plan_sections(
    src: &dyn config::Source,
    sections: Vec<Section>,
    parser_files: &[PathBuf],
    mut vars: HashMap<String, String>,
    mut warnings: Vec<String>,
) -> Result<Plan, ConfigError> {
    let mut flush = Duration::from_secs(1);
    let mut grace = Duration::from_secs(5);
    let mut parsers = Parsers::new();
    let mut parser_paths: Vec<PathBuf> = parser_files.to_vec();
    for s in sections.iter().filter(|s| s.kind == "SERVICE") {
        for (k, v) in &s.entries {
            match k.as_str() {
                "flush" => {
                    flush = config::parse_duration(v)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| ConfigError(format!("[service] invalid Flush '{v}'")))?;
                }
                "grace" => {
                    grace = config::parse_duration(v)
                        .ok_or_else(|| ConfigError(format!("[service] invalid Grace '{v}'")))?;
                }
                "log_level" => {
                    if !log::set_level(v) {
                        return Err(ConfigError(format!("[service] invalid Log_Level '{v}'")));
                    }
                }
                "parsers_file" => parser_paths.push(PathBuf::from(v)),
                "daemon"
                | "http_server"
                | "http_listen"
                | "http_port"
                | "health_check"
                | "hc_errors_count"
                | "hc_retry_failure_count"
                | "hc_period"
                | "storage.path"
                | "storage.sync"
                | "storage.checksum"
                | "storage.backlog.mem_limit"
                | "storage.metrics"
                | "log_file"
                | "plugins_file"
                | "streams_file"
                | "coro_stack_size"
                | "scheduler.cap"
                | "scheduler.base" => {
                    warnings.push(format!(
                        "[service] '{k}' is accepted and has no effect in fargate-local's router"
                    ));
                }
                _ => warnings.push(format!("[service] unknown key '{k}' ignored")),
            }
        }
    }
    // Parsers: from the main config's own [PARSER] sections (Fluent Bit
    // ignores those there; accepted here), then files.
    for p in &parser_paths {
        let secs = config::load(src, p, &mut vars, &mut warnings).map_err(|e| {
            ConfigError(format!(
                "[parser] cannot load parsers file {}: {e}",
                p.display()
            ))
        })?;
        parsers.add_sections(&secs)?;
    }
    let parsers = Arc::new(parsers);

    let mut inputs = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut instance = |plugin: &str| {
        let n = counts.entry(plugin.to_string()).or_default();
        let name = format!("{plugin}.{n}");
        *n += 1;
        name
    };
    let mut filter_sections = Vec::new();
    let mut output_plans = Vec::new();
    let mut output_specs = Vec::new();
    for s in &sections {
        match s.kind.as_str() {
            "SERVICE" => {}
            "INPUT" => {
                let plugin = section_plugin(s)?;
                let inst = instance(&format!("in_{plugin}"));
                let inst = inst.trim_start_matches("in_").to_string();
                inputs.push(InputSpec::from_section(s, &plugin, &inst, &mut warnings)?);
            }
            "FILTER" => filter_sections.push(s),
            "OUTPUT" => {
                let plugin = section_plugin(s)?;
                let inst = instance(&format!("out_{plugin}"));
                let inst = inst.trim_start_matches("out_").to_string();
                let scope = format!("output:{plugin}:{inst}");
                let spec = MatchSpec::from_section(s, &scope)?;
                let output = outputs::build(&plugin, s, &scope, &mut warnings)?;
                if spec.is_empty() {
                    warnings.push(format!(
                        "[{scope}] NO match rule for {plugin} output instance, unloading."
                    ));
                    continue;
                }
                let retry_limit = match s.get("retry_limit").map(str::to_ascii_lowercase).as_deref()
                {
                    None => Some(1),
                    Some("no_limits") | Some("false") => None,
                    Some("no_retries") => Some(0),
                    Some(v) => Some(v.parse().map_err(|_| {
                        ConfigError(format!("[{scope}] invalid Retry_Limit '{v}'"))
                    })?),
                };
                output_specs.push(spec);
                output_plans.push(OutputPlan {
                    name: scope,
                    output,
                    retry_limit,
                });
            }
            "PARSER" | "MULTILINE_PARSER" => {
                warnings.push(format!(
                    "{}: [{}] belongs in a parsers file (Parsers_File or -R); it is ignored here",
                    s.origin, s.kind
                ));
            }
            "CUSTOM" | "PLUGINS" | "UPSTREAM" | "NODE" => {
                warnings.push(format!(
                    "{}: section [{}] is not supported and is ignored",
                    s.origin, s.kind
                ));
            }
            other => {
                return Err(ConfigError(format!(
                    "{}: invalid section [{other}]",
                    s.origin
                )));
            }
        }
    }
    if inputs.is_empty() {
        return Err(ConfigError(
            "no inputs have been defined (an [INPUT] section)".into(),
        ));
    }
    let pipeline = Pipeline::build(&filter_sections, output_specs, &parsers, &mut warnings)?;
    Ok(Plan {
        flush,
        grace,
        inputs,
        pipeline,
        outputs: output_plans,
        warnings,
    })
}

fn section_plugin(s: &Section) -> Result<String, ConfigError> {
    s.name()
        .map(|n| n.to_ascii_lowercase())
        .ok_or_else(|| ConfigError(format!("{}: [{}] section without a Name", s.origin, s.kind)))
}

/// A batch for an output worker.
struct OutBatch {
    tag: Arc<str>,
    events: Vec<super::record::Event>,
    charge: Option<inputs::Charge>,
}

/// Runs the router until a signal; returns the exit status.
pub async fn run(plan: Plan) -> i32 {
    for w in &plan.warnings {
        log::warn("config", w);
    }
    let Plan {
        flush,
        grace,
        inputs: input_specs,
        mut pipeline,
        outputs: output_plans,
        ..
    } = plan;

    let (tx, mut rx) = mpsc::channel::<Ingest>(1024);
    let mut input_tasks = JoinSet::new();
    let mut sockets = Vec::new();
    for spec in input_specs {
        match inputs::start(spec, tx.clone(), &mut input_tasks).await {
            Ok(s) => sockets.extend(s),
            Err(e) => {
                log::error("engine", e);
                return 1;
            }
        }
    }
    drop(tx);

    let mut senders = Vec::new();
    let mut workers = JoinSet::new();
    for op in output_plans {
        let (otx, orx) = mpsc::unbounded_channel::<OutBatch>();
        senders.push(otx);
        workers.spawn(worker(op, orx, flush));
    }
    log::info("engine", format!("started (pid={})", std::process::id()));

    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            log::error("engine", format!("cannot handle SIGTERM: {e}"));
            return 1;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut routed = Vec::new();
    loop {
        let res = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => pipeline.process(&m.tag, m.events, Instant::now(), &mut routed).map(|_| m.charge),
                None => break,
            },
            _ = tick.tick() => pipeline.tick(Instant::now(), false, &mut routed).map(|_| None),
            _ = term.recv() => { log::info("engine", "service will shutdown in max 5 seconds".replace('5', &grace.as_secs().to_string())); break }
            _ = tokio::signal::ctrl_c() => { log::info("engine", format!("service will shutdown in max {} seconds", grace.as_secs())); break }
        };
        match res {
            Ok(charge) => ship(&mut routed, &senders, charge),
            Err(e) => {
                log::error("engine", e.to_string());
                return 255;
            }
        }
    }

    // Stop reading, then route what was already read.
    input_tasks.abort_all();
    while input_tasks.join_next().await.is_some() {}
    for s in &sockets {
        let _ = std::fs::remove_file(s);
    }
    while let Ok(m) = rx.try_recv() {
        match pipeline.process(&m.tag, m.events, Instant::now(), &mut routed) {
            Ok(()) => ship(&mut routed, &senders, m.charge),
            Err(e) => {
                log::error("engine", e.to_string());
                return 255;
            }
        }
    }
    if let Err(e) = pipeline.tick(Instant::now(), true, &mut routed) {
        log::error("engine", e.to_string());
        return 255;
    }
    ship(&mut routed, &senders, None);
    drop(senders);
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            r = workers.join_next() => if r.is_none() { break },
            _ = &mut deadline => {
                log::warn("engine", format!("grace period of {} seconds is over, exiting with unflushed data", grace.as_secs()));
                break;
            }
        }
    }
    log::info("engine", "service has stopped (0 pending tasks)");
    0
}

fn ship(
    routed: &mut Vec<Routed>,
    senders: &[mpsc::UnboundedSender<OutBatch>],
    charge: Option<inputs::Charge>,
) {
    for r in routed.drain(..) {
        let _ = senders[r.output].send(OutBatch {
            tag: r.tag,
            events: r.events,
            charge: charge.clone(),
        });
    }
}

fn backoff(retry: u32) -> Duration {
    Duration::from_millis((500u64 << retry.min(5)).min(10_000))
}

async fn worker(mut op: OutputPlan, mut rx: mpsc::UnboundedReceiver<OutBatch>, flush: Duration) {
    let mut pending: Vec<Item> = Vec::new();
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut retries = 0u32;
    let mut retry_at: Option<Instant> = None;
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(b) => push(&mut pending, b, op.output.as_mut()),
                None => break,
            },
            _ = tick.tick() => {
                if retry_at.is_some_and(|t| Instant::now() < t) {
                    continue;
                }
                if pending.is_empty() && !op.output.holds() {
                    continue;
                }
                let batch = std::mem::take(&mut pending);
                let n = batch.len();
                match op.output.flush(batch, false).await {
                    Ok(()) => {
                        if retries > 0 {
                            log::info("engine", format!("flush chunk succeeded at retry {retries}: output={}", op.name));
                        }
                        retries = 0;
                        retry_at = None;
                    }
                    Err(e) => {
                        log::error(&op.name, &e);
                        // `no_limits` retries for ever: the count must not overflow.
                        retries = retries.saturating_add(1);
                        if op.retry_limit.is_some_and(|l| retries > l) {
                            let dropped = op.output.discard();
                            log::error("engine", format!(
                                "chunk of {} records cannot be retried: output={} (Retry_Limit reached)",
                                dropped.max(n), op.name
                            ));
                            retries = 0;
                            retry_at = None;
                        } else {
                            let wait = backoff(retries);
                            log::warn("engine", format!(
                                "failed to flush chunk, retry in {} ms: output={}", wait.as_millis(), op.name
                            ));
                            retry_at = Some(Instant::now() + wait);
                        }
                    }
                }
            }
        }
    }
    // Shutdown: flush everything, retrying until the engine's grace ends.
    let mut attempt = 0u32;
    loop {
        let batch = std::mem::take(&mut pending);
        if batch.is_empty() && !op.output.holds() {
            return;
        }
        match op.output.flush(batch, true).await {
            Ok(()) => return,
            Err(e) => {
                log::error(&op.name, &e);
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
}

/// Offers a routed batch to its output, record by record; what it does not
/// take waits in `pending` for the next flush.
fn push(pending: &mut Vec<Item>, b: OutBatch, output: &mut dyn Output) {
    for event in b.events {
        let item = Item {
            tag: b.tag.clone(),
            event,
            charge: b.charge.clone(),
        };
        if let Some(item) = output.accept(item) {
            pending.push(item);
        }
    }
}
