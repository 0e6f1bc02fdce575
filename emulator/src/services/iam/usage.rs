//! What each task's two roles were used for: every (role kind, action,
//! resource) a decision was made on under `serve --iam` (the task role for
//! the app's calls and ECS Exec, the execution role for what the agent does
//! at launch), with the outcome, and the least-privilege policies generated
//! from them in the shape IAM Access Analyzer's policy generation gives
//! ([`generate`], a pure function).
//!
//! Recorded in every mode, `off` included (where nothing is evaluated and
//! the outcome is `notEvaluated`): a developer gets the policies whatever
//! the mode, and the cost is one short lock per judged call of a task.
//! Kept for the last [`MAX_TASKS`] tasks that used a role, at most
//! [`MAX_USES`] distinct uses each (a policy built from a truncated record
//! says `isComplete: false`), and durable: a task's record is written to
//! the store (`iam.usage`, one document per task) whenever it gains a use
//! or a use's outcome changes, so a restarted emulator still generates its
//! policies. A repeated call only counts in memory: after a restart a
//! use's `count` is the one it had when the record was last written. Calls made with task credentials that
//! name no resource the emulator can attribute (forwarded calls) are kept
//! by name and also make the policy incomplete.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How many tasks' usage is kept.
pub const MAX_TASKS: usize = 5000;
/// How many distinct (role kind, action, resource) a task keeps.
pub const MAX_USES: usize = 2000;

/// Which of a task's roles a decision was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoleKind {
    /// The app's calls, ECS Exec.
    Task,
    /// The agent's: image pulls, awslogs, secrets, env files.
    Execution,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Task => "task",
            RoleKind::Execution => "execution",
        }
    }
}

/// What came of one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Allowed,
    /// Refused (`enforce`).
    Denied,
    /// Allowed, but `enforce` would have refused it (`warn`).
    WouldDeny,
    /// `off`: recorded, not evaluated.
    NotEvaluated,
}

/// One distinct use of a role, as the read API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Use {
    pub role_kind: RoleKind,
    pub role_arn: String,
    pub action: String,
    pub resource: String,
    /// The last decision's outcome.
    pub outcome: Outcome,
    pub count: u64,
}

/// What one task's roles were used for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskUsage {
    pub task_arn: String,
    pub uses: Vec<Use>,
    /// `service:Operation` of calls made with the task's credentials that
    /// could not be attributed to a resource.
    pub unattributed: Vec<String>,
    /// More distinct uses than [`MAX_USES`] were seen.
    pub truncated: bool,
}

/// A use's role, last outcome and count, by role kind, action and resource:
/// nested, so that a repeated use (nearly every call) is found without
/// building a key.
type Uses = BTreeMap<RoleKind, BTreeMap<String, BTreeMap<String, (String, Outcome, u64)>>>;

#[derive(Default)]
struct Record {
    uses: Uses,
    /// How many uses `uses` holds.
    distinct: usize,
    unattributed: BTreeSet<String>,
    truncated: bool,
    /// When the task was first recorded, to drop the oldest after a restart
    /// as before it.
    seq: u64,
}

impl Record {
    fn view(&self, task_arn: &str) -> TaskUsage {
        TaskUsage {
            task_arn: task_arn.to_string(),
            uses: self
                .uses
                .iter()
                .flat_map(|(kind, actions)| {
                    actions.iter().flat_map(move |(action, resources)| {
                        resources
                            .iter()
                            .map(move |(resource, (role, outcome, count))| Use {
                                role_kind: *kind,
                                role_arn: role.clone(),
                                action: action.clone(),
                                resource: resource.clone(),
                                outcome: *outcome,
                                count: *count,
                            })
                    })
                })
                .collect(),
            unattributed: self.unattributed.iter().cloned().collect(),
            truncated: self.truncated,
        }
    }

