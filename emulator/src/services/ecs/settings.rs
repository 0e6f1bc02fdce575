//! The small families: account settings, resource tags, the built-in Fargate
//! capacity providers, and container instances (of which a Fargate-only
//! emulator has none).

use serde::{Deserialize, Serialize};

use super::clusters::FARGATE_PROVIDERS;
use super::model::enums;
use super::model::{
    CapacityProvider, CapacityProviderStatus, ClusterStatus, Failure, Setting, Tag,
};
use super::service_model::ServiceStatus;
use super::validation::{TAG_RULES, check_enum, check_enum_list, check_enum_opt, check_tags};
use super::{Caller, Ecs, EcsError, PAGE_10, PAGE_100, RegionState, Result, State, page};
use crate::domain::arn::{self, Arn};
use crate::services::kit::tags;
use crate::services::kit::{Change, Page};

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
    let a = Arn::of_service(s, "ecs").ok_or_else(bad)?;
    if let Some(name) = a.resource_of("cluster/") {
        Ok(Resource::Cluster(name))
    } else if a.resource_of("task-definition/").is_some() {
        let r = arn::task_definition_ref(s).ok_or_else(bad)?;
        let revision = r.revision.ok_or_else(bad)?;
        Ok(Resource::TaskDefinition(
            r.family,
            revision.parse().map_err(|_| bad())?,
        ))
    } else if a.resource_of("task/").is_some() {
        Ok(Resource::Task(arn::task_ref(s).ok_or_else(bad)?.id))
    } else if let Some(rest) = a.resource_of("service/") {
        let (cluster, name) = rest.split_once('/').ok_or_else(bad)?;
        Ok(Resource::Service(cluster, name))
    } else if a.resource_of("capacity-provider/").is_some() {
        Ok(Resource::CapacityProvider)
    } else {
        Err(bad())
    }
}

/// The tags a resource has after a TagResource: the kit's merge, except
/// that tags with the reserved `aws:` prefix (the ones ECS adds itself, such
/// as `aws:ecs:clusterName`) do not count toward the limit, as the Tag
/// shape's documentation says, and stay at the end.
fn merge_tags(existing: &[Tag], add: &[Tag]) -> Result<Vec<Tag>> {
    let reserved = |t: &&Tag| {
        t.key
            .as_deref()
            .and_then(|k| k.get(..4))
            .is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
    };
    let own: Vec<Tag> = existing.iter().filter(|t| !reserved(t)).cloned().collect();
    let mut out = tags::merge(&own, add, &TAG_RULES)?;
    out.extend(existing.iter().filter(reserved).cloned());
    Ok(out)
}

impl RegionState {
    /// The tags of the resource an ARN names. An unknown resource is
    /// ResourceNotFoundException (ClusterNotFoundException for a cluster).
    fn tags_of(&self, r: &Resource<'_>) -> Result<&[Tag]> {
        let tags = match *r {
            Resource::Cluster(name) => self
                .clusters
                .get(name)
                .filter(|c| c.status == Some(ClusterStatus::Active))
                .ok_or(EcsError::ClusterNotFound)?
                .tags
                .as_deref(),
            Resource::TaskDefinition(family, revision) => Some(
                &self
                    .families
                    .get(family)
                    .and_then(|r| r.get(&revision))
                    .ok_or_else(|| {
                        EcsError::ResourceNotFound(
                            "The specified resource could not be found.".into(),
                        )
                    })?
                    .tags[..],
            ),
            Resource::Task(id) => self
                .tasks
                .get(id)
                .ok_or_else(|| {
                    EcsError::ResourceNotFound("The specified task could not be found.".into())
                })?
                .task
                .tags
                .as_deref(),
            Resource::Service(cluster, name) => self
                .services
                .get(&format!("{cluster}/{name}"))
                .filter(|r| r.service.status != Some(ServiceStatus::Inactive))
                .ok_or_else(|| {
                    EcsError::ResourceNotFound("The specified service could not be found.".into())
                })?
                .service
                .tags
                .as_deref(),
            Resource::CapacityProvider => {
                return Err(EcsError::invalid(
                    "The FARGATE and FARGATE_SPOT capacity providers cannot be tagged.",
                ));
            }
        };
        Ok(tags.unwrap_or_default())
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
        let Page {
            items: settings,
            next_token,
        } = page(PAGE_10, &out, req.next_token.as_deref(), req.max_results)?;
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
        let region_name = caller.region.clone();
        self.backend().update(|_| {
            let op = Self::setting_op(&region_name, &key_principal, &setting);
            Ok(Change::answer(SettingResponse {
                setting: setting.clone(),
            })
            .write(op)
            .then(move |st: &mut State| {
                st.region(&region_name)
                    .settings
                    .insert((key_principal, name), setting);
            }))
        })
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
        let region_name = caller.region.clone();
        self.backend().update(|st| {
            let k = (principal.clone(), name.clone());
            let setting = st
                .region_ref(&region_name)
                .settings
                .get(&k)
                .cloned()
                .unwrap_or(Setting {
                    name: Some(name.clone()),
                    value: Some(default.to_string()),
                    principal_arn: Some(principal.clone()),
                    kind: Some("user".into()),
                });
            Ok(Change::answer(SettingResponse { setting })
                .write(Self::setting_delete_op(&region_name, &principal, &name))
                .then(move |st: &mut State| {
                    st.region(&region_name).settings.remove(&k);
                }))
        })
    }

    // ------------------------------------------------------------ tags

