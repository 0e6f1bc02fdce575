//! The console in a real browser: Debian's headless Chromium loads the
//! console of a running emulator with a real service and a real standalone
//! task, and the test walks cluster → service → task → container by the
//! links the pages carry, asserting on the DOM Chromium built. One
//! screenshot per page is written under the target directory (outside the
//! repository) for a person to look at.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ContainerDependency, KeyValuePair, LaunchType, PortMapping};
use sdk_tests::{Emulator, UNTIL_TERM, http_get, sh};

const CLUSTER: &str = "console";

/// Debian's `chromium`, or a clear failure naming how to install it.
pub(crate) fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!(
        "the console tests need Debian's headless Chromium: install it with `scripts/setup.sh` \
         (or `apt-get install chromium`)"
    );
}

/// Runs headless Chromium on `url` with `args`; returns its stdout.
fn run_chromium(url: &str, args: &[&str]) -> String {
    let profile = tempdir("chromium-profile");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn tempdir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fargate-local-console-{what}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The DOM Chromium built for `url`, after its scripts ran.
fn dom(url: &str) -> String {
    run_chromium(url, &["--dump-dom"])
}

/// A screenshot of `url` into the screenshots directory.
fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&file);
    run_chromium(
        url,
        &[
            &format!("--screenshot={}", file.display()),
            "--window-size=1280,1400",
        ],
    );
    assert!(file.exists(), "chromium wrote no screenshot of {url}");
    eprintln!("console screenshot: {}", file.display());
    file
}

/// The `href` of the first link whose text is `text` (as a click on it
/// would follow), from a DOM.
fn link(dom: &str, text: &str) -> String {
    let end = dom
        .find(&format!(">{text}</a>"))
        .unwrap_or_else(|| panic!("no link {text:?} in:\n{dom}"));
    let start = dom[..end]
        .rfind("href=\"")
        .unwrap_or_else(|| panic!("link {text:?} has no href"));
    let href = &dom[start + 6..end];
    href[..href.find('"').unwrap()].replace("&amp;", "&")
}

/// The first of `wanted` missing from `dom` (or out of order), if any.
fn missing_in_order<'a>(dom: &str, wanted: &[&'a str]) -> Option<&'a str> {
    let mut from = 0;
    for w in wanted {
        match dom[from..].find(w) {
            Some(i) => from += i + w.len(),
            None => return Some(w),
        }
    }
    None
}

pub(crate) fn check_in_order(dom: &str, wanted: &[&str]) {
    if let Some(w) = missing_in_order(dom, wanted) {
        panic!("{w:?} missing (or out of order) in:\n{dom}");
    }
}

/// The DOM of `url` once it shows what `ready` looks for, loading the page
/// again until then: the API answering the new state does not mean a page
/// drawn the instant after does (the scheduler's round that counts a task
/// and the one that completes a deployment come apart). Fails after
/// `timeout` with what the page showed last.
fn dom_until(url: &str, timeout: Duration, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let page = dom(url);
        if ready(&page) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not show {what} within {timeout:?}; it showed last:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test]
