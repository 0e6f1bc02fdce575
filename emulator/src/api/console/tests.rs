//! The console's pages drawn from hand-made ECS answers: what each page
//! must show, and what it must never show (secret values, unescaped names).

use serde_json::json;

use super::render;
use super::view::{self, MASK};
use crate::services::ecs::model::{Cluster, Task, TaskDefinition};
use crate::services::ecs::service_model::Service;

const T0: f64 = 1_765_000_000.0;

fn cluster() -> Cluster {
    serde_json::from_value(json!({
        "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/demo",
        "clusterName": "demo", "status": "ACTIVE",
        "runningTasksCount": 3, "pendingTasksCount": 0, "activeServicesCount": 1
    }))
    .unwrap()
}

fn service() -> Service {
    serde_json::from_value(json!({
        "serviceName": "web", "status": "ACTIVE",
        "desiredCount": 2, "runningCount": 1, "pendingCount": 1,
        "taskDefinition": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3",
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}},
        "deployments": [{
            "id": "ecs-svc/1234", "status": "PRIMARY",
            "taskDefinition": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3",
            "desiredCount": 2, "runningCount": 1, "pendingCount": 1, "failedTasks": 0,
            "rolloutState": "IN_PROGRESS", "rolloutStateReason": "ECS deployment ecs-svc/1234 in progress.",
            "createdAt": T0
        }],
        "events": [
            {"id": "2", "createdAt": T0 + 2.0, "message": "(service web) has started 1 tasks: (task aaa)."},
            {"id": "1", "createdAt": T0 + 1.0, "message": "(service web) has reached a steady state."}
        ]
    }))
    .unwrap()
}

fn task(id: &str, group: &str, revision: i32, status: &str) -> Task {
    serde_json::from_value(json!({
        "taskArn": format!("arn:aws:ecs:us-east-1:000000000000:task/demo/{id}"),
        "taskDefinitionArn": format!("arn:aws:ecs:us-east-1:000000000000:task-definition/job:{revision}"),
        "group": group, "lastStatus": status, "desiredStatus": "RUNNING",
        "createdAt": T0, "startedBy": if group.starts_with("service:") { "ecs-svc/1234" } else { "" }
    }))
    .unwrap()
}

fn stopped_task() -> Task {
    serde_json::from_value(json!({
        "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/demo/0123456789abcdef0123456789abcdef",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/app:7",
        "group": "family:app", "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
        "healthStatus": "HEALTHY",
        "createdAt": T0, "pullStartedAt": T0 + 0.5, "pullStoppedAt": T0 + 1.0, "startedAt": T0 + 1.25,
        "stoppingAt": T0 + 10.0, "executionStoppedAt": T0 + 11.0, "stoppedAt": T0 + 12.0,
        "stopCode": "UserInitiated", "stoppedReason": "Task stopped by user",
        "attachments": [{"id": "att", "type": "ElasticNetworkInterface", "status": "DELETED",
            "details": [{"name": "privateIPv4Address", "value": "10.0.0.7"}]}],
        "overrides": {"containerOverrides": [{"name": "app",
            "environment": [{"name": "MODE", "value": "override"}]}],
            "taskRoleArn": "arn:aws:iam::000000000000:role/override-role"},
        "containers": [
            {"name": "app", "image": "app:latest", "lastStatus": "STOPPED", "exitCode": 143,
             "healthStatus": "HEALTHY",
             "networkBindings": [{"bindIP": "127.0.0.1", "containerPort": 8080, "hostPort": 49153, "protocol": "tcp"}]},
            {"name": "sidecar", "image": "busybox", "lastStatus": "STOPPED", "exitCode": 0}
        ]
    }))
    .unwrap()
}

