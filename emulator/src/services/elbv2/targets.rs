//! Registered targets and their health: the ECS service scheduler registers
//! and deregisters its running tasks, `lb` runs the health checks and picks
//! the target of each request. Targets live in memory only: after a restart
//! the scheduler registers its running tasks again, those it had counted
//! healthy as healthy.
//!
//! Left out: RegisterTargets and DeregisterTargets on the API (only the
//! scheduler registers), instance targets, slow start.

use super::{ElbError, Elbv2, Result, TargetGroup};
use crate::domain::time::{self, Timestamp};

/// A target's health, as DescribeTargetHealth reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Initial,
    Healthy,
    Unhealthy,
    Draining,
}

impl TargetState {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Initial => "initial",
            TargetState::Healthy => "healthy",
            TargetState::Unhealthy => "unhealthy",
            TargetState::Draining => "draining",
        }
    }
}

/// A registered target: an ECS task's IP and container port, and where the
/// emulator reaches that port (the port published on the host).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub task_id: String,
    pub ip: String,
    pub port: u16,
    pub host: String,
    pub state: TargetState,
    pub successes: u32,
    pub failures: u32,
    /// Why the last check failed (DescribeTargetHealth's reason).
    pub failure: Option<(&'static str, String)>,
    pub next_check: Timestamp,
    pub drain_until: Option<Timestamp>,
}

/// One target's entry in DescribeTargetHealth.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetHealthDescription {
    pub id: String,
    pub port: u16,
    pub availability_zone: String,
    pub health_check_port: String,
    pub state: TargetState,
    /// The reason code and description AWS gives for any state but healthy.
    pub reason: Option<(&'static str, String)>,
}

impl TargetHealthDescription {
    fn of(region: &str, tg: &TargetGroup, t: &Target) -> Self {
        let reason = match t.state {
            TargetState::Initial => Some((
                "Elb.InitialHealthChecking",
                "Initial health checks in progress".to_string(),
            )),
            TargetState::Draining => Some((
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress".to_string(),
            )),
            TargetState::Unhealthy => t.failure.clone(),
            TargetState::Healthy => None,
        };
        TargetHealthDescription {
            id: t.ip.clone(),
            port: t.port,
            availability_zone: format!("{region}a"),
            health_check_port: if tg.health.port == "traffic-port" {
                t.port.to_string()
            } else {
                tg.health.port.clone()
            },
            state: t.state,
            reason,
        }
    }
}

/// A health check that is due.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCheck {
    pub target_group: String,
    pub task_id: String,
    pub url: String,
    pub timeout: u32,
    pub matcher: String,
}

impl Elbv2 {
    pub fn target_group(&self, arn: &str) -> Option<TargetGroup> {
        self.read(|st| st.target_groups.get(arn).cloned())
    }

    /// A target group and its targets as they are now (for the service
    /// scheduler's round, which reads them under one lock).
    pub fn group_and_targets(&self, arn: &str) -> Option<(TargetGroup, Vec<Target>)> {
        self.read(|st| {
            let tg = st.target_groups.get(arn)?.clone();
            Some((tg, st.targets.get(arn).cloned().unwrap_or_default()))
        })
    }

    /// DescribeTargetHealth.
    pub fn describe_target_health(
        &self,
        region: &str,
        target_group_arn: Option<String>,
    ) -> Result<Vec<TargetHealthDescription>> {
        let arn = super::error::required(target_group_arn, "TargetGroupArn")?;
        self.read(|st| {
            let tg = st
                .target_groups
                .get(&arn)
                .ok_or(ElbError::TargetGroupNotFound)?;
            Ok(st
                .targets
                .get(&arn)
                .into_iter()
                .flatten()
                .map(|t| TargetHealthDescription::of(region, tg, t))
                .collect())
        })
    }

