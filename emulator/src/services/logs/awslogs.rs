//! The awslogs log driver, run by the emulator itself: a `TaskHook` that
//! follows the output of every container whose `logConfiguration` is
//! `awslogs` through the engine's logs API and ships it to the log store,
//! to `awslogs-group` / `<awslogs-stream-prefix>/<container>/<task id>`.
//!
//! The container itself logs with Docker's `json-file` driver, so the
//! engine keeps every line until the emulator has read it: nothing is lost
//! when the store is slow, and `mode: non-blocking` (whose point on AWS is
//! not to block the application on CloudWatch) needs nothing more. Lines are
//! batched (at most 200 ms or 1,000 events) like the Docker driver batches,
//! only sooner. The last lines are shipped before the task shows STOPPED:
//! the `stopped` hook waits for every follower to drain.
//!
//! `awslogs-multiline-pattern` and `awslogs-datetime-format` join lines as
//! Docker's driver does: a line matching the pattern starts a new event,
//! others are appended to the current one, each line keeping its newline;
//! a pending event is shipped once no line has come for a second.

use crate::services::kit::AwsError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Logs;
use crate::runtime::plan::{ContainerPlan, TaskPlan};
use crate::runtime::supervisor::container_name;
use crate::runtime::{ContainerRuntime, ContainerSpec, TaskHook};
use crate::shutdown::Shutdown;
use tokio_util::sync::WaitForCancellationFutureOwned;

/// Where one container's output goes and how lines become events.
#[derive(Debug, Clone)]
pub struct Target {
    pub region: String,
    pub group: String,
    pub stream: String,
    pub create_group: bool,
    /// A line matching it starts a new event.
    pub multiline: Option<regex::Regex>,
}

const FLUSH_EVERY: Duration = Duration::from_millis(200);
const FLUSH_EVENTS: usize = 1000;
/// A multi-line event with no new line for this long is complete.
const MULTILINE_IDLE: Duration = Duration::from_secs(1);
/// How long `stopped` waits for the followers to drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The awslogs target of a container, or why its options are unusable (the
/// reason the task stops with, as on Fargate).
pub fn target(plan: &TaskPlan, c: &ContainerPlan) -> Option<Result<Target, String>> {
    let log = c.log_configuration.as_ref()?;
    if log.log_driver != "awslogs" {
        return None;
    }
    let opts = log.options.clone().unwrap_or_default();
    let fail = |msg: String| {
        Some(Err(format!(
            "ResourceInitializationError: failed to validate logger args: {msg} : exit status 1"
        )))
    };
    let Some(group) = opts.get("awslogs-group").cloned() else {
        return fail("must specify a value for log opt 'awslogs-group'".into());
    };
    let region = opts
        .get("awslogs-region")
        .cloned()
        .unwrap_or_else(|| plan.region.clone());
    let stream = match opts.get("awslogs-stream-prefix") {
        Some(p) => format!("{p}/{}/{}", c.name, plan.task_id),
        None => c.runtime_id.clone(),
    };
    let create_group = opts
        .get("awslogs-create-group")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(mode) = opts.get("mode")
        && mode != "blocking"
        && mode != "non-blocking"
    {
        return fail(format!("logger: unknown mode {mode}"));
    }
    let pattern = opts.get("awslogs-multiline-pattern");
    let datetime = opts.get("awslogs-datetime-format");
    let multiline = match (pattern, datetime) {
        (Some(_), Some(_)) => {
            return fail(
                "you cannot configure log opt 'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same time"
                    .into(),
            );
        }
        (Some(p), None) => match regex::Regex::new(p) {
            Ok(re) => Some(re),
            Err(e) => {
                return fail(format!(
                    "awslogs could not parse multiline pattern key: {e}"
                ));
            }
        },
        (None, Some(f)) => match regex::Regex::new(&datetime_regex(f)) {
            Ok(re) => Some(re),
            Err(e) => return fail(format!("awslogs could not parse datetime format: {e}")),
        },
        (None, None) => None,
    };
    Some(Ok(Target {
        region,
        group,
        stream,
        create_group,
        multiline,
    }))
}

