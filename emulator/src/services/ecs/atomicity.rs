//! Tests: an error answer changes nothing. Every mutating ECS operation is
//! called with the store refusing writes, on a backend that holds one of
//! everything (clusters, definitions, a running task, a service, settings,
//! tags); the answer must be ECS's ServerException (so the operation got as
//! far as its write), and neither what the API shows nor what the store
//! holds may differ afterwards. Validation that fails after the operation
//! has done part of its work (TagResource over the tag limit) is checked the
//! same way. The internal writers (runtime reports, the pruning sweep) are
//! checked apart: memory and store must not drift apart unnoticed.
//!
//! Left out: the scheduler's rounds (they write nothing an API caller asked
//! for; `persist` covers their writes) and anything needing real Docker.

use serde_json::{Value, json};

use super::test_support::{TempDir, caller, ecs_on, req};
use super::{Ecs, EcsError, Result};
use crate::runtime::TaskUpdate;
use crate::runtime::fake::FakeRuntime;
use crate::services::kit::AwsError;

const NET: &str = "subnet-1";

fn network() -> Value {
    json!({"awsvpcConfiguration": {"subnets": [NET]}})
}

fn many_tags(prefix: &str, n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"key": format!("{prefix}{i}"), "value": "v"}))
            .collect(),
    )
}

fn fargate_definition(family: &str) -> Value {
    json!({
        "family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
        "cpu": "256", "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "busybox"}]
    })
}

/// The ARNs the table's operations name.
struct World {
    cluster: String,
    task: String,
    task_definition: String,
    service: String,
}

/// One of everything, settled: the task is RUNNING and nothing more is
/// on its way from the runtime.
async fn world(ecs: &Ecs) -> World {
    let c = caller();
    let cluster = ecs
        .create_cluster(
            &c,
            req(json!({"clusterName": "c", "tags": many_tags("t", 45)})),
        )
        .unwrap()
        .cluster
        .cluster_arn
        .unwrap();
    ecs.create_cluster(&c, req(json!({"clusterName": "spare"})))
        .unwrap();
    let td = ecs
        .register_task_definition(&c, req(fargate_definition("web")), 0)
        .unwrap()
        .task_definition
        .task_definition_arn
        .unwrap();
    ecs.register_task_definition(&c, req(fargate_definition("old")), 0)
        .unwrap();
    ecs.deregister_task_definition(&c, req(json!({"taskDefinition": "old:1"})))
        .unwrap();
    let task = ecs
        .run_task(
            &c,
            req(
                json!({"cluster": "c", "taskDefinition": "web", "launchType": "FARGATE",
                "networkConfiguration": network(), "tags": [{"key": "a", "value": "1"}]}),
            ),
        )
        .unwrap()
        .tasks[0]
        .task_arn
        .clone()
        .unwrap();
    let service = ecs
        .create_service(
            &c,
            req(
                json!({"cluster": "c", "serviceName": "svc", "taskDefinition": "web",
                "desiredCount": 0, "launchType": "FARGATE", "networkConfiguration": network()}),
            ),
        )
        .unwrap()
        .service
        .service_arn
        .unwrap();
    ecs.put_account_setting(
        &c,
        req(json!({"name": "containerInsights", "value": "enabled"})),
    )
    .unwrap();
    for _ in 0..500 {
        let t = describe_task(ecs, &task);
        if t["lastStatus"] == "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(describe_task(ecs, &task)["lastStatus"], "RUNNING");
    // Let the runtime's last reports arrive before the first snapshot.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    World {
        cluster,
        task,
        task_definition: td,
        service,
    }
}

fn describe_task(ecs: &Ecs, arn: &str) -> Value {
    let out = ecs
        .describe_tasks(
            &caller(),
            req(json!({"cluster": "c", "tasks": [arn], "include": ["TAGS"]})),
        )
        .unwrap();
    serde_json::to_value(&out.tasks[0]).unwrap()
}

fn value<T: serde::Serialize>(r: Result<T>) -> Value {
    match r {
        Ok(v) => serde_json::to_value(v).unwrap(),
        Err(e) => json!({"error": e.code(), "message": e.to_string()}),
    }
}

