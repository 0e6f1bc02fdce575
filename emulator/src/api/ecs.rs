//! ECS on awsJson1.1: one `match` from operation name to backend method.
//! Operations of the ECS model that the emulator does not implement answer
//! with one of their modeled errors naming the operation
//! (`UnsupportedFeatureException` where modeled, else `ClientException`);
//! names that are not in the model answer `UnknownOperationException`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ApiError, RequestContext};
use crate::app::App;
use crate::services::ecs::Caller;

pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";

/// Every operation of the ECS model (botocore's 77 plus the Gateway ones).
pub const MODEL_OPERATIONS: [&str; 88] = [
    "AssociateGatewayWithCluster",
    "ContinueServiceDeployment",
    "CreateCapacityProvider",
    "CreateCluster",
    "CreateDaemon",
    "CreateExpressGatewayService",
    "CreateGateway",
    "CreateService",
    "CreateTaskSet",
    "DeleteAccountSetting",
    "DeleteAttributes",
    "DeleteCapacityProvider",
    "DeleteCluster",
    "DeleteDaemon",
    "DeleteDaemonTaskDefinition",
    "DeleteExpressGatewayService",
    "DeleteGateway",
    "DeleteService",
    "DeleteTaskDefinitions",
    "DeleteTaskSet",
    "DeregisterContainerInstance",
    "DeregisterTaskDefinition",
    "DescribeCapacityProviders",
    "DescribeClusters",
    "DescribeContainerInstances",
    "DescribeDaemon",
    "DescribeDaemonDeployments",
    "DescribeDaemonRevisions",
    "DescribeDaemonTaskDefinition",
    "DescribeExpressGatewayService",
    "DescribeGateway",
    "DescribeGatewayResources",
    "DescribeGatewayRoute",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "DescribeServices",
    "DescribeTaskDefinition",
    "DescribeTaskSets",
    "DescribeTasks",
    "DisassociateGatewayFromCluster",
    "DiscoverPollEndpoint",
    "ExecuteCommand",
    "GetTaskProtection",
    "ListAccountSettings",
    "ListAttributes",
    "ListClusters",
    "ListContainerInstances",
    "ListDaemonDeployments",
    "ListDaemonTaskDefinitions",
    "ListDaemons",
    "ListGatewayClusterAssociations",
    "ListGatewayRoutes",
    "ListGateways",
    "ListServiceDeployments",
    "ListServices",
    "ListServicesByNamespace",
    "ListTagsForResource",
    "ListTaskDefinitionFamilies",
    "ListTaskDefinitions",
    "ListTasks",
    "PutAccountSetting",
    "PutAccountSettingDefault",
    "PutAttributes",
    "PutClusterCapacityProviders",
    "RegisterContainerInstance",
    "RegisterDaemonTaskDefinition",
    "RegisterTaskDefinition",
    "RunTask",
    "StartTask",
    "StopServiceDeployment",
    "StopTask",
    "SubmitAttachmentStateChanges",
    "SubmitContainerStateChange",
    "SubmitTaskStateChange",
    "TagResource",
    "UntagResource",
    "UpdateCapacityProvider",
    "UpdateCluster",
    "UpdateClusterSettings",
    "UpdateContainerAgent",
    "UpdateContainerInstancesState",
    "UpdateDaemon",
    "UpdateExpressGatewayService",
    "UpdateGateway",
    "UpdateService",
    "UpdateServicePrimaryTaskSet",
    "UpdateTaskProtection",
    "UpdateTaskSet",
];