    /// Registers a task's address (the scheduler, once the task runs).
    /// Returns true when it was not registered yet. Targets are not stored:
    /// after a restart the scheduler registers its running tasks again, and
    /// one it had counted healthy comes back `healthy` (its checks go on, so
    /// a failing one turns unhealthy as usual) instead of `initial`, so that
    /// a restart of the emulator does not take the service off its load
    /// balancer until the checks pass again.
    pub fn register(
        &self,
        tg: &str,
        task_id: &str,
        ip: &str,
        port: u16,
        host: &str,
        healthy: bool,
    ) -> bool {
        let mut st = self.lock();
        if !st.target_groups.contains_key(tg) {
            return false;
        }
        let targets = st.targets.entry(tg.to_string()).or_default();
        if targets.iter().any(|t| t.task_id == task_id) {
            return false;
        }
        targets.push(Target {
            task_id: task_id.to_string(),
            ip: ip.to_string(),
            port,
            host: host.to_string(),
            state: if healthy {
                TargetState::Healthy
            } else {
                TargetState::Initial
            },
            successes: 0,
            failures: 0,
            failure: None,
            next_check: time::now(),
            drain_until: None,
        });
        true
    }

    /// Starts draining a task's target; returns when the drain ends (None
    /// when it was not registered, or drains already).
    pub fn deregister(&self, tg: &str, task_id: &str) -> Option<Timestamp> {
        let mut st = self.lock();
        let delay = st.target_groups.get(tg)?.deregistration_delay();
        let t = st
            .targets
            .get_mut(tg)?
            .iter_mut()
            .find(|t| t.task_id == task_id)?;
        if t.state == TargetState::Draining {
            return None;
        }
        let until = time::now() + delay;
        t.state = TargetState::Draining;
        t.drain_until = Some(until);
        Some(until)
    }

    /// Removes a target at once (its task stopped).
    pub fn remove(&self, tg: &str, task_id: &str) -> bool {
        let mut st = self.lock();
        let Some(targets) = st.targets.get_mut(tg) else {
            return false;
        };
        let before = targets.len();
        targets.retain(|t| t.task_id != task_id);
        before != targets.len()
    }

    pub fn target_state(&self, tg: &str, task_id: &str) -> Option<TargetState> {
        self.read(|st| {
            st.targets
                .get(tg)?
                .iter()
                .find(|t| t.task_id == task_id)
                .map(|t| t.state)
        })
    }

    /// The host address of the next target for a request on `listener`:
    /// healthy targets in turn; when none is healthy, every registered target
    /// that is not draining (ALB's fail-open); else none.
    pub fn pick(&self, listener: &str) -> Option<String> {
        let mut st = self.lock();
        let tg = st.listeners.get(listener)?.target_group_arn.clone();
        let targets = st.targets.get(&tg)?;
        let healthy: Vec<String> = targets
            .iter()
            .filter(|t| t.state == TargetState::Healthy)
            .map(|t| t.host.clone())
            .collect();
        let pool = if healthy.is_empty() {
            targets
                .iter()
                .filter(|t| t.state == TargetState::Unhealthy)
                .map(|t| t.host.clone())
                .collect()
        } else {
            healthy
        };
        if pool.is_empty() {
            return None;
        }
        let n = st.next.entry(listener.to_string()).or_insert(0);
        *n = n.wrapping_add(1);
        Some(pool[*n % pool.len()].clone())
    }

    /// The health checks due now (each is then not due again for an
    /// interval); drained targets leave.
    pub fn due_checks(&self, now: Timestamp) -> Vec<DueCheck> {
        let mut st = self.lock();
        let st = &mut *st;
        let mut out = Vec::new();
        for (tg_arn, targets) in st.targets.iter_mut() {
            let Some(tg) = st.target_groups.get(tg_arn) else {
                continue;
            };
            targets.retain(|t| t.drain_until.is_none_or(|u| u > now));
            for t in targets.iter_mut() {
                if t.state == TargetState::Draining || t.next_check > now {
                    continue;
                }
                t.next_check = now + f64::from(tg.health.interval);
                out.push(DueCheck {
                    target_group: tg_arn.clone(),
                    task_id: t.task_id.clone(),
                    url: format!("http://{}{}", t.host, tg.health.path),
                    timeout: tg.health.timeout,
                    matcher: tg.health.matcher.clone(),
                });
            }
        }
        out
    }