    fn from_view(v: TaskUsage, seq: u64) -> Record {
        let mut uses = Uses::new();
        let mut distinct = 0;
        for u in v.uses {
            let previous = uses
                .entry(u.role_kind)
                .or_default()
                .entry(u.action)
                .or_default()
                .insert(u.resource, (u.role_arn, u.outcome, u.count));
            distinct += usize::from(previous.is_none());
        }
        Record {
            uses,
            distinct,
            unattributed: v.unattributed.into_iter().collect(),
            truncated: v.truncated,
            seq,
        }
    }
}

/// One task's record as stored.
#[derive(Serialize, Deserialize)]
struct Saved {
    seq: u64,
    usage: TaskUsage,
}

/// The store's document kind (under IAM's prefix, so IAM's reset clears it).
const KIND_USAGE: &str = "iam.usage";

#[derive(Default)]
struct State {
    tasks: HashMap<String, Record>,
    /// Task ARNs, oldest first, to drop the oldest beyond [`MAX_TASKS`].
    order: VecDeque<String>,
    next_seq: u64,
}

impl State {
    /// The task's record (new if need be), and the task dropped to make
    /// room for it.
    fn record(&mut self, task_arn: &str) -> (&mut Record, Option<String>) {
        let mut dropped = None;
        if !self.tasks.contains_key(task_arn) {
            if self.order.len() >= MAX_TASKS
                && let Some(old) = self.order.pop_front()
            {
                self.tasks.remove(&old);
                dropped = Some(old);
            }
            self.order.push_back(task_arn.to_string());
            let seq = self.next_seq;
            self.next_seq += 1;
            let r = Record {
                seq,
                ..Default::default()
            };
            self.tasks.insert(task_arn.to_string(), r);
        }
        // A known task's record is found without copying its ARN.
        let r = self.tasks.get_mut(task_arn).expect("inserted above");
        (r, dropped)
    }
}

/// A cheap handle to the recorded usage of one emulator.
#[derive(Clone, Default)]
pub struct Usage {
    state: Arc<Mutex<State>>,
    /// Where records are kept across restarts (`None`: memory only).
    store: Option<crate::store::Store>,
}