async fn a_browser_walks_cluster_service_task_container() {
    let emu = Emulator::start();
    let chromium = chromium(); // fail before any task runs if it is missing
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "console-web",
            vec![
                sh("app", UNTIL_TERM)
                    .environment(
                        KeyValuePair::builder()
                            .name("GREETING")
                            .value("hello")
                            .build(),
                    )
                    .port_mappings(PortMapping::builder().container_port(8080).build())
                    .depends_on(
                        ContainerDependency::builder()
                            .container_name("helper")
                            .condition(aws_sdk_ecs::types::ContainerCondition::Start)
                            .build()
                            .unwrap(),
                    )
                    .build(),
                sh("helper", UNTIL_TERM).essential(false).build(),
            ],
        )
        .await;
    emu.client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(&td)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .send()
        .await
        .expect("CreateService");
    let standalone = emu.run_task(CLUSTER, &td).await;
    let standalone_id = standalone
        .task_arn()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    emu.wait_status(
        CLUSTER,
        standalone.task_arn().unwrap(),
        "RUNNING",
        Duration::from_secs(60),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = emu
            .client()
            .describe_services()
            .cluster(CLUSTER)
            .services("web")
            .send()
            .await
            .unwrap();
        if s.services()[0].running_count() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the service never ran its task");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let base = format!("http://{}", emu.addr());
    let started = Instant::now();
    // The console's home: every cluster, and the legend.
    let home = dom(&format!("{base}/_fargate-local/console/"));
    check_in_order(
        &home,
        &[
            "Clusters",
            CLUSTER,
            "Legend",
            "<dt>Service</dt>",
            "keeps a desired number",
        ],
    );
    screenshot(&format!("{base}/_fargate-local/console/"), "1-clusters");

    // Cluster: the service with its counts and deployment, the standalone
    // task under its revision.
    let cluster_url = format!("{base}{}", link(&home, CLUSTER));
    let wanted = [
        "web",
        "desired <strong>1</strong>",
        "running <strong>1</strong>",
        "PRIMARY",
        "console-web:1",
        "COMPLETED",
        "Standalone tasks",
        "console-web:1",
        &standalone_id,
    ];
    // The deployment completes in a scheduler round after the one that
    // counted the task running.
    let cluster = dom_until(
        &cluster_url,
        Duration::from_secs(30),
        "the service's completed deployment and the standalone task",
        |page| missing_in_order(page, &wanted).is_none(),
    );
    screenshot(&cluster_url, "2-cluster");

    // Service: its task, by link.
    let service_url = format!("{base}{}", link(&cluster, "web"));
    let wanted = ["Service", "web", "Deployments", "Tasks", "RUNNING"];
    let service = dom_until(
        &service_url,
        Duration::from_secs(30),
        "the service's task RUNNING",
        |page| missing_in_order(page, &wanted).is_none(),
    );
    screenshot(&service_url, "3-service");
    let service_task_href = service
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .find(|h| h.contains("/tasks/"))
        .expect("a task link on the service page")
        .to_string();
    assert!(
        !service_task_href.ends_with(&standalone_id),
        "the service page lists only the service's tasks"
    );

    // Task: timeline, network, containers with their environment.
    let task_url = format!("{base}{service_task_href}");
    let task = dom(&task_url);
    check_in_order(
        &task,
        &[
            "RUNNING",
            "console-web:1",
            "Status timeline",
            "PROVISIONING",
            "RUNNING",
            "Network",
            "Published ports",
            "app:8080/tcp",
            "Container</span>app",
            "fargate-local-test/busybox",
            "helper START",
            "GREETING",
            "task definition",
            "Container</span>helper",
            "Essential</th><td>no",
            "Legend",
        ],
    );
    screenshot(&task_url, "4-task");

    // An unknown page answers in the console's own words.
    let missing = dom(&format!("{base}/_fargate-local/console/clusters/nope"));
    assert!(
        missing.contains("There is no cluster named nope."),
        "{missing}"
    );
    let (status, _) = http_get(&emu.addr(), "/_fargate-local/console/clusters/nope").unwrap();
    assert_eq!(status, 404);
    eprintln!(
        "chromium {} walked the console in {:?}",
        chromium.display(),
        started.elapsed()
    );
}

