//! ECS Exec with real Docker: sessions opened through the built-in client
//! (`fargate-local exec`, which calls ExecuteCommand and speaks the Session
//! Manager data channel) and through the AWS SDK's ExecuteCommand, whose
//! session is handed to the client as the AWS CLI hands it to the
//! session-manager-plugin. An interactive shell is driven through a real
//! pseudo-terminal.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::LaunchType;
use sdk_tests::{
    Emulator, UNTIL_TERM, container, docker, emulator_bin, http_get, sh, task_container,
};

const CLUSTER: &str = "exec";

/// Runs a task of one container, `web`, with ECS Exec enabled or not.
async fn exec_task(emu: &Emulator, family: &str, enable: bool) -> String {
    let td = emu
        .register(family, vec![sh("web", UNTIL_TERM).build()])
        .await;
    let out = emu
        .client()
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .enable_execute_command(enable)
        .send()
        .await
        .expect("RunTask");
    let arn = out.tasks()[0].task_arn().unwrap().to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    arn
}

fn exec_cmd(emu: &Emulator, task: &str, command: &str) -> Command {
    let mut c = Command::new(emulator_bin());
    c.args([
        "exec",
        "--endpoint-url",
        &emu.endpoint(),
        "--cluster",
        CLUSTER,
        "--task",
        task,
        "--container",
        "web",
        "--command",
        command,
    ]);
    c.env_remove("AWS_REGION");
    c
}

