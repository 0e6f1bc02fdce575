//! CloudWatch Logs on awsJson1.1 (`Logs_20140328`): one `match` from
//! operation name to backend method. Operations of the model that the
//! emulator does not implement answer one of their modeled errors naming the
//! operation; unknown names answer UnknownOperationException.

use super::ecs::{decode, encode};
use super::{ApiError, RequestContext};
use crate::app::App;

pub const TARGET_PREFIX: &str = "Logs_20140328";

/// Every operation of the CloudWatch Logs model (botocore 1.44.8).
pub const MODEL_OPERATIONS: [&str; 118] = [
    "AssociateKmsKey",
    "AssociateSourceToS3TableIntegration",
    "CancelExportTask",
    "CancelImportTask",
    "CreateDelivery",
    "CreateExportTask",
    "CreateImportTask",
    "CreateLogAnomalyDetector",
    "CreateLogGroup",
    "CreateLogStream",
    "CreateLookupTable",
    "CreateScheduledQuery",
    "DeleteAccountPolicy",
    "DeleteDataProtectionPolicy",
    "DeleteDelivery",
    "DeleteDeliveryDestination",
    "DeleteDeliveryDestinationPolicy",
    "DeleteDeliverySource",
    "DeleteDestination",
    "DeleteIndexPolicy",
    "DeleteIntegration",
    "DeleteLogAnomalyDetector",
    "DeleteLogGroup",
    "DeleteLogStream",
    "DeleteLookupTable",
    "DeleteMetricFilter",
    "DeleteQueryDefinition",
    "DeleteResourcePolicy",
    "DeleteRetentionPolicy",
    "DeleteScheduledQuery",
    "DeleteSubscriptionFilter",
    "DeleteSyslogConfiguration",
    "DeleteTransformer",
    "DescribeAccountPolicies",
    "DescribeConfigurationTemplates",
    "DescribeDeliveries",
    "DescribeDeliveryDestinations",
    "DescribeDeliverySources",
    "DescribeDestinations",
    "DescribeExportTasks",
    "DescribeFieldIndexes",
    "DescribeImportTaskBatches",
    "DescribeImportTasks",
    "DescribeIndexPolicies",
    "DescribeLogGroups",
    "DescribeLogStreams",
    "DescribeLookupTables",
    "DescribeMetricFilters",
    "DescribeQueries",
    "DescribeQueryDefinitions",
    "DescribeResourcePolicies",
    "DescribeSubscriptionFilters",
    "DisassociateKmsKey",
    "DisassociateSourceFromS3TableIntegration",
    "FilterLogEvents",
    "GetDataProtectionPolicy",
    "GetDelivery",
    "GetDeliveryDestination",
    "GetDeliveryDestinationPolicy",
    "GetDeliverySource",
    "GetIntegration",
    "GetLogAnomalyDetector",
    "GetLogEvents",
    "GetLogFields",
    "GetLogGroupFields",
    "GetLogObject",
    "GetLogRecord",
    "GetLookupTable",
    "GetQueryResults",
    "GetScheduledQuery",
    "GetScheduledQueryHistory",
    "GetStorageTierPolicy",
    "GetTransformer",
    "ListAggregateLogGroupSummaries",
    "ListAnomalies",
    "ListIntegrations",
    "ListLogAnomalyDetectors",
    "ListLogGroups",
    "ListLogGroupsForQuery",
    "ListScheduledQueries",
    "ListSourcesForS3TableIntegration",
    "ListSyslogConfigurations",
    "ListTagsForResource",
    "ListTagsLogGroup",
    "PutAccountPolicy",
    "PutBearerTokenAuthentication",
    "PutDataProtectionPolicy",
    "PutDeliveryDestination",
    "PutDeliveryDestinationPolicy",
    "PutDeliverySource",
    "PutDestination",
    "PutDestinationPolicy",
    "PutIndexPolicy",
    "PutIntegration",
    "PutLogEvents",
    "PutLogGroupDeletionProtection",
    "PutMetricFilter",
    "PutQueryDefinition",
    "PutResourcePolicy",
    "PutRetentionPolicy",
    "PutStorageTierPolicy",
    "PutSubscriptionFilter",
    "PutSyslogConfiguration",
    "PutTransformer",
    "StartLiveTail",
    "StartQuery",
    "StopQuery",
    "TagLogGroup",
    "TagResource",
    "TestMetricFilter",
    "TestTransformer",
    "UntagLogGroup",
    "UntagResource",
    "UpdateAnomaly",
    "UpdateDeliveryConfiguration",
    "UpdateLogAnomalyDetector",
    "UpdateLookupTable",
    "UpdateScheduledQuery",
];