/// Everything an API caller can see, and every stored document.
fn snapshot(ecs: &Ecs, w: &World) -> Value {
    let c = caller();
    let mut api = serde_json::Map::new();
    api.insert(
        "clusters".into(),
        value(ecs.describe_clusters(
            &c,
            req(json!({"clusters": ["c", "spare", "new"],
                "include": ["ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"]})),
        )),
    );
    api.insert(
        "cluster list".into(),
        value(ecs.list_clusters(&c, req(json!({})))),
    );
    for status in ["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"] {
        api.insert(
            format!("definitions {status}"),
            value(ecs.list_task_definitions(&c, req(json!({"status": status})))),
        );
    }
    for td in ["web:1", "web:2", "old:1", "new:1"] {
        api.insert(
            format!("definition {td}"),
            value(ecs.describe_task_definition(
                &c,
                req(json!({"taskDefinition": td, "include": ["TAGS"]})),
            )),
        );
    }
    for desired in ["RUNNING", "STOPPED"] {
        api.insert(
            format!("tasks {desired}"),
            value(ecs.list_tasks(&c, req(json!({"cluster": "c", "desiredStatus": desired})))),
        );
    }
    api.insert("task".into(), describe_task(ecs, &w.task));
    api.insert(
        "services".into(),
        value(ecs.describe_services(
            &c,
            req(json!({"cluster": "c", "services": ["svc", "new"], "include": ["TAGS"]})),
        )),
    );
    api.insert(
        "service deployments".into(),
        value(ecs.list_service_deployments(&c, req(json!({"cluster": "c", "service": "svc"})))),
    );
    api.insert(
        "settings".into(),
        value(ecs.list_account_settings(&c, req(json!({})))),
    );
    api.insert(
        "account defaults".into(),
        value(ecs.list_account_settings(
            &c,
            req(json!({"principalArn": c.scope().iam_root(), "effectiveSettings": true})),
        )),
    );
    for arn in [&w.cluster, &w.task, &w.task_definition, &w.service] {
        api.insert(
            format!("tags {arn}"),
            value(ecs.list_tags_for_resource(&c, req(json!({"resourceArn": arn})))),
        );
    }
    let stored = stored_documents(ecs);
    json!({"api": api, "stored": stored})
}

/// Every stored document, as `[kind, key, JSON text]`.
fn stored_documents(ecs: &Ecs) -> Vec<Value> {
    ecs.store()
        .with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT kind, key, CAST(value AS TEXT) FROM documents ORDER BY kind, key",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(json!([
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?
                    ]))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .unwrap()
        .expect("a durable store")
}

type Op = Box<dyn Fn(&Ecs, &World) -> Result<()>>;

