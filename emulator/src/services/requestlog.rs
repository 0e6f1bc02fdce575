//! The request log: which AWS operations were called, and, when the call
//! was signed with task-role credentials, by which task as which role.
//! Kept in memory (the last [`CAPACITY`] calls), served at
//! `GET /_fargate-local/requests` (by `api`), and written as a tracing
//! line. It is given service and operation names (`ecs`, `RunTask`): the
//! wire names they come from, such as `X-Amz-Target` prefixes, stay in
//! `api`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::services::credentials::Principal;

/// How many calls are kept.
pub const CAPACITY: usize = 2000;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// RFC 3339.
    pub time: String,
    pub request_id: String,
    /// The IAM service prefix (`ecs`, `s3`, `secretsmanager`...).
    pub service: String,
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The AWS error code when the call failed (for a forwarded call whose
    /// target answered an error: its HTTP status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The `--forward` target the call was passed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_to: Option<String>,
    /// What `serve --iam` refused (`enforce`) or would refuse (`warn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam: Option<IamNote>,
}

/// A decision `serve --iam` refused, or would refuse under `enforce`:
/// which role, which action on which resource, AWS's message and the
/// smallest statement that would allow it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IamNote {
    /// `task` or `execution`.
    pub role_kind: String,
    pub role_arn: String,
    pub action: String,
    pub resource: String,
    /// `denied` (`enforce`) or `wouldDeny` (`warn`).
    pub decision: String,
    pub message: String,
    pub smallest_statement: serde_json::Value,
}

/// How many notes may wait for their call to be recorded.
const MAX_PENDING: usize = 256;

/// A cheap handle to the log.
#[derive(Clone, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<VecDeque<Entry>>>,
    /// Notes of calls being served, by request id, until they are recorded.
    pending: Arc<Mutex<HashMap<String, IamNote>>>,
}

impl RequestLog {
    /// Records one call.
    pub fn record(
        &self,
        request_id: &str,
        service: &str,
        operation: &str,
        access_key_id: Option<&str>,
        principal: Option<&Principal>,
        error: Option<&str>,
    ) {
        self.push(
            request_id,
            service,
            operation,
            access_key_id,
            principal,
            error,
            None,
        );
    }

    /// Attaches an IAM note to the call `request_id`, recorded later.
    pub fn note_iam(&self, request_id: &str, note: IamNote) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if p.len() >= MAX_PENDING {
            // Calls that were never recorded; none is expected.
            p.clear();
        }
        p.insert(request_id.to_string(), note);
    }

    /// Records a call the emulator made itself as a task's role (the
    /// agent's, with the execution role), with its IAM note.
    pub fn record_agent_call(
        &self,
        service: &str,
        operation: &str,
        principal: &Principal,
        error: Option<&str>,
        note: Option<IamNote>,
    ) {
        let id = crate::domain::ids::uuid();
        if let Some(n) = note {
            self.note_iam(&id, n);
        }
        self.push(&id, service, operation, None, Some(principal), error, None);
    }

    /// Records one call passed to the `--forward` target.
    #[allow(clippy::too_many_arguments)]
    pub fn record_forwarded(
        &self,
        request_id: &str,
        service: &str,
        operation: &str,
        access_key_id: Option<&str>,
        principal: Option<&Principal>,
        error: Option<&str>,
        target: &str,
    ) {
        tracing::debug!("{service}:{operation} forwarded to {target}");
        self.push(
            request_id,
            service,
            operation,
            access_key_id,
            principal,
            error,
            Some(target),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        request_id: &str,
        service: &str,
        operation: &str,
        access_key_id: Option<&str>,
        principal: Option<&Principal>,
        error: Option<&str>,
        forwarded_to: Option<&str>,
    ) {
        match principal {
            Some(p) => tracing::info!(
                task = %p.task_arn,
                role = %p.role_arn,
                "task {} called {service}:{operation} as role {}",
                p.task_arn,
                p.role_arn
            ),
            None => tracing::debug!("{service}:{operation} called"),
        }
        let iam = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.is_empty() {
                None
            } else {
                p.remove(request_id)
            }
        };
        let entry = Entry {
            time: crate::domain::time::rfc3339(crate::domain::time::now()),
            request_id: request_id.to_string(),
            service: service.to_string(),
            operation: operation.to_string(),
            access_key_id: access_key_id.map(str::to_string),
            task_arn: principal.map(|p| p.task_arn.clone()),
            role_arn: principal.map(|p| p.role_arn.clone()),
            error: error.map(str::to_string),
            forwarded_to: forwarded_to.map(str::to_string),
            iam,
        };
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() == CAPACITY {
            e.pop_front();
        }
        e.push_back(entry);
    }

    /// Every kept call, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_calls_with_their_principal() {
        let log = RequestLog::default();
        let p = Principal {
            task_arn: "t".into(),
            role_arn: "r".into(),
        };
        for i in 0..CAPACITY + 5 {
            log.record(&i.to_string(), "ecs", "ListClusters", None, None, None);
        }
        log.record("x", "ecs", "ListClusters", Some("ASIAX"), Some(&p), None);
        let e = log.entries();
        assert_eq!(e.len(), CAPACITY);
        assert_eq!(e[0].request_id, "6");
        let last = e.last().unwrap();
        assert_eq!(
            (last.task_arn.as_deref(), last.role_arn.as_deref()),
            (Some("t"), Some("r"))
        );
    }
}