/// The model operations whose errors do not include InvalidParameterException
/// (they model ValidationException instead).
pub const VALIDATION_MODELED: [&str; 26] = [
    "AssociateSourceToS3TableIntegration",
    "CreateDelivery",
    "CreateScheduledQuery",
    "DeleteDelivery",
    "DeleteDeliveryDestination",
    "DeleteDeliveryDestinationPolicy",
    "DeleteDeliverySource",
    "DeleteScheduledQuery",
    "DescribeConfigurationTemplates",
    "DescribeDeliveries",
    "DescribeDeliveryDestinations",
    "DescribeDeliverySources",
    "DisassociateSourceFromS3TableIntegration",
    "GetDelivery",
    "GetDeliveryDestination",
    "GetDeliveryDestinationPolicy",
    "GetDeliverySource",
    "GetScheduledQuery",
    "GetScheduledQueryHistory",
    "ListScheduledQueries",
    "ListSourcesForS3TableIntegration",
    "PutDeliveryDestination",
    "PutDeliveryDestinationPolicy",
    "PutDeliverySource",
    "UpdateDeliveryConfiguration",
    "UpdateScheduledQuery",
];

/// The answer to a model operation the emulator does not implement: one of
/// its modeled errors, naming the operation.
fn not_implemented(op: &str) -> ApiError {
    let code = if VALIDATION_MODELED.contains(&op) {
        "ValidationException"
    } else {
        "InvalidParameterException"
    };
    ApiError::client(
        code,
        format!("fargate-local does not support the CloudWatch Logs operation {op} yet."),
    )
}

pub async fn handle(
    app: &App,
    ctx: &RequestContext,
    op: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let logs = app.logs();
    let region = ctx.region.as_str();
    match op {
        "CreateLogGroup" => call!(body, |r| logs.create_log_group(region, r)),
        "DeleteLogGroup" => call!(body, |r| logs.delete_log_group(region, r)),
        "DescribeLogGroups" => call!(body, |r| logs.describe_log_groups(region, r)),
        "PutRetentionPolicy" => call!(body, |r| logs.put_retention_policy(region, r)),
        "DeleteRetentionPolicy" => call!(body, |r| logs.delete_retention_policy(region, r)),
        "CreateLogStream" => call!(body, |r| logs.create_log_stream(region, r)),
        "DeleteLogStream" => call!(body, |r| logs.delete_log_stream(region, r)),
        "DescribeLogStreams" => call!(body, |r| logs.describe_log_streams(region, r)),
        "PutLogEvents" => call!(body, |r| logs.put_log_events(region, r)),
        "GetLogEvents" => call!(body, |r| logs.get_log_events(region, r)),
        "FilterLogEvents" => call!(body, |r| logs.filter_log_events(region, r)),
        "TagResource" => call!(body, |r| logs.tag_resource(region, r)),
        "UntagResource" => call!(body, |r| logs.untag_resource(region, r)),
        "ListTagsForResource" => call!(body, |r| logs.list_tags_for_resource(region, r)),
        "TagLogGroup" => call!(body, |r| logs.tag_log_group(region, r)),
        "UntagLogGroup" => call!(body, |r| logs.untag_log_group(region, r)),
        "ListTagsLogGroup" => call!(body, |r| logs.list_tags_log_group(region, r)),
        other if MODEL_OPERATIONS.contains(&other) => Err(not_implemented(other)),
        other => Err(ApiError::client(
            "UnknownOperationException",
            format!("The operation '{other}' is not an operation of the CloudWatch Logs API."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unimplemented_operations_answer_a_modeled_error() {
        for op in VALIDATION_MODELED {
            assert!(MODEL_OPERATIONS.contains(&op), "{op}");
        }
        let cases = [
            ("StartQuery", "InvalidParameterException"),
            ("PutMetricFilter", "InvalidParameterException"),
            ("CreateDelivery", "ValidationException"),
        ];
        for (op, code) in cases {
            let e = not_implemented(op);
            assert_eq!((e.code.as_str(), e.status.as_u16()), (code, 400), "{op}");
            assert!(e.message.contains(op));
        }
    }
}