/// Every mutating operation, each with arguments that change something
/// (an operation that finds nothing to change writes nothing).
fn operations() -> Vec<(&'static str, Op)> {
    fn op<T>(f: impl Fn(&Ecs, &World) -> Result<T> + 'static) -> Op {
        Box::new(move |ecs, w| f(ecs, w).map(|_| ()))
    }
    let c = caller();
    vec![
        (
            "CreateCluster",
            op({
                let c = c.clone();
                move |e, _| e.create_cluster(&c, req(json!({"clusterName": "new"})))
            }),
        ),
        (
            "UpdateCluster",
            op({
                let c = c.clone();
                move |e, _| {
                    e.update_cluster(
                        &c,
                        req(json!({"cluster": "c",
                    "settings": [{"name": "containerInsights", "value": "enhanced"}]})),
                    )
                }
            }),
        ),
        (
            "UpdateClusterSettings",
            op({
                let c = c.clone();
                move |e, _| {
                    e.update_cluster_settings(
                        &c,
                        req(json!({"cluster": "c",
                    "settings": [{"name": "containerInsights", "value": "enabled"}]})),
                    )
                }
            }),
        ),
        (
            "PutClusterCapacityProviders",
            op({
                let c = c.clone();
                move |e, _| {
                    e.put_cluster_capacity_providers(
                        &c,
                        req(json!({"cluster": "c",
                    "capacityProviders": ["FARGATE"],
                    "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE"}]})),
                    )
                }
            }),
        ),
        (
            "DeleteCluster",
            op({
                let c = c.clone();
                move |e, _| e.delete_cluster(&c, req(json!({"cluster": "spare"})))
            }),
        ),
        (
            "RegisterTaskDefinition",
            op({
                let c = c.clone();
                move |e, _| e.register_task_definition(&c, req(fargate_definition("web")), 0)
            }),
        ),
        (
            "DeregisterTaskDefinition",
            op({
                let c = c.clone();
                move |e, _| {
                    e.deregister_task_definition(&c, req(json!({"taskDefinition": "web:1"})))
                }
            }),
        ),
        (
            "DeleteTaskDefinitions",
            op({
                let c = c.clone();
                move |e, _| {
                    e.delete_task_definitions(
                        &c,
                        req(json!({"taskDefinitions": ["old:1", "old:1"]})),
                    )
                }
            }),
        ),
        (
            "RunTask",
            op({
                let c = c.clone();
                move |e, _| {
                    e.run_task(
                        &c,
                        req(json!({"cluster": "c", "taskDefinition": "web",
                    "launchType": "FARGATE", "networkConfiguration": network(), "count": 2})),
                    )
                }
            }),
        ),
        (
            "StopTask",
            op({
                let c = c.clone();
                move |e, w| e.stop_task(&c, req(json!({"cluster": "c", "task": w.task})))
            }),
        ),
        (
            "CreateService",
            op({
                let c = c.clone();
                move |e, _| {
                    e.create_service(
                        &c,
                        req(json!({"cluster": "c", "serviceName": "new",
                    "taskDefinition": "web", "desiredCount": 1, "launchType": "FARGATE",
                    "networkConfiguration": network()})),
                    )
                }
            }),
        ),
        (
            "UpdateService",
            op({
                let c = c.clone();
                move |e, _| {
                    e.update_service(
                        &c,
                        req(json!({"cluster": "c", "service": "svc",
                    "desiredCount": 2})),
                    )
                }
            }),
        ),
        (
            "UpdateService (new deployment)",
            op({
                let c = c.clone();
                move |e, _| {
                    e.update_service(
                        &c,
                        req(json!({"cluster": "c", "service": "svc",
                    "forceNewDeployment": true})),
                    )
                }
            }),
        ),
        (
            "DeleteService",
            op({
                let c = c.clone();
                move |e, _| {
                    e.delete_service(
                        &c,
                        req(json!({"cluster": "c", "service": "svc", "force": true})),
                    )
                }
            }),
        ),
        (
            "TagResource (cluster)",
            op({
                let c = c.clone();
                move |e, w| {
                    e.tag_resource(
                        &c,
                        req(json!({"resourceArn": w.cluster,
                    "tags": [{"key": "n", "value": "1"}]})),
                    )
                }
            }),
        ),
        (
            "TagResource (task)",
            op({
                let c = c.clone();
                move |e, w| {
                    e.tag_resource(
                        &c,
                        req(json!({"resourceArn": w.task,
                    "tags": [{"key": "n", "value": "1"}]})),
                    )
                }
            }),
        ),
        (
            "TagResource (task definition)",
            op({
                let c = c.clone();
                move |e, w| {
                    e.tag_resource(
                        &c,
                        req(json!({"resourceArn": w.task_definition,
                    "tags": [{"key": "n", "value": "1"}]})),
                    )
                }
            }),
        ),
        (
            "TagResource (service)",
            op({
                let c = c.clone();
                move |e, w| {
                    e.tag_resource(
                        &c,
                        req(json!({"resourceArn": w.service,
                    "tags": [{"key": "n", "value": "1"}]})),
                    )
                }
            }),
        ),
        (
            "UntagResource",
            op({
                let c = c.clone();
                move |e, w| {
                    e.untag_resource(
                        &c,
                        req(json!({"resourceArn": w.cluster, "tagKeys": ["t0"]})),
                    )
                }
            }),
        ),
        (
            "PutAccountSetting",
            op({
                let c = c.clone();
                move |e, _| {
                    e.put_account_setting(
                        &c,
                        req(json!({"name": "awsvpcTrunking", "value": "enabled"})),
                    )
                }
            }),
        ),
        (
            "PutAccountSettingDefault",
            op({
                let c = c.clone();
                move |e, _| {
                    e.put_account_setting_default(
                        &c,
                        req(json!({"name": "fargateFIPSMode",
                    "value": "enabled"})),
                    )
                }
            }),
        ),
        (
            "DeleteAccountSetting",
            op({
                let c = c.clone();
                move |e, _| e.delete_account_setting(&c, req(json!({"name": "containerInsights"})))
            }),
        ),
    ]
}