/// `fargate-local exec` to its end, stdin closed.
fn exec(emu: &Emulator, task: &str, command: &str) -> Output {
    exec_cmd(emu, task, command)
        .stdin(Stdio::null())
        .output()
        .expect("fargate-local exec runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn commands_run_in_the_container_with_their_output_and_exit_code() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let arn = exec_task(&emu, "exec-on", true).await;
    let task_id = arn.rsplit('/').next().unwrap().to_string();

    let t = emu.describe_task(CLUSTER, &arn).await;
    assert!(t.enable_execute_command());
    let agents = container(&t, "web").managed_agents();
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert_eq!(
        agents[0].name().map(|n| n.as_str()),
        Some("ExecuteCommandAgent")
    );
    assert_eq!(agents[0].last_status(), Some("RUNNING"));

    // echo, and the remote exit code becomes the client's.
    let out = exec(&emu, &task_id, "echo hello from exec");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello from exec\r\n");
    assert!(text(&out.stderr).contains("Exiting session with sessionId: ecs-execute-command-"));
    let out = exec(&emu, &arn, "sh -c 'echo $TERM; exit 3'");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "xterm-256color\r\n");

    // 10 MiB of random bytes, byte-exact (output processing off in the
    // TTY, or it would turn \n into \r\n as on AWS).
    let out = exec(
        &emu,
        &task_id,
        "sh -c 'head -c 10485760 /dev/urandom > /tmp/big'",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let docker_id = task_container(&arn, "web");
    let want = Command::new("docker")
        .args(["exec", &docker_id, "cat", "/tmp/big"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(want.len(), 10 * 1024 * 1024);
    let out = exec(&emu, &task_id, "sh -c 'stty -opost; cat /tmp/big'");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        out.stdout == want,
        "the 10 MiB came back with {} bytes, not byte-exact",
        out.stdout.len()
    );

    // Several sessions at once.
    let started = Instant::now();
    let (a, b) = (
        exec_cmd(&emu, &task_id, "sh -c 'sleep 1; echo one'")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        exec_cmd(&emu, &task_id, "sh -c 'sleep 1; echo two'")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(
        (text(&a.stdout), text(&b.stdout)),
        ("one\r\n".into(), "two\r\n".into())
    );
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "sessions ran one after the other"
    );

    // A command that does not exist: the runtime's message, exit 127 or 126.
    let out = exec(&emu, &task_id, "no-such-command");
    assert!(matches!(out.status.code(), Some(126 | 127)), "{out:?}");

    emu.stop_task(CLUSTER, &arn, "done").await;
}

/// A session's data channel counts in the task's egress as `ssmmessages`
/// (on AWS the agent in the task talks to that endpoint): 1 MiB of output
/// is at least 1 MiB sent, plus the channel's framing (a 120-byte header per
/// frame of up to 32 KiB, and the handshake), and the client's
/// acknowledgements are received.
#[tokio::test]
async fn a_sessions_bytes_count_in_the_tasks_egress_as_ssmmessages() {
    const OUTPUT: u64 = 1024 * 1024;
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let arn = exec_task(&emu, "exec-egress", true).await;
    let task_id = arn.rsplit('/').next().unwrap().to_string();
    let out = exec(
        &emu,
        &task_id,
        &format!("sh -c 'stty -opost; head -c {OUTPUT} /dev/zero'"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout.len() as u64, OUTPUT);

    let (status, body) = http_get(
        &emu.addr(),
        &format!("/_fargate-local/egress?task={task_id}"),
    )
    .expect("GET /_fargate-local/egress");
    assert_eq!(status, 200, "{body}");
    let r: serde_json::Value = serde_json::from_str(&body).unwrap();
    let row = &r["tasks"][0];
    let ssm = &row["aws"]["ssmmessages"];
    let sent = ssm["sent"].as_u64().unwrap_or(0);
    let received = ssm["received"].as_u64().unwrap_or(0);
    assert!(
        (OUTPUT..=OUTPUT + OUTPUT / 10 + 16 * 1024).contains(&sent),
        "ssmmessages sent {sent} for {OUTPUT} bytes of output: {row:#}"
    );
    assert!(received > 0, "the client's acknowledgements: {row:#}");
    emu.stop_task(CLUSTER, &arn, "done").await;
}

#[tokio::test]
async fn the_sdk_session_is_single_use_and_the_errors_are_awss() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let (on, off) = tokio::join!(
        exec_task(&emu, "exec-sdk", true),
        exec_task(&emu, "exec-off", false)
    );

    let out = emu
        .client()
        .execute_command()
        .cluster(CLUSTER)
        .task(&on)
        .container("web")
        .command("sh -c 'echo from the sdk'")
        .interactive(true)
        .send()
        .await
        .expect("ExecuteCommand");
    assert_eq!(out.task_arn(), Some(on.as_str()));
    assert_eq!(out.container_name(), Some("web"));
    assert!(out.interactive());
    let s = out.session().expect("a session");
    let session_id = s.session_id().unwrap();
    assert!(session_id.starts_with("ecs-execute-command-"));
    let url = s.stream_url().unwrap();
    assert_eq!(
        url,
        format!(
            "ws://{}/v1/data-channel/{session_id}?role=publish_subscribe",
            emu.addr()
        )
    );
    let json = serde_json::json!({
        "sessionId": session_id, "streamUrl": url, "tokenValue": s.token_value().unwrap(),
    })
    .to_string();
    let join = |json: &str| {
        Command::new(emulator_bin())
            .args(["exec", "--task", &on, "--session", json])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let first = join(&json);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert_eq!(text(&first.stdout), "from the sdk\r\n");
    // The token opened its session once; it opens nothing again.
    let again = join(&json);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("does not exist or has ended")
            || text(&again.stderr).contains("already used"),
        "{}",
        text(&again.stderr)
    );
    assert!(again.stdout.is_empty());

    // Errors, through the SDK and through the client.
    let not_enabled = "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn\u{2019}t running. Wait and try again or run a new task with execute command enabled and try again.";
    let err = |r: Result<
        _,
        aws_sdk_ecs::error::SdkError<aws_sdk_ecs::operation::execute_command::ExecuteCommandError>,
    >| {
        let e = r
            .expect_err("ExecuteCommand must fail")
            .into_service_error();
        (
            e.meta().code().unwrap_or_default().to_string(),
            e.meta().message().unwrap_or_default().to_string(),
        )
    };
    let base = || {
        emu.client()
            .execute_command()
            .cluster(CLUSTER)
            .command("/bin/sh")
            .interactive(true)
    };
    assert_eq!(
        err(base().task(&off).send().await),
        ("InvalidParameterException".into(), not_enabled.into())
    );
    assert_eq!(
        err(base().task(&on).interactive(false).send().await),
        (
            "InvalidParameterException".into(),
            "Interactive is the only mode supported currently.".into()
        )
    );
    assert_eq!(
        err(base().task("0123456789abcdef0123456789abcdef").send().await),
        (
            "InvalidParameterException".into(),
            "The referenced task was not found.".into()
        )
    );
    assert_eq!(
        err(base().task(&on).container("db").send().await).0,
        "InvalidParameterException"
    );
    assert_eq!(
        err(base().task(&on).cluster("nowhere").send().await),
        (
            "ClusterNotFoundException".into(),
            "Cluster not found.".into()
        )
    );
    let out = exec(&emu, &off, "/bin/sh");
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "An error occurred (InvalidParameterException) when calling the ExecuteCommand operation: {not_enabled}"
        )
    );

    // The SSM calls the plugin makes to its endpoint.
    let (status, body) = emu_ssm(&emu, "TerminateSession", session_id);
    assert_eq!(
        (status, body["SessionId"].as_str()),
        (200, Some(session_id))
    );
    let (status, body) = emu_ssm(&emu, "ResumeSession", session_id);
    assert_eq!(
        (status, body["SessionId"].as_str()),
        (200, Some(session_id))
    );
    assert!(
        body.get("TokenValue").is_none(),
        "resuming is not supported: {body}"
    );

    // A stopped task's agent is not running.
    emu.stop_task(CLUSTER, &on, "done").await;
    emu.stop_task(CLUSTER, &off, "done").await;
    assert_eq!(
        err(base().task(&on).send().await),
        ("InvalidParameterException".into(), not_enabled.into())
    );
}