    /// Records a health check result.
    pub fn check_result(&self, tg: &str, task_id: &str, failure: Option<(&'static str, String)>) {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(group) = st.target_groups.get(tg) else {
            return;
        };
        let (healthy_n, unhealthy_n) = (
            group.health.healthy_threshold,
            group.health.unhealthy_threshold,
        );
        let Some(t) = st
            .targets
            .get_mut(tg)
            .and_then(|v| v.iter_mut().find(|t| t.task_id == task_id))
        else {
            return;
        };
        if t.state == TargetState::Draining {
            return;
        }
        match failure {
            None => {
                t.failures = 0;
                t.successes += 1;
                if t.successes >= healthy_n {
                    t.state = TargetState::Healthy;
                    t.failure = None;
                }
            }
            Some(f) => {
                t.successes = 0;
                t.failures += 1;
                t.failure = Some(f);
                if t.failures >= unhealthy_n {
                    t.state = TargetState::Unhealthy;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::CreateTargetGroupRequest;
    use super::*;
    use crate::store::Store;

    #[test]
    fn thresholds_move_targets() {
        let elb = Elbv2::load(Store::in_memory(), "000000000000".into()).unwrap();
        let tg = elb
            .create_target_group(
                "us-east-1",
                CreateTargetGroupRequest {
                    name: Some("web".into()),
                    port: Some(80),
                    target_type: Some("ip".into()),
                    health_check_interval: Some(5),
                    health_check_timeout: Some(2),
                    healthy_threshold: Some(2),
                    unhealthy_threshold: Some(2),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(elb.register(&tg.arn, "t1", "10.0.0.2", 80, "127.0.0.1:1", false));
        assert!(!elb.register(&tg.arn, "t1", "10.0.0.2", 80, "127.0.0.1:1", true));
        assert_eq!(elb.target_state(&tg.arn, "t1"), Some(TargetState::Initial));
        // Registered again after a restart, a target counted healthy before.
        assert!(elb.register(&tg.arn, "t2", "10.0.0.3", 80, "127.0.0.1:2", true));
        assert_eq!(elb.target_state(&tg.arn, "t2"), Some(TargetState::Healthy));
        let state = || elb.target_state(&tg.arn, "t1").unwrap();
        elb.check_result(&tg.arn, "t1", None);
        assert_eq!(state(), TargetState::Initial);
        elb.check_result(&tg.arn, "t1", None);
        assert_eq!(state(), TargetState::Healthy);
        let fail = || Some(("Target.Timeout", "Request timed out".to_string()));
        elb.check_result(&tg.arn, "t1", fail());
        assert_eq!(state(), TargetState::Healthy);
        elb.check_result(&tg.arn, "t1", fail());
        assert_eq!(state(), TargetState::Unhealthy);
        let described = elb
            .describe_target_health("us-east-1", Some(tg.arn.clone()))
            .unwrap();
        assert_eq!(
            described[0].reason,
            Some(("Target.Timeout", "Request timed out".to_string()))
        );
        assert_eq!(described[1].reason, None);
        assert!(elb.deregister(&tg.arn, "t1").is_some());
        assert_eq!(state(), TargetState::Draining);
        assert!(elb.remove(&tg.arn, "t1"));
        // The restored target's checks go on.
        elb.check_result(&tg.arn, "t2", fail());
        elb.check_result(&tg.arn, "t2", fail());
        assert_eq!(
            elb.target_state(&tg.arn, "t2"),
            Some(TargetState::Unhealthy)
        );
    }
}