fn definition() -> TaskDefinition {
    serde_json::from_value(json!({
        "family": "app", "revision": 7,
        "executionRoleArn": "arn:aws:iam::000000000000:role/exec-role",
        "taskRoleArn": "arn:aws:iam::000000000000:role/task-role",
        "containerDefinitions": [
            {"name": "app", "image": "app:latest", "essential": true,
             "dependsOn": [{"containerName": "sidecar", "condition": "START"}],
             "environment": [{"name": "MODE", "value": "plain"}, {"name": "PORT", "value": "8080"}],
             "secrets": [
                {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf"},
                {"name": "API_KEY", "valueFrom": "/prod/api-key"}],
             "environmentFiles": [{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}]},
            {"name": "sidecar", "image": "busybox", "essential": false}
        ]
    }))
    .unwrap()
}

fn draw(template: &str, page: impl serde::Serialize) -> String {
    render::page(template, "us-east-1", page).expect("the page renders")
}

/// Asserts that `html` contains each of `wanted`, in that order.
fn check_in_order(html: &str, wanted: &[&str]) {
    let mut from = 0;
    for w in wanted {
        match html[from..].find(w) {
            Some(i) => from += i + w.len(),
            None => panic!("{w:?} missing (or out of order) after byte {from} in:\n{html}"),
        }
    }
}

#[test]
fn clusters_page_lists_each_cluster_with_its_counts() {
    let rows = vec![view::cluster_row(&cluster())];
    let html = draw("clusters.html", minijinja::context! { clusters => rows });
    check_in_order(
        &html,
        &[
            "href=\"/_fargate-local/console/clusters/demo\">demo</a>",
            "ACTIVE",
            "<td>1</td><td>3</td><td>0</td>",
        ],
    );
    let empty = draw(
        "clusters.html",
        minijinja::context! { clusters => Vec::<view::ClusterRow>::new() },
    );
    assert!(empty.contains("No clusters yet"), "{empty}");
}

#[test]
fn the_legend_names_every_concept_on_every_page() {
    let rows = vec![view::cluster_row(&cluster())];
    for html in [
        draw("clusters.html", minijinja::context! { clusters => rows }),
        draw(
            "error.html",
            minijinja::context! { title => "Not found", message => "m" },
        ),
    ] {
        for (concept, sentence) in view::LEGEND {
            let sentence = render::escape_html(sentence);
            check_in_order(&html, &[&format!("<dt>{concept}</dt>"), &sentence]);
        }
        // Every section of the console is linked from every page.
        for section in ["queues", "roles", "namespaces", "task-definitions"] {
            assert!(
                html.contains(&format!("href=\"{}{section}\"", render::ROOT)),
                "{section}: {html}"
            );
        }
    }
}

#[test]
fn cluster_page_puts_tasks_under_their_service_or_revision() {
    let tasks = [
        task("aaa", "service:web", 3, "RUNNING"),
        task("bbb", "family:job", 1, "RUNNING"),
        task("ccc", "family:job", 2, "PENDING"),
        task("ddd", "family:job", 1, "STOPPED"),
    ];
    let page = view::cluster_page(&cluster(), &[service()], &tasks);
    assert_eq!(page.services[0].tasks.len(), 1);
    assert_eq!(
        page.standalone
            .iter()
            .map(|g| (g.task_definition.as_str(), g.tasks.len()))
            .collect::<Vec<_>>(),
        [("job:1", 2), ("job:2", 1)]
    );
    let html = draw("cluster.html", minijinja::context! { cluster => page });
    check_in_order(
        &html,
        &[
            "<span class=\"concept\">Cluster</span>demo",
            "<span class=\"concept\">Service</span><a href=\"/_fargate-local/console/clusters/demo/services/web\">web</a>",
            "desired <strong>2</strong>",
            "running <strong>1</strong>",
            "pending <strong>1</strong>",
            "circuit breaker on, rolls back",
            "ecs-svc/1234",
            "PRIMARY",
            "web:3",
            "IN_PROGRESS",
            "ECS deployment ecs-svc/1234 in progress.",
            "/_fargate-local/console/clusters/demo/tasks/aaa",
            "has started 1 tasks",
            "has reached a steady state",
            "Standalone tasks",
            "<span class=\"concept\">Task definition</span>job:1",
            "tasks/bbb",
            "tasks/ddd",
            "<span class=\"concept\">Task definition</span>job:2",
            "tasks/ccc",
        ],
    );
}

#[test]
fn task_page_shows_timeline_network_containers_and_roles() {
    let td = definition();
    let page = view::task_page("demo", &stopped_task(), Some(&td), "localhost");
    let html = draw("task.html", minijinja::context! { task => page });
    check_in_order(
        &html,
        &[
            "0123456789abcdef0123456789abcdef",
            "STOPPED",
            "HEALTHY",
            "app:7",
            "UserInitiated",
            "Task stopped by user",
            // A role given in RunTask's overrides wins over the definition's.
            "arn:aws:iam::000000000000:role/override-role",
            "arn:aws:iam::000000000000:role/exec-role",
            "PROVISIONING</strong><br><span class=\"muted\">2025-12-06 05:46:40.000 UTC",
            "RUNNING</strong><br><span class=\"muted\">2025-12-06 05:46:41.250 UTC",
            "STOPPED</strong><br><span class=\"muted\">2025-12-06 05:46:52.000 UTC",
            "10.0.0.7",
            "href=\"http://localhost:49153/\"",
            "app:8080/tcp",
            "<span class=\"concept\">Container</span>app",
            "app:latest",
            "Essential</th><td>yes",
            "Exit code</th><td>143",
            "sidecar START",
            "PORT</td><td>task definition",
            "MODE</td><td>RunTask override",
            "DB_PASSWORD</td><td>Secrets Manager",
            MASK,
            "API_KEY</td><td>SSM Parameter Store",
            "environment file (s3)",
            "arn:aws:s3:::bucket/app.env",
            "<span class=\"concept\">Container</span>sidecar",
            "Essential</th><td>no",
            "Exit code</th><td>0",
        ],
    );
    assert!(!html.contains("plain"), "an overridden value is not shown");
}

#[test]
fn a_task_without_its_definition_still_renders() {
    let page = view::task_page("demo", &task("abc", "family:job", 1, "PENDING"), None, "h");
    let html = draw("task.html", minijinja::context! { task => page });
    check_in_order(
        &html,
        &[
            "abc",
            "PENDING",
            "Task role</th><td class=\"mono\">none</td>",
            "none yet",
        ],
    );
}

#[test]
fn names_are_escaped() {
    let mut c = cluster();
    c.cluster_name = Some("<script>alert(1)</script>".into());
    let rows = vec![view::cluster_row(&c)];
    let html = draw("clusters.html", minijinja::context! { clusters => rows });
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
}

#[test]
fn timeline_marks_steps_not_reached() {
    let t = task("x", "family:job", 1, "PROVISIONING");
    let reached: Vec<(&str, bool)> = view::timeline(&t)
        .iter()
        .map(|s| (s.status, s.at.is_some()))
        .collect();
    assert_eq!(reached[0], ("PROVISIONING", true));
    assert!(reached[1..].iter().all(|(_, at)| !at), "{reached:?}");
}

#[test]
fn small_functions() {
    let cases = [
        (view::short("arn:aws:ecs:us-east-1:1:task/c/abc"), "abc"),
        (view::short("plain"), "plain"),
        (
            view::family_revision("arn:aws:ecs:us-east-1:1:task-definition/web:3"),
            "web:3",
        ),
        (
            view::secret_source("arn:aws:secretsmanager:r:1:secret:x"),
            "Secrets Manager",
        ),
        (
            view::secret_source("arn:aws:ssm:r:1:parameter/x"),
            "SSM Parameter Store",
        ),
        (view::secret_source("/x"), "SSM Parameter Store"),
        (super::host_name("127.0.0.1:4566"), "127.0.0.1"),
        (super::host_name("[::1]:4566"), "[::1]"),
        (super::host_name("localhost"), "localhost"),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
    assert_eq!(
        view::when(Some(T0 + 0.5)).as_deref(),
        Some("2025-12-06 05:46:40.500 UTC")
    );
    assert_eq!(view::when(None), None);
}

#[test]
fn awslogs_location_follows_the_driver_options() {
    let def = |options: serde_json::Value,
               driver: &str|
     -> crate::services::ecs::model::ContainerDefinition {
        serde_json::from_value(json!({
            "name": "web",
            "logConfiguration": {"logDriver": driver, "options": options}
        }))
        .unwrap()
    };
    let loc = |region: &str, group: &str, stream: &str| {
        Some(view::LogLocation {
            region: region.into(),
            group: group.into(),
            stream: stream.into(),
        })
    };
    let cases = [
        (
            def(
                json!({"awslogs-group": "/app", "awslogs-stream-prefix": "p"}),
                "awslogs",
            ),
            loc("us-east-1", "/app", "p/web/abc"),
        ),
        (
            def(
                json!({"awslogs-group": "/app", "awslogs-region": "eu-west-1"}),
                "awslogs",
            ),
            loc("eu-west-1", "/app", "abc-123"),
        ),
        (def(json!({"Name": "cloudwatch"}), "awsfirelens"), None),
        (def(json!({}), "awslogs"), None),
    ];
    for (d, want) in cases {
        assert_eq!(
            view::awslogs_location(&d, Some("abc-123"), "abc", "us-east-1"),
            want
        );
    }
}

#[test]
fn logs_page_shows_lines_escaped_and_the_tail_address() {
    let lines = vec![
        view::log_line(1_765_000_000_250, "hello"),
        view::log_line(1_765_000_001_000, "<b>not bold</b>"),
    ];
    let html = draw(
        "logs.html",
        minijinja::context! {
            cluster => "demo", task => "abc", container => "web",
            location => view::LogLocation { region: "us-east-1".into(), group: "/app".into(), stream: "p/web/abc".into() },
            filter => "ERROR", lines => lines, truncated => false, error => None::<String>,
            tail_url => "/_fargate-local/console/clusters/demo/tasks/abc/containers/web/logs/tail?filter=ERROR&since=5",
        },
    );
    check_in_order(
        &html,
        &[
            "<code>/app</code>",
            "<code>p/web/abc</code>",
            "value=\"ERROR\"",
            "data-tail=\"/_fargate-local/console/clusters/demo/tasks/abc/containers/web/logs/tail?filter=ERROR&amp;since=5\"",
            "2025-12-06 05:46:40.250 UTC",
            "hello",
            "&lt;b&gt;not bold&lt;/b&gt;",
            "new EventSource(url)",
        ],
    );
}

#[test]
fn only_the_console_s_own_forms_may_act() {
    let token = super::form_token();
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Headers, Option<&str>, bool); 7] = [
        (
            &[
                ("host", "127.0.0.1:4566"),
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://127.0.0.1:4566"),
            ],
            Some(token),
            true,
        ),
        // curl and other clients send neither header.
        (&[("host", "127.0.0.1:4566")], Some(token), true),
        (
            &[("host", "127.0.0.1:4566"), ("sec-fetch-site", "cross-site")],
            Some(token),
            false,
        ),
        (
            &[("host", "127.0.0.1:4566"), ("sec-fetch-site", "same-site")],
            Some(token),
            false,
        ),
        (
            &[
                ("host", "127.0.0.1:4566"),
                ("origin", "http://evil.example"),
            ],
            Some(token),
            false,
        ),
        (
            &[("host", "127.0.0.1:4566"), ("origin", "null")],
            Some(token),
            false,
        ),
        (&[("host", "127.0.0.1:4566")], Some("guess"), false),
    ];
    for (headers, t, ok) in cases {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().unwrap());
        }
        assert_eq!(super::same_site(&h, t).is_ok(), ok, "{headers:?} {t:?}");
    }
    assert!(super::same_site(&axum::http::HeaderMap::new(), None).is_err());
}

