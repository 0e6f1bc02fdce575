//! `serve --iam enforce` on what the agent does with the execution role
//! before the containers exist: ECR pulls (the registry token, then the
//! repository's image actions), a private registry's
//! `repositoryCredentials` (read from Secrets Manager, with its KMS key,
//! and handed to the pull), an SSM SecureString's customer KMS key, and a
//! log driver's `secretOptions`. Each is
//! refused with Fargate's text, then allowed by a PutRolePolicy with no
//! restart. A task's calls to ELBv2 and IAM with its credentials are
//! judged as its task role.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const ECS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const PREFIX: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: ";
const ECR_IMAGE: &str = "000000000000.dkr.ecr.us-east-1.amazonaws.com/team/web:1";

async fn exec_role(t: &TestApp) {
    let (status, xml) = t
        .iam(
            "CreateRole",
            &[
                ("RoleName", "exec"),
                ("AssumeRolePolicyDocument", ECS_TRUST),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
}

async fn allow(t: &TestApp, name: &str, actions: &[&str], resource: &str) {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resource}]})
    .to_string();
    let (status, xml) = t
        .iam(
            "PutRolePolicy",
            &[
                ("RoleName", "exec"),
                ("PolicyName", name),
                ("PolicyDocument", &doc),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
}

/// An awsJson call signed with the host's credentials (the account root).
async fn host_call(t: &TestApp, target: &str, body: Value) -> Value {
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDHOST/20261207/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=x";
    let (status, text) = t
        .post(
            &[
                ("x-amz-target", target),
                ("content-type", "application/x-amz-json-1.1"),
                ("authorization", auth),
            ],
            body.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{target}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn register(t: &TestApp, container: Value) {
    let mut c = json!({"name": "app", "essential": true});
    for (k, v) in container.as_object().unwrap() {
        c[k] = v.clone();
    }
    t.ecs_ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "executionRoleArn": "exec",
            "containerDefinitions": [c],
        }),
    )
    .await;
}

