//! STS on the awsQuery protocol (`Version=2011-06-15`), in STS's XML
//! namespace: who a caller is (GetCallerIdentity) and AssumeRole (the
//! role's trust policy decides). A call signed with a task's credentials is
//! that task's role session,
//! `arn:aws:sts::<acct>:assumed-role/<role>/<task id>`; one signed with
//! credentials AssumeRole gave is that session; any other caller is the
//! account's root, as the host's credentials are locally.

use axum::http::StatusCode;
use axum::response::Response;

use super::query::{Params, X, leaf};
use crate::app::App;
use crate::services::iam::IamError;
use crate::services::iam::eval::Caller as EvalCaller;
use crate::services::iam::sts::AssumeRole;
use crate::services::kit::AwsError;

pub const VERSION: &str = "2011-06-15";
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The one place an STS error becomes HTTP.
pub fn error(e: &IamError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    super::query::error(XMLNS, status, e.code(), &e.message(), request_id)
}

/// Who signed a request, as STS names them.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub arn: String,
    pub user_id: String,
    pub account: String,
    /// The role of a role session; `None` for the root.
    pub role_arn: Option<String>,
}

/// The caller behind an access key: a task's role session, an assumed
/// role's session, or the root. `role_arn` is the session's role.
pub fn caller(app: &App, access_key: Option<&str>) -> Caller {
    let account = app.account_id().to_string();
    if let Some(s) = access_key.and_then(|k| app.iam().session(k)) {
        return Caller {
            arn: s.arn,
            user_id: s.assumed_role_id,
            account,
            role_arn: Some(s.role_arn),
        };
    }
    let task = access_key.and_then(|k| app.credentials().principal(k));
    match task {
        Some(p) => {
            let role_name = p.role_arn.rsplit('/').next().unwrap_or_default();
            let session = p.task_arn.rsplit('/').next().unwrap_or_default();
            let role_id = app
                .iam()
                .role_by_arn(&p.role_arn)
                .map(|r| r.role_id)
                .unwrap_or_else(|| crate::services::iam::stable_id("AROA", &p.role_arn));
            Caller {
                arn: format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}"),
                user_id: format!("{role_id}:{session}"),
                account,
                role_arn: Some(p.role_arn),
            }
        }
        None => Caller {
            arn: crate::domain::arn::iam_root(&account),
            user_id: account.clone(),
            account,
            role_arn: None,
        },
    }
}

/// Handles one awsQuery request already known to be STS's.
pub fn handle(
    app: &App,
    access_key: Option<&str>,
    request_id: &str,
    p: &Params,
) -> (String, Result<Response, IamError>) {
    let action = p.get("Action").unwrap_or_default();
    let result = match action.as_str() {
        "GetCallerIdentity" => {
            let c = caller(app, access_key);
            Ok(vec![
                leaf("UserId", c.user_id),
                leaf("Account", c.account),
                leaf("Arn", c.arn),
            ])
        }
        "AssumeRole" => assume_role(app, access_key, p),
        other => Err(IamError::InvalidAction(format!(
            "fargate-local does not support the STS action {other} (or it does not exist)."
        ))),
    };
    let result: Result<Vec<X>, IamError> = result;
    (
        action.clone(),
        result.map(|r| super::query::ok(XMLNS, &action, &r, request_id)),
    )
}

fn assume_role(app: &App, access_key: Option<&str>, p: &Params) -> Result<Vec<X>, IamError> {
    let who = caller(app, access_key);
    let principal = EvalCaller::Aws {
        arn: &who.arn,
        account: &who.account,
        role_arn: who.role_arn.as_deref(),
    };
    let s = app.iam().assume_role(
        &principal,
        &who.arn,
        AssumeRole {
            role_arn: p.get("RoleArn"),
            role_session_name: p.get("RoleSessionName"),
            duration_seconds: p.num("DurationSeconds").map_err(IamError::Validation)?,
            external_id: p.get("ExternalId"),
        },
    )?;
    Ok(vec![
        X::Node(
            "Credentials",
            vec![
                leaf("AccessKeyId", &s.access_key_id),
                leaf("SecretAccessKey", &s.secret_access_key),
                leaf("SessionToken", &s.session_token),
                leaf("Expiration", super::iam::iso(s.expiration)),
            ],
        ),
        X::Node(
            "AssumedRoleUser",
            vec![
                leaf("AssumedRoleId", &s.assumed_role_id),
                leaf("Arn", &s.arn),
            ],
        ),
    ])
}
