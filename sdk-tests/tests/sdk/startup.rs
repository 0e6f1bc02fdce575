//! What `serve` says when it cannot start (a taken port, a data directory
//! in use by another instance or not writable), and what its own log looks
//! like off a terminal: plain text without colour codes, or JSON lines.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sdk_tests::*;

/// `serve` with `args`, expected to exit at once: its status and stderr.
fn serve_fails(args: &[&str]) -> String {
    let mut cmd = Command::new(emulator_bin());
    cmd.arg("serve").args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FARGATE_LOCAL_") {
            cmd.env_remove(&k);
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the emulator starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(
                !status.success(),
                "serve {args:?} should have failed: {err}"
            );
            return err;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("serve {args:?} did not exit within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_taken_port_is_named_with_the_flag_to_change_it() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let err = serve_fails(&["--listen", &addr, "--in-memory", "--s3-listen", "off"]);
    assert!(
        err.contains(&addr)
            && err.contains("already in use")
            && err.contains("another fargate-local")
            && err.contains("--listen"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "colour codes off a terminal: {err}"
    );

    // S3's own port too.
    let err = serve_fails(&[
        "--listen",
        "127.0.0.1:0",
        "--in-memory",
        "--s3-listen",
        &addr,
    ]);
    assert!(
        err.contains(&addr) && err.contains("S3") && err.contains("--s3-listen"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_is_used_by_one_emulator_at_a_time() {
    let dir = tempfile::tempdir().expect("a data directory");
    let first = Emulator::start_durable(dir.path());
    let path = dir.path().to_string_lossy().into_owned();
    let err = serve_fails(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &path,
        "--s3-listen",
        "off",
    ]);
    assert!(
        err.contains(&path)
            && err.contains("in use by another fargate-local")
            && err.contains("--data-dir"),
        "{err}"
    );
    // The first one was not disturbed.
    first.create_cluster("still-mine").await;
    first.stop();

    // A directory that cannot be made.
    let err = serve_fails(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        "/proc/fargate-local-cannot",
        "--s3-listen",
        "off",
    ]);
    assert!(
        err.contains("cannot use the data directory /proc/fargate-local-cannot")
            && err.contains("--in-memory"),
        "{err}"
    );
}

/// Runs `serve` with stderr piped (not a terminal) until it is serving,
/// then interrupts it: every log line it wrote.
fn log_lines(extra: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut cmd = Command::new(emulator_bin());
    cmd.args(extra).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--in-memory",
        "--s3-listen",
        "off",
    ]);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("FARGATE_LOCAL_") || k == "NO_COLOR" {
            cmd.env_remove(&k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the emulator starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines
        .iter()
        .any(|l: &String| l.contains("fargate-local is serving"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no 'fargate-local is serving' line within 20 s: {lines:#?}");
            }
        }
    }
    nix_interrupt(child.id());
    let status = child.wait().expect("wait");
    lines.extend(rx.try_iter());
    assert!(status.success(), "serve exited {status}: {lines:#?}");
    lines
}

fn nix_interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -INT {pid}");
}

#[test]
fn the_log_is_plain_text_off_a_terminal_or_json_lines() {
    let text = log_lines(&[], &[]);
    assert!(
        text.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a piped log: {text:#?}"
    );
    assert!(text.iter().any(|l| l.contains("INFO")), "{text:#?}");

    let json = log_lines(&["--log-format", "json"], &[]);
    for line in &json {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(
        json.iter()
            .any(|l| l.contains("\"message\":\"fargate-local is serving\"")),
        "{json:#?}"
    );
    // The environment says the same.
    let json = log_lines(&[], &[("FARGATE_LOCAL_LOG_FORMAT", "json")]);
    assert!(json.iter().all(|l| l.starts_with('{')), "{json:#?}");
}

/// What the start-up log says about where the emulator runs: on the host
/// (this suite runs on the Docker engine's host), nothing of a container,
/// even where the host has a stray `/.dockerenv`; in the image
/// (FARGATE_LOCAL_IMAGE), its own container found, on the host's network,
/// with the run directory at the same path.
#[tokio::test]
async fn the_start_up_log_says_where_it_runs() {
    let emu = Emulator::start();
    let (wanted, refused): (&[&str], &[&str]) = if emulator_image().is_some() {
        (
            &[
                "is on the host's network: tasks' addresses are reachable",
                "is bind-mounted at the same path on the host",
            ],
            &[
                "does not know",
                "not the host's",
                "is not bind-mounted",
                "is mounted from another path",
            ],
        )
    } else {
        (
            &["fargate-local runs on its host, not in a container"],
            &["runs in a container", "is on the host's network"],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = emu.log_tail(500);
        if wanted.iter().all(|w| log.contains(w)) {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "the start-up log never said {wanted:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for r in refused {
        assert!(!log.contains(r), "the start-up log says {r:?}:\n{log}");
    }
    emu.stop();
}
