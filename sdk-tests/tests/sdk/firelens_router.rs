//! The FireLens router stand-in (`fargate-local firelens`) as a process,
//! without containers: Forward messages sent over TCP and a unix socket
//! (with and without `chunk` acks) land in a real emulator's CloudWatch
//! Logs and S3, garbage on the port does not kill it, SIGTERM flushes and
//! exits 0, and a malformed config exits 1 with a Fluent Bit-style error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sdk_tests::{Emulator, emulator_bin};

// ------------------------------------------------------------------ msgpack

fn str8(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if b.len() < 32 {
        out.push(0xa0 | b.len() as u8);
    } else {
        out.push(0xda);
        out.extend((b.len() as u16).to_be_bytes());
    }
    out.extend(b);
}

/// A Message-mode array as Docker's fluentd driver writes it (EventTime,
/// string map), with an optional `chunk` option.
fn message(tag: &str, pairs: &[(&str, &str)], chunk: Option<&str>) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let mut out = vec![0x94];
    str8(&mut out, tag);
    out.extend([0xd7, 0x00]);
    out.extend((now.as_secs() as u32).to_be_bytes());
    out.extend(now.subsec_nanos().to_be_bytes());
    out.push(0x80 | pairs.len() as u8);
    for (k, v) in pairs {
        str8(&mut out, k);
        str8(&mut out, v);
    }
    match chunk {
        Some(c) => {
            out.push(0x81);
            str8(&mut out, "chunk");
            str8(&mut out, c);
        }
        None => out.push(0x80),
    }
    out
}

// ------------------------------------------------------------------ router process

struct Router {
    child: Child,
}

impl Router {
    fn start(config: &Path) -> Router {
        let child = Command::new(emulator_bin())
            .args(["firelens", "-c"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fargate-local firelens");
        Router { child }
    }

    fn terminate(&mut self) -> (i32, String) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (st.code().unwrap_or(-1), err);
            }
            assert!(
                Instant::now() < deadline,
                "the router did not exit within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn connect_tcp(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the router's forward port {port} never opened: {e}"),
        }
    }
}