#[test]
fn forms_carry_the_token() {
    let page = view::cluster_page(&cluster(), &[service()], &[]);
    let html = draw("cluster.html", minijinja::context! { cluster => page });
    check_in_order(
        &html,
        &[
            "action=\"/_fargate-local/console/clusters/demo/services/web/update\"",
            &format!("name=\"token\" value=\"{}\"", super::form_token()),
            "name=\"desired_count\"",
            "name=\"force_new_deployment\" value=\"true\"",
            "name=\"task_definition\" value=\"web:3\"",
        ],
    );
}

#[test]
fn diff_lines_side_by_side() {
    let kinds = |a: &str, b: &str| -> Vec<(String, String, &'static str)> {
        view::diff_lines(a, b)
            .into_iter()
            .map(|r| {
                (
                    r.left.unwrap_or_default(),
                    r.right.unwrap_or_default(),
                    r.kind,
                )
            })
            .collect()
    };
    let s = |x: &str| x.to_string();
    assert_eq!(
        kinds("a\nb\nc", "a\nB\nc"),
        [
            (s("a"), s("a"), "same"),
            (s("b"), s("B"), "changed"),
            (s("c"), s("c"), "same")
        ]
    );
    assert_eq!(
        kinds("a\nc", "a\nb\nc"),
        [
            (s("a"), s("a"), "same"),
            (s(""), s("b"), "added"),
            (s("c"), s("c"), "same")
        ]
    );
    assert_eq!(
        kinds("a\nb", "a"),
        [(s("a"), s("a"), "same"), (s("b"), s(""), "removed")]
    );
    assert_eq!(kinds("", ""), []);
}

