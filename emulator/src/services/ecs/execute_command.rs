//! ExecuteCommand's validation: which task and container a session may be
//! opened on, with the errors and messages AWS answers. The session itself
//! (id, token, data channel) belongs to `crate::exec`; this module only says
//! whether and where.

use serde::Deserialize;

use super::{Caller, Ecs, EcsError, Result};
use crate::domain::arn;
use crate::domain::status::{ContainerStatus, TaskStatus};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteCommandRequest {
    pub cluster: Option<String>,
    pub container: Option<String>,
    pub command: Option<String>,
    pub interactive: Option<bool>,
    pub task: Option<String>,
}

/// Where a session runs: what the response names and what `docker exec`
/// needs.
#[derive(Debug, Clone)]
pub struct ExecTarget {
    pub region: String,
    pub cluster_arn: String,
    pub cluster_name: String,
    pub task_arn: String,
    pub task_id: String,
    pub container_name: String,
    pub container_arn: String,
    pub runtime_id: String,
    pub command: String,
}

/// AWS's text when the task was not started with `enableExecuteCommand` or
/// its agent is not running (the apostrophe is U+2019, as AWS sends it).
pub const EXEC_NOT_ENABLED: &str = "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn\u{2019}t running. Wait and try again or run a new task with execute command enabled and try again.";

/// AWS's answer when the SSM agent in the task cannot open its channels
/// (the task role lacks `ssmmessages`, among other causes).
pub const EXEC_AGENT_FAILED: &str =
    "The execute command failed due to an internal error. Try again later.";

/// What the SSM agent in the task calls with the task role.
pub const SSM_MESSAGES_ACTIONS: [&str; 4] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

pub const INTERACTIVE_ONLY: &str = "Interactive is the only mode supported currently.";

impl Ecs {
    /// Checks an ExecuteCommand request against the task it names.
    pub fn execute_command_target(
        &self,
        caller: &Caller,
        req: ExecuteCommandRequest,
    ) -> Result<ExecTarget> {
        let command = req
            .command
            .ok_or_else(|| EcsError::invalid("command must not be null."))?;
        let reference = req
            .task
            .ok_or_else(|| EcsError::invalid("task must not be null."))?;
        if command.trim().is_empty() {
            return Err(EcsError::invalid("command must not be empty."));
        }
        let cluster_ref = req.cluster.unwrap_or_else(|| "default".into());
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let cluster = region.active_cluster(&cluster_ref)?;
        let cluster_arn = cluster.cluster_arn.clone().unwrap_or_default();
        let cluster_name = cluster.cluster_name.clone().unwrap_or_default();
        if req.interactive != Some(true) {
            return Err(EcsError::invalid(INTERACTIVE_ONLY));
        }
        let not_found = || EcsError::invalid("The referenced task was not found.");
        let tref = arn::task_ref(&reference).ok_or_else(not_found)?;
        let rec = region
            .tasks
            .get(tref.id)
            .filter(|r| r.task.cluster_arn.as_deref() == Some(cluster_arn.as_str()))
            .ok_or_else(not_found)?;
        let task = &rec.task;
        let containers = task.containers.as_deref().unwrap_or_default();
        let container = match req.container.as_deref() {
            Some(name) => containers
                .iter()
                .find(|c| c.name.as_deref() == Some(name))
                .ok_or_else(|| {
                    EcsError::invalid(format!(
                        "The container {name} does not exist in the task {}.",
                        tref.id
                    ))
                })?,
            None if containers.len() == 1 => &containers[0],
            None => {
                return Err(EcsError::invalid(
                    "The task has more than one container: specify the container.",
                ));
            }
        };
        // The agent runs inside the container: it is RUNNING only while the
        // task and the container are, and never when exec is off.
        let agent_running = rec.plan.enable_execute_command
            && task.last_status == Some(TaskStatus::Running)
            && task.desired_status == Some(TaskStatus::Running)
            && container.last_status == Some(ContainerStatus::Running)
            && container
                .managed_agents
                .iter()
                .flatten()
                .any(|a| a.last_status == Some(ContainerStatus::Running));
        if !agent_running {
            return Err(EcsError::invalid(EXEC_NOT_ENABLED));
        }
        self.check_exec_permissions(rec.plan.task_role_arn.as_deref(), &rec.plan.task_arn)?;
        let name = container.name.clone().unwrap_or_default();
        Ok(ExecTarget {
            region: caller.region.clone(),
            cluster_arn,
            cluster_name,
            task_arn: rec.plan.task_arn.clone(),
            task_id: rec.plan.task_id.clone(),
            container_arn: container.container_arn.clone().unwrap_or_default(),
            runtime_id: container.runtime_id.clone().unwrap_or_default(),
            container_name: name,
            command,
        })
    }
}