/// The regular expression Docker's awslogs driver makes of a strftime
/// format: the format anchored at the start of the line, each directive a
/// pattern of what it prints.
pub fn datetime_regex(format: &str) -> String {
    let mut out = String::from("^");
    let mut chars = format.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push_str(&regex::escape(&ch.to_string()));
            continue;
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let piece = match d {
            'a' => r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)",
            'A' => r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)",
            'b' => r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
            'B' => {
                r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
            }
            'd' => r"(?:0[1-9]|[1,2][0-9]|3[0,1])",
            'H' => r"(?:[0,1][0-9]|2[0-3])",
            'I' => r"(?:0[0-9]|1[0-2])",
            'j' => r"(?:00[1-9]|0[1-9][0-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])",
            'L' => r"\.\d{3}",
            'm' => r"(?:0[1-9]|1[0-2])",
            'M' => r"[0-5][0-9]",
            'f' => r"\d{6}",
            'p' => r"[A,P]M",
            'S' => r"[0-5][0-9]",
            'y' => r"\d{2}",
            'Y' => r"\d{4}",
            'z' => r"[+-]\d{4}",
            'Z' => r"[A-Z]{1,4}T",
            '%' => "%",
            other => {
                out.push('%');
                out.push_str(&regex::escape(&other.to_string()));
                continue;
            }
        };
        out.push_str(piece);
    }
    out
}

/// Turns lines into events: one per line, or joined by the multi-line
/// pattern.
#[derive(Debug)]
pub struct Joiner {
    multiline: Option<regex::Regex>,
    /// (timestamp ms, text, when the last line was added)
    pending: Option<(i64, String, Instant)>,
    pub ready: Vec<(i64, String)>,
}

impl Joiner {
    pub fn new(multiline: Option<regex::Regex>) -> Self {
        Joiner {
            multiline,
            pending: None,
            ready: Vec::new(),
        }
    }

    pub fn push(&mut self, ts_ms: i64, text: &str, now: Instant) {
        let Some(re) = &self.multiline else {
            if !text.is_empty() {
                self.ready.push((ts_ms, text.to_string()));
            }
            return;
        };
        if re.is_match(text)
            && let Some((t, m, _)) = self.pending.take()
        {
            self.ready.push((t, m));
        }
        let (_, m, last) = self
            .pending
            .get_or_insert_with(|| (ts_ms, String::new(), now));
        m.push_str(text);
        m.push('\n');
        *last = now;
    }

    /// Completes a pending multi-line event idle since `idle` (or always).
    pub fn settle(&mut self, now: Instant, idle: Option<Duration>) {
        let done = match (&self.pending, idle) {
            (Some(_), None) => true,
            (Some((_, _, last)), Some(idle)) => now.duration_since(*last) >= idle,
            (None, _) => false,
        };
        if done && let Some((t, m, _)) = self.pending.take() {
            self.ready.push((t, m));
        }
    }
}

type Followers = HashMap<String, Vec<(watch::Sender<bool>, JoinHandle<()>)>>;

/// The execution role a follower's `logs:PutLogEvents` is judged as.
#[derive(Clone)]
struct PutJudge {
    iam: crate::services::iam::Iam,
    mode: crate::services::iam::Mode,
    role: String,
    task_arn: String,
}

impl PutJudge {
    /// Whether the role may put events on the target's stream; a refusal
    /// is logged and noted by `Iam::decide`.
    fn allows(&self, t: &Target) -> bool {
        let stream = format!(
            "arn:aws:logs:{}:{}:log-group:{}:log-stream:{}",
            t.region,
            self.iam.account(),
            t.group,
            t.stream
        );
        let who = crate::services::iam::Subject {
            kind: crate::services::iam::usage::RoleKind::Execution,
            role: &self.role,
            task_arn: &self.task_arn,
        };
        self.iam
            .decide(self.mode, who, None, "logs:PutLogEvents", &[stream])
            .is_ok()
    }
}

