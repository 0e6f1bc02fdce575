//! The session registry: ExecuteCommand creates a session with a random,
//! single-use token that expires; opening the data channel claims it; a
//! claimed session can be told to end (TerminateSession, its task stopped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::Rng;
use tokio::sync::watch;

use crate::services::ecs::execute_command::ExecTarget;

/// How long a token may wait for its data channel.
pub const TOKEN_TTL: Duration = Duration::from_secs(120);

/// Why a data channel was refused. The text reaches the user (the plugin
/// prints it as the session's closing reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("The session {0} does not exist or has ended.")]
    UnknownSession(String),
    #[error("The token of session {0} was already used.")]
    AlreadyUsed(String),
    #[error("The token of session {0} has expired: run ExecuteCommand again.")]
    Expired(String),
    #[error("The token does not belong to session {0}.")]
    WrongToken(String),
}

struct Entry {
    token: String,
    target: ExecTarget,
    expires: Instant,
    /// Set once the channel is open: ending the session goes through it.
    end: Option<watch::Sender<Option<String>>>,
}

/// A claimed session: where it runs and how it is told to end (the message
/// is the closing reason; empty for a normal end).
pub struct Claimed {
    pub target: ExecTarget,
    pub end: watch::Receiver<Option<String>>,
}

#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

/// `ecs-execute-command-` and 17 hex digits, as AWS's ids look.
fn session_id() -> String {
    let n: u128 = rand::rng().random();
    format!("ecs-execute-command-{:017x}", n & 0x1_ffff_ffff_ffff_ffff)
}

fn token() -> String {
    let b: [u8; 48] = rand::rng().random();
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session on `target`: its id and token.
    pub fn create(&self, target: ExecTarget, now: Instant) -> (String, String) {
        let mut m = self.lock();
        m.retain(|_, e| e.end.is_some() || e.expires > now);
        let id = session_id();
        let tok = token();
        m.insert(
            id.clone(),
            Entry {
                token: tok.clone(),
                target,
                expires: now + TOKEN_TTL,
                end: None,
            },
        );
        (id, tok)
    }

    /// Opens a session's channel with its token, once.
    pub fn claim(&self, id: &str, token: &str, now: Instant) -> Result<Claimed, ClaimError> {
        let mut m = self.lock();
        let e = m
            .get_mut(id)
            .ok_or_else(|| ClaimError::UnknownSession(id.into()))?;
        if e.token != token {
            return Err(ClaimError::WrongToken(id.into()));
        }
        if e.end.is_some() {
            return Err(ClaimError::AlreadyUsed(id.into()));
        }
        if e.expires <= now {
            m.remove(id);
            return Err(ClaimError::Expired(id.into()));
        }
        let (tx, rx) = watch::channel(None);
        e.end = Some(tx);
        Ok(Claimed {
            target: e.target.clone(),
            end: rx,
        })
    }

    /// Tells an open session to end with `reason`; an unopened one is
    /// forgotten. Returns whether the session existed.
    pub fn end(&self, id: &str, reason: &str) -> bool {
        let mut m = self.lock();
        match m.get(id) {
            Some(Entry { end: Some(tx), .. }) => {
                let _ = tx.send(Some(reason.to_string()));
                true
            }
            Some(_) => {
                m.remove(id);
                true
            }
            None => false,
        }
    }

    /// Ends every open session on a task.
    pub fn end_task(&self, task_arn: &str, reason: &str) {
        let m = self.lock();
        for e in m.values().filter(|e| e.target.task_arn == task_arn) {
            if let Some(tx) = &e.end {
                let _ = tx.send(Some(reason.to_string()));
            }
        }
    }

    /// A session's channel has closed.
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    /// The ids of sessions whose channel is open.
    pub fn open(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.end.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ExecTarget {
        ExecTarget {
            region: "us-east-1".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:0:cluster/c".into(),
            cluster_name: "c".into(),
            task_arn: "arn:aws:ecs:us-east-1:0:task/c/t".into(),
            task_id: "t".into(),
            container_name: "web".into(),
            container_arn: "a".into(),
            runtime_id: "t-1".into(),
            command: "sh".into(),
        }
    }

    #[test]
    fn a_token_opens_its_own_session_once_before_it_expires() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let (a, ta) = s.create(target(), t0);
        let (b, tb) = s.create(target(), t0);
        assert!(
            a.starts_with("ecs-execute-command-") && a.len() == 37,
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(
            s.claim(&a, &tb, t0).err(),
            Some(ClaimError::WrongToken(a.clone()))
        );
        assert!(s.claim(&a, &ta, t0).is_ok());
        assert_eq!(
            s.claim(&a, &ta, t0).err(),
            Some(ClaimError::AlreadyUsed(a.clone()))
        );
        assert_eq!(
            s.claim(&b, &tb, t0 + TOKEN_TTL).err(),
            Some(ClaimError::Expired(b.clone()))
        );
        assert_eq!(
            s.claim("nope", &tb, t0).err(),
            Some(ClaimError::UnknownSession("nope".into()))
        );
        assert_eq!(s.open(), vec![a.clone()]);
    }

    #[test]
    fn ending_reaches_the_open_session() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let (a, ta) = s.create(target(), t0);
        let mut c = s.claim(&a, &ta, t0).unwrap();
        s.end_task("arn:aws:ecs:us-east-1:0:task/c/t", "stopped");
        assert!(c.end.has_changed().unwrap());
        assert_eq!(c.end.borrow_and_update().as_deref(), Some("stopped"));
        assert!(s.end(&a, "bye"));
        s.forget(&a);
        assert!(!s.end(&a, "bye"));
    }
}