impl Usage {
    /// The usage recorded before, from the store; records go on to it.
    pub fn load(store: crate::store::Store) -> Result<Self, crate::store::StoreError> {
        let mut saved: Vec<(String, Saved)> = store.load(KIND_USAGE)?;
        saved.sort_by_key(|(_, s)| s.seq);
        let mut st = State::default();
        for (task_arn, s) in saved {
            st.next_seq = st.next_seq.max(s.seq + 1);
            st.order.push_back(task_arn.clone());
            st.tasks.insert(task_arn, Record::from_view(s.usage, s.seq));
        }
        Ok(Usage {
            state: Arc::new(Mutex::new(st)),
            store: Some(store),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a task's record (and drops the one it replaced). Usage is
    /// what was observed, not an answer: a failed write is logged and the
    /// record stays in memory.
    fn save(&self, st: &State, task_arn: &str, dropped: Option<String>) {
        let (Some(store), Some(r)) = (&self.store, st.tasks.get(task_arn)) else {
            return;
        };
        let saved = Saved {
            seq: r.seq,
            usage: r.view(task_arn),
        };
        let mut ops = vec![crate::store::Op::put(KIND_USAGE, task_arn, &saved)];
        if let Some(old) = &dropped {
            ops.push(crate::store::Op::delete(KIND_USAGE, old.as_str()));
        }
        if let Err(e) = store.write(ops) {
            tracing::warn!(task = %task_arn, error = %e, "iam: the task's role usage could not be stored");
        }
    }

    /// Records one decision: whether it is news (a use not seen before, or
    /// one whose role or outcome changed).
    pub fn record(
        &self,
        task_arn: &str,
        kind: RoleKind,
        role_arn: &str,
        action: &str,
        resource: &str,
        outcome: Outcome,
    ) -> bool {
        let mut st = self.lock();
        let (r, dropped) = st.record(task_arn);
        let known = r
            .uses
            .get_mut(&kind)
            .and_then(|a| a.get_mut(action))
            .and_then(|rs| rs.get_mut(resource));
        let changed = match known {
            Some(u) => {
                let changed = u.0 != role_arn || u.1 != outcome;
                if u.0 != role_arn {
                    u.0 = role_arn.to_string();
                }
                u.1 = outcome;
                u.2 += 1;
                changed
            }
            None if r.distinct >= MAX_USES => !std::mem::replace(&mut r.truncated, true),
            None => {
                r.uses
                    .entry(kind)
                    .or_default()
                    .entry(action.to_string())
                    .or_default()
                    .insert(resource.to_string(), (role_arn.to_string(), outcome, 1));
                r.distinct += 1;
                true
            }
        };
        if changed || dropped.is_some() {
            self.save(&st, task_arn, dropped);
        }
        changed
    }

    /// Records a call of a task that names no resource the emulator knows.
    pub fn record_unattributed(&self, task_arn: &str, call: &str) {
        let mut st = self.lock();
        let (r, dropped) = st.record(task_arn);
        let changed = if r.unattributed.len() < MAX_USES {
            r.unattributed.insert(call.to_string())
        } else {
            !std::mem::replace(&mut r.truncated, true)
        };
        if changed || dropped.is_some() {
            self.save(&st, task_arn, dropped);
        }
    }

    /// A task's usage, if it used a role.
    pub fn of_task(&self, task_arn: &str) -> Option<TaskUsage> {
        let st = self.lock();
        st.tasks.get(task_arn).map(|r| r.view(task_arn))
    }

    /// The ARNs of the tasks with recorded usage, oldest first.
    pub fn tasks(&self) -> Vec<String> {
        self.lock().order.iter().cloned().collect()
    }

    /// Forgets every record in memory (IAM's reset clears the store).
    pub fn clear(&self) {
        let mut st = self.lock();
        st.tasks.clear();
        st.order.clear();
    }
}

/// A generated statement, its members in the order Access Analyzer writes
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: String,
    pub effect: String,
    /// One action or a list.
    pub action: Value,
    /// One resource or a list.
    pub resource: Value,
}

/// A generated policy document: `Version` first, then `Statement`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: String,
    pub statement: Vec<Statement>,
}

/// Access Analyzer splits a generated policy longer than this into several.
pub const MAX_GENERATED_CHARS: usize = 6144;

/// The least-privilege policy of one role from what it was used for, in
/// Access Analyzer's `generatedPolicyResult` shape: each `policy` a
/// minified JSON string. Actions with the same set of resources share a
/// statement (`SupportedServiceSid<n>`), actions and resources sorted and
/// as narrow as observed; statements are split over several policies when
/// one would pass [`MAX_GENERATED_CHARS`]. No use: no policy.
pub fn generate<'a>(
    principal_arn: &str,
    uses: impl IntoIterator<Item = (&'a str, &'a str)>,
    complete: bool,
) -> Value {
    let mut by_action: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (action, resource) in uses {
        by_action.entry(action).or_default().insert(resource);
    }
    // A resource of `*` covers every other resource of its action.
    for rs in by_action.values_mut() {
        if rs.contains("*") {
            rs.retain(|r| *r == "*");
        }
    }
    let mut by_resources: BTreeMap<Vec<&str>, Vec<&str>> = BTreeMap::new();
    for (action, rs) in &by_action {
        by_resources
            .entry(rs.iter().copied().collect())
            .or_default()
            .push(action);
    }
    let statements: Vec<Statement> = by_resources
        .iter()
        .enumerate()
        .map(|(i, (resources, actions))| {
            let one_or_list = |v: &[&str]| match v {
                [one] => json!(one),
                many => json!(many),
            };
            Statement {
                sid: format!("SupportedServiceSid{i}"),
                effect: "Allow".into(),
                action: one_or_list(actions),
                resource: one_or_list(resources),
            }
        })
        .collect();
    let policy = |statement: &[Statement]| {
        serde_json::to_string(&PolicyDocument {
            version: "2012-10-17".into(),
            statement: statement.to_vec(),
        })
        .expect("a policy serializes")
    };
    let mut policies: Vec<Value> = Vec::new();
    let mut current: Vec<Statement> = Vec::new();
    for s in statements {
        current.push(s);
        if current.len() > 1 && policy(&current).len() > MAX_GENERATED_CHARS {
            let last = current.pop().expect("just pushed");
            policies.push(json!({ "policy": policy(&current) }));
            current = vec![last];
        }
    }
    if !current.is_empty() {
        policies.push(json!({ "policy": policy(&current) }));
    }
    json!({
        "generatedPolicies": policies,
        "properties": {
            "isComplete": complete,
            "principalArn": principal_arn,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uses: &[(&str, &str)], want: &[Value]) {
        let got = generate("arn:aws:iam::1:role/r", uses.iter().copied(), true);
        let policies: Vec<Value> = got["generatedPolicies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| serde_json::from_str(p["policy"].as_str().unwrap()).unwrap())
            .collect();
        let statements: Vec<Value> = policies
            .iter()
            .flat_map(|p| p["Statement"].as_array().unwrap().clone())
            .collect();
        assert_eq!(statements, want, "{uses:?}");
        assert_eq!(got["properties"]["principalArn"], "arn:aws:iam::1:role/r");
    }

    #[test]
    fn policies_are_as_narrow_as_observed_and_grouped_by_resources() {
        check(&[], &[]);
        check(
            &[
                ("s3:PutObject", "arn:aws:s3:::b/k"),
                ("s3:GetObject", "arn:aws:s3:::b/k"),
                ("s3:GetObject", "arn:aws:s3:::b/k"),
            ],
            &[json!({"Sid": "SupportedServiceSid0", "Effect": "Allow",
                     "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/k"})],
        );
        check(
            &[
                ("sqs:SendMessage", "arn:aws:sqs:r:1:q"),
                ("ssmmessages:OpenDataChannel", "*"),
                ("s3:ListBucket", "arn:aws:s3:::b"),
                ("s3:ListBucket", "arn:aws:s3:::a"),
                ("ssmmessages:CreateDataChannel", "*"),
            ],
            &[
                json!({"Sid": "SupportedServiceSid0", "Effect": "Allow",
                       "Action": ["ssmmessages:CreateDataChannel", "ssmmessages:OpenDataChannel"], "Resource": "*"}),
                json!({"Sid": "SupportedServiceSid1", "Effect": "Allow",
                       "Action": "s3:ListBucket", "Resource": ["arn:aws:s3:::a", "arn:aws:s3:::b"]}),
                json!({"Sid": "SupportedServiceSid2", "Effect": "Allow",
                       "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:r:1:q"}),
            ],
        );
        // `*` covers the action's narrower resources.
        check(
            &[
                ("ecr:GetAuthorizationToken", "x"),
                ("ecr:GetAuthorizationToken", "*"),
            ],
            &[json!({"Sid": "SupportedServiceSid0", "Effect": "Allow",
                     "Action": "ecr:GetAuthorizationToken", "Resource": "*"})],
        );
    }

    #[test]
    fn members_are_in_access_analyzers_order() {
        let got = generate("r", [("s3:GetObject", "arn:aws:s3:::b/k")], true);
        assert_eq!(
            got["generatedPolicies"][0]["policy"],
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/k"}]}"#
        );
    }

    #[test]
    fn long_policies_are_split_as_access_analyzer_splits_them() {
        let resources: Vec<String> = (0..200)
            .map(|i| format!("arn:aws:s3:::bucket/some/long/key/{i:04}"))
            .collect();
        let uses: Vec<(String, String)> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("s3:Op{i:03}"), r.clone()))
            .collect();
        let got = generate(
            "arn:aws:iam::1:role/r",
            uses.iter().map(|(a, r)| (a.as_str(), r.as_str())),
            false,
        );
        let policies = got["generatedPolicies"].as_array().unwrap();
        assert!(policies.len() > 1, "{}", policies.len());
        let mut n = 0;
        for p in policies {
            let text = p["policy"].as_str().unwrap();
            assert!(text.len() <= MAX_GENERATED_CHARS, "{}", text.len());
            let v: Value = serde_json::from_str(text).unwrap();
            n += v["Statement"].as_array().unwrap().len();
        }
        assert_eq!(n, 200);
        assert_eq!(got["properties"]["isComplete"], false);
    }

    #[test]
    fn usage_is_kept_per_task_with_the_last_outcome() {
        let u = Usage::default();
        let rec = |kind, role, outcome| u.record("t1", kind, role, "s3:GetObject", "a", outcome);
        // Each record says whether it is news: a new use, or a changed
        // outcome; a repeat only counts.
        assert!(rec(RoleKind::Task, "r", Outcome::WouldDeny));
        assert!(rec(RoleKind::Task, "r", Outcome::Allowed));
        assert!(rec(RoleKind::Execution, "e", Outcome::Allowed));
        assert!(!rec(RoleKind::Execution, "e", Outcome::Allowed));
        u.record_unattributed("t1", "kinesis:PutRecord");
        let t = u.of_task("t1").unwrap();
        assert_eq!(t.uses.len(), 2);
        assert_eq!(
            (t.uses[0].role_kind, t.uses[0].outcome, t.uses[0].count),
            (RoleKind::Task, Outcome::Allowed, 2)
        );
        assert_eq!(
            (t.uses[1].role_kind, t.uses[1].count),
            (RoleKind::Execution, 2)
        );
        assert_eq!(t.unattributed, vec!["kinesis:PutRecord".to_string()]);
        assert!(u.of_task("t2").is_none());
        for i in 0..MAX_USES + 3 {
            u.record(
                "t3",
                RoleKind::Task,
                "r",
                "s3:GetObject",
                &i.to_string(),
                Outcome::Allowed,
            );
        }
        let t = u.of_task("t3").unwrap();
        assert_eq!((t.uses.len(), t.truncated), (MAX_USES, true));
        u.clear();
        assert!(u.tasks().is_empty());
    }

    #[test]
    fn usage_outlives_a_restart() {
        let dir = crate::services::ecs::test_support::TempDir::new();
        let store = crate::store::Store::open(&dir.0, false).unwrap();
        let u = Usage::load(store.clone()).unwrap();
        for task in ["t1", "t2"] {
            u.record(
                task,
                RoleKind::Execution,
                "arn:aws:iam::1:role/e",
                "ecr:GetAuthorizationToken",
                "*",
                Outcome::Denied,
            );
        }
        u.record(
            "t1",
            RoleKind::Execution,
            "arn:aws:iam::1:role/e",
            "ecr:GetAuthorizationToken",
            "*",
            Outcome::Allowed,
        );
        u.record_unattributed("t2", "kinesis:PutRecord");
        let before = (u.of_task("t1"), u.of_task("t2"), u.tasks());
        drop(u);
        drop(store);
        let again = Usage::load(crate::store::Store::open(&dir.0, false).unwrap()).unwrap();
        assert_eq!(
            (again.of_task("t1"), again.of_task("t2"), again.tasks()),
            before
        );
        assert_eq!(
            again.of_task("t1").unwrap().uses[0].outcome,
            Outcome::Allowed
        );
    }

    #[test]
    fn a_write_that_fails_keeps_the_record_in_memory() {
        let store = crate::store::Store::in_memory();
        let u = Usage::load(store.clone()).unwrap();
        store.fail_writes(true);
        u.record(
            "t1",
            RoleKind::Task,
            "r",
            "s3:GetObject",
            "a",
            Outcome::Allowed,
        );
        assert_eq!(u.of_task("t1").unwrap().uses.len(), 1);
    }
}
