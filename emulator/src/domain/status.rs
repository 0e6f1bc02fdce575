//! Task and container status as Fargate reports them, and the pure rules that
//! connect them: the order a task walks through, and how container health
//! becomes task health. Every status is an enum in the stored records and
//! becomes AWS's string only when it is serialized (the wire and the
//! stored JSON are the same strings they always were).

/// An enum whose variants serialize to exactly AWS's strings, with
/// `as_str`, `parse` and `ALL` (in the model's order). Extra derives (an
/// order) go in front as attributes.
macro_rules! aws_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the model's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// AWS's string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value AWS's string names, if any.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use aws_enum;

aws_enum! {
    /// `lastStatus` (and `desiredStatus`) of a Fargate task. The order of the
    /// variants is the order of the lifecycle; a task never moves backwards.
    #[derive(PartialOrd, Ord)]
    pub enum TaskStatus {
        Provisioning = "PROVISIONING",
        Pending = "PENDING",
        Activating = "ACTIVATING",
        Running = "RUNNING",
        Deactivating = "DEACTIVATING",
        Stopping = "STOPPING",
        Deprovisioning = "DEPROVISIONING",
        Stopped = "STOPPED",
    }
}

impl TaskStatus {
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

aws_enum! {
    /// Container `lastStatus`: Fargate reports only these three. A managed
    /// agent (ECS Exec's) reports the same three.
    #[derive(PartialOrd, Ord)]
    pub enum ContainerStatus {
        Pending = "PENDING",
        Running = "RUNNING",
        Stopped = "STOPPED",
    }
}

aws_enum! {
    /// `healthStatus` of a task or a container.
    pub enum Health {
        Healthy = "HEALTHY",
        Unhealthy = "UNHEALTHY",
        Unknown = "UNKNOWN",
    }
}

impl Health {
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

aws_enum! {
    /// A task's `connectivity`: whether its network interface is attached.
    pub enum Connectivity {
        Connected = "CONNECTED",
        Disconnected = "DISCONNECTED",
    }
}

aws_enum! {
    /// The model's `LaunchType` (a task's, a service's, a deployment's). The
    /// model's `Compatibility` (a task definition's `compatibilities`) has
    /// the same values.
    pub enum LaunchType {
        Ec2 = "EC2",
        Fargate = "FARGATE",
        External = "EXTERNAL",
        ManagedInstances = "MANAGED_INSTANCES",
    }
}

/// A task definition's `compatibilities`: the same values as a launch type.
pub type Compatibility = LaunchType;

aws_enum! {
    /// The `status` of a task's attachment (its elastic network interface).
    pub enum AttachmentStatus {
        Precreated = "PRECREATED",
        Created = "CREATED",
        Attaching = "ATTACHING",
        Attached = "ATTACHED",
        Detaching = "DETACHING",
        Detached = "DETACHED",
        Deleted = "DELETED",
        Failed = "FAILED",
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

aws_enum! {
    /// The stop codes of the model's `TaskStopCode`.
    pub enum StopCode {
        TaskFailedToStart = "TaskFailedToStart",
        EssentialContainerExited = "EssentialContainerExited",
        UserInitiated = "UserInitiated",
        ServiceSchedulerInitiated = "ServiceSchedulerInitiated",
        SpotInterruption = "SpotInterruption",
        TerminationNotice = "TerminationNotice",
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

    /// Each enum is exactly AWS's strings on the wire and in the store, both
    /// ways, and `parse` refuses anything else.
    #[test]
    fn enums_are_aws_strings() {
        fn check<T>(all: &[T])
        where
            T: Copy + std::fmt::Debug + PartialEq + serde::Serialize + serde::de::DeserializeOwned,
            T: std::fmt::Display,
        {
            for v in all {
                let json = serde_json::to_string(v).unwrap();
                assert_eq!(json, format!("\"{v}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
            }
        }
        check(TaskStatus::ALL);
        check(ContainerStatus::ALL);
        check(Health::ALL);
        check(Connectivity::ALL);
        check(LaunchType::ALL);
        check(AttachmentStatus::ALL);
        check(StopCode::ALL);
        let cases = [
            (serde_json::to_string(&LaunchType::Ec2).unwrap(), "\"EC2\""),
            (
                serde_json::to_string(&LaunchType::ManagedInstances).unwrap(),
                "\"MANAGED_INSTANCES\"",
            ),
            (
                serde_json::to_string(&StopCode::ServiceSchedulerInitiated).unwrap(),
                "\"ServiceSchedulerInitiated\"",
            ),
            (
                serde_json::to_string(&TaskStatus::Deprovisioning).unwrap(),
                "\"DEPROVISIONING\"",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        assert_eq!(TaskStatus::parse("running"), None);
        assert_eq!(Health::parse("HEALTHY"), Some(Health::Healthy));
        assert!(serde_json::from_str::<TaskStatus>("\"BOGUS\"").is_err());
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