/// The hook. Followers start when the task is RUNNING; a task that stops
/// before that is read once when it stops.
pub struct AwsLogs {
    logs: Logs,
    runtime: Arc<dyn ContainerRuntime>,
    followers: Mutex<Followers>,
    /// On the emulator's shutdown every follower ships what it has read and
    /// ends; a re-adopted task's follower resumes after the last event.
    shutdown: Shutdown,
    /// IAM and `serve --iam`: the execution role's permission to create the
    /// group and the stream (`None`: not judged).
    iam: Option<(crate::services::iam::Iam, crate::services::iam::Mode)>,
    /// Counts what the driver ships, per task, for the egress lens.
    egress: Option<crate::services::egress::Egress>,
}

impl AwsLogs {
    pub fn new(logs: Logs, runtime: Arc<dyn ContainerRuntime>, shutdown: Shutdown) -> Self {
        AwsLogs {
            logs,
            runtime,
            followers: Mutex::new(HashMap::new()),
            shutdown,
            iam: None,
            egress: None,
        }
    }

    pub fn with_egress(mut self, egress: crate::services::egress::Egress) -> Self {
        self.egress = Some(egress);
        self
    }

    /// Judges the execution role's `logs:CreateLogGroup` (with
    /// `awslogs-create-group`) and `logs:CreateLogStream` under `mode`
    /// before the task starts, and `logs:PutLogEvents` on every batch.
    pub fn with_iam(
        mut self,
        iam: crate::services::iam::Iam,
        mode: crate::services::iam::Mode,
    ) -> Self {
        self.iam = Some((iam, mode));
        self
    }

    /// The execution role's permission for one container's group and
    /// stream: Fargate's stop reason when `enforce` denies it.
    fn judge(&self, plan: &TaskPlan, t: &Target) -> Result<(), String> {
        let (Some((iam, mode)), Some(role)) = (&self.iam, plan.execution_role_arn.as_deref())
        else {
            return Ok(());
        };
        let group_arn = format!(
            "arn:aws:logs:{}:{}:log-group:{}:log-stream:",
            t.region,
            iam.account(),
            t.group
        );
        let mut checks = Vec::new();
        if t.create_group {
            checks.push(("logs:CreateLogGroup", group_arn.clone(), "group"));
        }
        checks.push((
            "logs:CreateLogStream",
            format!("{group_arn}{}", t.stream),
            "stream",
        ));
        let who = crate::services::taskconfig::execution(plan, role);
        for (action, resource, what) in checks {
            iam.decide(*mode, who, None, action, &[resource])
                .map_err(|d| {
                    format!(
                        "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log {what}: AccessDeniedException: {} status code: 400, request id: {} : exit status 1",
                        d.message,
                        crate::domain::ids::uuid()
                    )
                })?;
        }
        Ok(())
    }

    fn spawn(
        &self,
        plan: &TaskPlan,
        c: &ContainerPlan,
        t: Target,
        stopped: bool,
    ) -> (watch::Sender<bool>, JoinHandle<()>) {
        let (tx, rx) = watch::channel(stopped);
        let name = container_name(&plan.task_id, &c.name);
        let quit = self.shutdown.signalled();
        let judge = match (&self.iam, &plan.execution_role_arn) {
            (Some((iam, mode)), Some(role)) => Some(PutJudge {
                iam: iam.clone(),
                mode: *mode,
                role: role.clone(),
                task_arn: plan.task_arn.clone(),
            }),
            _ => None,
        };
        let h = self.shutdown.spawn(
            "awslogs follower",
            follow(
                self.logs.clone(),
                self.runtime.clone(),
                name,
                t,
                rx,
                quit,
                self.egress.clone().map(|e| (e, plan.task_arn.clone())),
                judge,
            ),
        );
        (tx, h)
    }
}

#[async_trait]
impl TaskHook for AwsLogs {
    async fn before_create(&self, plan: &TaskPlan) -> Result<(), String> {
        for c in &plan.containers {
            let Some(t) = target(plan, c) else { continue };
            let t = t?;
            self.judge(plan, &t)?;
            let logs = self.logs.clone();
            let res = tokio::task::spawn_blocking(move || {
                logs.ensure_group(&t.region, &t.group, t.create_group)?;
                logs.ensure_stream(&t.region, &t.group, &t.stream)
            })
            .await
            .map_err(|e| e.to_string())?;
            if let Err(e) = res {
                return Err(format!(
                    "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: {}: {e} : exit status 1",
                    e.code()
                ));
            }
        }
        Ok(())
    }

