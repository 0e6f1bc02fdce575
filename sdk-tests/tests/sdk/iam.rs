//! IAM and STS through the real AWS CLI (`aws iam ...`, `aws sts ...`)
//! against the emulator's one port: roles with trust policies, inline and
//! managed policies (AWS's own included), versions, tags, AWS's errors and
//! statuses, policy documents percent-encoded on the wire as IAM sends
//! them, the host's caller as the account's root, and state that survives
//! a `kill -9` of a durable emulator.

use std::process::Command;

use std::time::Duration;

use sdk_tests::{Emulator, UNTIL_TERM, sh, task_container};
use serde_json::Value;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const S3_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::env-files/*"}]}"#;
const EXEC_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

/// Runs the AWS CLI against the emulator with the host's credentials:
/// stdout as JSON on success, else the error text (stderr).
fn aws(emu: &Emulator, args: &[&str]) -> Result<Value, String> {
    aws_as(emu, ("AKIDTEST", "secret", None), args)
}

/// The same with other credentials (key, secret, session token).
fn aws_as(
    emu: &Emulator,
    creds: (&str, &str, Option<&str>),
    args: &[&str],
) -> Result<Value, String> {
    let mut cmd = Command::new("aws");
    if let Some(token) = creds.2 {
        cmd.env("AWS_SESSION_TOKEN", token);
    } else {
        cmd.env_remove("AWS_SESSION_TOKEN");
    }
    let out = cmd
        .args([
            "--endpoint-url",
            &emu.endpoint(),
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", creds.0)
        .env("AWS_SECRET_ACCESS_KEY", creds.1)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the AWS CLI runs (it must be in PATH)");
    if out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        })
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn ok(emu: &Emulator, args: &[&str]) -> Value {
    aws(emu, args).unwrap_or_else(|e| panic!("aws {args:?}: {e}\n{}", emu.log_tail(30)))
}

fn err(emu: &Emulator, args: &[&str]) -> String {
    match aws(emu, args) {
        Ok(v) => panic!("aws {args:?} succeeded: {v}"),
        Err(e) => e,
    }
}

/// A raw awsQuery call: status and body.
fn raw(emu: &Emulator, body: &str) -> (u16, String) {
    sdk_tests::http(
        &emu.addr(),
        "POST",
        "/",
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body.as_bytes(),
    )
    .unwrap()
}

#[tokio::test]
async fn iam_roles_policies_and_errors_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut emu = Emulator::start_durable(dir.path());

    let created = ok(
        &emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            "ecsTaskExecutionRole",
            "--assume-role-policy-document",
            TRUST,
            "--tags",
            "Key=team,Value=web",
        ],
    );
    let role = &created["Role"];
    assert_eq!(
        role["Arn"],
        "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
    );
    assert!(
        role["RoleId"].as_str().unwrap().starts_with("AROA"),
        "{role}"
    );
    // The CLI decodes the percent-encoded document back into JSON.
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "ecs-tasks.amazonaws.com"
    );
    let e = err(
        &emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            "ecstaskexecutionrole",
            "--assume-role-policy-document",
            TRUST,
        ],
    );
    assert!(
        e.contains("(EntityAlreadyExists) when calling the CreateRole operation: Role with name ecsTaskExecutionRole already exists."),
        "{e}"
    );
    let e = err(&emu, &["iam", "get-role", "--role-name", "nope"]);
    assert!(
        e.contains("(NoSuchEntity) when calling the GetRole operation: The role with name nope cannot be found."),
        "{e}"
    );
    let e = err(
        &emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            "bad",
            "--assume-role-policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
        ],
    );
    assert!(e.contains("(MalformedPolicyDocument)"), "{e}");
    assert!(e.contains("has a statement with no principals!"), "{e}");

    ok(
        &emu,
        &[
            "iam",
            "attach-role-policy",
            "--role-name",
            "ecsTaskExecutionRole",
            "--policy-arn",
            EXEC_POLICY,
        ],
    );
    ok(
        &emu,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "ecsTaskExecutionRole",
            "--policy-name",
            "env-files",
            "--policy-document",
            S3_READ,
        ],
    );
    let e = err(
        &emu,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "ecsTaskExecutionRole",
            "--policy-name",
            "broken",
            "--policy-document",
            "{\"Version\":",
        ],
    );
    assert!(
        e.contains("(MalformedPolicyDocument)") && e.contains("This policy contains invalid Json"),
        "{e}"
    );
    let inline = ok(
        &emu,
        &[
            "iam",
            "get-role-policy",
            "--role-name",
            "ecsTaskExecutionRole",
            "--policy-name",
            "env-files",
        ],
    );
    assert_eq!(
        inline["PolicyDocument"]["Statement"][0]["Action"],
        "s3:GetObject"
    );
    let names = ok(
        &emu,
        &[
            "iam",
            "list-role-policies",
            "--role-name",
            "ecsTaskExecutionRole",
        ],
    );
    assert_eq!(names["PolicyNames"], serde_json::json!(["env-files"]));
    let attached = ok(
        &emu,
        &[
            "iam",
            "list-attached-role-policies",
            "--role-name",
            "ecsTaskExecutionRole",
        ],
    );
    assert_eq!(attached["AttachedPolicies"][0]["PolicyArn"], EXEC_POLICY);

    // The managed policy's real document.
    let exec = ok(
        &emu,
        &[
            "iam",
            "get-policy-version",
            "--policy-arn",
            EXEC_POLICY,
            "--version-id",
            "v1",
        ],
    );
    let actions = exec["PolicyVersion"]["Document"]["Statement"][0]["Action"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(actions, 6, "{exec}");

    let e = err(
        &emu,
        &["iam", "delete-role", "--role-name", "ecsTaskExecutionRole"],
    );
    assert!(
        e.contains("(DeleteConflict) when calling the DeleteRole operation: Cannot delete entity, must detach all policies first."),
        "{e}"
    );

    // Customer managed policies with versions.
    let p = ok(
        &emu,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "app",
            "--policy-document",
            S3_READ,
            "--description",
            "d",
        ],
    );
    let arn = p["Policy"]["Arn"].as_str().unwrap().to_string();
    assert_eq!(arn, "arn:aws:iam::000000000000:policy/app");
    assert_eq!(p["Policy"]["DefaultVersionId"], "v1");
    let v2 = ok(
        &emu,
        &[
            "iam",
            "create-policy-version",
            "--policy-arn",
            &arn,
            "--policy-document",
            S3_READ,
            "--set-as-default",
        ],
    );
    assert_eq!(v2["PolicyVersion"]["VersionId"], "v2");
    assert_eq!(v2["PolicyVersion"]["IsDefaultVersion"], true);
    let e = err(&emu, &["iam", "delete-policy", "--policy-arn", &arn]);
    assert!(e.contains("(DeleteConflict)"), "{e}");
    ok(
        &emu,
        &[
            "iam",
            "delete-policy-version",
            "--policy-arn",
            &arn,
            "--version-id",
            "v1",
        ],
    );
    let local = ok(&emu, &["iam", "list-policies", "--scope", "Local"]);
    assert_eq!(local["Policies"].as_array().unwrap().len(), 1, "{local}");
    let aws_managed = ok(&emu, &["iam", "list-policies", "--scope", "AWS"]);
    assert!(aws_managed["Policies"].as_array().unwrap().len() >= 8);

    ok(
        &emu,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "ecsTaskExecutionRole",
            "--tags",
            "Key=env,Value=dev",
        ],
    );
    ok(
        &emu,
        &[
            "iam",
            "untag-role",
            "--role-name",
            "ecsTaskExecutionRole",
            "--tag-keys",
            "team",
        ],
    );
    let tags = ok(
        &emu,
        &[
            "iam",
            "list-role-tags",
            "--role-name",
            "ecsTaskExecutionRole",
        ],
    );
    assert_eq!(
        tags["Tags"],
        serde_json::json!([{"Key": "env", "Value": "dev"}])
    );

    // On the wire: documents percent-encoded (RFC 3986), errors with
    // IAM's statuses.
    let (status, body) = raw(
        &emu,
        "Action=GetRolePolicy&Version=2010-05-08&RoleName=ecsTaskExecutionRole&PolicyName=env-files",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<PolicyDocument>%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Aenv-files%2F%2A%22%7D%5D%7D</PolicyDocument>"),
        "{body}"
    );
    let (status, body) = raw(&emu, "Action=GetRole&Version=2010-05-08&RoleName=nope");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("<Type>Sender</Type><Code>NoSuchEntity</Code>"),
        "{body}"
    );

    // The host's caller is the account's root.
    let me = ok(&emu, &["sts", "get-caller-identity"]);
    assert_eq!(
        me,
        serde_json::json!({"UserId": "000000000000", "Account": "000000000000", "Arn": "arn:aws:iam::000000000000:root"})
    );

    // Durable: everything is there after a kill -9.
    emu.kill9();
    emu.restart();
    let role = ok(
        &emu,
        &["iam", "get-role", "--role-name", "ecsTaskExecutionRole"],
    );
    assert_eq!(
        role["Role"]["Tags"],
        serde_json::json!([{"Key": "env", "Value": "dev"}])
    );
    let attached = ok(
        &emu,
        &[
            "iam",
            "list-attached-role-policies",
            "--role-name",
            "ecsTaskExecutionRole",
        ],
    );
    assert_eq!(attached["AttachedPolicies"][0]["PolicyArn"], EXEC_POLICY);
    let p = ok(&emu, &["iam", "get-policy", "--policy-arn", &arn]);
    assert_eq!(p["Policy"]["DefaultVersionId"], "v2");
    assert_eq!(p["Policy"]["AttachmentCount"], 0);

    // Clean up in the order IAM demands.
    ok(
        &emu,
        &[
            "iam",
            "detach-role-policy",
            "--role-name",
            "ecsTaskExecutionRole",
            "--policy-arn",
            EXEC_POLICY,
        ],
    );
    let e = err(
        &emu,
        &["iam", "delete-role", "--role-name", "ecsTaskExecutionRole"],
    );
    assert!(
        e.contains("Cannot delete entity, must delete policies first."),
        "{e}"
    );
    ok(
        &emu,
        &[
            "iam",
            "delete-role-policy",
            "--role-name",
            "ecsTaskExecutionRole",
            "--policy-name",
            "env-files",
        ],
    );
    ok(
        &emu,
        &["iam", "delete-role", "--role-name", "ecsTaskExecutionRole"],
    );
    ok(&emu, &["iam", "delete-policy", "--policy-arn", &arn]);
    let roles = ok(&emu, &["iam", "list-roles"]);
    assert_eq!(roles["Roles"], serde_json::json!([]));
    emu.stop();
}

/// The task role's credentials, fetched inside the task as an SDK would.
fn task_credentials(task_arn: &str) -> Value {
    let id = task_container(task_arn, "app");
    let mut last = String::new();
    for _ in 0..20 {
        let out = Command::new("docker")
            .args([
                "exec",
                &id,
                "sh",
                "-c",
                "wget -q -O - http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            ])
            .output()
            .expect("docker exec");
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).unwrap();
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("no credentials from inside the task: {last}");
}

#[tokio::test]
async fn sts_caller_identity_of_a_task_and_assume_role_by_trust() {
    let emu = Emulator::start();
    let trust_account = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
    let app = ok(
        &emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            "app-role",
            "--assume-role-policy-document",
            TRUST,
        ],
    );
    let role_id = app["Role"]["RoleId"].as_str().unwrap().to_string();
    ok(
        &emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            "deployer",
            "--assume-role-policy-document",
            trust_account,
        ],
    );

    // A task's credentials are its role's session, named after the task.
    emu.create_cluster("iam").await;
    let td = emu
        .register_with("whoami", vec![sh("app", UNTIL_TERM).build()], |b| {
            b.task_role_arn("arn:aws:iam::000000000000:role/app-role")
        })
        .await;
    let task = emu.run_task("iam", &td).await;
    let task_arn = task.task_arn().unwrap().to_string();
    emu.wait_status("iam", &task_arn, "RUNNING", Duration::from_secs(30))
        .await;
    let task_id = task_arn.rsplit('/').next().unwrap();
    let creds = task_credentials(&task_arn);
    let key = creds["AccessKeyId"].as_str().unwrap();
    let secret = creds["SecretAccessKey"].as_str().unwrap();
    let token = creds["Token"].as_str().unwrap();
    let me = aws_as(
        &emu,
        (key, secret, Some(token)),
        &["sts", "get-caller-identity"],
    )
    .unwrap();
    assert_eq!(
        me,
        serde_json::json!({
            "UserId": format!("{role_id}:{task_id}"),
            "Account": "000000000000",
            "Arn": format!("arn:aws:sts::000000000000:assumed-role/app-role/{task_id}"),
        })
    );

    // AssumeRole honours the trust policy: the root may assume a role that
    // trusts the account, not one that trusts only ECS tasks.
    let e = err(
        &emu,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::000000000000:role/app-role",
            "--role-session-name",
            "me",
        ],
    );
    assert!(
        e.contains("(AccessDenied) when calling the AssumeRole operation: User: arn:aws:iam::000000000000:root is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/app-role"),
        "{e}"
    );
    let assumed = ok(
        &emu,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::000000000000:role/deployer",
            "--role-session-name",
            "me",
        ],
    );
    assert_eq!(
        assumed["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::000000000000:assumed-role/deployer/me"
    );
    let c = &assumed["Credentials"];
    let session = aws_as(
        &emu,
        (
            c["AccessKeyId"].as_str().unwrap(),
            c["SecretAccessKey"].as_str().unwrap(),
            c["SessionToken"].as_str(),
        ),
        &["sts", "get-caller-identity"],
    )
    .unwrap();
    assert_eq!(
        session["Arn"],
        "arn:aws:sts::000000000000:assumed-role/deployer/me"
    );
    // A task's session may not assume its own role, which trusts only ECS
    // tasks (roles do not trust themselves implicitly).
    let e = aws_as(
        &emu,
        (key, secret, Some(token)),
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::000000000000:role/app-role",
            "--role-session-name",
            "x1",
        ],
    )
    .unwrap_err();
    assert!(
        e.contains(&format!("User: arn:aws:sts::000000000000:assumed-role/app-role/{task_id} is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/app-role")),
        "{e}"
    );
    emu.stop_task("iam", &task_arn, "done").await;
    emu.wait_status("iam", &task_arn, "STOPPED", Duration::from_secs(20))
        .await;
    emu.stop();
}

/// The task-probe image: an unmodified AWS SDK for Rust program that
/// describes its own task (ECS), writes `s3://probe-bucket/from-task` and
/// round-trips a message on the queue `work`; its exit code says which
/// failed (1 ECS, 4 S3, 5 SQS, 0 none).
const PROBE_IMAGE: &str = "fargate-local-test/task-probe:latest";
const APP_ROLE: &str = "arn:aws:iam::000000000000:role/app-role";

/// Creates the role, the bucket, the queue and the probe's task definition.
async fn probe_setup(emu: &Emulator) -> String {
    let present = Command::new("docker")
        .args(["image", "inspect", PROBE_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        present,
        "the test image {PROBE_IMAGE} is missing: run `make setup`"
    );
    ok(
        emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            "app-role",
            "--assume-role-policy-document",
            TRUST,
        ],
    );
    emu.s3()
        .create_bucket()
        .bucket("probe-bucket")
        .send()
        .await
        .unwrap();
    emu.sqs()
        .create_queue()
        .queue_name("work")
        .send()
        .await
        .unwrap();
    emu.create_cluster("roles").await;
    let env = |k: &str, v: &str| {
        aws_sdk_ecs::types::KeyValuePair::builder()
            .name(k)
            .value(v)
            .build()
    };
    let probe = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("probe")
        .image(PROBE_IMAGE)
        .essential(false)
        .environment(env("PROBE_BUCKET", "probe-bucket"))
        .environment(env("PROBE_QUEUE", "work"))
        .build();
    emu.register_with("probe", vec![probe, sh("keep", UNTIL_TERM).build()], |b| {
        b.task_role_arn(APP_ROLE)
    })
    .await
}

/// Runs the probe's task until the probe exits: the task ARN and its exit
/// code.
async fn probe_run(emu: &Emulator, td: &str) -> (String, Option<i32>) {
    let arn = emu
        .run_task("roles", td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let t = emu
        .wait_task(
            "roles",
            &arn,
            "the probe to exit",
            Duration::from_secs(60),
            |t| sdk_tests::container(t, "probe").last_status() == Some("STOPPED"),
        )
        .await;
    let code = sdk_tests::container(&t, "probe").exit_code();
    emu.stop_task("roles", &arn, "done").await;
    (arn, code)
}

fn put_policy(emu: &Emulator, name: &str, document: &str) {
    put_role_policy(emu, "app-role", name, document);
}

/// `aws iam put-role-policy`: in effect at once, no restart.
fn put_role_policy(emu: &Emulator, role: &str, name: &str, document: &str) {
    ok(
        emu,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            role,
            "--policy-name",
            name,
            "--policy-document",
            document,
        ],
    );
}

/// The request log's entries that carry an IAM note.
fn iam_notes(emu: &Emulator) -> Vec<Value> {
    let (_, body) = sdk_tests::http_get(&emu.addr(), "/_fargate-local/requests").unwrap();
    let log: Value = serde_json::from_str(&body).unwrap();
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.get("iam").cloned())
        .collect()
}

/// Under `enforce`, an app's ECS, S3 and SQS calls need its task role's
/// permissions, each added with `aws iam put-role-policy` and in effect at
/// once; then `fargate-local iam policy` prints what the task used.
#[tokio::test]
async fn an_apps_calls_need_its_task_roles_permissions_in_enforce() {
    let emu = Emulator::start_with(&["--iam", "enforce"]);
    let td = probe_setup(&emu).await;
    let (arn, code) = probe_run(&emu, &td).await;
    assert_eq!(code, Some(1), "DescribeTasks is denied first");
    let task_id = arn.rsplit('/').next().unwrap().to_string();
    let notes = iam_notes(&emu);
    let describe = notes
        .iter()
        .find(|n| n["action"] == "ecs:DescribeTasks")
        .unwrap_or_else(|| panic!("no note of the denial: {notes:?}"));
    assert_eq!(describe["decision"], "denied");
    assert_eq!(describe["roleKind"], "task");
    assert_eq!(
        describe["message"],
        format!(
            "User: arn:aws:sts::000000000000:assumed-role/app-role/{task_id} is not authorized to perform: ecs:DescribeTasks on resource: {arn} because no identity-based policy allows the ecs:DescribeTasks action"
        )
    );

    put_policy(
        &emu,
        "describe",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:DescribeTasks","Resource":"*"}]}"#,
    );
    let (arn, code) = probe_run(&emu, &td).await;
    assert_eq!(code, Some(4), "then the S3 write");
    let task_id = arn.rsplit('/').next().unwrap();
    assert!(
        iam_notes(&emu).iter().any(|n| n["action"] == "s3:PutObject"
            && n["resource"] == "arn:aws:s3:::probe-bucket/from-task"
            && n["message"].as_str().unwrap().contains(task_id)),
        "{:?}",
        iam_notes(&emu)
    );
    put_policy(
        &emu,
        "write",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::probe-bucket/from-task"}]}"#,
    );
    let (_, code) = probe_run(&emu, &td).await;
    assert_eq!(code, Some(5), "then SQS");
    put_policy(
        &emu,
        "queue",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:GetQueueUrl","sqs:SendMessage","sqs:ReceiveMessage","sqs:DeleteMessage"],"Resource":"arn:aws:sqs:*:000000000000:work"}]}"#,
    );
    let (arn, code) = probe_run(&emu, &td).await;
    assert_eq!(
        code,
        Some(0),
        "all allowed; emulator log:\n{}",
        emu.log_tail(30)
    );
    let object = emu
        .s3()
        .get_object()
        .bucket("probe-bucket")
        .key("from-task")
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(String::from_utf8_lossy(&body), arn);

    // What the last task used, as the task role's policy document.
    let out = Command::new(sdk_tests::emulator_bin())
        .args([
            "iam",
            "policy",
            "--endpoint-url",
            &emu.endpoint(),
            "--task",
            &arn,
            "--role",
            "task",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statements = doc["Statement"].as_array().unwrap();
    let find = |action: &str| {
        statements
            .iter()
            .find(|s| {
                s["Action"] == action
                    || s["Action"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == action))
            })
            .unwrap_or_else(|| panic!("{action} missing from {doc:#}"))
            .clone()
    };
    assert_eq!(find("ecs:DescribeTasks")["Resource"], arn.as_str());
    assert_eq!(
        find("s3:PutObject")["Resource"],
        "arn:aws:s3:::probe-bucket/from-task"
    );
    for action in [
        "sqs:GetQueueUrl",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
    ] {
        assert_eq!(
            find(action)["Resource"],
            "arn:aws:sqs:us-east-1:000000000000:work"
        );
    }
    // The task has no execution role: asking for its policy fails.
    let out = Command::new(sdk_tests::emulator_bin())
        .args([
            "iam",
            "policy",
            "--endpoint-url",
            &emu.endpoint(),
            "--task",
            &arn,
            "--role",
            "execution",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    emu.stop();
}

/// Under `warn` (the default) the same app runs, and the emulator's log
/// names each permission `enforce` would refuse.
#[tokio::test]
async fn warn_runs_the_app_and_names_the_missing_permissions() {
    let emu = Emulator::start();
    let td = probe_setup(&emu).await;
    let (_, code) = probe_run(&emu, &td).await;
    assert_eq!(code, Some(0), "{}", emu.log_tail(30));
    let log = emu.log_tail(5000);
    for want in [
        "would deny this to the task role",
        "ecs:DescribeTasks",
        "s3:PutObject on resource: arn:aws:s3:::probe-bucket/from-task",
        "sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:work",
        r#"the smallest statement that would allow it: {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::probe-bucket/from-task"}"#,
    ] {
        assert!(log.contains(want), "{want} not in the log:\n{log}");
    }
    assert!(
        iam_notes(&emu).iter().all(|n| n["decision"] == "wouldDeny"),
        "{:?}",
        iam_notes(&emu)
    );
    emu.stop();
}

/// Under `enforce`, a real ECR-named image (which runs the local test
/// image, as the README says) needs the execution role's registry token
/// and repository actions: refused with Fargate's text, then run once
/// AWS's execution-role policy is attached, with no restart.
#[tokio::test]
async fn an_ecr_image_needs_the_execution_roles_pull_permissions_in_enforce() {
    let emu = Emulator::start_with(&["--iam", "enforce"]);
    ok(
        &emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            "pull-role",
            "--assume-role-policy-document",
            TRUST,
        ],
    );
    emu.create_cluster("pulls").await;
    let image = format!(
        "000000000000.dkr.ecr.us-east-1.amazonaws.com/{}",
        sdk_tests::TEST_IMAGE
    );
    let td = emu
        .register_with(
            "ecr-pull",
            vec![sh("app", UNTIL_TERM).image(&image).build()],
            |b| b.execution_role_arn("pull-role"),
        )
        .await;
    let (arn, t) = emu
        .run_until("pulls", &td, "STOPPED", Duration::from_secs(30))
        .await;
    let task_id = arn.rsplit('/').next().unwrap().to_string();
    let reason = t.stopped_reason().unwrap_or_default();
    let want = format!(
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role/pull-role/{task_id} is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action status code: 400, request id: "
    );
    assert!(reason.starts_with(&want), "{reason}");
    assert_eq!(
        t.stop_code(),
        Some(&aws_sdk_ecs::types::TaskStopCode::TaskFailedToStart)
    );

    ok(
        &emu,
        &[
            "iam",
            "attach-role-policy",
            "--role-name",
            "pull-role",
            "--policy-arn",
            EXEC_POLICY,
        ],
    );
    let (arn, _) = emu
        .run_until("pulls", &td, "RUNNING", Duration::from_secs(30))
        .await;
    let notes = iam_notes(&emu);
    assert!(
        notes
            .iter()
            .any(|n| n["action"] == "ecr:GetAuthorizationToken" && n["roleKind"] == "execution"),
        "{notes:?}"
    );
    emu.stop_task("pulls", &arn, "done").await;
    emu.stop();
}

/// Under `enforce`, a task secret from an SSM SecureString under a
/// customer KMS key needs the execution role's `kms:Decrypt` on the key as
/// well as `ssm:GetParameters`: refused with the text SSM passes on from
/// KMS, then run once `put-role-policy` allows the key, with no restart.
#[tokio::test]
async fn a_secure_string_secret_under_a_customer_key_needs_kms_decrypt_in_enforce() {
    let emu = Emulator::start_with(&["--iam", "enforce"]);
    ok(
        &emu,
        &[
            "iam",
            "create-role",
            "--role-name",
            "secrets-role",
            "--assume-role-policy-document",
            TRUST,
        ],
    );
    put_role_policy(
        &emu,
        "secrets-role",
        "params",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameters","Resource":"arn:aws:ssm:us-east-1:000000000000:parameter/app/*"}]}"#,
    );
    emu.ssm()
        .put_parameter()
        .name("/app/db-password")
        .value("s3cr3t")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
        .send()
        .await
        .unwrap();
    emu.create_cluster("keys").await;
    let secret = aws_sdk_ecs::types::Secret::builder()
        .name("DB_PASSWORD")
        .value_from("/app/db-password")
        .build()
        .unwrap();
    let td = emu
        .register_with(
            "kms-secret",
            vec![
                sh("app", UNTIL_TERM)
                    .set_secrets(Some(vec![secret]))
                    .build(),
            ],
            |b| b.execution_role_arn("secrets-role"),
        )
        .await;
    let (_, t) = emu
        .run_until("keys", &td, "STOPPED", Duration::from_secs(30))
        .await;
    let reason = t.stopped_reason().unwrap_or_default();
    let want = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: ";
    assert!(reason.starts_with(want), "{reason}");
    assert_eq!(
        t.stop_code(),
        Some(&aws_sdk_ecs::types::TaskStopCode::TaskFailedToStart)
    );
    let notes = iam_notes(&emu);
    assert!(
        notes.iter().any(|n| n["action"] == "kms:Decrypt"
            && n["roleKind"] == "execution"
            && n["resource"]
                == "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        "{notes:?}"
    );

    put_role_policy(
        &emu,
        "secrets-role",
        "key",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}"#,
    );
    let (arn, _) = emu
        .run_until("keys", &td, "RUNNING", Duration::from_secs(30))
        .await;
    emu.stop_task("keys", &arn, "done").await;
    emu.stop();
}
