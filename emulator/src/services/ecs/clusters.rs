//! Clusters: create, describe (with `include` and live counts), list, update,
//! delete, and the cluster's capacity providers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::enums;
use super::model::{
    CapacityProviderStrategyItem, Cluster, ClusterSetting, ClusterStatus, Failure, KeyValuePair,
    Tag,
};
use super::validation::{check_enum, check_enum_in, check_enum_list, check_tags, valid_name};
use super::{Caller, Ecs, EcsError, PAGE_100, RegionState, Result, State, page};
use crate::domain::arn;
use crate::domain::status::TaskStatus;
use crate::services::kit::{Change, Page};

pub const FARGATE_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateClusterRequest {
    pub cluster_name: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub settings: Option<Vec<ClusterSetting>>,
    pub configuration: Option<Value>,
    pub capacity_providers: Option<Vec<String>>,
    pub default_capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub service_connect_defaults: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct ClusterResponse {
    pub cluster: Cluster,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeClustersRequest {
    pub clusters: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct DescribeClustersResponse {
    pub clusters: Vec<Cluster>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListClustersRequest {
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListClustersResponse {
    pub cluster_arns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteClusterRequest {
    pub cluster: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateClusterRequest {
    pub cluster: Option<String>,
    pub settings: Option<Vec<ClusterSetting>>,
    pub configuration: Option<Value>,
    pub service_connect_defaults: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateClusterSettingsRequest {
    pub cluster: Option<String>,
    pub settings: Option<Vec<ClusterSetting>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutClusterCapacityProvidersRequest {
    pub cluster: Option<String>,
    pub capacity_providers: Option<Vec<String>>,
    pub default_capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
}

fn check_settings(settings: &[ClusterSetting]) -> Result<()> {
    for s in settings {
        check_enum(
            "name",
            s.name.as_deref().unwrap_or(""),
            enums::CLUSTER_SETTING_NAME,
        )?;
        match s.value.as_deref() {
            Some("enabled" | "disabled" | "enhanced") => {}
            other => {
                return Err(EcsError::invalid(format!(
                    "Invalid value for containerInsights: {}. Valid values are enabled, disabled and enhanced.",
                    other.unwrap_or("null")
                )));
            }
        }
    }
    Ok(())
}

/// The one enum inside a cluster configuration, which is otherwise kept as
/// given.
fn check_configuration(configuration: Option<&Value>) -> Result<()> {
    check_enum_in(
        configuration,
        &["executeCommandConfiguration", "logging"],
        enums::EXECUTE_COMMAND_LOGGING,
    )
}

fn merge_settings(cluster: &mut Cluster, new: &[ClusterSetting]) {
    let settings = cluster.settings.get_or_insert_with(Vec::new);
    for s in new {
        match settings.iter_mut().find(|x| x.name == s.name) {
            Some(x) => x.value = s.value.clone(),
            None => settings.push(s.clone()),
        }
    }
}

fn check_capacity_providers(
    providers: &[String],
    strategy: &[CapacityProviderStrategyItem],
) -> Result<()> {
    for p in providers {
        if !FARGATE_PROVIDERS.contains(&p.as_str()) {
            return Err(EcsError::invalid(format!(
                "The specified capacity provider '{p}' is not in an ACTIVE state. Specify a valid capacity provider and try again."
            )));
        }
    }
    for item in strategy {
        if !providers.contains(&item.capacity_provider) {
            return Err(EcsError::invalid(format!(
                "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again. Capacity provider: {}",
                item.capacity_provider
            )));
        }
        if item.weight.is_some_and(|w| !(0..=1000).contains(&w)) {
            return Err(EcsError::invalid("The weight must be between 0 and 1000."));
        }
        if item.base.is_some_and(|b| !(0..=100000).contains(&b)) {
            return Err(EcsError::invalid("The base must be between 0 and 100000."));
        }
    }
    if strategy.iter().filter(|i| i.base.unwrap_or(0) > 0).count() > 1 {
        return Err(EcsError::invalid(
            "Only one capacity provider in a capacity provider strategy can have a base defined.",
        ));
    }
    Ok(())
}

impl RegionState {
    /// An ACTIVE cluster by name or ARN.
    pub(crate) fn active_cluster(&self, reference: &str) -> Result<&Cluster> {
        let name = arn::cluster_name(reference).ok_or(EcsError::ClusterNotFound)?;
        self.clusters
            .get(name)
            .filter(|c| c.status == Some(ClusterStatus::Active))
            .ok_or(EcsError::ClusterNotFound)
    }

    /// (running, pending) task counts of a cluster.
    pub(crate) fn task_counts(&self, cluster_arn: &str) -> (i32, i32) {
        let mut running = 0;
        let mut pending = 0;
        for t in self.tasks.values() {
            if t.task.cluster_arn.as_deref() != Some(cluster_arn) {
                continue;
            }
            match t.task.last_status {
                Some(TaskStatus::Running) => running += 1,
                Some(s) if s.is_pending() => pending += 1,
                _ => {}
            }
        }
        (running, pending)
    }
}

impl Ecs {
    /// The cluster as DescribeClusters shows it: live counts, and the
    /// optional parts only when asked for.
    pub(crate) fn render_cluster(region: &RegionState, c: &Cluster, include: &[String]) -> Cluster {
        let mut out = c.clone();
        let arn = c.cluster_arn.clone().unwrap_or_default();
        let (running, pending) = region.task_counts(&arn);
        out.running_tasks_count = Some(running);
        out.pending_tasks_count = Some(pending);
        out.active_services_count = Some(region.active_services_count(&arn));
        out.registered_container_instances_count = Some(0);
        let has = |what: &str| include.iter().any(|i| i == what);
        out.statistics = Some(if has("STATISTICS") {
            let (ec2, fargate, external) = region.active_services_by_launch_type(&arn);
            let fargate_running = running.to_string();
            let fargate_pending = pending.to_string();
            vec![
                KeyValuePair::new("runningEC2TasksCount", "0"),
                KeyValuePair::new("runningFargateTasksCount", fargate_running),
                KeyValuePair::new("pendingEC2TasksCount", "0"),
                KeyValuePair::new("pendingFargateTasksCount", fargate_pending),
                KeyValuePair::new("runningExternalTasksCount", "0"),
                KeyValuePair::new("pendingExternalTasksCount", "0"),
                KeyValuePair::new("activeEC2ServiceCount", ec2.to_string()),
                KeyValuePair::new("activeFargateServiceCount", fargate.to_string()),
                KeyValuePair::new("drainingEC2ServiceCount", "0"),
                KeyValuePair::new("drainingFargateServiceCount", "0"),
                KeyValuePair::new("activeExternalServiceCount", external.to_string()),
                KeyValuePair::new("drainingExternalServiceCount", "0"),
            ]
        } else {
            Vec::new()
        });
        out.tags = Some(if has("TAGS") {
            c.tags.clone().unwrap_or_default()
        } else {
            Vec::new()
        });
        out.settings = Some(if has("SETTINGS") {
            c.settings.clone().unwrap_or_default()
        } else {
            Vec::new()
        });
        if !has("CONFIGURATIONS") {
            out.configuration = None;
        }
        if has("ATTACHMENTS") {
            out.attachments = Some(c.attachments.clone().unwrap_or_default());
        } else {
            out.attachments = None;
            out.attachments_status = None;
        }
        out
    }

    /// The cluster as the mutating calls return it: everything it has.
    fn full_cluster(region: &RegionState, c: &Cluster) -> Cluster {
        let all: Vec<String> = ["TAGS", "SETTINGS", "CONFIGURATIONS"]
            .into_iter()
            .map(String::from)
            .collect();
        let mut out = Self::render_cluster(region, c, &all);
        out.statistics = Some(Vec::new());
        out
    }

    pub fn create_cluster(
        &self,
        caller: &Caller,
        req: CreateClusterRequest,
    ) -> Result<ClusterResponse> {
        let name = req
            .cluster_name
            .clone()
            .unwrap_or_else(|| "default".to_string());
        if !valid_name(&name) {
            return Err(EcsError::invalid(
                "Cluster name can have at most 255 characters, and can contain letters (uppercase and lowercase), numbers, underscores and hyphens.",
            ));
        }
        let tags = req.tags.clone().unwrap_or_default();
        check_tags(&tags)?;
        let settings = req.settings.clone().unwrap_or_default();
        check_settings(&settings)?;
        check_configuration(req.configuration.as_ref())?;
        let providers = req.capacity_providers.clone().unwrap_or_default();
        let strategy = req
            .default_capacity_provider_strategy
            .clone()
            .unwrap_or_default();
        check_capacity_providers(&providers, &strategy)?;

        let region_name = caller.region.clone();
        self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            if let Some(existing) = region.clusters.get(&name)
                && existing.status == Some(ClusterStatus::Active)
            {
                // CreateCluster is idempotent for an existing cluster.
                let out = Self::full_cluster(region, existing);
                return Ok(Change::answer(ClusterResponse { cluster: out }));
            }
            let mut cluster = Cluster {
                cluster_arn: Some(caller.scope().cluster(&name)),
                cluster_name: Some(name.clone()),
                configuration: req.configuration,
                status: Some(ClusterStatus::Active),
                tags: Some(tags),
                capacity_providers: Some(providers),
                default_capacity_provider_strategy: Some(strategy),
                service_connect_defaults: req.service_connect_defaults,
                settings: Some(vec![ClusterSetting {
                    name: Some("containerInsights".into()),
                    value: Some("disabled".into()),
                }]),
                ..Default::default()
            };
            merge_settings(&mut cluster, &settings);
            let out = Self::full_cluster(region, &cluster);
            Ok(Change::answer(ClusterResponse { cluster: out })
                .write(Self::cluster_op(&region_name, &cluster))
                .then(move |st: &mut State| {
                    st.region(&region_name).clusters.insert(name, cluster);
                }))
        })
    }

    pub fn describe_clusters(
        &self,
        caller: &Caller,
        req: DescribeClustersRequest,
    ) -> Result<DescribeClustersResponse> {
        let include = req.include.unwrap_or_default();
        check_enum_list("include", Some(&include), enums::CLUSTER_FIELD)?;
        let names = req.clusters.unwrap_or_else(|| vec!["default".to_string()]);
        if names.len() > 100 {
            return Err(EcsError::invalid("clusters can have at most 100 items."));
        }
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let mut clusters = Vec::new();
        let mut failures = Vec::new();
        for reference in names {
            let found = arn::cluster_name(&reference).and_then(|n| region.clusters.get(n));
            match found {
                Some(c) => clusters.push(Self::render_cluster(region, c, &include)),
                None => {
                    let arn = if reference.starts_with("arn:") {
                        reference
                    } else {
                        caller.scope().cluster(&reference)
                    };
                    failures.push(Failure::missing(arn));
                }
            }
        }
        Ok(DescribeClustersResponse { clusters, failures })
    }

    pub fn list_clusters(
        &self,
        caller: &Caller,
        req: ListClustersRequest,
    ) -> Result<ListClustersResponse> {
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let arns: Vec<String> = region
            .clusters
            .values()
            .filter(|c| c.status == Some(ClusterStatus::Active))
            .filter_map(|c| c.cluster_arn.clone())
            .collect();
        let Page {
            items: cluster_arns,
            next_token,
        } = page(PAGE_100, &arns, req.next_token.as_deref(), req.max_results)?;
        Ok(ListClustersResponse {
            cluster_arns,
            next_token,
        })
    }

    pub fn delete_cluster(
        &self,
        caller: &Caller,
        req: DeleteClusterRequest,
    ) -> Result<ClusterResponse> {
        let reference = req
            .cluster
            .ok_or_else(|| EcsError::invalid("cluster must not be null."))?;
        let region_name = caller.region.clone();
        self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let mut deleted = region.active_cluster(&reference)?.clone();
            let arn = deleted.cluster_arn.clone().unwrap_or_default();
            if region.active_services_count(&arn) > 0 {
                return Err(EcsError::ClusterContainsServices(
                    "The Cluster cannot be deleted while Services are active.".into(),
                ));
            }
            let busy = region.tasks.values().any(|t| {
                t.task.cluster_arn.as_deref() == Some(arn.as_str())
                    && t.task.last_status != Some(TaskStatus::Stopped)
            });
            if busy {
                return Err(EcsError::ClusterContainsTasks(
                    "The Cluster cannot be deleted while Tasks are active.".into(),
                ));
            }
            deleted.status = Some(ClusterStatus::Inactive);
            let out = Self::full_cluster(region, &deleted);
            Ok(Change::answer(ClusterResponse { cluster: out })
                .write(Self::cluster_op(&region_name, &deleted))
                .then(move |st: &mut State| {
                    let name = deleted.cluster_name.clone().unwrap_or_default();
                    st.region(&region_name).clusters.insert(name, deleted);
                }))
        })
    }

    fn mutate_cluster(
        &self,
        caller: &Caller,
        reference: Option<String>,
        f: impl FnOnce(&mut Cluster) -> Result<()>,
    ) -> Result<ClusterResponse> {
        let reference = reference.ok_or_else(|| EcsError::invalid("cluster must not be null."))?;
        let region_name = caller.region.clone();
        self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let mut cluster = region.active_cluster(&reference)?.clone();
            f(&mut cluster)?;
            let out = Self::full_cluster(region, &cluster);
            Ok(Change::answer(ClusterResponse { cluster: out })
                .write(Self::cluster_op(&region_name, &cluster))
                .then(move |st: &mut State| {
                    let name = cluster.cluster_name.clone().unwrap_or_default();
                    st.region(&region_name).clusters.insert(name, cluster);
                }))
        })
    }

    pub fn update_cluster(
        &self,
        caller: &Caller,
        req: UpdateClusterRequest,
    ) -> Result<ClusterResponse> {
        let settings = req.settings.unwrap_or_default();
        check_settings(&settings)?;
        check_configuration(req.configuration.as_ref())?;
        self.mutate_cluster(caller, req.cluster, |c| {
            merge_settings(c, &settings);
            if let Some(conf) = req.configuration {
                c.configuration = Some(conf);
            }
            if let Some(scd) = req.service_connect_defaults {
                c.service_connect_defaults = Some(scd);
            }
            Ok(())
        })
    }

    pub fn update_cluster_settings(
        &self,
        caller: &Caller,
        req: UpdateClusterSettingsRequest,
    ) -> Result<ClusterResponse> {
        let settings = req
            .settings
            .ok_or_else(|| EcsError::invalid("settings must not be null."))?;
        check_settings(&settings)?;
        self.mutate_cluster(caller, req.cluster, |c| {
            merge_settings(c, &settings);
            Ok(())
        })
    }

    pub fn put_cluster_capacity_providers(
        &self,
        caller: &Caller,
        req: PutClusterCapacityProvidersRequest,
    ) -> Result<ClusterResponse> {
        let providers = req
            .capacity_providers
            .ok_or_else(|| EcsError::invalid("capacityProviders must not be null."))?;
        let strategy = req.default_capacity_provider_strategy.ok_or_else(|| {
            EcsError::invalid("defaultCapacityProviderStrategy must not be null.")
        })?;
        check_capacity_providers(&providers, &strategy)?;
        self.mutate_cluster(caller, req.cluster, |c| {
            c.capacity_providers = Some(providers);
            c.default_capacity_provider_strategy = Some(strategy);
            Ok(())
        })
    }
}
