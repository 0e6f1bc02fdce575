//! Task-role credentials: what the credentials endpoint
//! (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`) hands a task that has a
//! `taskRoleArn`, and the reverse look-up that lets the API say which task
//! and role made a call signed with them.
//!
//! There is no IAM here: the keys are random, in AWS's shapes (`ASIA…`
//! access key ids, a session token), valid for six hours and re-issued when
//! less than an hour is left, as the ECS agent rotates them. The
//! credentials id in the URI is derived from the task ARN and a per-instance
//! secret, so it is stable across a restart of the emulator and cannot be
//! guessed from the task ARN. Issued keys live in memory: after a restart a
//! task fetches new ones (calls signed with the old ones are still served,
//! but no longer attributed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::time::{self, Timestamp};

/// How long a set of credentials is valid.
pub const VALIDITY_SECS: f64 = 6.0 * 3600.0;
/// A set with less than this left is replaced by a new one.
pub const REFRESH_BEFORE_SECS: f64 = 3600.0;

/// The credentials endpoint's document (the agent's `IAMRoleCredentials`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleCredentials {
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub token: String,
    /// ISO 8601, seconds precision, `Z`.
    pub expiration: String,
}

/// Who a set of keys belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub task_arn: String,
    pub role_arn: String,
}

#[derive(Debug, Clone)]
struct Issued {
    creds: RoleCredentials,
    expires: Timestamp,
}

#[derive(Default)]
struct State {
    /// The current set of each task.
    by_task: HashMap<String, Issued>,
    /// Every set not yet expired, by access key id.
    by_key: HashMap<String, (Principal, Timestamp)>,
}

/// A cheap handle to the issued credentials of one emulator.
#[derive(Clone)]
pub struct Credentials {
    secret: Arc<Vec<u8>>,
    state: Arc<Mutex<State>>,
}

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