#[tokio::test]
async fn a_refused_write_changes_nothing() {
    let dir = TempDir::new();
    let engine = FakeRuntime::default();
    let (ecs, _rt) = ecs_on(&dir.0, &engine);
    let w = world(&ecs).await;
    let containers = engine.count();
    for (name, f) in operations() {
        let before = snapshot(&ecs, &w);
        ecs.store().fail_writes(true);
        let got = f(&ecs, &w);
        ecs.store().fail_writes(false);
        match got {
            Err(e @ EcsError::Server(_)) => assert_eq!(e.code(), "ServerException", "{name}"),
            other => panic!("{name}: expected ServerException, got {other:?}"),
        }
        // Anything the operation set off in the runtime would show by now.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let after = snapshot(&ecs, &w);
        assert_eq!(before, after, "{name} changed the state although it failed");
        assert_eq!(engine.count(), containers, "{name} started containers");
    }
    // The same operations do change the state when the store takes them: the
    // table above proves something.
    for (name, f) in operations() {
        let before = snapshot(&ecs, &w);
        f(&ecs, &w).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_ne!(before, snapshot(&ecs, &w), "{name} changed nothing");
    }
}

/// TagResource on a cluster with 45 tags, 10 more: refused with ECS's
/// message, and the cluster keeps its 45.
#[tokio::test]
async fn tags_over_the_limit_change_nothing() {
    let dir = TempDir::new();
    let (ecs, _rt) = ecs_on(&dir.0, &FakeRuntime::default());
    let w = world(&ecs).await;
    let c = caller();
    for arn in [&w.cluster, &w.task, &w.task_definition, &w.service] {
        // Fill every resource up to 45 first.
        let have = ecs
            .list_tags_for_resource(&c, req(json!({"resourceArn": arn})))
            .unwrap()
            .tags
            .len();
        ecs.tag_resource(
            &c,
            req(json!({"resourceArn": arn, "tags": many_tags("t", 45 - have.min(45))})),
        )
        .unwrap();
        let before = snapshot(&ecs, &w);
        let e = ecs
            .tag_resource(
                &c,
                req(json!({"resourceArn": arn, "tags": many_tags("more", 10)})),
            )
            .unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            (
                "InvalidParameterException",
                "Too many tags. A resource can have a maximum of 50 tags."
            ),
            "{arn}"
        );
        assert_eq!(before, snapshot(&ecs, &w), "{arn}");
        let tags = ecs
            .list_tags_for_resource(&c, req(json!({"resourceArn": arn})))
            .unwrap()
            .tags;
        assert_eq!(tags.len(), 45, "{arn}");
    }
}

/// The stored document of a task, decoded.
fn stored_task(ecs: &Ecs, w: &World) -> Value {
    let docs = snapshot(ecs, w)["stored"].clone();
    let doc = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d[0] == "ecs.task" && d[1] == w.task.as_str())
        .expect("the task is stored")[2]
        .clone();
    serde_json::from_str(doc.as_str().unwrap()).unwrap()
}