    /// Replaces a resource's tags with what `f` makes of them. Nothing is
    /// written, and nothing changes, unless `f` accepts.
    fn set_tags(
        &self,
        caller: &Caller,
        resource_arn: &str,
        f: impl FnOnce(&[Tag]) -> Result<Vec<Tag>>,
    ) -> Result<()> {
        let r = resource(resource_arn)?;
        let region_name = caller.region.clone();
        self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let tags = f(region.tags_of(&r)?)?;
            let change = Change::answer(());
            Ok(match r {
                Resource::Cluster(name) => {
                    let mut c = region.clusters[name].clone();
                    c.tags = Some(tags);
                    change
                        .write(Self::cluster_op(&region_name, &c))
                        .then(move |st: &mut State| {
                            st.region(&region_name).clusters.insert(name.to_string(), c);
                        })
                }
                Resource::TaskDefinition(family, revision) => {
                    let mut rec = region.families[family][&revision].clone();
                    rec.tags = tags;
                    change
                        .write(Self::task_definition_op(&region_name, &rec))
                        .then(move |st: &mut State| {
                            st.region(&region_name)
                                .families
                                .entry(family.to_string())
                                .or_default()
                                .insert(revision, rec);
                        })
                }
                Resource::Task(id) => {
                    let mut rec = region.tasks[id].clone();
                    rec.task.tags = Some(tags);
                    change
                        .write(Self::task_op(&rec))
                        .then(move |st: &mut State| {
                            st.region(&region_name).tasks.insert(id.to_string(), rec);
                        })
                }
                Resource::Service(cluster, name) => {
                    let k = format!("{cluster}/{name}");
                    let mut rec = region.services[&k].clone();
                    rec.service.tags = Some(tags);
                    change
                        .write(Self::service_op(&rec))
                        .then(move |st: &mut State| {
                            st.region(&region_name).services.insert(k, rec);
                        })
                }
                Resource::CapacityProvider => unreachable!("tags_of refused it"),
            })
        })
    }

    pub fn tag_resource(&self, caller: &Caller, req: TagResourceRequest) -> Result<Empty> {
        let arn = req
            .resource_arn
            .ok_or_else(|| EcsError::invalid("resourceArn must not be null."))?;
        let add = req
            .tags
            .ok_or_else(|| EcsError::invalid("tags must not be null."))?;
        check_tags(&add)?;
        self.set_tags(caller, &arn, |existing| merge_tags(existing, &add))?;
        Ok(Empty {})
    }

    /// Keys the resource does not have are ignored; a key with the reserved
    /// `aws:` prefix is refused (those tags cannot be removed).
    pub fn untag_resource(&self, caller: &Caller, req: UntagResourceRequest) -> Result<Empty> {
        let arn = req
            .resource_arn
            .ok_or_else(|| EcsError::invalid("resourceArn must not be null."))?;
        let keys = req
            .tag_keys
            .ok_or_else(|| EcsError::invalid("tagKeys must not be null."))?;
        self.set_tags(caller, &arn, |existing| {
            Ok(tags::remove(existing, &keys, &TAG_RULES)?)
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
        let r = resource(&arn).map_err(not_found_as_invalid)?;
        let st = self.lock();
        let tags = st
            .region_ref(&caller.region)
            .tags_of(&r)
            .map_err(not_found_as_invalid)?
            .to_vec();
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
                    let name = if r.starts_with("arn:") {
                        Arn::of_service(&r, "ecs")
                            .and_then(|a| a.resource_of("capacity-provider/"))
                            .unwrap_or("")
                            .to_string()
                    } else {
                        r.clone()
                    };
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
        let Page {
            items: capacity_providers,
            next_token,
        } = page(
            PAGE_10,
            &providers,
            req.next_token.as_deref(),
            req.max_results,
        )?;
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
        page::<String>(PAGE_100, &[], req.next_token.as_deref(), req.max_results)?;
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
                    caller
                        .scope()
                        .arn("ecs", &format!("container-instance/{cluster_name}/{r}"))
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

    fn tag(k: &str) -> Tag {
        Tag {
            key: Some(k.into()),
            value: Some("v".into()),
        }
    }

    fn many(prefix: &str, n: usize) -> Vec<Tag> {
        (0..n).map(|i| tag(&format!("{prefix}{i}"))).collect()
    }

    /// (existing, added) -> the count after, or ECS's message.
    fn check(existing: Vec<Tag>, add: Vec<Tag>, want: std::result::Result<usize, &str>) {
        let got = merge_tags(&existing, &add)
            .map(|t| t.len())
            .map_err(|e| e.to_string());
        assert_eq!(got, want.map_err(String::from));
    }

    #[test]
    fn tag_merges_count_what_the_resource_ends_with() {
        let too_many = "Too many tags. A resource can have a maximum of 50 tags.";
        check(many("a", 45), many("b", 5), Ok(50));
        check(many("a", 45), many("b", 10), Err(too_many));
        check(many("a", 50), many("a", 50), Ok(50));
        // The tags ECS adds itself do not count, and stay at the end.
        let mut with_managed = many("a", 49);
        with_managed.push(tag("aws:ecs:clusterName"));
        check(with_managed.clone(), many("b", 1), Ok(51));
        let out = merge_tags(&with_managed, &many("b", 1)).unwrap();
        assert_eq!(out.last(), Some(&tag("aws:ecs:clusterName")));
        check(with_managed, many("b", 2), Err(too_many));
        check(
            vec![],
            vec![tag("k"), tag("k")],
            Err("Duplicate tag key: k"),
        );
        check(
            vec![],
            vec![tag("AWS:x")],
            Err("Tag keys may not begin with the reserved prefix 'aws:'."),
        );
        check(
            vec![],
            vec![tag(&"k".repeat(129))],
            Err("Tag keys must be between 1 and 128 characters in length."),
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
