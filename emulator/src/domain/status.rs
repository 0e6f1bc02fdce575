//! Task and container status as Fargate reports them, and the pure rules that
//! connect them: the order a task walks through, and how container health
//! becomes task health.

use serde::{Deserialize, Serialize};

/// `lastStatus` of a Fargate task. The order of the variants is the order of
/// the lifecycle; a task never moves backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Provisioning,
    Pending,
    Activating,
    Running,
    Deactivating,
    Stopping,
    Deprovisioning,
    Stopped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Activating => "ACTIVATING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Deprovisioning => "DEPROVISIONING",
            TaskStatus::Stopped => "STOPPED",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        Some(match s {
            "PROVISIONING" => TaskStatus::Provisioning,
            "PENDING" => TaskStatus::Pending,
            "ACTIVATING" => TaskStatus::Activating,
            "RUNNING" => TaskStatus::Running,
            "DEACTIVATING" => TaskStatus::Deactivating,
            "STOPPING" => TaskStatus::Stopping,
            "DEPROVISIONING" => TaskStatus::Deprovisioning,
            "STOPPED" => TaskStatus::Stopped,
            _ => return None,
        })
    }

    /// Whether a task may move from `self` to `next`. Only forward moves are
    /// allowed, and a task that never ran may skip straight to the stopping
    /// states.
    pub fn can_move_to(self, next: TaskStatus) -> bool {
        next > self
    }

    /// Counted as "pending" by DescribeClusters and the service scheduler.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Activating
        )
    }
}

/// Container `lastStatus`: Fargate reports only these three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerStatus {
    Pending,
    Running,
    Stopped,
}

impl ContainerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Pending => "PENDING",
            ContainerStatus::Running => "RUNNING",
            ContainerStatus::Stopped => "STOPPED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Health {
    Healthy,
    Unhealthy,
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "HEALTHY",
            Health::Unhealthy => "UNHEALTHY",
            Health::Unknown => "UNKNOWN",
        }
    }

    /// Docker's health states map straight across.
    pub fn from_docker(s: &str) -> Health {
        match s {
            "healthy" => Health::Healthy,
            "unhealthy" => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }

    fn badness(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Unknown => 1,
            Health::Unhealthy => 2,
        }
    }
}

/// Task health is the worst health of its essential containers
/// (UNHEALTHY > UNKNOWN > HEALTHY); a task whose essential containers have no
/// health checks is UNKNOWN.
pub fn task_health(essential: impl IntoIterator<Item = Health>) -> Health {
    essential
        .into_iter()
        .max_by_key(|h| h.badness())
        .unwrap_or(Health::Unknown)
}

/// The stop codes of the model's `TaskStopCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopCode {
    TaskFailedToStart,
    EssentialContainerExited,
    UserInitiated,
    ServiceSchedulerInitiated,
    SpotInterruption,
    TerminationNotice,
}

impl StopCode {
    pub fn as_str(self) -> &'static str {
        match self {
            StopCode::TaskFailedToStart => "TaskFailedToStart",
            StopCode::EssentialContainerExited => "EssentialContainerExited",
            StopCode::UserInitiated => "UserInitiated",
            StopCode::ServiceSchedulerInitiated => "ServiceSchedulerInitiated",
            StopCode::SpotInterruption => "SpotInterruption",
            StopCode::TerminationNotice => "TerminationNotice",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Health::*;

    #[test]
    fn lifecycle_only_moves_forward() {
        let cases = [
            (TaskStatus::Provisioning, TaskStatus::Pending, true),
            (TaskStatus::Pending, TaskStatus::Running, true),
            (TaskStatus::Running, TaskStatus::Pending, false),
            (TaskStatus::Stopped, TaskStatus::Stopped, false),
            (TaskStatus::Pending, TaskStatus::Deprovisioning, true),
        ];
        for (from, to, ok) in cases {
            assert_eq!(from.can_move_to(to), ok, "{from:?} -> {to:?}");
        }
        for s in ["PROVISIONING", "RUNNING", "STOPPED", "DEPROVISIONING"] {
            assert_eq!(TaskStatus::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn task_health_is_worst_of_essentials() {
        let cases: [(&[Health], Health); 5] = [
            (&[], Unknown),
            (&[Healthy], Healthy),
            (&[Healthy, Unknown], Unknown),
            (&[Healthy, Unhealthy, Unknown], Unhealthy),
            (&[Healthy, Healthy], Healthy),
        ];
        for (input, expected) in cases {
            assert_eq!(task_health(input.iter().copied()), expected, "{input:?}");
        }
    }
}