/// The operations whose model error list has UnsupportedFeatureException
/// (botocore 1.44.8). Every ECS operation models ClientException.
pub const UNSUPPORTED_FEATURE_MODELED: [&str; 43] = [
    "AssociateGatewayWithCluster",
    "ContinueServiceDeployment",
    "CreateCapacityProvider",
    "CreateDaemon",
    "CreateExpressGatewayService",
    "CreateGateway",
    "CreateService",
    "CreateTaskSet",
    "DeleteCapacityProvider",
    "DeleteDaemon",
    "DeleteExpressGatewayService",
    "DeleteGateway",
    "DeleteTaskSet",
    "DescribeCapacityProviders",
    "DescribeDaemon",
    "DescribeDaemonDeployments",
    "DescribeDaemonRevisions",
    "DescribeExpressGatewayService",
    "DescribeGateway",
    "DescribeGatewayResources",
    "DescribeGatewayRoute",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "DescribeTaskSets",
    "DisassociateGatewayFromCluster",
    "GetTaskProtection",
    "ListDaemonDeployments",
    "ListDaemons",
    "ListGatewayClusterAssociations",
    "ListGatewayRoutes",
    "ListGateways",
    "ListServiceDeployments",
    "RunTask",
    "StartTask",
    "StopServiceDeployment",
    "UpdateCapacityProvider",
    "UpdateDaemon",
    "UpdateExpressGatewayService",
    "UpdateGateway",
    "UpdateService",
    "UpdateServicePrimaryTaskSet",
    "UpdateTaskProtection",
    "UpdateTaskSet",
];

/// The answer to a model operation the emulator does not implement. It must
/// be one of the operation's modeled errors: SDKs map any other code to a
/// generic error, and typed error handling (`except
/// client.exceptions.ClientException`) misses it. UnsupportedFeatureException
/// where the model lists it, else ClientException.
fn not_implemented(op: &str) -> ApiError {
    let code = if UNSUPPORTED_FEATURE_MODELED.contains(&op) {
        "UnsupportedFeatureException"
    } else {
        "ClientException"
    };
    ApiError::client(
        code,
        format!("fargate-local does not support the ECS operation {op} yet."),
    )
}

/// Decodes an awsJson request body: an empty body is `{}`; anything but a
/// JSON object, or a member of the wrong type, is a SerializationException.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let text = body.trim_ascii();
    let text: &[u8] = if text.is_empty() { b"{}" } else { text };
    if text.first() != Some(&b'{') {
        return Err(ApiError::client(
            "SerializationException",
            "The request body must be a JSON object.",
        ));
    }
    serde_json::from_slice(text).map_err(|e| {
        ApiError::client(
            "SerializationException",
            format!("Could not read the request body: {e}"),
        )
    })
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::server("ServerException", e.to_string()))
}

fn caller(app: &App, ctx: &RequestContext) -> Caller {
    Caller {
        region: ctx.region.clone(),
        account: app.account_id().to_string(),
        principal: crate::domain::arn::iam_root(app.account_id()),
    }
}

