//! The small families: account settings, resource tags, the built-in Fargate
//! capacity providers, and container instances (of which a Fargate-only
//! emulator has none).

use serde::{Deserialize, Serialize};

use super::clusters::FARGATE_PROVIDERS;
use super::model::enums;
use super::model::{CapacityProvider, CapacityProviderStatus, Failure, Setting, Tag};
use super::validation::{check_enum, check_enum_list, check_enum_opt, check_tags};
use super::{Caller, Ecs, EcsError, Result, paginate};
use crate::domain::arn;

// ---------------------------------------------------------------- account settings

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListAccountSettingsRequest {
    pub name: Option<String>,
    pub value: Option<String>,
    pub principal_arn: Option<String>,
    pub effective_settings: Option<bool>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListAccountSettingsResponse {
    pub settings: Vec<Setting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutAccountSettingRequest {
    pub name: Option<String>,
    pub value: Option<String>,
    pub principal_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteAccountSettingRequest {
    pub name: Option<String>,
    pub principal_arn: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SettingResponse {
    pub setting: Setting,
}

/// Every setting name with its AWS default and allowed values.
const SETTINGS: [(&str, &str, &[&str]); 11] = [
    ("serviceLongArnFormat", "enabled", &["enabled", "disabled"]),
    ("taskLongArnFormat", "enabled", &["enabled", "disabled"]),
    (
        "containerInstanceLongArnFormat",
        "enabled",
        &["enabled", "disabled"],
    ),
    ("awsvpcTrunking", "disabled", &["enabled", "disabled"]),
    (
        "containerInsights",
        "disabled",
        &["enabled", "disabled", "enhanced"],
    ),
    ("fargateFIPSMode", "disabled", &["enabled", "disabled"]),
    ("tagResourceAuthorization", "on", &["on", "off"]),
    ("fargateTaskRetirementWaitPeriod", "7", &["0", "7", "14"]),
    ("guardDutyActivate", "off", &["on", "off"]),
    (
        "defaultLogDriverMode",
        "non-blocking",
        &["blocking", "non-blocking"],
    ),
    ("fargateEventWindows", "disabled", &["enabled", "disabled"]),
];

fn setting_spec(
    name: &str,
) -> Result<&'static (&'static str, &'static str, &'static [&'static str])> {
    check_enum("name", name, enums::SETTING_NAME)?;
    SETTINGS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| EcsError::Server(format!("The setting {name} has no default.")))
}

fn check_setting(name: &str, value: &str) -> Result<()> {
    let (_, _, allowed) = setting_spec(name)?;
    if !allowed.contains(&value) {
        return Err(EcsError::invalid(format!(
            "Invalid value '{value}' for setting {name}. Valid values are: {}.",
            allowed.join(", ")
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- tags

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceRequest {
    pub resource_arn: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResourceRequest {
    pub resource_arn: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsForResourceRequest {
    pub resource_arn: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ListTagsForResourceResponse {
    pub tags: Vec<Tag>,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

/// ListTagsForResource does not model ResourceNotFoundException (TagResource
/// and UntagResource do), so an ARN naming nothing is an invalid parameter
/// there; botocore would otherwise raise a generic ClientError.
fn not_found_as_invalid(e: EcsError) -> EcsError {
    match e {
        EcsError::ResourceNotFound(m) => EcsError::InvalidParameter(m),
        e => e,
    }
}

/// The ECS resource an ARN names.
enum Resource<'a> {
    Cluster(&'a str),
    TaskDefinition(&'a str, i32),
    Task(&'a str),
    Service(&'a str, &'a str),
    CapacityProvider,
}

fn resource(s: &str) -> Result<Resource<'_>> {
    let bad = || EcsError::invalid("The ARN provided is not valid.");
    let a = arn::parse(s).ok_or_else(bad)?;
    if a.service != "ecs" {
        return Err(bad());
    }
    let (kind, rest) = a.resource.split_once('/').ok_or_else(bad)?;
    match kind {
        "cluster" => Ok(Resource::Cluster(rest)),
        "task-definition" => {
            let (f, r) = rest.split_once(':').ok_or_else(bad)?;
            Ok(Resource::TaskDefinition(f, r.parse().map_err(|_| bad())?))
        }
        "task" => Ok(Resource::Task(rest.rsplit('/').next().unwrap_or(rest))),
        "service" => {
            let (cluster, name) = rest.split_once('/').ok_or_else(bad)?;
            Ok(Resource::Service(cluster, name))
        }
        "capacity-provider" => Ok(Resource::CapacityProvider),
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------- capacity providers

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeCapacityProvidersRequest {
    pub capacity_providers: Option<Vec<String>>,
    pub cluster: Option<String>,
    pub include: Option<Vec<String>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeCapacityProvidersResponse {
    pub capacity_providers: Vec<CapacityProvider>,
    pub failures: Vec<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

// ---------------------------------------------------------------- container instances

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListContainerInstancesRequest {
    pub cluster: Option<String>,
    pub filter: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    pub status: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListContainerInstancesResponse {
    pub container_instance_arns: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeContainerInstancesRequest {
    pub cluster: Option<String>,
    pub container_instances: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeContainerInstancesResponse {
    pub container_instances: Vec<serde_json::Value>,
    pub failures: Vec<Failure>,
}

impl Ecs {
    fn principal(caller: &Caller, given: Option<String>) -> String {
        given.unwrap_or_else(|| caller.principal.clone())
    }

    pub fn list_account_settings(
        &self,
        caller: &Caller,
        req: ListAccountSettingsRequest,
    ) -> Result<ListAccountSettingsResponse> {
        if let Some(n) = &req.name {
            setting_spec(n)?;
        }
        let principal = Self::principal(caller, req.principal_arn);
        let root = caller.scope().iam_root();
        let effective = req.effective_settings.unwrap_or(false);
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let mut out = Vec::new();
        for (name, default, _) in SETTINGS {
            if req.name.as_deref().is_some_and(|n| n != name) {
                continue;
            }
            let own = region.settings.get(&(principal.clone(), name.to_string()));
            let account = region.settings.get(&(String::new(), name.to_string()));
            let setting = match (own, account) {
                (Some(s), _) => Some(s.clone()),
                (None, Some(s)) if effective => Some(s.clone()),
                (None, None) if effective => Some(Setting {
                    name: Some(name.into()),
                    value: Some(default.into()),
                    principal_arn: Some(root.clone()),
                    kind: Some("aws_managed".into()),
                }),
                _ => None,
            };
            if let Some(s) = setting
                && req
                    .value
                    .as_deref()
                    .is_none_or(|v| s.value.as_deref() == Some(v))
            {
                out.push(s);
            }
        }
        let (settings, next_token) =
            paginate(&out, req.next_token.as_deref(), req.max_results, 10)?;
        Ok(ListAccountSettingsResponse {
            settings,
            next_token,
        })
    }

    fn put_setting(
        &self,
        caller: &Caller,
        key_principal: String,
        shown: String,
        name: String,
        value: String,
    ) -> Result<SettingResponse> {
        check_setting(&name, &value)?;
        let setting = Setting {
            name: Some(name.clone()),
            value: Some(value),
            principal_arn: Some(shown),
            kind: Some("user".into()),
        };
        let mut st = self.lock();
        let region = st.region(&caller.region);
        self.store().write(vec![Self::setting_op(
            &caller.region,
            &key_principal,
            &setting,
        )])?;
        region
            .settings
            .insert((key_principal, name), setting.clone());
        Ok(SettingResponse { setting })
    }

    pub fn put_account_setting(
        &self,
        caller: &Caller,
        req: PutAccountSettingRequest,
    ) -> Result<SettingResponse> {
        let name = req
            .name
            .ok_or_else(|| EcsError::invalid("name must not be null."))?;
        let value = req
            .value
            .ok_or_else(|| EcsError::invalid("value must not be null."))?;
        let principal = Self::principal(caller, req.principal_arn);
        self.put_setting(caller, principal.clone(), principal, name, value)
    }

    pub fn put_account_setting_default(
        &self,
        caller: &Caller,
        req: PutAccountSettingRequest,
    ) -> Result<SettingResponse> {
        let name = req
            .name
            .ok_or_else(|| EcsError::invalid("name must not be null."))?;
        let value = req
            .value
            .ok_or_else(|| EcsError::invalid("value must not be null."))?;
        self.put_setting(
            caller,
            String::new(),
            caller.scope().iam_root(),
            name,
            value,
        )
    }

    pub fn delete_account_setting(
        &self,
        caller: &Caller,
        req: DeleteAccountSettingRequest,
    ) -> Result<SettingResponse> {
        let name = req
            .name
            .ok_or_else(|| EcsError::invalid("name must not be null."))?;
        let (_, default, _) = setting_spec(&name)?;
        let principal = Self::principal(caller, req.principal_arn);
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let removed = region.settings.remove(&(principal.clone(), name.clone()));
        self.store().write(vec![Self::setting_delete_op(
            &caller.region,
            &principal,
            &name,
        )])?;
        let setting = removed.unwrap_or(Setting {
            name: Some(name),
            value: Some(default.to_string()),
            principal_arn: Some(principal),
            kind: Some("user".into()),
        });
        Ok(SettingResponse { setting })
    }

    // ------------------------------------------------------------ tags

    fn with_tags(
        &self,
        caller: &Caller,
        resource_arn: &str,
        f: impl FnOnce(&mut Vec<Tag>),
    ) -> Result<()> {
        match resource(resource_arn)? {
            Resource::Cluster(name) => self.set_cluster_tags(caller, name, f),
            Resource::TaskDefinition(family, rev) => {
                self.set_task_definition_tags(caller, family, rev, f)
            }
            Resource::Task(id) => self.set_task_tags(caller, id, f),
            Resource::Service(cluster, name) => self.set_service_tags(caller, cluster, name, f),
            Resource::CapacityProvider => Err(EcsError::invalid(
                "The FARGATE and FARGATE_SPOT capacity providers cannot be tagged.",
            )),
        }
    }

    pub fn tag_resource(&self, caller: &Caller, req: TagResourceRequest) -> Result<Empty> {
        let arn = req
            .resource_arn
            .ok_or_else(|| EcsError::invalid("resourceArn must not be null."))?;
        let tags = req
            .tags
            .ok_or_else(|| EcsError::invalid("tags must not be null."))?;
        check_tags(&tags)?;
        let mut result = Ok(());
        self.with_tags(caller, &arn, |existing| {
            for t in tags {
                match existing.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value,
                    None => existing.push(t),
                }
            }
            if existing.len() > 50 {
                result = Err(EcsError::invalid(
                    "Too many tags. A resource can have a maximum of 50 tags.",
                ));
            }
        })?;
        result.map(|_| Empty {})
    }

    pub fn untag_resource(&self, caller: &Caller, req: UntagResourceRequest) -> Result<Empty> {
        let arn = req
            .resource_arn
            .ok_or_else(|| EcsError::invalid("resourceArn must not be null."))?;
        let keys = req
            .tag_keys
            .ok_or_else(|| EcsError::invalid("tagKeys must not be null."))?;
        self.with_tags(caller, &arn, |existing| {
            existing.retain(|t| !keys.iter().any(|k| t.key.as_deref() == Some(k.as_str())));
        })?;
        Ok(Empty {})
    }

    pub fn list_tags_for_resource(
        &self,
        caller: &Caller,
        req: ListTagsForResourceRequest,
    ) -> Result<ListTagsForResourceResponse> {
        let arn = req
            .resource_arn
            .ok_or_else(|| EcsError::invalid("resourceArn must not be null."))?;
        let mut tags = Vec::new();
        self.with_tags(caller, &arn, |existing| tags = existing.clone())
            .map_err(not_found_as_invalid)?;
        Ok(ListTagsForResourceResponse { tags })
    }

    // ------------------------------------------------------------ capacity providers

    fn capacity_provider(caller: &Caller, name: &str) -> CapacityProvider {
        CapacityProvider {
            capacity_provider_arn: Some(caller.scope().capacity_provider(name)),
            name: Some(name.into()),
            status: Some(CapacityProviderStatus::Active),
            tags: Some(Vec::new()),
            kind: Some(name.into()),
        }
    }

    pub fn describe_capacity_providers(
        &self,
        caller: &Caller,
        req: DescribeCapacityProvidersRequest,
    ) -> Result<DescribeCapacityProvidersResponse> {
        check_enum_list(
            "include",
            req.include.as_deref(),
            enums::CAPACITY_PROVIDER_FIELD,
        )?;
        if let Some(c) = &req.cluster {
            let mut st = self.lock();
            st.region(&caller.region).active_cluster(c)?;
        }
        let mut providers = Vec::new();
        let mut failures = Vec::new();
        match req.capacity_providers {
            None => {
                providers = FARGATE_PROVIDERS
                    .iter()
                    .map(|n| Self::capacity_provider(caller, n))
                    .collect();
            }
            Some(refs) => {
                for r in refs {
                    let name = r.rsplit('/').next().unwrap_or(&r).to_string();
                    if FARGATE_PROVIDERS.contains(&name.as_str()) {
                        providers.push(Self::capacity_provider(caller, &name));
                    } else {
                        let arn = if r.starts_with("arn:") {
                            r
                        } else {
                            caller.scope().capacity_provider(&r)
                        };
                        failures.push(Failure::missing(arn));
                    }
                }
            }
        }
        let (capacity_providers, next_token) =
            paginate(&providers, req.next_token.as_deref(), req.max_results, 10)?;
        Ok(DescribeCapacityProvidersResponse {
            capacity_providers,
            failures,
            next_token,
        })
    }

    // ------------------------------------------------------------ container instances

    pub fn list_container_instances(
        &self,
        caller: &Caller,
        req: ListContainerInstancesRequest,
    ) -> Result<ListContainerInstancesResponse> {
        check_enum_opt(
            "status",
            req.status.as_deref(),
            enums::CONTAINER_INSTANCE_STATUS,
        )?;
        let mut st = self.lock();
        st.region(&caller.region)
            .active_cluster(req.cluster.as_deref().unwrap_or("default"))?;
        paginate::<String>(&[], req.next_token.as_deref(), req.max_results, 100)?;
        Ok(ListContainerInstancesResponse {
            container_instance_arns: Vec::new(),
        })
    }

    pub fn describe_container_instances(
        &self,
        caller: &Caller,
        req: DescribeContainerInstancesRequest,
    ) -> Result<DescribeContainerInstancesResponse> {
        check_enum_list(
            "include",
            req.include.as_deref(),
            enums::CONTAINER_INSTANCE_FIELD,
        )?;
        let refs = req
            .container_instances
            .ok_or_else(|| EcsError::invalid("containerInstances must not be null."))?;
        if refs.len() > 100 {
            return Err(EcsError::invalid(
                "containerInstances can have at most 100 items.",
            ));
        }
        let mut st = self.lock();
        let cluster = st
            .region(&caller.region)
            .active_cluster(req.cluster.as_deref().unwrap_or("default"))?;
        let cluster_name = cluster.cluster_name.clone().unwrap_or_default();
        let failures = refs
            .into_iter()
            .map(|r| {
                let arn = if r.starts_with("arn:") {
                    r
                } else {
                    format!(
                        "arn:aws:ecs:{}:{}:container-instance/{cluster_name}/{r}",
                        caller.region, caller.account
                    )
                };
                Failure::missing(arn)
            })
            .collect();
        Ok(DescribeContainerInstancesResponse {
            container_instances: Vec::new(),
            failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::kit::AwsError;

    #[test]
    fn every_setting_name_of_the_model_has_a_default() {
        let names: Vec<&str> = SETTINGS.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(names, enums::SETTING_NAME);
        let e = setting_spec("nope").unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        assert!(
            e.to_string()
                .starts_with("name should be one of [serviceLongArnFormat,")
        );
    }

    #[test]
    fn list_tags_answers_only_modeled_errors() {
        let cases = [
            (
                EcsError::ResourceNotFound("gone".into()),
                "InvalidParameterException",
            ),
            (EcsError::ClusterNotFound, "ClusterNotFoundException"),
            (EcsError::invalid("bad"), "InvalidParameterException"),
        ];
        for (e, code) in cases {
            let text = e.to_string();
            let got = not_found_as_invalid(e);
            assert_eq!((got.code(), got.to_string()), (code, text));
        }
    }
}