/// Runs the task; its id and the task once it is RUNNING or STOPPED.
async fn run(t: &TestApp) -> (String, Value) {
    let (status, v) = t
        .ecs(
            "RunTask",
            json!({
                "cluster": "c", "taskDefinition": "web", "launchType": "FARGATE",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
            }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let arn = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let id = arn.rsplit('/').next().unwrap().to_string();
    let start = std::time::Instant::now();
    loop {
        let v = t
            .ecs_ok("DescribeTasks", json!({"cluster": "c", "tasks": [arn]}))
            .await;
        let task = v["tasks"][0].clone();
        if task["lastStatus"] == "RUNNING" || task["lastStatus"] == "STOPPED" {
            return (id, task);
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the task never started or stopped: {task:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stopped_reason(task: &Value) -> &str {
    assert_eq!(task["lastStatus"], "STOPPED", "{task:#}");
    assert_eq!(task["stopCode"], "TaskFailedToStart", "{task:#}");
    task["stoppedReason"].as_str().unwrap()
}

fn who(task_id: &str) -> String {
    format!(
        "User: arn:aws:sts::000000000000:assumed-role/exec/{task_id} is not authorized to perform:"
    )
}

#[tokio::test]
async fn ecr_pulls_need_the_registry_token_and_the_repositorys_image_actions() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    exec_role(&t).await;
    t.create_cluster("c").await;
    register(&t, json!({"image": ECR_IMAGE})).await;
    let pulled = |t: &TestApp| {
        t.fake
            .pulls()
            .iter()
            .filter(|(i, _)| i == ECR_IMAGE)
            .count()
    };

    let (id, task) = run(&t).await;
    let reason = stopped_reason(&task);
    let want = format!(
        "{PREFIX}unable to retrieve ecr registry auth: service call has been retried 1 time(s): AccessDeniedException: {} ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action status code: 400, request id: ",
        who(&id)
    );
    assert!(reason.starts_with(&want), "{reason}");
    assert_eq!(pulled(&t), 0, "nothing is pulled without the token");

    // The token alone: the registry refuses the manifest.
    allow(&t, "token", &["ecr:GetAuthorizationToken"], "*").await;
    let (_, task) = run(&t).await;
    assert_eq!(
        stopped_reason(&task),
        "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 000000000000.dkr.ecr.us-east-1.amazonaws.com/team/web:1: pulling from host 000000000000.dkr.ecr.us-east-1.amazonaws.com failed with status code [manifests 1]: 403 Forbidden"
    );
    assert_eq!(pulled(&t), 0);

    // The image actions on the repository: the task runs.
    allow(
        &t,
        "pull",
        &[
            "ecr:BatchGetImage",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
        ],
        "arn:aws:ecr:us-east-1:000000000000:repository/team/web",
    )
    .await;
    let (id, task) = run(&t).await;
    assert_eq!(task["lastStatus"], "RUNNING", "{task:#}");
    assert_eq!(pulled(&t), 1);

    // The generated execution-role policy has all four.
    let task_arn = task["taskArn"].as_str().unwrap();
    let (status, body) =
        crate::task_role::get(&t, &format!("/_fargate-local/iam/policy?task={task_arn}")).await;
    let body = body.to_string();
    assert_eq!(status, 200, "{body}");
    for want in [
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "repository/team/web",
    ] {
        assert!(body.contains(want), "{want} in {body}");
    }
    assert!(!id.is_empty());
    t.stop().await;
}

#[tokio::test]
async fn repository_credentials_are_read_as_the_execution_role_and_reach_the_pull() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    exec_role(&t).await;
    let secret = host_call(
        &t,
        "secretsmanager.CreateSecret",
        json!({"Name": "registry", "SecretString": r#"{"username":"deploy","password":"hunter2"}"#}),
    )
    .await;
    let secret_arn = secret["ARN"].as_str().unwrap().to_string();
    t.create_cluster("c").await;
    let image = "registry.example.com/team/app:1";
    register(
        &t,
        json!({"image": image, "repositoryCredentials": {"credentialsParameter": secret_arn}}),
    )
    .await;

    let (id, task) = run(&t).await;
    let reason = stopped_reason(&task);
    let want = format!(
        "{PREFIX}asm fetching secret from the service for {secret_arn}: AccessDeniedException: {} secretsmanager:GetSecretValue on resource: {secret_arn} because no identity-based policy allows the secretsmanager:GetSecretValue action status code: 400, request id: ",
        who(&id)
    );
    assert!(reason.starts_with(&want), "{reason}");
    assert!(
        t.fake.pulls().iter().all(|(i, _)| i != image),
        "nothing is pulled without the credentials"
    );

    allow(
        &t,
        "registry",
        &["secretsmanager:GetSecretValue"],
        &secret_arn,
    )
    .await;
    let (_, task) = run(&t).await;
    assert_eq!(task["lastStatus"], "RUNNING", "{task:#}");
    let pulls = t.fake.pulls();
    let (_, auth) = pulls.iter().find(|(i, _)| i == image).unwrap();
    let auth = auth
        .as_ref()
        .expect("the pull has the registry's credentials");
    assert_eq!(
        (
            auth.username.as_str(),
            auth.password.as_str(),
            auth.server_address.as_str()
        ),
        ("deploy", "hunter2", "registry.example.com")
    );
    assert!(
        !format!("{auth:?}").contains("hunter2"),
        "the password is never printed"
    );
    t.stop().await;
}

#[tokio::test]
async fn repository_credentials_failures_stop_the_task_with_the_agents_texts() {
    // `off`: nothing is judged, the secret's content still is.
    let t = spawn_app_with(&["--iam", "off"]).await;
    exec_role(&t).await;
    t.create_cluster("c").await;
    let image = "registry.example.com/team/app:1";
    let cases = [
        (
            Some("not json"),
            "asm fetching authorization data: unable to unmarshal secret value, invalid schema",
        ),
        (
            Some(r#"{"password":"p"}"#),
            "asm fetching username: AuthorizationData is malformed, empty field",
        ),
        (
            Some(r#"{"Username":"u"}"#),
            "asm fetching password: AuthorizationData is malformed, empty field",
        ),
    ];
    for (i, (value, want)) in cases.into_iter().enumerate() {
        let name = format!("reg-{i}");
        let secret = host_call(
            &t,
            "secretsmanager.CreateSecret",
            json!({"Name": name, "SecretString": value}),
        )
        .await;
        let arn = secret["ARN"].as_str().unwrap();
        register(
            &t,
            json!({"image": image, "repositoryCredentials": {"credentialsParameter": arn}}),
        )
        .await;
        let (_, task) = run(&t).await;
        assert_eq!(
            stopped_reason(&task),
            format!("{PREFIX}{want}"),
            "{value:?}"
        );
    }
    let missing = "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope";
    register(
        &t,
        json!({"image": image, "repositoryCredentials": {"credentialsParameter": missing}}),
    )
    .await;
    let (_, task) = run(&t).await;
    assert_eq!(
        stopped_reason(&task),
        format!(
            "{PREFIX}asm fetching secret from the service for {missing}: ResourceNotFoundException: Secrets Manager can't find the specified secret."
        )
    );
    t.stop().await;
}

#[tokio::test]
async fn a_customer_kms_key_needs_kms_decrypt_on_the_execution_role() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    exec_role(&t).await;
    let secret = host_call(
        &t,
        "secretsmanager.CreateSecret",
        json!({"Name": "db", "SecretString": "pw", "KmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
    )
    .await;
    let secret_arn = secret["ARN"].as_str().unwrap().to_string();
    allow(&t, "read", &["secretsmanager:GetSecretValue"], &secret_arn).await;
    t.create_cluster("c").await;
    register(
        &t,
        json!({"image": "web:1", "secrets": [{"name": "PW", "valueFrom": secret_arn}]}),
    )
    .await;
    let (_, task) = run(&t).await;
    let reason = stopped_reason(&task);
    let want = format!(
        "{PREFIX}unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {secret_arn} from secrets manager: AccessDeniedException: Access to KMS is not allowed status code: 400, request id: "
    );
    assert!(reason.starts_with(&want), "{reason}");

    allow(
        &t,
        "key",
        &["kms:Decrypt"],
        "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    .await;
    let (_, task) = run(&t).await;
    assert_eq!(task["lastStatus"], "RUNNING", "{task:#}");
    t.stop().await;
}

/// An SSM SecureString under a customer key needs `kms:Decrypt` on the key
/// as well as `ssm:GetParameters`; SSM passes KMS's refusal on, naming no
/// role. (SSM's own key, the default, needs nothing: the splunk test.)
#[tokio::test]
async fn a_secure_string_under_a_customer_key_needs_kms_decrypt() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    exec_role(&t).await;
    host_call(
        &t,
        "AmazonSSM.PutParameter",
        json!({"Name": "/web/db", "Value": "pw", "Type": "SecureString", "KeyId": "alias/web"}),
    )
    .await;
    allow(
        &t,
        "read",
        &["ssm:GetParameters"],
        "arn:aws:ssm:us-east-1:000000000000:parameter/web/*",
    )
    .await;
    t.create_cluster("c").await;
    register(
        &t,
        json!({"image": "web:1", "secrets": [{"name": "PW", "valueFrom": "/web/db"}]}),
    )
    .await;
    let (_, task) = run(&t).await;
    let reason = stopped_reason(&task);
    let want = format!(
        "{PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: "
    );
    assert!(reason.starts_with(&want), "{reason}");
    assert!(
        reason.contains("; Proxy: null) status code: 400, request id: "),
        "{reason}"
    );

    allow(
        &t,
        "key",
        &["kms:Decrypt"],
        "arn:aws:kms:us-east-1:000000000000:alias/web",
    )
    .await;
    let (_, task) = run(&t).await;
    assert_eq!(task["lastStatus"], "RUNNING", "{task:#}");
    t.stop().await;
}

/// A Secrets Manager secret read through SSM's
/// `/aws/reference/secretsmanager/` needs the secret's own permission as
/// well as `ssm:GetParameters` on the reference.
#[tokio::test]
async fn a_secret_referenced_through_ssm_needs_its_own_permission_too() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    exec_role(&t).await;
    let secret = host_call(
        &t,
        "secretsmanager.CreateSecret",
        json!({"Name": "db", "SecretString": "pw"}),
    )
    .await;
    let secret_arn = secret["ARN"].as_str().unwrap().to_string();
    allow(
        &t,
        "reference",
        &["ssm:GetParameters"],
        "arn:aws:ssm:us-east-1:000000000000:parameter/aws/reference/secretsmanager/*",
    )
    .await;
    t.create_cluster("c").await;
    register(
        &t,
        json!({"image": "web:1", "secrets": [{"name": "PW", "valueFrom": "/aws/reference/secretsmanager/db"}]}),
    )
    .await;
    let (id, task) = run(&t).await;
    let reason = stopped_reason(&task);
    let want = format!(
        "{PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: {} secretsmanager:GetSecretValue on resource: {secret_arn} because no identity-based policy allows the secretsmanager:GetSecretValue action status code: 400, request id: ",
        who(&id)
    );
    assert!(reason.starts_with(&want), "{reason}");

    allow(
        &t,
        "secret",
        &["secretsmanager:GetSecretValue"],
        &secret_arn,
    )
    .await;
    let (_, task) = run(&t).await;
    assert_eq!(task["lastStatus"], "RUNNING", "{task:#}");
    t.stop().await;
}

#[tokio::test]
async fn a_log_drivers_secret_options_are_read_as_the_execution_role() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    exec_role(&t).await;
    host_call(
        &t,
        "AmazonSSM.PutParameter",
        json!({"Name": "/splunk/token", "Value": "t0k", "Type": "SecureString"}),
    )
    .await;
    t.create_cluster("c").await;
    register(
        &t,
        json!({"image": "web:1", "logConfiguration": {
            "logDriver": "splunk",
            "options": {"splunk-url": "https://splunk.example.com:8088"},
            "secretOptions": [{"name": "splunk-token", "valueFrom": "/splunk/token"}]}}),
    )
    .await;
    let (id, task) = run(&t).await;
    let reason = stopped_reason(&task);
    let want = format!(
        "{PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: {} ssm:GetParameters on resource: arn:aws:ssm:us-east-1:000000000000:parameter/splunk/token because no identity-based policy allows the ssm:GetParameters action status code: 400, request id: ",
        who(&id)
    );
    assert!(reason.starts_with(&want), "{reason}");

    allow(
        &t,
        "splunk",
        &["ssm:GetParameters"],
        "arn:aws:ssm:us-east-1:000000000000:parameter/splunk/*",
    )
    .await;
    let (_, task) = run(&t).await;
    assert_eq!(task["lastStatus"], "RUNNING", "{task:#}");

    // A missing parameter is the agent's text too.
    host_call(
        &t,
        "AmazonSSM.DeleteParameter",
        json!({"Name": "/splunk/token"}),
    )
    .await;
    let (_, task) = run(&t).await;
    assert_eq!(
        stopped_reason(&task),
        format!(
            "{PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /splunk/token"
        )
    );
    t.stop().await;
}

/// An awsQuery call signed with `key` for `service`: status and XML.
async fn query_as(
    t: &TestApp,
    key: &str,
    service: &str,
    version: &str,
    action: &str,
    params: &[(&str, &str)],
) -> (u16, String) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action)
        .append_pair("Version", version);
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261207/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"
    );
    t.post(
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &auth),
        ],
        form.finish(),
    )
    .await
}

#[tokio::test]
async fn a_tasks_elbv2_and_iam_calls_are_judged_as_its_task_role() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    let (status, xml) = t
        .iam(
            "CreateRole",
            &[("RoleName", "app"), ("AssumeRolePolicyDocument", ECS_TRUST)],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    t.create_cluster("c").await;
    t.ecs_ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "256", "memory": "512", "taskRoleArn": "app",
            "containerDefinitions": [{"name": "app", "image": "web:1", "essential": true}],
        }),
    )
    .await;
    let (id, task) = run(&t).await;
    assert_eq!(task["lastStatus"], "RUNNING", "{task:#}");
    let task_arn = task["taskArn"].as_str().unwrap();
    // A bare role name is served as the role's ARN.
    let creds = t
        .app
        .credentials()
        .issue(task_arn, "arn:aws:iam::000000000000:role/app");
    let key = creds.access_key_id.as_str();
    let me = format!(
        "User: arn:aws:sts::000000000000:assumed-role/app/{id} is not authorized to perform:"
    );
    let elb = (
        "elasticloadbalancing",
        "2015-12-01",
        "DescribeLoadBalancers",
    );
    let get_role = ("iam", "2010-05-08", "GetRole");
    /// A call on the awsQuery wire: (service, version, action), its
    /// parameters and the denial message expected.
    type Call<'a> = (
        (&'a str, &'a str, &'a str),
        &'a [(&'a str, &'a str)],
        String,
    );
    let calls: [Call; 2] = [
        (
            elb,
            &[],
            format!(
                "{me} elasticloadbalancing:DescribeLoadBalancers on resource: * because no identity-based policy allows the elasticloadbalancing:DescribeLoadBalancers action"
            ),
        ),
        (
            get_role,
            &[("RoleName", "app")],
            format!(
                "{me} iam:GetRole on resource: arn:aws:iam::000000000000:role/app because no identity-based policy allows the iam:GetRole action"
            ),
        ),
    ];
    for ((service, version, action), params, message) in &calls {
        let (status, xml) = query_as(&t, key, service, version, action, params).await;
        assert_eq!(status, 403, "{xml}");
        assert!(xml.contains("<Code>AccessDenied</Code>"), "{xml}");
        assert!(
            xml.contains(&format!("<Message>{message}</Message>")),
            "{xml}"
        );
    }
    // GetCallerIdentity is never denied.
    let (status, xml) = query_as(&t, key, "sts", "2011-06-15", "GetCallerIdentity", &[]).await;
    assert_eq!(status, 200, "{xml}");

    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["elasticloadbalancing:Describe*","iam:GetRole"],"Resource":"*"}]}"#;
    let (status, xml) = t
        .iam(
            "PutRolePolicy",
            &[
                ("RoleName", "app"),
                ("PolicyName", "read"),
                ("PolicyDocument", doc),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    for ((service, version, action), params, _) in &calls {
        let (status, xml) = query_as(&t, key, service, version, action, params).await;
        assert_eq!(status, 200, "{action}: {xml}");
    }
    t.stop().await;
}
