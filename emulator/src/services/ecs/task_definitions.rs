//! Task definitions: register (with Fargate validation), describe, list,
//! list families, deregister and delete.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{Attribute, Failure, Tag, TaskDefinition, TaskDefinitionStatus, enums};
use super::planning::{parse_cpu, parse_memory};
use super::validation::{
    check_enum, check_enum_list, check_enum_opt, check_tags, fargate_pair_valid, is_ecr_image,
    normalize_task_definition,
};
use super::{
    Caller, Ecs, EcsError, PAGE_100, RegionState, Result, State, TaskDefinitionRecord, page,
};
use crate::domain::arn;
use crate::domain::status::LaunchType;
use crate::domain::time;
use crate::services::kit::{Change, Page};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterTaskDefinitionRequest {
    #[serde(flatten)]
    pub definition: TaskDefinition,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionResponse {
    pub task_definition: TaskDefinition,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTaskDefinitionRequest {
    pub task_definition: Option<String>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionsRequest {
    pub family_prefix: Option<String>,
    pub status: Option<String>,
    pub sort: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionsResponse {
    pub task_definition_arns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionFamiliesRequest {
    pub family_prefix: Option<String>,
    pub status: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionFamiliesResponse {
    pub families: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeregisterTaskDefinitionRequest {
    pub task_definition: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteTaskDefinitionsRequest {
    pub task_definitions: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteTaskDefinitionsResponse {
    pub task_definitions: Vec<TaskDefinition>,
    pub failures: Vec<Failure>,
}

/// The capabilities a definition requires, as AWS lists them.
fn requires_attributes(td: &TaskDefinition) -> Vec<Attribute> {
    let mut names: Vec<&str> = Vec::new();
    let containers = td.container_definitions.as_deref().unwrap_or_default();
    if td.network_mode.as_deref() == Some("awsvpc") {
        names.push("com.amazonaws.ecs.capability.docker-remote-api.1.18");
        names.push("ecs.capability.task-eni");
    }
    if td.task_role_arn.is_some() {
        names.push("com.amazonaws.ecs.capability.task-iam-role");
    }
    if containers
        .iter()
        .any(|c| c.depends_on.as_ref().is_some_and(|d| !d.is_empty()))
    {
        names.push("ecs.capability.container-ordering");
    }
    if containers.iter().any(|c| c.health_check.is_some()) {
        names.push("ecs.capability.container-health-check");
        names.push("com.amazonaws.ecs.capability.docker-remote-api.1.24");
    }
    if containers.iter().any(|c| {
        c.log_configuration
            .as_ref()
            .is_some_and(|l| l.log_driver == "awslogs")
    }) {
        names.push("com.amazonaws.ecs.capability.logging-driver.awslogs");
        names.push("ecs.capability.execution-role-awslogs");
        names.push("com.amazonaws.ecs.capability.docker-remote-api.1.19");
    }
    if containers
        .iter()
        .any(|c| is_ecr_image(c.image.as_deref().unwrap_or("")))
    {
        names.push("com.amazonaws.ecs.capability.ecr-auth");
        names.push("ecs.capability.execution-role-ecr-pull");
    }
    if containers
        .iter()
        .any(|c| c.environment_files.as_ref().is_some_and(|f| !f.is_empty()))
    {
        names.push("ecs.capability.env-files.s3");
    }
    if containers
        .iter()
        .any(|c| c.firelens_configuration.is_some())
    {
        names.push("ecs.capability.firelens.fluentbit");
        names.push("com.amazonaws.ecs.capability.logging-driver.awsfirelens");
    }
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(*n))
        .map(|n| Attribute {
            name: n.to_string(),
            ..Default::default()
        })
        .collect()
}

/// Whether a definition can run on Fargate.
pub fn fargate_compatible(td: &TaskDefinition) -> bool {
    let pair = match (
        td.cpu.as_deref().and_then(parse_cpu),
        td.memory.as_deref().and_then(parse_memory),
    ) {
        (Some(c), Some(m)) => fargate_pair_valid(c, m),
        _ => false,
    };
    td.network_mode.as_deref() == Some("awsvpc") && pair
}

impl RegionState {
    /// Resolves `family`, `family:revision` or an ARN. A bare family means
    /// its latest ACTIVE revision.
    pub(crate) fn task_definition(&self, reference: &str) -> Option<&TaskDefinitionRecord> {
        let r = arn::task_definition_ref(reference)?;
        let revisions = self.families.get(r.family)?;
        match r.revision {
            Some(rev) => revisions.get(&rev.parse::<i32>().ok()?),
            None => revisions
                .values()
                .rev()
                .find(|d| d.td.status == Some(TaskDefinitionStatus::Active)),
        }
    }
}

impl Ecs {
    pub fn register_task_definition(
        &self,
        caller: &Caller,
        req: RegisterTaskDefinitionRequest,
        raw_len: usize,
    ) -> Result<TaskDefinitionResponse> {
        let tags = req.tags.unwrap_or_default();
        check_tags(&tags)?;
        if req.definition.container_definitions.is_none() {
            return Err(EcsError::invalid("containerDefinitions must not be null."));
        }
        // Members that only AWS sets are ignored on input.
        let mut input = req.definition;
        input.task_definition_arn = None;
        input.revision = None;
        input.status = None;
        input.compatibilities = None;
        input.requires_attributes = None;
        input.registered_at = None;
        input.registered_by = None;
        input.deregistered_at = None;
        input.delete_requested_at = None;
        let mut td = normalize_task_definition(input, raw_len)?;
        let family = td.family.clone().unwrap_or_default();

        let region_name = caller.region.clone();
        self.backend().update(|st| {
            let revision = st
                .region_ref(&region_name)
                .families
                .get(&family)
                .and_then(|r| r.keys().next_back().copied())
                .unwrap_or(0)
                + 1;
            td.task_definition_arn = Some(caller.scope().task_definition(&family, revision));
            td.revision = Some(revision);
            td.status = Some(TaskDefinitionStatus::Active);
            td.requires_attributes = Some(requires_attributes(&td));
            let mut compat = vec![LaunchType::Ec2];
            if fargate_compatible(&td) {
                compat.push(LaunchType::Fargate);
            }
            td.compatibilities = Some(compat);
            td.registered_at = Some(time::now());
            td.registered_by = Some(caller.principal.clone());
            let record = TaskDefinitionRecord {
                td: td.clone(),
                tags: tags.clone(),
            };
            let answer = TaskDefinitionResponse {
                task_definition: td,
                tags: Some(tags),
            };
            Ok(Change::answer(answer)
                .write(Self::task_definition_op(&region_name, &record))
                .then(move |st: &mut State| {
                    st.region(&region_name)
                        .families
                        .entry(family)
                        .or_default()
                        .insert(revision, record);
                }))
        })
    }

    pub fn describe_task_definition(
        &self,
        caller: &Caller,
        req: DescribeTaskDefinitionRequest,
    ) -> Result<TaskDefinitionResponse> {
        let reference = req
            .task_definition
            .ok_or_else(|| EcsError::invalid("taskDefinition must not be null."))?;
        check_enum_list(
            "include",
            req.include.as_deref(),
            enums::TASK_DEFINITION_FIELD,
        )?;
        let with_tags = req.include.unwrap_or_default().iter().any(|i| i == "TAGS");
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let record = region
            .task_definition(&reference)
            .ok_or_else(|| EcsError::client("Unable to describe task definition."))?;
        Ok(TaskDefinitionResponse {
            task_definition: record.td.clone(),
            tags: with_tags.then(|| record.tags.clone()),
        })
    }

    pub fn list_task_definitions(
        &self,
        caller: &Caller,
        req: ListTaskDefinitionsRequest,
    ) -> Result<ListTaskDefinitionsResponse> {
        let status = req.status.unwrap_or_else(|| "ACTIVE".into());
        check_enum("status", &status, enums::TASK_DEFINITION_STATUS)?;
        let status = TaskDefinitionStatus::parse(&status);
        check_enum_opt("sort", req.sort.as_deref(), enums::SORT_ORDER)?;
        let desc = req.sort.as_deref() == Some("DESC");
        let mut st = self.lock();
        let region = st.region(&caller.region);
        // `familyPrefix` is matched against the whole family name.
        let mut arns: Vec<String> = region
            .families
            .iter()
            .filter(|(f, _)| req.family_prefix.as_deref().is_none_or(|p| p == f.as_str()))
            .flat_map(|(_, revs)| revs.values())
            .filter(|r| r.td.status == status)
            .filter_map(|r| r.td.task_definition_arn.clone())
            .collect();
        if desc {
            arns.reverse();
        }
        let Page {
            items: task_definition_arns,
            next_token,
        } = page(PAGE_100, &arns, req.next_token.as_deref(), req.max_results)?;
        Ok(ListTaskDefinitionsResponse {
            task_definition_arns,
            next_token,
        })
    }

    pub fn list_task_definition_families(
        &self,
        caller: &Caller,
        req: ListTaskDefinitionFamiliesRequest,
    ) -> Result<ListTaskDefinitionFamiliesResponse> {
        let status = req.status.unwrap_or_else(|| "ALL".into());
        check_enum("status", &status, enums::TASK_DEFINITION_FAMILY_STATUS)?;
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let families: Vec<String> = region
            .families
            .iter()
            .filter(|(f, _)| {
                req.family_prefix
                    .as_deref()
                    .is_none_or(|p| f.starts_with(p))
            })
            .filter(|(_, revs)| {
                let active = revs
                    .values()
                    .any(|r| r.td.status == Some(TaskDefinitionStatus::Active));
                match status.as_str() {
                    "ACTIVE" => active,
                    "INACTIVE" => !active,
                    _ => true,
                }
            })
            .map(|(f, _)| f.clone())
            .collect();
        let Page {
            items: families,
            next_token,
        } = page(
            PAGE_100,
            &families,
            req.next_token.as_deref(),
            req.max_results,
        )?;
        Ok(ListTaskDefinitionFamiliesResponse {
            families,
            next_token,
        })
    }

    pub fn deregister_task_definition(
        &self,
        caller: &Caller,
        req: DeregisterTaskDefinitionRequest,
    ) -> Result<TaskDefinitionResponse> {
        let reference = req
            .task_definition
            .ok_or_else(|| EcsError::invalid("taskDefinition must not be null."))?;
        let r = arn::task_definition_ref(&reference)
            .ok_or_else(|| EcsError::client("The specified task definition does not exist."))?;
        let Some(rev) = r.revision else {
            return Err(EcsError::client(
                "Invalid revision number. Number: the revision must be specified.",
            ));
        };
        let rev: i32 = rev
            .parse()
            .map_err(|_| EcsError::client(format!("Invalid revision number. Number: {rev}")))?;
        let family = r.family.to_string();
        let region_name = caller.region.clone();
        self.backend().update(|st| {
            let record = st
                .region_ref(&region_name)
                .families
                .get(&family)
                .and_then(|revs| revs.get(&rev))
                .ok_or_else(|| EcsError::client("The specified task definition does not exist."))?;
            if record.td.status != Some(TaskDefinitionStatus::Active) {
                return Ok(Change::answer(TaskDefinitionResponse {
                    task_definition: record.td.clone(),
                    tags: None,
                }));
            }
            let mut updated = record.clone();
            updated.td.status = Some(TaskDefinitionStatus::Inactive);
            updated.td.deregistered_at = Some(time::now());
            let answer = TaskDefinitionResponse {
                task_definition: updated.td.clone(),
                tags: None,
            };
            Ok(Change::answer(answer)
                .write(Self::task_definition_op(&region_name, &updated))
                .then(move |st: &mut State| {
                    st.region(&region_name)
                        .families
                        .entry(family)
                        .or_default()
                        .insert(rev, updated);
                }))
        })
    }

    pub fn delete_task_definitions(
        &self,
        caller: &Caller,
        req: DeleteTaskDefinitionsRequest,
    ) -> Result<DeleteTaskDefinitionsResponse> {
        let refs = req
            .task_definitions
            .ok_or_else(|| EcsError::invalid("taskDefinitions must not be null."))?;
        if refs.is_empty() || refs.len() > 10 {
            return Err(EcsError::invalid(
                "taskDefinitions must contain between 1 and 10 items.",
            ));
        }
        let region_name = caller.region.clone();
        self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let mut out = Vec::new();
            let mut failures = Vec::new();
            // Revisions this call moves to DELETE_IN_PROGRESS (a revision
            // named twice is seen as the first mention left it).
            let mut deleted: BTreeMap<(String, i32), TaskDefinitionRecord> = BTreeMap::new();
            for reference in refs {
                let parsed = arn::task_definition_ref(&reference)
                    .and_then(|r| Some((r.family.to_string(), r.revision?.parse::<i32>().ok()?)));
                let record = parsed.and_then(|k| {
                    deleted
                        .get(&k)
                        .or_else(|| region.families.get(&k.0)?.get(&k.1))
                        .map(|r| (k, r.clone()))
                });
                let Some((k, mut record)) = record else {
                    failures.push(Failure {
                        arn: Some(reference),
                        reason: Some("The specified task definition does not exist.".into()),
                        detail: None,
                    });
                    continue;
                };
                if record.td.status == Some(TaskDefinitionStatus::Active) {
                    failures.push(Failure {
                        arn: record.td.task_definition_arn.clone(),
                        reason: Some(
                            "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
                                .into(),
                        ),
                        detail: None,
                    });
                    continue;
                }
                if record.td.status == Some(TaskDefinitionStatus::Inactive) {
                    record.td.status = Some(TaskDefinitionStatus::DeleteInProgress);
                    record.td.delete_requested_at = Some(time::now());
                    deleted.insert(k, record.clone());
                }
                out.push(record.td);
            }
            let ops: Vec<_> = deleted
                .values()
                .map(|r| Self::task_definition_op(&region_name, r))
                .collect();
            let answer = DeleteTaskDefinitionsResponse {
                task_definitions: out,
                failures,
            };
            Ok(Change::answer(answer)
                .writes(ops)
                .then(move |st: &mut State| {
                    let region = st.region(&region_name);
                    for ((family, rev), record) in deleted {
                        region.families.entry(family).or_default().insert(rev, record);
                    }
                }))
        })
    }
}
