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
fn chromium() -> PathBuf {
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

fn tempdir(what: &str) -> PathBuf {
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

fn check_in_order(dom: &str, wanted: &[&str]) {
    let mut from = 0;
    for w in wanted {
        match dom[from..].find(w) {
            Some(i) => from += i + w.len(),
            None => panic!("{w:?} missing (or out of order) in:\n{dom}"),
        }
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
    let cluster = dom(&cluster_url);
    check_in_order(
        &cluster,
        &[
            "web",
            "desired <strong>1</strong>",
            "running <strong>1</strong>",
            "PRIMARY",
            "console-web:1",
            "COMPLETED",
            "Standalone tasks",
            "console-web:1",
            &standalone_id,
        ],
    );
    screenshot(&cluster_url, "2-cluster");

    // Service: its task, by link.
    let service_url = format!("{base}{}", link(&cluster, "web"));
    let service = dom(&service_url);
    check_in_order(
        &service,
        &["Service", "web", "Deployments", "Tasks", "RUNNING"],
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