async fn messages(emu: &Emulator, group: &str, stream: &str) -> Vec<String> {
    match emu
        .logs_client()
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .start_from_head(true)
        .send()
        .await
    {
        Ok(r) => r
            .events()
            .iter()
            .filter_map(|e| e.message().map(str::to_string))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_messages_reach_cloudwatch_logs_and_s3() {
    let emu = Emulator::start();
    emu.s3()
        .create_bucket()
        .bucket("router-logs")
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("fluent.sock");
    let port = free_port();
    let config = dir.path().join("fluent-bit.conf");
    std::fs::write(
        dir.path().join("extra.conf"),
        "[FILTER]\n    Name grep\n    Match *\n    Exclude log ^drop-me\n\n\
         [OUTPUT]\n    Name cloudwatch_logs\n    Match web-firelens*\n    region us-east-1\n    log_group_name /ecs/router-test\n    log_stream_prefix web/\n    auto_create_group true\n    log_retention_days 7\n    endpoint ${EMU_ADDR}\n\n\
         [OUTPUT]\n    Name cloudwatch_logs\n    Match web-firelens*\n    region us-east-1\n    log_group_name /ecs/router-raw\n    log_stream_name raw\n    log_key log\n    auto_create_group true\n    endpoint ${EMU_ADDR}\n\n\
         [OUTPUT]\n    Name s3\n    Match *\n    region us-east-1\n    bucket router-logs\n    s3_key_format /logs/$TAG/$INDEX.json\n    upload_timeout 10m\n    endpoint ${EMU_ADDR}\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "@SET EMU_ADDR={}\n\
             [SERVICE]\n    Flush 0.2\n    Grace 5\n\n\
             [INPUT]\n    Name forward\n    Mem_Buf_Limit 25MB\n    unix_path {}\n\n\
             [INPUT]\n    Name forward\n    Listen 127.0.0.1\n    Port {port}\n\n\
             [FILTER]\n    Name record_modifier\n    Match *\n    Record ecs_cluster dev\n\n\
             @INCLUDE extra.conf\n",
            emu.endpoint(),
            sock.display()
        ),
    )
    .unwrap();
    let mut router = Router::start(&config);
    let tag = "web-firelens-0123456789abcdef0123456789abcdef";

    // TCP, no ack requested (as Docker sends it); garbage first on another
    // connection must not matter.
    let mut garbage = connect_tcp(port);
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        garbage.read(&mut buf).unwrap_or(0),
        0,
        "the router closes a connection that sends garbage"
    );
    let mut tcp = connect_tcp(port);
    for i in 0..3 {
        tcp.write_all(&message(
            tag,
            &[("source", "stdout"), ("log", &format!("tcp line {i}"))],
            None,
        ))
        .unwrap();
    }
    tcp.write_all(&message(
        tag,
        &[("source", "stdout"), ("log", "drop-me please")],
        None,
    ))
    .unwrap();
    drop(tcp);

    // Unix socket with an ack requested.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "the unix socket never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Events are ordered by timestamp, in milliseconds; lines of the same
    // millisecond from two connections come in the order the router took
    // them, which is not the order they were sent in.
    std::thread::sleep(Duration::from_millis(5));
    let mut unix = UnixStream::connect(&sock).unwrap();
    unix.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    unix.write_all(&message(
        tag,
        &[("source", "stderr"), ("log", "unix line")],
        Some("Y2h1bmsx"),
    ))
    .unwrap();
    let mut ack = [0u8; 64];
    let n = unix.read(&mut ack).unwrap();
    let mut want = vec![0x81];
    str8(&mut want, "ack");
    str8(&mut want, "Y2h1bmsx");
    assert_eq!(&ack[..n], &want[..], "ack for the chunk");
    drop(unix);

    // Everything reaches CloudWatch Logs, as JSON records and as raw lines.
    let stream = format!("web/{tag}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let got = messages(&emu, "/ecs/router-test", &stream).await;
        if got.len() >= 4 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        got,
        vec![
            r#"{"source":"stdout","log":"tcp line 0","ecs_cluster":"dev"}"#,
            r#"{"source":"stdout","log":"tcp line 1","ecs_cluster":"dev"}"#,
            r#"{"source":"stdout","log":"tcp line 2","ecs_cluster":"dev"}"#,
            r#"{"source":"stderr","log":"unix line","ecs_cluster":"dev"}"#,
        ]
    );
    assert_eq!(
        messages(&emu, "/ecs/router-raw", "raw").await,
        vec!["tcp line 0", "tcp line 1", "tcp line 2", "unix line"]
    );
    let groups = emu
        .logs_client()
        .describe_log_groups()
        .log_group_name_prefix("/ecs/router-test")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(7));

    // S3 buffers (upload_timeout 10m) until SIGTERM, then uploads.
    let listed = emu
        .s3()
        .list_objects_v2()
        .bucket("router-logs")
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.key_count(),
        Some(0),
        "nothing uploaded before the timeout"
    );
    let (code, stderr) = router.terminate();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("[ warn] [input:forward:forward.1]"),
        "garbage is logged: {stderr}"
    );
    assert!(!sock.exists(), "the unix socket is removed at exit");
    let obj = emu
        .s3()
        .get_object()
        .bucket("router-logs")
        .key(format!("logs/{tag}/0.json"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the s3 output uploaded at shutdown: {e:?}\n{stderr}"));
    let body = String::from_utf8(obj.body.collect().await.unwrap().to_vec()).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 4, "{body}");
    assert!(
        lines[3].starts_with(r#"{"date":""#)
            && lines[3].ends_with(r#""source":"stderr","log":"unix line","ecs_cluster":"dev"}"#),
        "{body}"
    );
}

#[test]
fn malformed_config_exits_1_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        (
            "[INPUT]\n    Name forward\n    Port 0\n[FILTER]\n    Name grep\n    Match *\n    Regex log (unclosed\n",
            "[error] [filter:grep:grep.0] invalid regex '(unclosed'",
        ),
        (
            "[INPUT]\n    Name forward\nPort 24224\n",
            "[error] [config] error in",
        ),
        (
            "[INPUT]\n    Name forward\n[OUTPUT]\n    Name cloudwatch_logs\n    Match *\n    log_group_name g\n    log_stream_name s\n",
            "[error] [output:cloudwatch_logs:cloudwatch_logs.0] 'region' is a required field",
        ),
        (
            "@INCLUDE /nonexistent/x.conf\n",
            "cannot include /nonexistent/x.conf",
        ),
        // Panicked (exit 101) in Duration::from_secs_f64.
        (
            "[SERVICE]\n    Flush 99999999999999999999\n[INPUT]\n    Name forward\n    Port 0\n",
            "[error] [service] invalid Flush '99999999999999999999'",
        ),
        // Panicked at the first upload (chrono cannot render %Q).
        (
            "[INPUT]\n    Name forward\n    Port 0\n[OUTPUT]\n    Name s3\n    Match *\n    bucket b\n    s3_key_format /logs/%Q\n",
            "[error] [output:s3:s3.0] invalid s3_key_format '/logs/%Q'",
        ),
    ] {
        let config = dir.path().join("bad.conf");
        std::fs::write(&config, text).unwrap();
        let start = Instant::now();
        let out = Command::new(emulator_bin())
            .args(["firelens", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        assert!(stderr.contains(want), "{text}: {stderr}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    let out = Command::new(emulator_bin())
        .args(["firelens", "-c", "/nonexistent.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("[error] [config] could not open configuration file /nonexistent.conf")
    );
}