    fn container_spec(&self, plan: &TaskPlan, c: &ContainerPlan, spec: &mut ContainerSpec) {
        if target(plan, c).is_some() {
            // The engine keeps the output until the follower has read it.
            spec.log_driver = Some(("json-file".into(), HashMap::new()));
        }
    }

    async fn running(&self, plan: &TaskPlan) {
        let mut started = Vec::new();
        for c in &plan.containers {
            if let Some(Ok(t)) = target(plan, c) {
                started.push(self.spawn(plan, c, t, false));
            }
        }
        if !started.is_empty() {
            self.followers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(plan.task_arn.clone(), started);
        }
    }

    async fn stopped(&self, plan: &TaskPlan) {
        let running = self
            .followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&plan.task_arn);
        let followers = match running {
            Some(f) => f,
            // Never RUNNING: read what the containers wrote, once.
            None => plan
                .containers
                .iter()
                .filter_map(|c| match target(plan, c) {
                    Some(Ok(t)) => Some(self.spawn(plan, c, t, true)),
                    _ => None,
                })
                .collect(),
        };
        for (tx, _) in &followers {
            let _ = tx.send(true);
        }
        for (_, h) in followers {
            if tokio::time::timeout(DRAIN_TIMEOUT, h).await.is_err() {
                tracing::warn!(task = %plan.task_arn, "an awslogs follower did not drain in time");
            }
        }
    }
}

/// Follows one container's output and ships it. One follow stream reads
/// everything once and ends when the container stops; a stream that ends
/// having read nothing means the container has not started yet, so it is
/// tried again until `stop` says every container has stopped (then once
/// more, without following). Lines are never read twice, whatever order the
/// engine's timestamps are in.
// What one follower needs, each of its own kind; a struct would only
// rename them.
#[allow(clippy::too_many_arguments)]
async fn follow(
    logs: Logs,
    rt: Arc<dyn ContainerRuntime>,
    name: String,
    t: Target,
    mut stop: watch::Receiver<bool>,
    quit: WaitForCancellationFutureOwned,
    meter: Option<(crate::services::egress::Egress, String)>,
    judge: Option<PutJudge>,
) {
    let meter = meter.as_ref();
    let judge = judge.as_ref();
    let mut quit = std::pin::pin!(quit);
    // A re-adopted task's stream already has what was shipped before the
    // emulator restarted.
    let shipped_until = logs
        .last_event_time(&t.region, &t.group, &t.stream)
        .ok()
        .flatten();
    let mut joiner = Joiner::new(t.multiline.clone());
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    'follow: loop {
        let stopping = *stop.borrow();
        let mut read = 0usize;
        match rt.follow_logs(&name, 0, !stopping).await {
            Ok(mut lines) => loop {
                tokio::select! {
                    _ = &mut quit => break 'follow,
                    line = lines.next() => match line {
                        Some(Ok(l)) => {
                            read += 1;
                            let ms = l.ts_ns.div_euclid(1_000_000);
                            if shipped_until.is_none_or(|u| ms > u) {
                                joiner.push(ms, &l.text, Instant::now());
                                if joiner.ready.len() >= FLUSH_EVENTS {
                                    ship(&logs, &t, &mut joiner, meter, judge).await;
                                }
                            }
                        }
                        Some(Err(e)) => {
                            tracing::debug!(container = %name, error = %e, "awslogs: reading the output failed");
                            break;
                        }
                        None => break,
                    },
                    _ = tick.tick() => {
                        joiner.settle(Instant::now(), Some(MULTILINE_IDLE));
                        ship(&logs, &t, &mut joiner, meter, judge).await;
                    }
                }
            },
            Err(e) => {
                tracing::debug!(container = %name, error = %e, "awslogs: the output cannot be read")
            }
        }
        if stopping || read > 0 {
            break;
        }
        // Not started yet: look again shortly, or once more when told the
        // containers have stopped.
        tokio::select! {
            _ = &mut quit => break,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {}
        }
    }
    joiner.settle(Instant::now(), None);
    ship(&logs, &t, &mut joiner, meter, judge).await;
}