/// Reads a server-sent event stream until `want` arrives or `timeout`
/// passes; returns what was read.
fn read_sse_until(addr: &str, path: &str, want: &str, timeout: Duration) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if String::from_utf8_lossy(&got).contains(want) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_container_s_logs_filtered_and_tailed_live() {
    let emu = Emulator::start();
    chromium();
    emu.create_cluster(CLUSTER).await;
    let mut options = std::collections::HashMap::new();
    options.insert("awslogs-group".to_string(), "/console/app".to_string());
    options.insert("awslogs-stream-prefix".to_string(), "web".to_string());
    options.insert("awslogs-create-group".to_string(), "true".to_string());
    options.insert("awslogs-region".to_string(), "us-east-1".to_string());
    let td = emu
        .register_with(
            "console-logs",
            vec![
                sh(
                    "app",
                    "echo 'hello one'; echo 'ERROR two'; i=0; while true; do i=$((i+1)); echo \"tick $i\"; sleep 1; done",
                )
                .log_configuration(
                    aws_sdk_ecs::types::LogConfiguration::builder()
                        .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
                        .set_options(Some(options))
                        .build()
                        .unwrap(),
                )
                .build(),
            ],
            |b| b.execution_role_arn("arn:aws:iam::000000000000:role/exec"),
        )
        .await;
    let task = emu.run_task(CLUSTER, &td).await;
    let arn = task.task_arn().unwrap().to_string();
    let id = arn.rsplit('/').next().unwrap().to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    let base = format!("http://{}", emu.addr());

    // From the task page to the container's logs, by its link.
    let task_page = dom(&format!(
        "{base}/_fargate-local/console/clusters/{CLUSTER}/tasks/{id}"
    ));
    let logs_url = format!("{base}{}", link(&task_page, "app logs"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let logs = loop {
        let logs = dom(&logs_url);
        if logs.contains("ERROR two") {
            break logs;
        }
        assert!(
            Instant::now() < deadline,
            "no log lines on the page:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    check_in_order(
        &logs,
        &[
            "/console/app",
            &format!("web/app/{id}"),
            "hello one",
            "ERROR two",
        ],
    );
    screenshot(&logs_url, "5-logs");

    // The filter box goes through the Logs backend's filter patterns.
    let filtered = dom(&format!("{logs_url}?filter=ERROR"));
    assert!(filtered.contains("ERROR two"), "{filtered}");
    assert!(!filtered.contains("hello one"), "{filtered}");

    // The live tail, from the address the page gives its script: ticks
    // written after the page was drawn arrive as server-sent events.
    let tail_path = {
        let at = logs.find("data-tail=\"").expect("the page names its tail") + 11;
        logs[at..at + logs[at..].find('"').unwrap()].replace("&amp;", "&")
    };
    let shown: Vec<&str> = logs.matches("tick ").collect();
    let last_shown = logs
        .split("tick ")
        .skip(1)
        .filter_map(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    let events = read_sse_until(&emu.addr(), &tail_path, "tick ", Duration::from_secs(20));
    assert!(events.contains("text/event-stream"), "{events}");
    let first_tailed: u32 = events
        .split("tick ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no tick in the tail ({} on the page):\n{events}",
                shown.len()
            )
        });
    assert!(events.contains("event: line"), "{events}");
    assert!(
        !events.contains("hello one"),
        "the tail repeats what the page showed:\n{events}"
    );
    assert_eq!(
        first_tailed,
        last_shown + 1,
        "the tail goes on from the page's last line:\n{events}"
    );
}

/// The service's desired and running counts, through the SDK.
async fn service_counts(emu: &Emulator, name: &str) -> (i32, i32) {
    let s = emu
        .client()
        .describe_services()
        .cluster(CLUSTER)
        .services(name)
        .send()
        .await
        .unwrap();
    (
        s.services()[0].desired_count(),
        s.services()[0].running_count(),
    )
}

#[tokio::test]
async fn actions_scale_and_stop_and_refuse_other_sites() {
    let emu = Emulator::start();
    chromium();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("console-act", vec![sh("app", UNTIL_TERM).build()])
        .await;
    emu.client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("act")
        .task_definition(&td)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .send()
        .await
        .expect("CreateService");
    let base = format!("http://{}", emu.addr());
    let service_path = format!("/_fargate-local/console/clusters/{CLUSTER}/services/act");
    let page = dom(&format!("{base}{service_path}"));
    let token = {
        let at = page.find("name=\"token\" value=\"").expect("a form token") + 20;
        page[at..at + page[at..].find('"').unwrap()].to_string()
    };
    let update = format!("{service_path}/update");
    let addr = emu.addr();
    let form = |body: &str, headers: &[(&str, &str)]| {
        let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(headers);
        sdk_tests::http(&addr, "POST", &update, &h, body.as_bytes()).unwrap()
    };

    // A page of another site, in a real browser, posting the form (even
    // with the right token) is refused, and nothing changes.
    let dir = tempdir("evil");
    let evil = dir.join("evil.html");
    std::fs::write(
        &evil,
        format!(
            "<form method=post action=\"{base}{update}\"><input name=token value=\"{token}\">\
             <input name=desired_count value=5></form><script>document.forms[0].submit()</script>"
        ),
    )
    .unwrap();
    let answer = run_chromium(
        &format!("file://{}", evil.display()),
        &["--dump-dom", "--virtual-time-budget=5000"],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        answer.contains("Refused"),
        "the browser was not refused:\n{answer}"
    );
    let (status, _) = form(
        &format!("token={token}&desired_count=5"),
        &[
            ("Origin", "http://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    );
    assert_eq!(status, 403);
    let (status, _) = form("token=guess&desired_count=5", &[]);
    assert_eq!(status, 403);
    assert_eq!(
        service_counts(&emu, "act").await.0,
        1,
        "a refused post changed nothing"
    );

    // The console's own form (same origin, its token) scales the service
    // through UpdateService: a second task appears on the page.
    let origin = format!("http://{addr}");
    let (status, _) = form(
        &format!("token={token}&desired_count=2"),
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(
        status, 303,
        "the form sends the browser back to the service"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while service_counts(&emu, "act").await != (2, 2) {
        assert!(Instant::now() < deadline, "the service never ran 2 tasks");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The page, drawn again until it shows what the API said: two tasks
    // (their links), both counted running.
    let page = dom_until(
        &format!("{base}{service_path}"),
        Duration::from_secs(30),
        "exactly 2 tasks, desired 2 and running 2",
        |page| {
            page.matches("/tasks/").count() == 2
                && missing_in_order(
                    page,
                    &["desired <strong>2</strong>", "running <strong>2</strong>"],
                )
                .is_none()
        },
    );

    // A refused update says the backend's own error.
    let (status, body) = form(&format!("token={token}&desired_count=-1"), &[]);
    assert_eq!(status, 400);
    assert!(body.contains("InvalidParameterException"), "{body}");

    // Stop a task from its page: STOPPED with the console's reason.
    let task_href = link(
        &page,
        page.split("/tasks/")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap(),
    );
    let task_id = task_href.rsplit('/').next().unwrap().to_string();
    let task_page = dom(&format!("{base}{task_href}"));
    assert!(task_page.contains("Stop this task"), "{task_page}");
    let (status, _) = sdk_tests::http(
        &addr,
        "POST",
        &format!("{task_href}/stop"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        format!("token={token}").as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 303);
    let arn = format!("arn:aws:ecs:us-east-1:000000000000:task/{CLUSTER}/{task_id}");
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    let wanted = [
        "STOPPED",
        "UserInitiated",
        "Stopped from the fargate-local console",
    ];
    dom_until(
        &format!("{base}{task_href}"),
        Duration::from_secs(30),
        "the task STOPPED with the console's reason",
        |page| missing_in_order(page, &wanted).is_none(),
    );
    screenshot(&format!("{base}{task_href}"), "6-stopped-task");
}

#[tokio::test]
async fn task_definition_revisions_side_by_side() {
    let emu = Emulator::start();
    chromium();
    emu.register("console-td", vec![sh("app", "echo one").build()])
        .await;
    emu.register("console-td", vec![sh("app", "echo two").build()])
        .await;
    let base = format!("http://{}", emu.addr());
    let list = dom(&format!("{base}/_fargate-local/console/task-definitions"));
    check_in_order(&list, &["console-td", "console-td:1, console-td:2"]);
    let family_url = format!("{base}{}", link(&list, "console-td"));
    let diff = dom(&family_url);
    check_in_order(
        &diff,
        &[
            "<th>console-td:1</th><th>console-td:2</th>",
            "<tr class=\"changed\">",
            "echo one",
            "echo two",
        ],
    );
    screenshot(&family_url, "7-task-definition-diff");
}

/// The screenshots of the clicking test, outside the repository.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// The number of `selector` elements in the page.
async fn count(b: &mut super::browser::Browser, selector: &str) -> u64 {
    b.eval(&format!(
        "document.querySelectorAll({}).length",
        serde_json::json!(selector)
    ))
    .await
    .as_u64()
    .unwrap()
}

/// A person in a real browser: keyboard from the top of the page, then
/// cluster → service → task → container logs by clicking, a line the
/// container writes appearing live, the service scaled from its page and
/// the new task appearing without a reload, a task stopped from its page
/// and shown STOPPED with its reason as it happens; the pages fit 1280
/// pixels and follow a dark colour scheme.
#[tokio::test]
async fn a_person_clicks_through_the_console() {
    let emu = Emulator::start();
    chromium();
    emu.create_cluster(CLUSTER).await;
    let mut options = std::collections::HashMap::new();
    options.insert("awslogs-group".to_string(), "/console/click".to_string());
    options.insert("awslogs-stream-prefix".to_string(), "web".to_string());
    options.insert("awslogs-create-group".to_string(), "true".to_string());
    options.insert("awslogs-region".to_string(), "us-east-1".to_string());
    let td = emu
        .register_with(
            "console-click",
            vec![
                sh(
                    "app",
                    "i=0; trap 'exit 0' TERM; while true; do i=$((i+1)); echo \"tick $i\"; sleep 1; done",
                )
                .log_configuration(
                    aws_sdk_ecs::types::LogConfiguration::builder()
                        .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
                        .set_options(Some(options))
                        .build()
                        .unwrap(),
                )
                .build(),
            ],
            |b| b.execution_role_arn("arn:aws:iam::000000000000:role/exec"),
        )
        .await;
    emu.client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(&td)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .send()
        .await
        .expect("CreateService");
    let deadline = Instant::now() + Duration::from_secs(60);
    while service_counts(&emu, "web").await != (1, 1) {
        assert!(Instant::now() < deadline, "the service never ran its task");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shots = screenshots();
    let mut b = super::browser::Browser::launch().await;
    let base = format!("http://{}", emu.addr());
    b.goto(&format!("{base}/_fargate-local/console/")).await;

    // The keyboard: the first Tab shows the skip link, Enter moves the
    // focus to the content, the next Tab reaches the first cluster; every
    // focused element is drawn with a visible outline.
    let focused = "(() => { const e = document.activeElement; const s = getComputedStyle(e); \
                   const r = e.getBoundingClientRect(); \
                   return [e.tagName, e.id || '', e.textContent.trim(), s.outlineStyle, r.left >= 0 && r.top >= 0]; })()";
    b.press("Tab").await;
    let skip = b.eval(focused).await;
    assert_eq!(skip[2], "Skip to content", "the first Tab: {skip}");
    assert_ne!(
        skip[3], "none",
        "the skip link's focus is not drawn: {skip}"
    );
    assert_eq!(
        skip[4], true,
        "the focused skip link is off the screen: {skip}"
    );
    let mut order = Vec::new();
    for _ in 0..4 {
        b.press("Tab").await;
        let f = b.eval(focused).await;
        assert_ne!(f[3], "none", "a focused element without an outline: {f}");
        order.push(f[2].as_str().unwrap().to_string());
    }
    assert_eq!(
        order,
        [
            "fargate-local console",
            "Clusters",
            "Task definitions",
            "SQS queues"
        ],
        "the focus order of the header"
    );
    b.eval("document.querySelector('.skip').focus()").await;
    b.press("Enter").await;
    b.wait_for(
        "document.activeElement.id === 'main'",
        Duration::from_secs(5),
        "Enter on the skip link focuses the content",
    )
    .await;
    b.press("Tab").await;
    let first = b.eval(focused).await;
    assert_eq!(
        first[2], CLUSTER,
        "after the skip link, the first cluster: {first}"
    );
    b.screenshot(&shots, "click-1-clusters").await;

    // Cluster → service → task → container logs, by clicking.
    b.click_link(CLUSTER).await;
    assert!(b.url().await.ends_with(&format!("/clusters/{CLUSTER}")));
    let fits = "(() => document.documentElement.scrollWidth <= window.innerWidth && \
                [...document.querySelectorAll('main table')].every(t => t.scrollWidth <= t.parentElement.clientWidth + 1))()";
    assert_eq!(
        b.eval(fits).await,
        true,
        "the cluster page is wider than 1280 pixels:\n{}",
        b.text().await
    );
    b.screenshot(&shots, "click-2-cluster").await;
    b.click_link("web").await;
    assert!(b.text().await.contains("desired 1"), "{}", b.text().await);
    b.click("main a[href*='/tasks/']", true).await;
    let task_url = b.url().await;
    assert_eq!(
        count(&mut b, "#container-app").await,
        1,
        "{}",
        b.text().await
    );
    // The execution role's uses, judged by IAM (serve --iam warn: the role
    // does not exist, so each would be denied).
    let text = b.text().await;
    check_in_order(
        &text,
        &[
            "What ECS uses the execution role for",
            "app: create the log group /console/click",
            "logs:CreateLogGroup",
            "would be denied",
            "logs:CreateLogStream",
        ],
    );
    b.click_link("app logs").await;
    b.wait_for(
        "document.getElementById('tail-state').textContent.startsWith('Live')",
        Duration::from_secs(10),
        "the live tail opens",
    )
    .await;
    let last_tick = "Math.max(0, ...[...document.querySelectorAll('#lines td')].map(td => \
                     (td.textContent.match(/^tick (\\d+)$/) || [0, 0])[1] | 0))";
    let shown = b.eval(last_tick).await.as_u64().unwrap();
    b.mark().await;
    b.wait_for(
        &format!("{last_tick} > {shown}"),
        Duration::from_secs(20),
        "a line the container writes appears live",
    )
    .await;
    assert!(b.still_marked().await, "the logs page was reloaded");
    b.screenshot(&shots, "click-3-logs-live").await;

    // Back to the service by the links; scale it to 2 by its form.
    let task_id = task_url.rsplit('/').next().unwrap().to_string();
    b.click_link(&task_id).await;
    b.click_link("web").await;
    b.type_into("input[name=desired_count]", "2").await;
    b.click("form.actions button[type=submit]", true).await;
    assert!(b.text().await.contains("desired 2"), "{}", b.text().await);
    assert!(
        b.url().await.ends_with("/services/web"),
        "the form sends the browser back to the service"
    );
    b.mark().await;
    b.wait_for(
        "[...document.querySelectorAll('main a[href*=\"/tasks/\"]')].length === 2 && \
         document.querySelector('main').innerText.includes('running 2')",
        Duration::from_secs(60),
        "the new task appears on the service page without a reload",
    )
    .await;
    assert!(b.still_marked().await, "the service page was reloaded");
    assert_eq!(service_counts(&emu, "web").await.0, 2);
    b.screenshot(&shots, "click-4-service-scaled").await;

    // Stop a task from its page: it turns STOPPED, with its reason, live.
    b.click("main a[href*='/tasks/']", true).await;
    b.click("main form button[type=submit]", true).await;
    b.mark().await;
    b.wait_for(
        "document.querySelector('h1 .status').textContent === 'STOPPED' && \
         document.querySelector('main').innerText.includes('Stopped from the fargate-local console')",
        Duration::from_secs(30),
        "the stopped task turns STOPPED with its reason on its page",
    )
    .await;
    assert!(b.still_marked().await, "the task page was reloaded");
    assert!(
        b.text().await.contains("UserInitiated"),
        "{}",
        b.text().await
    );
    assert_eq!(count(&mut b, "main form[action$='/stop']").await, 0);
    b.screenshot(&shots, "click-5-task-stopped").await;

    // The other services' pages, from the navigation.
    emu.sqs()
        .create_queue()
        .queue_name("jobs")
        .send()
        .await
        .expect("CreateQueue");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let (status, body) = sdk_tests::http(
        &emu.addr(),
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!(
            "Action=CreateRole&Version=2010-05-08&RoleName=exec&AssumeRolePolicyDocument={}",
            percent(trust)
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "CreateRole: {body}");
    b.click_link("SQS queues").await;
    check_in_order(&b.text().await, &["SQS queues", "jobs", "0\t0\t0"]);
    b.screenshot(&shots, "click-6-queues").await;
    b.click_link("IAM roles").await;
    check_in_order(&b.text().await, &["exec", "ecs-tasks.amazonaws.com"]);
    b.click_link("exec").await;
    check_in_order(
        &b.text().await,
        &[
            "Who may assume it",
            "ecs-tasks.amazonaws.com",
            "None: every action is denied",
        ],
    );
    b.screenshot(&shots, "click-7-role").await;
    b.click_link("Cloud Map").await;
    assert!(
        b.text().await.contains("No namespaces yet"),
        "{}",
        b.text().await
    );

    // A dark colour scheme, when the person prefers one.
    b.prefer_color_scheme("dark").await;
    assert_eq!(
        b.eval("getComputedStyle(document.body).backgroundColor")
            .await,
        "rgb(13, 17, 23)"
    );
    b.click_link("Clusters").await;
    b.click_link(CLUSTER).await;
    b.screenshot(&shots, "click-8-cluster-dark").await;
}

/// `text` percent-encoded for a form body.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