impl Credentials {
    /// `secret` makes credentials ids unguessable; keep it across restarts
    /// for the ids in running containers' environments to stay valid.
    pub fn new(secret: Vec<u8>) -> Self {
        Credentials {
            secret: Arc::new(secret),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// A new random secret, hex.
    pub fn new_secret() -> String {
        let bytes: [u8; 32] = rand::rng().random();
        hex::encode(bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The credentials id of a task (the last segment of its
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`), shaped as a UUID.
    pub fn id_for(&self, task_arn: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.secret.as_slice());
        h.update([0u8]);
        h.update(task_arn.as_bytes());
        let d = hex::encode(&h.finalize()[..16]);
        format!(
            "{}-{}-{}-{}-{}",
            &d[..8],
            &d[8..12],
            &d[12..16],
            &d[16..20],
            &d[20..32]
        )
    }

    /// The task's current credentials for its role, issued now if it has
    /// none or they are close to expiry.
    pub fn issue(&self, task_arn: &str, role_arn: &str) -> RoleCredentials {
        self.issue_at(task_arn, role_arn, time::now())
    }

    fn issue_at(&self, task_arn: &str, role_arn: &str, now: Timestamp) -> RoleCredentials {
        let mut st = self.lock();
        st.by_key.retain(|_, (_, exp)| *exp > now);
        if let Some(cur) = st.by_task.get(task_arn)
            && cur.creds.role_arn == role_arn
            && cur.expires - now > REFRESH_BEFORE_SECS
        {
            return cur.creds.clone();
        }
        let expires = (now + VALIDITY_SECS).floor();
        let token_bytes: Vec<u8> = (0..144).map(|_| rand::rng().random()).collect();
        let creds = RoleCredentials {
            role_arn: role_arn.to_string(),
            access_key_id: format!("ASIA{}", random_string(KEY_ALPHABET, 16)),
            secret_access_key: random_string(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                40,
            ),
            token: base64::engine::general_purpose::STANDARD.encode(token_bytes),
            expiration: chrono::DateTime::from_timestamp(expires as i64, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        st.by_key.insert(
            creds.access_key_id.clone(),
            (
                Principal {
                    task_arn: task_arn.to_string(),
                    role_arn: role_arn.to_string(),
                },
                expires,
            ),
        );
        st.by_task.insert(
            task_arn.to_string(),
            Issued {
                creds: creds.clone(),
                expires,
            },
        );
        creds
    }

    /// Which task and role an access key was issued to, while it is valid.
    pub fn principal(&self, access_key_id: &str) -> Option<Principal> {
        let now = time::now();
        let st = self.lock();
        st.by_key
            .get(access_key_id)
            .filter(|(_, exp)| *exp > now)
            .map(|(p, _)| p.clone())
    }

    /// The secret key of an access key issued here and still current (S3
    /// checks signatures with it).
    pub fn secret_key(&self, access_key_id: &str) -> Option<String> {
        let p = self.principal(access_key_id)?;
        let st = self.lock();
        st.by_task
            .get(&p.task_arn)
            .filter(|i| i.creds.access_key_id == access_key_id)
            .map(|i| i.creds.secret_access_key.clone())
    }

    /// The task has stopped: it gets no more credentials. Keys already
    /// handed out stay attributable until they expire, as keys issued by
    /// STS stay valid after the task that fetched them has gone.
    pub fn task_stopped(&self, task_arn: &str) {
        self.lock().by_task.remove(task_arn);
    }

    /// Forgets everything (`/_fargate-local/reset`).
    pub fn clear(&self) {
        let mut st = self.lock();
        st.by_task.clear();
        st.by_key.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK: &str = "arn:aws:ecs:us-east-1:000000000000:task/c/0123";
    const ROLE: &str = "arn:aws:iam::000000000000:role/app";

    #[test]
    fn ids_are_stable_per_task_and_secret() {
        let a = Credentials::new(b"one".to_vec());
        let b = Credentials::new(b"two".to_vec());
        assert_eq!(a.id_for(TASK), a.id_for(TASK));
        assert_ne!(
            a.id_for(TASK),
            a.id_for("arn:aws:ecs:us-east-1:000000000000:task/c/9")
        );
        assert_ne!(a.id_for(TASK), b.id_for(TASK));
        let id = a.id_for(TASK);
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn keys_have_aws_shapes_and_map_back_to_the_task() {
        let c = Credentials::new(b"s".to_vec());
        let creds = c.issue(TASK, ROLE);
        assert!(creds.access_key_id.starts_with("ASIA"));
        assert_eq!(creds.access_key_id.len(), 20);
        assert_eq!(creds.secret_access_key.len(), 40);
        assert!(creds.expiration.ends_with('Z'));
        assert_eq!(creds.role_arn, ROLE);
        assert_eq!(
            c.principal(&creds.access_key_id),
            Some(Principal {
                task_arn: TASK.into(),
                role_arn: ROLE.into()
            })
        );
        assert_eq!(c.principal("AKIAOTHER"), None);
    }

    #[test]
    fn the_same_set_until_an_hour_before_expiry_then_a_new_one() {
        let c = Credentials::new(b"s".to_vec());
        let t0 = time::now();
        let first = c.issue_at(TASK, ROLE, t0);
        // (seconds later, same set?)
        let cases = [
            (60.0, true),
            (VALIDITY_SECS - REFRESH_BEFORE_SECS - 60.0, true),
        ];
        for (later, same) in cases {
            assert_eq!(c.issue_at(TASK, ROLE, t0 + later) == first, same, "{later}");
        }
        let renewed = c.issue_at(TASK, ROLE, t0 + VALIDITY_SECS - REFRESH_BEFORE_SECS + 60.0);
        assert_ne!(renewed.access_key_id, first.access_key_id);
        // Both sets are still attributable while valid.
        assert!(c.principal(&first.access_key_id).is_some());
        assert!(c.principal(&renewed.access_key_id).is_some());
    }

    #[test]
    fn a_stopped_task_gets_a_new_set_only_if_asked_again() {
        let c = Credentials::new(b"s".to_vec());
        let first = c.issue(TASK, ROLE);
        c.task_stopped(TASK);
        assert!(c.principal(&first.access_key_id).is_some());
        assert_ne!(c.issue(TASK, ROLE), first);
    }
}
