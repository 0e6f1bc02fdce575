//! Cloud Map through the real AWS CLI (`aws servicediscovery`) against a
//! running emulator: a private DNS namespace created asynchronously and
//! followed with get-operation, a service, instances registered and
//! listed, AWS's errors, and everything deleted again; then the same state
//! after a restart of a durable emulator.
//!
//! DiscoverInstances is left to the conformance suite: the CLI sends it to
//! `data-<endpoint host>` (the model's host prefix), which an IP endpoint
//! cannot be.

use std::process::Command;

use sdk_tests::Emulator;
use serde_json::Value;

/// Runs `aws servicediscovery <args>` against the emulator; the JSON answer,
/// or the CLI's stderr as the error.
fn aws(emu: &Emulator, args: &[&str]) -> Result<Value, String> {
    let out = Command::new("aws")
        .args(["servicediscovery", "--endpoint-url", &emu.endpoint()])
        .args(["--region", "us-east-1", "--output", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the AWS CLI (aws) is in PATH");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

fn ok(emu: &Emulator, args: &[&str]) -> Value {
    aws(emu, args).unwrap_or_else(|e| panic!("aws servicediscovery {args:?}: {e}"))
}

#[tokio::test]
async fn the_cli_manages_namespaces_services_and_instances_durably() {
    let dir = tempfile::tempdir().unwrap();
    let mut emu = Emulator::start_durable(dir.path());
    let op = ok(
        &emu,
        &[
            "create-private-dns-namespace",
            "--name",
            "corp.local",
            "--vpc",
            "vpc-1",
        ],
    );
    let op = ok(
        &emu,
        &[
            "get-operation",
            "--operation-id",
            op["OperationId"].as_str().unwrap(),
        ],
    );
    assert_eq!(op["Operation"]["Status"], "SUCCESS");
    let ns = op["Operation"]["Targets"]["NAMESPACE"]
        .as_str()
        .unwrap()
        .to_string();
    let err = aws(
        &emu,
        &[
            "create-private-dns-namespace",
            "--name",
            "corp.local",
            "--vpc",
            "vpc-1",
        ],
    )
    .unwrap_err();
    assert!(err.contains("NamespaceAlreadyExists"), "{err}");

    let svc = ok(
        &emu,
        &[
            "create-service",
            "--name",
            "backend",
            "--namespace-id",
            &ns,
            "--dns-config",
            "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10}]",
            "--health-check-custom-config",
            "FailureThreshold=1",
        ],
    );
    let sid = svc["Service"]["Id"].as_str().unwrap().to_string();
    ok(
        &emu,
        &[
            "register-instance",
            "--service-id",
            &sid,
            "--instance-id",
            "task-1",
            "--attributes",
            "AWS_INSTANCE_IPV4=10.0.0.7,ECS_SERVICE_NAME=web",
        ],
    );
    let err = aws(&emu, &["delete-namespace", "--id", &ns]).unwrap_err();
    assert!(err.contains("ResourceInUse"), "{err}");

    // Durable: the same state after a restart.
    emu.interrupt();
    emu.restart();
    let list = ok(&emu, &["list-instances", "--service-id", &sid]);
    assert_eq!(list["Instances"][0]["Id"], "task-1");
    assert_eq!(
        list["Instances"][0]["Attributes"]["AWS_INSTANCE_IPV4"],
        "10.0.0.7"
    );
    let health = ok(&emu, &["get-instances-health-status", "--service-id", &sid]);
    assert_eq!(health["Status"]["task-1"], "HEALTHY");

    ok(
        &emu,
        &[
            "deregister-instance",
            "--service-id",
            &sid,
            "--instance-id",
            "task-1",
        ],
    );
    ok(&emu, &["delete-service", "--id", &sid]);
    ok(&emu, &["delete-namespace", "--id", &ns]);
    let err = aws(&emu, &["get-namespace", "--id", &ns]).unwrap_err();
    assert!(err.contains("NamespaceNotFound"), "{err}");
    emu.stop();
}