fn emu_ssm(emu: &Emulator, op: &str, session_id: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "SessionId": session_id }).to_string();
    let target = format!("AmazonSSM.{op}");
    let (status, text) = sdk_tests::http(
        &emu.addr(),
        "POST",
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body.as_bytes(),
    )
    .unwrap();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// Reads a pty's output on a thread, so that waiting can time out.
struct Screen {
    rx: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Screen {
    fn new(mut reader: Box<dyn Read + Send>) -> Screen {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Screen {
            rx,
            seen: String::new(),
        }
    }

    /// Waits until the output since the last match contains `want`.
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(i) = self.seen.find(want) {
                self.seen.drain(..i + want.len());
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.seen.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => panic!(
                    "{want:?} never appeared; the terminal shows {:?}",
                    self.seen
                ),
            }
        }
    }
}

#[tokio::test]
async fn an_interactive_shell_in_a_pseudo_terminal() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let arn = exec_task(&emu, "exec-pty", true).await;

    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(emulator_bin());
    for a in [
        "exec",
        "--endpoint-url",
        &emu.endpoint(),
        "--cluster",
        CLUSTER,
        "--task",
        &arn,
        "--container",
        "web",
    ] {
        cmd.arg(a);
    }
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut screen = Screen::new(pty.master.try_clone_reader().unwrap());
    let mut keys = pty.master.take_writer().unwrap();
    let mut typed = |s: &str| {
        keys.write_all(s.as_bytes()).unwrap();
        keys.flush().unwrap();
    };

    screen.expect("Starting session with SessionId: ecs-execute-command-");
    screen.expect("# ");
    // The remote terminal echoes and computes.
    typed("echo $((6 * 7))\r");
    screen.expect("echo $((6 * 7))");
    screen.expect("42\r\n");
    typed("stty size\r");
    screen.expect("24 80\r\n");
    // A resize reaches the remote TTY.
    pty.master
        .resize(PtySize {
            rows: 33,
            cols: 101,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        typed("stty size\r");
        screen.expect("stty size\r\n");
        // The answer may have come in the same read as the echo: look at
        // what was already read before waiting for more.
        let line = loop {
            if let Some(i) = screen.seen.find("\r\n") {
                let line = screen.seen[..i + 2].to_string();
                screen.seen.drain(..i + 2);
                break line;
            }
            match screen.rx.recv_timeout(Duration::from_secs(5)) {
                Ok(b) => screen.seen.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => panic!("no answer to stty size: {:?}", screen.seen),
            }
        };
        if line == "33 101\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the size stayed {line:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    typed("exit 5\r");
    screen.expect("Exiting session with sessionId:");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the client did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.exit_code(), 5);
    emu.stop_task(CLUSTER, &arn, "done").await;
}

/// Processes of the container whose command line contains `what`.
fn processes(docker_id: &str, what: &str) -> Vec<String> {
    docker(&["exec", docker_id, "ps", "-o", "pid,args"])
        .lines()
        .filter(|l| l.contains(what) && !l.contains("ps -o"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_stopped_task_closes_its_sessions_and_a_dropped_client_leaves_no_process() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let arn = exec_task(&emu, "exec-stop", true).await;
    let docker_id = task_container(&arn, "web");

    // A client killed outright: its process goes too, even one that
    // ignores the hangup.
    let mut client = exec_cmd(&emu, &arn, "sh -c 'trap \"\" HUP; sleep 1001'")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes(&docker_id, "sleep 1001").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the session's process never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    client.kill().unwrap();
    client.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes(&docker_id, "sleep 1001").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the process outlived its dropped session: {:?}",
            processes(&docker_id, "sleep")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A session open when its task stops is closed with the reason.
    let client = exec_cmd(&emu, &arn, "sleep 1002")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes(&docker_id, "sleep 1002").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the session's process never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    emu.stop_task(CLUSTER, &arn, "maintenance").await;
    let out = client.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains(": The task was stopped (maintenance)."),
        "{}",
        text(&out.stderr)
    );
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
}
