//! Secrets Manager on awsJson1.1 (`X-Amz-Target: secretsmanager.<Op>`): one
//! `match` from operation name to backend method. Other operations answer
//! InvalidRequestException, which every Secrets Manager operation models.

use super::ecs::{decode, encode};
use super::{ApiError, RequestContext};
use crate::app::App;

pub const TARGET_PREFIX: &str = "secretsmanager";

pub async fn handle(
    app: &App,
    ctx: &RequestContext,
    op: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let sm = app.secrets_manager();
    let region = ctx.region.as_str();
    let empty = || serde_json::json!({});
    match op {
        "CreateSecret" => call!(body, |r| sm.create_secret(region, r)),
        "GetSecretValue" => call!(body, |r| sm.get_secret_value(region, r)),
        "PutSecretValue" => call!(body, |r| sm.put_secret_value(region, r)),
        "UpdateSecret" => call!(body, |r| sm.update_secret(region, r)),
        "DescribeSecret" => call!(body, |r| sm.describe_secret(region, r)),
        "ListSecrets" => call!(body, |r| sm.list_secrets(region, r)),
        "DeleteSecret" => call!(body, |r| sm.delete_secret(region, r)),
        "RestoreSecret" => call!(body, |r| sm.restore_secret(region, r)),
        "TagResource" => call!(body, |r| sm.tag_resource(region, r).map(|()| empty())),
        "UntagResource" => call!(body, |r| sm.untag_resource(region, r).map(|()| empty())),
        other => Err(ApiError::client(
            "InvalidRequestException",
            format!("fargate-local does not support the Secrets Manager operation {other}."),
        )),
    }
}