async fn ship(
    logs: &Logs,
    t: &Target,
    joiner: &mut Joiner,
    meter: Option<&(crate::services::egress::Egress, String)>,
    judge: Option<&PutJudge>,
) {
    if joiner.ready.is_empty() {
        return;
    }
    let events = std::mem::take(&mut joiner.ready);
    // Each batch is one PutLogEvents of the execution role's: a refused
    // batch is lost, as the Docker driver's failed put loses it, and the
    // container runs on.
    if judge.is_some_and(|j| !j.allows(t)) {
        return;
    }
    if let Some((egress, task_arn)) = meter {
        egress.add_awslogs(task_arn, events.iter().map(|(_, m)| m.as_str()));
    }
    let (logs, t2) = (logs.clone(), t.clone());
    let res =
        tokio::task::spawn_blocking(move || logs.append(&t2.region, &t2.group, &t2.stream, events))
            .await;
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(group = %t.group, stream = %t.stream, error = %e, "awslogs: events could not be stored")
        }
        Err(e) => tracing::warn!(error = %e, "awslogs: the store call failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_join(pattern: Option<&str>, lines: &[&str], want: &[&str]) {
        let mut j = Joiner::new(pattern.map(|p| regex::Regex::new(p).unwrap()));
        let now = Instant::now();
        for (i, l) in lines.iter().enumerate() {
            j.push(i as i64, l, now);
        }
        j.settle(now, None);
        let got: Vec<&str> = j.ready.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(got, want, "{pattern:?}");
    }

    #[test]
    fn lines_become_events() {
        check_join(None, &["a", "", "b"], &["a", "b"]);
        check_join(
            Some("^Started"),
            &[
                "boot",
                "Started GET /",
                "  Processing",
                "  Completed 200",
                "Started GET /x",
                "  boom",
            ],
            &[
                "boot\n",
                "Started GET /\n  Processing\n  Completed 200\n",
                "Started GET /x\n  boom\n",
            ],
        );
        let re = datetime_regex("%Y-%m-%d %H:%M:%S");
        check_join(
            Some(&re),
            &[
                "2026-11-30 21:00:01 ERROR boom",
                "  at app.rb:12",
                "2026-11-30 21:00:02 INFO ok",
            ],
            &[
                "2026-11-30 21:00:01 ERROR boom\n  at app.rb:12\n",
                "2026-11-30 21:00:02 INFO ok\n",
            ],
        );
    }

    #[test]
    fn idle_multiline_events_complete() {
        let mut j = Joiner::new(Some(regex::Regex::new("^S").unwrap()));
        let t0 = Instant::now();
        j.push(1, "S one", t0);
        j.settle(t0 + Duration::from_millis(500), Some(MULTILINE_IDLE));
        assert!(j.ready.is_empty());
        j.settle(t0 + Duration::from_millis(1500), Some(MULTILINE_IDLE));
        assert_eq!(j.ready, [(1, "S one\n".to_string())]);
    }

    #[test]
    fn datetime_formats_become_patterns() {
        let cases = [
            ("%Y-%m-%dT%H:%M:%S", "2026-01-31T23:59:59 x", true),
            ("%Y-%m-%dT%H:%M:%S", "x 2026-01-31T23:59:59", false),
            ("[%b %d, %Y %H:%M:%S]", "[Nov 30, 2026 21:00:00] y", true),
            (
                "%d/%b/%Y:%H:%M:%S %z",
                "30/Nov/2026:21:00:00 +0000 GET",
                true,
            ),
            ("%H:%M:%S%L", "21:00:00.123", true),
        ];
        for (f, line, want) in cases {
            let re = regex::Regex::new(&datetime_regex(f)).unwrap();
            assert_eq!(re.is_match(line), want, "{f} on {line}");
        }
    }
}
