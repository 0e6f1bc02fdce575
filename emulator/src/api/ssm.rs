//! SSM Parameter Store on awsJson1.1 (`X-Amz-Target: AmazonSSM.<Op>`): one
//! `match` from operation name to backend method. Other SSM operations
//! answer ValidationException naming the operation.

use super::ecs::{decode, encode};
use super::{ApiError, RequestContext};
use crate::app::App;

pub const TARGET_PREFIX: &str = "AmazonSSM";

pub async fn handle(
    app: &App,
    ctx: &RequestContext,
    op: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let ssm = app.ssm();
    let region = ctx.region.as_str();
    match op {
        "PutParameter" => call!(body, |r| ssm.put_parameter(region, r)),
        "GetParameter" => call!(body, |r| ssm.get_parameter(region, r)),
        "GetParameters" => call!(body, |r| ssm.get_parameters(region, r)),
        "GetParametersByPath" => call!(body, |r| ssm.get_parameters_by_path(region, r)),
        "DescribeParameters" => call!(body, |r| ssm.describe_parameters(region, r)),
        "DeleteParameter" => call!(body, |r| ssm
            .delete_parameter(region, r)
            .map(|()| serde_json::json!({}))),
        "DeleteParameters" => call!(body, |r| ssm.delete_parameters(region, r)),
        other => Err(ApiError::client(
            "ValidationException",
            format!("fargate-local does not support the SSM operation {other}."),
        )),
    }
}
