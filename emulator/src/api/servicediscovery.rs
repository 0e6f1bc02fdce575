//! AWS Cloud Map on awsJson1.1 (`X-Amz-Target:
//! Route53AutoNaming_v20170314.<Op>`): one `match` from operation name to
//! backend method. DiscoverInstances is the data plane's (`data-` host
//! prefix on AWS); the emulator serves it on the same endpoint.

use super::ecs::{decode, encode};
use super::{ApiError, RequestContext};
use crate::app::App;

pub const TARGET_PREFIX: &str = "Route53AutoNaming_v20170314";

pub async fn handle(
    app: &App,
    ctx: &RequestContext,
    op: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let sd = app.servicediscovery();
    let region = ctx.region.as_str();
    match op {
        "CreatePrivateDnsNamespace" => {
            call!(body, |r| sd.create_private_dns_namespace(region, r))
        }
        "CreateHttpNamespace" => call!(body, |r| sd.create_http_namespace(region, r)),
        "GetNamespace" => call!(body, |r| sd.get_namespace(region, r)),
        "ListNamespaces" => call!(body, |r| sd.list_namespaces(region, r)),
        "DeleteNamespace" => call!(body, |r| sd.delete_namespace(region, r)),
        "GetOperation" => call!(body, |r| sd.get_operation(region, r)),
        "ListOperations" => call!(body, |r| sd.list_operations(region, r)),
        "CreateService" => call!(body, |r| sd.create_service(region, r)),
        "GetService" => call!(body, |r| sd.get_service(region, r)),
        "ListServices" => call!(body, |r| sd.list_services(region, r)),
        "UpdateService" => call!(body, |r| sd.update_service(region, r)),
        "DeleteService" => call!(body, |r| sd.delete_service(region, r)),
        "RegisterInstance" => call!(body, |r| sd.register_instance(region, r)),
        "DeregisterInstance" => call!(body, |r| sd.deregister_instance(region, r)),
        "GetInstance" => call!(body, |r| sd.get_instance(region, r)),
        "ListInstances" => call!(body, |r| sd.list_instances(region, r)),
        "GetInstancesHealthStatus" => {
            call!(body, |r| sd.get_instances_health_status(region, r))
        }
        "UpdateInstanceCustomHealthStatus" => {
            call!(body, |r| sd.update_instance_custom_health_status(region, r))
        }
        "DiscoverInstances" => call!(body, |r| sd.discover_instances(region, r)),
        "DiscoverInstancesRevision" => {
            call!(body, |r| sd.discover_instances_revision(region, r))
        }
        "TagResource" => call!(body, |r| sd.tag_resource(region, r)),
        "UntagResource" => call!(body, |r| sd.untag_resource(region, r)),
        "ListTagsForResource" => call!(body, |r| sd.list_tags_for_resource(region, r)),
        other => Err(ApiError::client(
            "InvalidInput",
            format!("fargate-local does not support the Cloud Map operation {other}."),
        )),
    }
}