#[test]
fn family_page_shows_the_diff() {
    let mut td2 = definition();
    td2.container_definitions.as_mut().unwrap()[0].image = Some("app:v2".into());
    let rows = view::diff_lines(
        &view::definition_text(&definition()),
        &view::definition_text(&td2),
    );
    let html = draw(
        "family.html",
        minijinja::context! { family => "app", revisions => [6, 7], a => 6, b => 7, rows => rows },
    );
    check_in_order(
        &html,
        &[
            "<option value=\"6\" selected>app:6</option>",
            "<option value=\"7\" selected>app:7</option>",
            "<th>app:6</th><th>app:7</th>",
            "<tr class=\"changed\"><td class=\"mono\">      &quot;image&quot;: &quot;app:latest&quot;,</td><td class=\"mono\">      &quot;image&quot;: &quot;app:v2&quot;,</td></tr>",
        ],
    );
    assert!(!html.contains("registeredAt"), "{html}");
}

#[test]
fn task_page_lists_the_calls_made_with_the_task_role() {
    use crate::services::requestlog::Entry;
    let t = stopped_task();
    let arn = t.task_arn.clone().unwrap();
    let entry = |task: &str, op: &str, error: Option<&str>| Entry {
        time: "2026-01-01T00:00:00Z".into(),
        request_id: "r".into(),
        service: "s3".into(),
        operation: op.into(),
        access_key_id: Some("ASIA".into()),
        task_arn: Some(task.into()),
        role_arn: Some("arn:aws:iam::000000000000:role/override-role".into()),
        error: error.map(str::to_string),
        forwarded_to: None,
        iam: None,
    };
    let entries = [
        entry(&arn, "PutObject", None),
        entry(
            "arn:aws:ecs:us-east-1:000000000000:task/demo/other",
            "GetObject",
            None,
        ),
        entry(&arn, "GetObject", Some("NoSuchKey")),
    ];
    let calls = view::role_calls(&entries, &arn);
    assert_eq!(calls.len(), 2);
    let page = view::task_page("demo", &t, Some(&definition()), "h");
    let html = draw(
        "task.html",
        minijinja::context! { task => page, role_calls => calls },
    );
    check_in_order(
        &html,
        &[
            "Calls made with the task's roles",
            "s3:PutObject",
            "override-role",
            "ok",
            "s3:GetObject",
            "NoSuchKey",
        ],
    );
    assert_eq!(
        html.matches("<td class=\"mono\">s3:").count(),
        2,
        "another task's call is not listed"
    );
}