/// A runtime report the store refuses still reaches memory (it happened),
/// and reaches the store with the next internal write.
#[tokio::test]
async fn a_refused_runtime_report_is_stored_later() {
    let dir = TempDir::new();
    let (ecs, _rt) = ecs_on(&dir.0, &FakeRuntime::default());
    let w = world(&ecs).await;
    let health = |t: &Value| t["containers"][0]["healthStatus"].clone();
    assert_eq!(health(&stored_task(&ecs, &w)["task"]), "UNKNOWN");
    ecs.store().fail_writes(true);
    ecs.apply_updates(
        &w.task,
        vec![TaskUpdate::Health {
            container: "app".into(),
            health: crate::domain::status::Health::Healthy,
        }],
    );
    ecs.store().fail_writes(false);
    // In memory at once, not in the store, and remembered as unsaved.
    assert_eq!(health(&describe_task(&ecs, &w.task)), "HEALTHY");
    assert_eq!(health(&stored_task(&ecs, &w)["task"]), "UNKNOWN");
    assert_eq!(ecs.lock().unsaved.len(), 1);
    // The next internal write (a report that changes nothing) stores it.
    ecs.apply_updates(&w.task, vec![TaskUpdate::PullStarted]);
    assert!(ecs.lock().unsaved.is_empty());
    assert_eq!(health(&stored_task(&ecs, &w)["task"]), "HEALTHY");
}

/// The sweep forgets old STOPPED tasks only once their deletion is stored.
#[tokio::test]
async fn a_refused_prune_keeps_the_tasks() {
    let dir = TempDir::new();
    let engine = FakeRuntime::default();
    let (ecs, _rt) = ecs_on(&dir.0, &engine);
    let w = world(&ecs).await;
    ecs.stop_task(&caller(), req(json!({"cluster": "c", "task": w.task})))
        .unwrap();
    for _ in 0..500 {
        if describe_task(&ecs, &w.task)["lastStatus"] == "STOPPED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let before = snapshot(&ecs, &w);
    ecs.store().fail_writes(true);
    ecs.prune_stopped(-1.0, usize::MAX);
    ecs.store().fail_writes(false);
    assert_eq!(before, snapshot(&ecs, &w));
    ecs.prune_stopped(-1.0, usize::MAX);
    let gone = ecs
        .describe_tasks(&caller(), req(json!({"cluster": "c", "tasks": [w.task]})))
        .unwrap();
    assert!(gone.tasks.is_empty(), "pruned once the store takes it");
}

/// Past the count limit the tasks that stopped first are forgotten, however
/// young: what stopped tasks cost in memory stays bounded.
#[tokio::test]
async fn the_count_limit_keeps_the_tasks_that_stopped_last() {
    let dir = TempDir::new();
    let engine = FakeRuntime::default();
    let (ecs, _rt) = ecs_on(&dir.0, &engine);
    let w = world(&ecs).await;
    let mut tasks = vec![w.task.clone()];
    for _ in 0..2 {
        let run = ecs
            .run_task(
                &caller(),
                req(
                    json!({"cluster": "c", "taskDefinition": "web", "launchType": "FARGATE",
                    "networkConfiguration": network()}),
                ),
            )
            .unwrap();
        tasks.push(run.tasks[0].task_arn.clone().unwrap());
    }
    for task in &tasks {
        ecs.stop_task(&caller(), req(json!({"cluster": "c", "task": task})))
            .unwrap();
        for _ in 0..500 {
            if describe_task(&ecs, task)["lastStatus"] == "STOPPED" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(describe_task(&ecs, task)["lastStatus"], "STOPPED");
        // Stop times a whole millisecond apart, so the order is certain.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    ecs.prune_stopped(3600.0, 2);
    let left = ecs
        .describe_tasks(&caller(), req(json!({"cluster": "c", "tasks": tasks})))
        .unwrap();
    let mut kept: Vec<String> = left
        .tasks
        .iter()
        .map(|t| t.task_arn.clone().unwrap())
        .collect();
    kept.sort();
    let mut want = tasks[1..].to_vec();
    want.sort();
    assert_eq!(kept, want, "the first task to stop is forgotten");
    assert_eq!(left.failures.len(), 1);
    let still = stored_documents(&ecs)
        .iter()
        .any(|d| d[0] == "ecs.task" && d[1] == tasks[0].as_str());
    assert!(!still, "its document is deleted too");
}