/// Decodes, calls, encodes.
pub async fn handle(
    app: &App,
    ctx: &RequestContext,
    op: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let ecs = app.ecs();
    let c = caller(app, ctx);
    match op {
        "CreateCluster" => call!(body, |r| ecs.create_cluster(&c, r)),
        "DescribeClusters" => call!(body, |r| ecs.describe_clusters(&c, r)),
        "ListClusters" => call!(body, |r| ecs.list_clusters(&c, r)),
        "DeleteCluster" => call!(body, |r| ecs.delete_cluster(&c, r)),
        "UpdateCluster" => call!(body, |r| ecs.update_cluster(&c, r)),
        "UpdateClusterSettings" => call!(body, |r| ecs.update_cluster_settings(&c, r)),
        "PutClusterCapacityProviders" => call!(body, |r| ecs.put_cluster_capacity_providers(&c, r)),
        "DescribeCapacityProviders" => call!(body, |r| ecs.describe_capacity_providers(&c, r)),
        "RegisterTaskDefinition" => {
            call!(body, |r| ecs.register_task_definition(&c, r, body.len()))
        }
        "DescribeTaskDefinition" => call!(body, |r| ecs.describe_task_definition(&c, r)),
        "ListTaskDefinitions" => call!(body, |r| ecs.list_task_definitions(&c, r)),
        "ListTaskDefinitionFamilies" => call!(body, |r| ecs.list_task_definition_families(&c, r)),
        "DeregisterTaskDefinition" => call!(body, |r| ecs.deregister_task_definition(&c, r)),
        "DeleteTaskDefinitions" => call!(body, |r| ecs.delete_task_definitions(&c, r)),
        "RunTask" => call!(body, |r| ecs.run_task(&c, r)),
        "StopTask" => call!(body, |r| ecs.stop_task(&c, r)),
        "DescribeTasks" => call!(body, |r| ecs.describe_tasks(&c, r)),
        "ListTasks" => call!(body, |r| ecs.list_tasks(&c, r)),
        "TagResource" => call!(body, |r| ecs.tag_resource(&c, r)),
        "UntagResource" => call!(body, |r| ecs.untag_resource(&c, r)),
        "ListTagsForResource" => call!(body, |r| ecs.list_tags_for_resource(&c, r)),
        "ListAccountSettings" => call!(body, |r| ecs.list_account_settings(&c, r)),
        "PutAccountSetting" => call!(body, |r| ecs.put_account_setting(&c, r)),
        "PutAccountSettingDefault" => call!(body, |r| ecs.put_account_setting_default(&c, r)),
        "DeleteAccountSetting" => call!(body, |r| ecs.delete_account_setting(&c, r)),
        "ListContainerInstances" => call!(body, |r| ecs.list_container_instances(&c, r)),
        "DescribeContainerInstances" => call!(body, |r| ecs.describe_container_instances(&c, r)),
        "CreateService" => call!(body, |r| ecs.create_service(&c, r)),
        "DescribeServices" => call!(body, |r| ecs.describe_services(&c, r)),
        "ListServices" => call!(body, |r| ecs.list_services(&c, r)),
        "UpdateService" => call!(body, |r| ecs.update_service(&c, r)),
        "DeleteService" => call!(body, |r| ecs.delete_service(&c, r)),
        "ListServicesByNamespace" => call!(body, |r| ecs.list_services_by_namespace(&c, r)),
        "DescribeServiceDeployments" => {
            call!(body, |r| ecs.describe_service_deployments(&c, r))
        }
        "ListServiceDeployments" => call!(body, |r| ecs.list_service_deployments(&c, r)),
        "DescribeServiceRevisions" => call!(body, |r| ecs.describe_service_revisions(&c, r)),
        "ExecuteCommand" => {
            let host = ctx
                .host
                .clone()
                .unwrap_or_else(|| app.args().listen.to_string());
            call!(body, |r| app.exec().execute_command(&c, r, &host))
        }
        other if MODEL_OPERATIONS.contains(&other) => Err(not_implemented(other)),
        other => Err(ApiError::client(
            "UnknownOperationException",
            format!("The operation '{other}' is not an operation of the ECS API."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ecs::clusters::DescribeClustersRequest;

    #[test]
    fn bodies_decode_strictly() {
        let cases: [(&[u8], bool); 6] = [
            (b"", true),
            (b"  {}  ", true),
            (b"{\"clusters\":[\"a\"]}", true),
            (b"[\"a\"]", false),
            (b"{\"clusters\":\"a\"}", false),
            (b"{not json", false),
        ];
        for (body, ok) in cases {
            let got = decode::<DescribeClustersRequest>(body);
            assert_eq!(got.is_ok(), ok, "{}", String::from_utf8_lossy(body));
            if let Err(e) = got {
                assert_eq!(e.code, "SerializationException");
            }
        }
    }

    #[test]
    fn unimplemented_operations_answer_a_modeled_error() {
        for op in UNSUPPORTED_FEATURE_MODELED {
            assert!(MODEL_OPERATIONS.contains(&op), "{op}");
        }
        let cases = [
            ("CreateTaskSet", "UnsupportedFeatureException"),
            ("UpdateTaskProtection", "UnsupportedFeatureException"),
            ("DescribeTaskSets", "UnsupportedFeatureException"),
            ("DiscoverPollEndpoint", "ClientException"),
            ("PutAttributes", "ClientException"),
        ];
        for (op, code) in cases {
            let e = not_implemented(op);
            assert_eq!((e.code.as_str(), e.status.as_u16()), (code, 400), "{op}");
            assert!(e.message.contains(op));
        }
    }

    #[test]
    fn operation_list_has_no_duplicates() {
        let mut ops = MODEL_OPERATIONS.to_vec();
        ops.sort();
        ops.dedup();
        assert_eq!(ops.len(), MODEL_OPERATIONS.len());
    }
}