/// The cluster page of 20 services and 200 tasks is drawn well within the
/// 50 ms budget (from the backend's answers to HTML; the figure is
/// printed). The bound is loose so a busy debug build does not fail it.
#[test]
fn a_cluster_of_20_services_and_200_tasks_draws_quickly() {
    let services: Vec<Service> = (0..20)
        .map(|i| {
            let mut s = service();
            s.service_name = Some(format!("svc{i}"));
            s
        })
        .collect();
    let tasks: Vec<Task> = (0..200)
        .map(|i| {
            task(
                &format!("{i:032x}"),
                &format!("service:svc{}", i % 20),
                1,
                "RUNNING",
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let page = view::cluster_page(&cluster(), &services, &tasks);
    let html = draw("cluster.html", minijinja::context! { cluster => page });
    let took = started.elapsed();
    eprintln!(
        "cluster page, 20 services and 200 tasks: {took:?}, {} bytes",
        html.len()
    );
    assert_eq!(html.matches("/tasks/").count(), 200);
    assert!(took < std::time::Duration::from_millis(500), "{took:?}");
}

#[test]
fn task_page_says_what_the_execution_role_is_used_for() {
    let mut td = definition();
    let app = &mut td.container_definitions.as_mut().unwrap()[0];
    app.log_configuration = serde_json::from_value(json!({"logDriver": "awslogs", "options": {
        "awslogs-group": "/app", "awslogs-stream-prefix": "web", "awslogs-create-group": "true"}}))
    .unwrap();
    let mut uses = view::execution_role_uses(&td, "abc", "us-east-1", "000000000000");
    let got: Vec<(&str, &str)> = uses
        .iter()
        .map(|u| (u.action, u.resource.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "logs:CreateLogGroup",
                "arn:aws:logs:us-east-1:000000000000:log-group:/app:log-stream:"
            ),
            (
                "logs:CreateLogStream",
                "arn:aws:logs:us-east-1:000000000000:log-group:/app:log-stream:web/app/abc"
            ),
            (
                "logs:PutLogEvents",
                "arn:aws:logs:us-east-1:000000000000:log-group:/app:log-stream:web/app/abc"
            ),
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf"
            ),
            (
                "ssm:GetParameters",
                "arn:aws:ssm:us-east-1:000000000000:parameter/prod/api-key"
            ),
            ("s3:GetObject", "arn:aws:s3:::bucket/app.env"),
            ("s3:GetBucketLocation", "arn:aws:s3:::bucket"),
        ]
    );
    uses[3].decision = Some("denied: User: x is not authorized".into());
    uses[3].denied = true;
    let page = view::task_page("demo", &stopped_task(), Some(&td), "h");
    let html = draw(
        "task.html",
        minijinja::context! { task => page, execution_uses => uses },
    );
    check_in_order(
        &html,
        &[
            "What ECS uses the execution role for",
            "app: create the log group /app",
            "secretsmanager:GetSecretValue",
            "class=\"wrap STOPPED\">denied: User: x is not authorized",
            "s3:GetBucketLocation",
            "Status timeline",
        ],
    );
}
