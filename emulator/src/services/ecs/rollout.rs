//! The service scheduler's decisions, as pure functions: which tasks to start
//! and stop so that a service converges on `desiredCount` tasks of its
//! PRIMARY deployment within `minimumHealthyPercent` and `maximumPercent`
//! (developer guide, "Rolling update"), and the circuit breaker threshold.
//! No IO and no clock: the scheduler gathers a `View`, this module answers
//! with `Action`s.

/// A live (not stopped, not being stopped) task of the service.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub id: String,
    /// RUNNING (not merely pending).
    pub running: bool,
    /// Counts toward healthy: RUNNING, and HEALTHY where it has checks.
    pub healthy: bool,
    /// Failed its container health checks (after the grace period).
    pub unhealthy: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentView {
    pub id: String,
    /// The scheduler may start tasks of it (PRIMARY, not FAILED, not
    /// throttled).
    pub can_launch: bool,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub desired: i32,
    pub minimum_healthy_percent: i32,
    pub maximum_percent: i32,
    /// DeleteService: every task goes.
    pub draining: bool,
    /// PRIMARY first.
    pub deployments: Vec<DeploymentView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWhy {
    /// Scale-in, replacement by a newer deployment, or draining.
    Scaling,
    /// Failed its container health checks.
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Launch {
        deployment: String,
        count: i32,
    },
    Stop {
        task: String,
        why: StopWhy,
    },
    /// The deployment cannot move within the configured percentages.
    Stuck,
}

/// `ceil(desired × min / 100)` and `floor(desired × max / 100)`.
pub fn bounds(desired: i32, min_pct: i32, max_pct: i32) -> (i32, i32) {
    let d = i64::from(desired.max(0));
    let min = (d * i64::from(min_pct.max(0)) + 99) / 100;
    let max = d * i64::from(max_pct.max(0)) / 100;
    // desired × a percentage can pass i32::MAX (maximumPercent is only
    // checked to be at least 0); `as` would wrap it negative and the
    // service would never move.
    let clamp = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
    (clamp(min), clamp(max))
}

/// The circuit breaker's failure threshold for a deployment of `desired`
/// tasks: `clamp(ceil(0.5 × desired), 10, 200)` by default
/// (BOUNDED_PERCENT 50), or the configured count or percentage.
pub fn breaker_threshold(desired: i32, kind: Option<&str>, value: Option<i32>) -> i32 {
    let d = i64::from(desired.max(0));
    let pct = |v: i32| i32::try_from((d * i64::from(v.max(0)) + 99) / 100).unwrap_or(i32::MAX);
    match kind {
        Some("COUNT") => value.unwrap_or(10).max(1),
        Some("UNBOUNDED_PERCENT") => pct(value.unwrap_or(50)).max(10),
        _ => pct(value.unwrap_or(50)).clamp(10, 200),
    }
}

/// What to do next. Unhealthy tasks are stopped (their replacements come in
/// the next round); the PRIMARY deployment is scaled to `desired` within
/// `maximumPercent`; tasks of older deployments are stopped as long as the
/// healthy count stays at or above `minimumHealthyPercent`.
pub fn plan(view: &View) -> Vec<Action> {
    let mut out = Vec::new();
    let stop = |out: &mut Vec<Action>, t: &TaskView, why| {
        out.push(Action::Stop {
            task: t.id.clone(),
            why,
        })
    };
    if view.draining {
        for t in view.deployments.iter().flat_map(|d| &d.tasks) {
            stop(&mut out, t, StopWhy::Scaling);
        }
        return out;
    }
    let Some((primary, olds)) = view.deployments.split_first() else {
        return out;
    };
    let desired = view.desired.max(0);
    let (min_healthy, max_total) =
        bounds(desired, view.minimum_healthy_percent, view.maximum_percent);

    // Unhealthy tasks go first, whatever their deployment.
    let mut kept_primary: Vec<&TaskView> = Vec::new();
    for t in &primary.tasks {
        if t.unhealthy {
            stop(&mut out, t, StopWhy::Unhealthy);
        } else {
            kept_primary.push(t);
        }
    }
    let mut kept_old: Vec<&TaskView> = Vec::new();
    for t in olds.iter().flat_map(|d| &d.tasks) {
        if t.unhealthy {
            stop(&mut out, t, StopWhy::Unhealthy);
        } else {
            kept_old.push(t);
        }
    }

    // Scale-in of the primary: not-yet-healthy tasks first, newest last.
    if kept_primary.len() as i32 > desired {
        let extra = kept_primary.len() - desired as usize;
        let mut order: Vec<&TaskView> = kept_primary.clone();
        order.sort_by_key(|t| (t.healthy, t.running));
        for t in order.into_iter().take(extra) {
            stop(&mut out, t, StopWhy::Scaling);
            kept_primary.retain(|k| k.id != t.id);
        }
    }

    let live_primary = kept_primary.len() as i32;
    let healthy_primary = kept_primary.iter().filter(|t| t.healthy).count() as i32;
    let mut live_old = kept_old.len() as i32;
    let healthy_total = healthy_primary + kept_old.iter().filter(|t| t.healthy).count() as i32;

    // Older deployments give way only while the primary can take over.
    let mut stopped_old = 0;
    if primary.can_launch || healthy_primary >= desired {
        // Not-yet-healthy old tasks add nothing to availability.
        for t in kept_old.iter().filter(|t| !t.healthy) {
            stop(&mut out, t, StopWhy::Scaling);
            live_old -= 1;
            stopped_old += 1;
        }
        // Healthy ones, down to the minimum healthy count, and never more
        // than the primary will replace.
        let needed_old = (desired - healthy_primary).max(0);
        let mut spare = healthy_total - min_healthy;
        for t in kept_old.iter().filter(|t| t.healthy) {
            let over = live_old + live_primary > desired;
            let room_needed = live_primary < desired && live_old + live_primary >= max_total;
            if spare <= 0 || (!over && !room_needed && live_old <= needed_old) {
                break;
            }
            stop(&mut out, t, StopWhy::Scaling);
            live_old -= 1;
            spare -= 1;
            stopped_old += 1;
        }
    }

    let mut launched = 0;
    if primary.can_launch && live_primary < desired {
        launched = (desired - live_primary).min(max_total - live_primary - live_old);
        if launched > 0 {
            out.push(Action::Launch {
                deployment: primary.id.clone(),
                count: launched,
            });
        }
    }
    let waiting = kept_primary.iter().chain(&kept_old).any(|t| !t.healthy);
    if primary.can_launch
        && live_primary < desired
        && launched <= 0
        && stopped_old == 0
        && !waiting
        && out.is_empty()
    {
        out.push(Action::Stuck);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tasks written as a string: `H` healthy, `R` running but not yet
    /// healthy, `P` pending, `U` unhealthy.
    fn tasks(dep: &str, spec: &str) -> Vec<TaskView> {
        spec.chars()
            .enumerate()
            .map(|(i, c)| TaskView {
                id: format!("{dep}{i}"),
                running: c != 'P',
                healthy: c == 'H',
                unhealthy: c == 'U',
            })
            .collect()
    }

    /// (desired, min%, max%, primary, olds) -> (launched, stopped task ids, stuck)
    fn check(
        desired: i32,
        min: i32,
        max: i32,
        primary: &str,
        olds: &[&str],
        expected: (i32, &[&str], bool),
    ) {
        let mut deployments = vec![DeploymentView {
            id: "p".into(),
            can_launch: true,
            tasks: tasks("p", primary),
        }];
        for (i, o) in olds.iter().enumerate() {
            let id = format!("o{i}-");
            deployments.push(DeploymentView {
                id: id.clone(),
                can_launch: false,
                tasks: tasks(&id, o),
            });
        }
        let view = View {
            desired,
            minimum_healthy_percent: min,
            maximum_percent: max,
            draining: false,
            deployments,
        };
        let actions = plan(&view);
        let launched: i32 = actions
            .iter()
            .map(|a| match a {
                Action::Launch { count, .. } => *count,
                _ => 0,
            })
            .sum();
        let stopped: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Stop { task, .. } => Some(task.as_str()),
                _ => None,
            })
            .collect();
        let stuck = actions.contains(&Action::Stuck);
        assert_eq!(
            (launched, stopped.as_slice(), stuck),
            expected,
            "desired {desired} {min}/{max} primary {primary} olds {olds:?}"
        );
    }

    #[test]
    fn scales_the_primary() {
        check(2, 100, 200, "", &[], (2, &[], false));
        check(3, 100, 200, "H", &[], (2, &[], false));
        check(1, 100, 200, "HH", &[], (0, &["p0"], false));
        // Pending tasks go before healthy ones on scale-in.
        check(1, 100, 200, "HP", &[], (0, &["p1"], false));
        check(0, 100, 200, "HH", &[], (0, &["p0", "p1"], false));
        check(2, 100, 200, "HH", &[], (0, &[], false));
    }

    #[test]
    fn rolls_within_the_percentages() {
        // 100/200: two new, the old ones stay until the new are healthy.
        check(2, 100, 200, "", &["HH"], (2, &[], false));
        check(2, 100, 200, "RR", &["HH"], (0, &[], false));
        check(2, 100, 200, "HH", &["HH"], (0, &["o0-0", "o0-1"], false));
        // 50/100: one old goes first to make room.
        check(2, 50, 100, "", &["HH"], (1, &["o0-0"], false));
        check(2, 50, 100, "", &["H"], (1, &[], false));
        check(2, 50, 100, "H", &["H"], (1, &["o0-0"], false));
        check(2, 50, 100, "H", &[], (1, &[], false));
        // 100/150 with 2: one at a time.
        check(2, 100, 150, "", &["HH"], (1, &[], false));
        check(2, 100, 150, "H", &["HH"], (1, &["o0-0"], false));
        // 100/100 cannot move.
        check(2, 100, 100, "", &["HH"], (0, &[], true));
        // Pending old tasks go at once.
        check(2, 100, 200, "", &["PP"], (2, &["o0-0", "o0-1"], false));
    }

    #[test]
    fn unhealthy_tasks_are_replaced() {
        check(2, 100, 200, "HU", &[], (1, &["p1"], false));
        check(2, 100, 200, "H", &[], (1, &[], false));
    }

    #[test]
    fn a_failed_primary_keeps_the_old_tasks() {
        let view = View {
            desired: 2,
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            draining: false,
            deployments: vec![
                DeploymentView {
                    id: "p".into(),
                    can_launch: false,
                    tasks: vec![],
                },
                DeploymentView {
                    id: "o".into(),
                    can_launch: false,
                    tasks: tasks("o", "HH"),
                },
            ],
        };
        assert_eq!(plan(&view), vec![]);
        let draining = View {
            draining: true,
            ..view
        };
        assert_eq!(plan(&draining).len(), 2);
    }

    #[test]
    fn threshold() {
        let cases = [
            (1, None, None, 10),
            (25, None, None, 13),
            (400, None, None, 200),
            (800, None, None, 200),
            (4, Some("COUNT"), Some(3), 3),
            (1000, Some("UNBOUNDED_PERCENT"), Some(50), 500),
        ];
        for (desired, kind, value, want) in cases {
            assert_eq!(breaker_threshold(desired, kind, value), want, "{desired}");
        }
        assert_eq!(bounds(3, 50, 200), (2, 6));
        assert_eq!(bounds(3, 100, 150), (3, 4));
        // Products past i32::MAX saturate instead of wrapping negative.
        assert_eq!(bounds(101, 100, i32::MAX), (101, i32::MAX));
        assert_eq!(bounds(i32::MAX, i32::MAX, 0), (i32::MAX, 0));
        assert_eq!(
            breaker_threshold(i32::MAX, Some("UNBOUNDED_PERCENT"), Some(i32::MAX)),
            i32::MAX
        );
    }
}
