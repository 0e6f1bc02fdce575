//! STS's AssumeRole on the IAM backend: the role's trust policy decides
//! (evaluated by [`super::eval::trusts`]), and the session's credentials
//! are remembered so that calls signed with them are that session
//! (GetCallerIdentity, and the evaluator when enforcing).
//!
//! Left out: session policies (`Policy`, `PolicyArns`: accepted, not
//! applied), MFA, source identity, transitive tags.

use rand::Rng;

use super::eval::{self, Caller, Context};
use super::{Iam, IamError, Result, policy, required};
use crate::domain::time::now;

/// One assumed-role session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch seconds.
    pub expiration: f64,
    pub role_arn: String,
    /// `<role id>:<session name>`.
    pub assumed_role_id: String,
    /// `arn:aws:sts::<acct>:assumed-role/<role name>/<session name>`.
    pub arn: String,
}

pub struct AssumeRole {
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub duration_seconds: Option<i64>,
    pub external_id: Option<String>,
}

fn random(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// The text of an AccessDenied for `action` on `resource`.
pub fn not_authorized(who: &str, action: &str, resource: &str) -> String {
    format!("User: {who} is not authorized to perform: {action} on resource: {resource}")
}

impl Iam {
    pub(super) fn sessions_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session an access key belongs to, while it is valid.
    pub fn session(&self, access_key_id: &str) -> Option<Session> {
        let t = now();
        self.sessions_lock()
            .get(access_key_id)
            .filter(|s| s.expiration > t)
            .cloned()
    }

    /// AssumeRole for `caller` (whose ARN `caller_arn` the denial names).
    pub fn assume_role(&self, caller: &Caller, caller_arn: &str, r: AssumeRole) -> Result<Session> {
        let role_arn = required(r.role_arn, "roleArn")?;
        let name = required(r.role_session_name, "roleSessionName")?;
        let n = name.chars().count();
        if !(2..=64).contains(&n)
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        {
            return Err(IamError::Validation(format!(
                "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )));
        }
        if role_arn.len() < 20 {
            return Err(IamError::Validation(format!(
                "1 validation error detected: Value '{role_arn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20"
            )));
        }
        let duration = r.duration_seconds.unwrap_or(3600);
        if !(900..=43200).contains(&duration) {
            return Err(IamError::Validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value {}",
                if duration < 900 {
                    "greater than or equal to 900"
                } else {
                    "less than or equal to 43200"
                }
            )));
        }
        let denied =
            || IamError::AccessDenied(not_authorized(caller_arn, "sts:AssumeRole", &role_arn));
        // A role that does not exist is a denial, as on AWS.
        let role = self
            .role_by_arn(&role_arn)
            .filter(|_| role_arn.starts_with("arn:"))
            .ok_or_else(denied)?;
        if duration > role.max_session_duration {
            return Err(IamError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }
        let trust = policy::parse(&role.trust_policy, policy::Kind::Trust)
            .map_err(IamError::MalformedPolicyDocument)?;
        let mut ctx = Context::new();
        if let Caller::Aws { arn, account, .. } = caller {
            ctx = ctx
                .with("aws:PrincipalArn", *arn)
                .with("aws:PrincipalAccount", *account);
        }
        if let Some(x) = &r.external_id {
            ctx = ctx.with("sts:ExternalId", x.clone());
        }
        if !eval::trusts(&trust, caller, "sts:AssumeRole", &ctx) {
            return Err(denied());
        }
        const KEY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let s = Session {
            access_key_id: format!("ASIA{}", random(KEY, 16)),
            secret_access_key: random(SECRET, 40),
            session_token: random(SECRET, 356),
            expiration: (now() + duration as f64).floor(),
            assumed_role_id: format!("{}:{name}", role.role_id),
            arn: self.global_arn("sts", &format!("assumed-role/{}/{name}", role.name)),
            role_arn: role.arn.clone(),
        };
        self.sessions_lock()
            .insert(s.access_key_id.clone(), s.clone());
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::iam::CreateRole;
    use crate::services::kit::AwsError;
    use crate::store::Store;

    fn role(iam: &Iam, name: &str, trust: &str) {
        iam.create_role(CreateRole {
            role_name: Some(name.into()),
            assume_role_policy_document: Some(trust.into()),
            path: None,
            description: None,
            max_session_duration: None,
            tags: vec![],
        })
        .unwrap();
    }

    fn req(arn: &str) -> AssumeRole {
        AssumeRole {
            role_arn: Some(arn.into()),
            role_session_name: Some("dev".into()),
            duration_seconds: None,
            external_id: None,
        }
    }

    #[test]
    fn the_trust_policy_decides() {
        let iam = Iam::load(Store::in_memory(), "000000000000".into()).unwrap();
        role(
            &iam,
            "ecs-only",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
        role(
            &iam,
            "account",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x1"}}}]}"#,
        );
        let root_arn = "arn:aws:iam::000000000000:root";
        let root = Caller::Aws {
            arn: root_arn,
            account: "000000000000",
            role_arn: None,
        };
        let e = iam
            .assume_role(
                &root,
                root_arn,
                req("arn:aws:iam::000000000000:role/ecs-only"),
            )
            .unwrap_err();
        assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
        assert_eq!(
            e.to_string(),
            "User: arn:aws:iam::000000000000:root is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/ecs-only"
        );
        let e = iam
            .assume_role(
                &root,
                root_arn,
                req("arn:aws:iam::000000000000:role/account"),
            )
            .unwrap_err();
        assert_eq!(e.code(), "AccessDenied", "the external id is missing");
        let s = iam
            .assume_role(
                &root,
                root_arn,
                AssumeRole {
                    external_id: Some("x1".into()),
                    ..req("arn:aws:iam::000000000000:role/account")
                },
            )
            .unwrap();
        assert_eq!(s.arn, "arn:aws:sts::000000000000:assumed-role/account/dev");
        assert!(s.assumed_role_id.starts_with("AROA") && s.assumed_role_id.ends_with(":dev"));
        assert!(s.access_key_id.starts_with("ASIA"));
        assert_eq!(iam.session(&s.access_key_id), Some(s.clone()));
        let e = iam
            .assume_role(
                &root,
                root_arn,
                req("arn:aws:iam::000000000000:role/missing"),
            )
            .unwrap_err();
        assert_eq!(e.code(), "AccessDenied");
        let e = iam
            .assume_role(
                &root,
                root_arn,
                AssumeRole {
                    duration_seconds: Some(7200),
                    external_id: Some("x1".into()),
                    ..req("arn:aws:iam::000000000000:role/account")
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "ValidationError");
        assert!(e.to_string().contains("MaxSessionDuration"));
        let e = iam
            .assume_role(
                &root,
                root_arn,
                AssumeRole {
                    role_session_name: Some("a b".into()),
                    ..req("arn:aws:iam::000000000000:role/account")
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "ValidationError");
        iam.reset().unwrap();
        assert_eq!(iam.session(&s.access_key_id), None);
    }
}
