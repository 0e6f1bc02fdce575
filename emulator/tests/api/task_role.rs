//! `serve --iam` on the calls an app makes with its task credentials: S3
//! (through the AWS SDK for Rust, signed), SQS in both of its protocols,
//! ECS and Cloud Map, each refused in its protocol's shape under `enforce`
//! and noted in the request log under `warn`; and the least-privilege
//! policies generated from what a task used
//! (`GET /_fargate-local/iam/policy`), which are then enough in `enforce`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, run_web, signed, spawn_app_with, wait_task};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const ROLE: &str = "arn:aws:iam::000000000000:role/app";
const TASK: &str = "arn:aws:ecs:us-east-1:000000000000:task/c/0123456789abcdef0123456789abcdef";
const WHO: &str = "arn:aws:sts::000000000000:assumed-role/app/0123456789abcdef0123456789abcdef";

fn s3(t: &TestApp, key: &str, secret: &str, token: Option<&str>) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://{}", t.addr))
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            key,
            secret,
            token.map(str::to_string),
            None,
            "test",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The S3 client of the host (any key, the emulator's S3 secret) and of
/// the task (its issued role credentials).
fn clients(t: &TestApp) -> (aws_sdk_s3::Client, aws_sdk_s3::Client, String) {
    let c = t.app.credentials().issue(TASK, ROLE);
    (
        s3(t, "AKIDHOST", "test", None),
        s3(t, &c.access_key_id, &c.secret_access_key, Some(&c.token)),
        c.access_key_id,
    )
}

async fn create_role(t: &TestApp, name: &str) {
    let (status, xml) = t
        .iam(
            "CreateRole",
            &[("RoleName", name), ("AssumeRolePolicyDocument", TRUST)],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
}

async fn put_policy(t: &TestApp, role: &str, name: &str, doc: &str) {
    let (status, xml) = t
        .iam(
            "PutRolePolicy",
            &[
                ("RoleName", role),
                ("PolicyName", name),
                ("PolicyDocument", doc),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
}

fn s3_error<T: std::fmt::Debug>(
    r: Result<
        T,
        aws_sdk_s3::error::SdkError<impl aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>,
    >,
) -> (u16, String, String) {
    match r {
        Ok(v) => panic!("allowed: {v:?}"),
        Err(aws_sdk_s3::error::SdkError::ServiceError(e)) => (
            e.raw().status().as_u16(),
            e.err().code().unwrap_or_default().to_string(),
            e.err().message().unwrap_or_default().to_string(),
        ),
        Err(e) => panic!("not a service error: {e:?}"),
    }
}

/// A GET of the emulator's own endpoints: status and JSON.
pub(crate) async fn get(t: &TestApp, path: &str) -> (u16, Value) {
    use http_body_util::BodyExt;
    let client: hyper_util::client::legacy::Client<_, axum::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let resp = client
        .get(format!("http://{}{path}", t.addr).parse().unwrap())
        .await
        .expect("the emulator answers");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The request log's entries for the operation.
async fn logged(t: &TestApp, service: &str, op: &str) -> Vec<Value> {
    let (_, v) = get(t, "/_fargate-local/requests").await;
    v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["service"] == service && e["operation"] == op)
        .cloned()
        .collect()
}

#[tokio::test]
async fn s3_calls_with_task_credentials_are_judged_on_the_object() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    create_role(&t, "app").await;
    let (host, task, _) = clients(&t);
    host.create_bucket().bucket("data").send().await.unwrap();
    host.put_object()
        .bucket("data")
        .key("in/a.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .unwrap();

    let (status, code, message) = s3_error(
        task.get_object()
            .bucket("data")
            .key("in/a.txt")
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
    assert_eq!(
        message,
        format!(
            "User: {WHO} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::data/in/a.txt\" because no identity-based policy allows the s3:GetObject action"
        )
    );
    let (_, code, _) = s3_error(
        task.put_object()
            .bucket("data")
            .key("out/b.txt")
            .body(b"x".to_vec().into())
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    // Nothing was written.
    let listed = host.list_objects_v2().bucket("data").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);

    // Allowed once the role says so, no restart; the bucket listing is
    // another action on another resource.
    put_policy(
        &t,
        "app",
        "rw",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::data/*"}]}"#,
    )
    .await;
    let got = task
        .get_object()
        .bucket("data")
        .key("in/a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hello"
    );
    task.put_object()
        .bucket("data")
        .key("out/b.txt")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let (_, _, message) = s3_error(task.list_objects_v2().bucket("data").send().await);
    assert!(
        message.contains("s3:ListBucket on resource: \"arn:aws:s3:::data\""),
        "{message}"
    );
    // A copy needs s3:GetObject on its source too.
    let (_, _, message) = s3_error(
        task.copy_object()
            .copy_source("other/x")
            .bucket("data")
            .key("out/c.txt")
            .send()
            .await,
    );
    assert!(
        message.contains("s3:GetObject on resource: \"arn:aws:s3:::other/x\""),
        "{message}"
    );
    // DeleteObjects is judged on each key.
    let (_, _, message) = s3_error(
        task.delete_objects()
            .bucket("data")
            .delete(
                aws_sdk_s3::types::Delete::builder()
                    .objects(
                        aws_sdk_s3::types::ObjectIdentifier::builder()
                            .key("in/a.txt")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
    );
    assert!(
        message.contains("s3:DeleteObject on resource: \"arn:aws:s3:::data/in/a.txt\""),
        "{message}"
    );

    // The request log says which role was refused what, and the smallest
    // statement that would allow it.
    let lists = logged(&t, "s3", "ListObjectsV2").await;
    let denied = lists
        .iter()
        .find(|e| e["taskArn"] == TASK)
        .expect("the task's listing is logged");
    assert_eq!(denied["error"], "AccessDenied");
    assert_eq!(
        denied["iam"],
        json!({
            "roleKind": "task",
            "roleArn": ROLE,
            "action": "s3:ListBucket",
            "resource": "arn:aws:s3:::data",
            "decision": "denied",
            "message": format!("User: {WHO} is not authorized to perform: s3:ListBucket on resource: arn:aws:s3:::data because no identity-based policy allows the s3:ListBucket action"),
            "smallestStatement": {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data"},
        })
    );
    t.stop().await;
}

#[tokio::test]
async fn warn_lets_s3_calls_through_and_notes_what_enforce_would_deny() {
    let t = spawn_app_with(&["--iam", "warn"]).await;
    create_role(&t, "app").await;
    let (host, task, _) = clients(&t);
    host.create_bucket().bucket("data").send().await.unwrap();
    task.put_object()
        .bucket("data")
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let puts = logged(&t, "s3", "PutObject").await;
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0]["iam"]["decision"], "wouldDeny");
    assert_eq!(puts[0]["iam"]["action"], "s3:PutObject");
    assert!(puts[0].get("error").is_none(), "{:?}", puts[0]);
    // The host's own calls are the root's: nothing noted.
    let creates = logged(&t, "s3", "CreateBucket").await;
    assert!(creates[0].get("iam").is_none(), "{:?}", creates[0]);
    t.stop().await;
}

/// An SQS call signed with `key`, in the JSON protocol.
async fn sqs_json(t: &TestApp, key: &str, op: &str, body: Value) -> (u16, String, Value) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261207/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"
    );
    let target = format!("AmazonSQS.{op}");
    let mut req = axum::http::Request::post(format!("http://{}/", t.addr))
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.0")
        .header("authorization", auth);
    req = req.header("host", t.addr.to_string());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let resp = client
        .request(req.body(axum::body::Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let query_error = resp
        .headers()
        .get("x-amzn-query-error")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    use http_body_util::BodyExt;
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        query_error,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The same in the awsQuery protocol: status and XML.
async fn sqs_query(t: &TestApp, key: &str, params: &[(&str, &str)]) -> (u16, String) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261207/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"
    );
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Version", "2012-11-05");
    for (k, v) in params {
        form.append_pair(k, v);
    }
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
async fn sqs_calls_with_task_credentials_are_judged_in_both_protocols() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    create_role(&t, "app").await;
    let key = t.app.credentials().issue(TASK, ROLE).access_key_id;
    let (status, _, v) =
        sqs_json(&t, "AKIDHOST", "CreateQueue", json!({"QueueName": "jobs"})).await;
    assert_eq!(status, 200, "{v}");
    let url = v["QueueUrl"].as_str().unwrap().to_string();
    let send = json!({"QueueUrl": url, "MessageBody": "hi"});

    let (status, query_error, v) = sqs_json(&t, &key, "SendMessage", send.clone()).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(query_error, "AccessDenied;Sender");
    assert_eq!(
        v["__type"],
        "com.amazon.coral.service#AccessDeniedException"
    );
    // SQS names the action in lower case.
    assert_eq!(
        v["message"],
        format!(
            "User: {WHO} is not authorized to perform: sqs:sendmessage on resource: arn:aws:sqs:us-east-1:000000000000:jobs because no identity-based policy allows the sqs:sendmessage action"
        )
    );
    let (status, xml) = sqs_query(
        &t,
        &key,
        &[
            ("Action", "SendMessage"),
            ("QueueUrl", &url),
            ("MessageBody", "hi"),
        ],
    )
    .await;
    assert_eq!(status, 403, "{xml}");
    assert!(xml.contains("<Code>AccessDenied</Code>"), "{xml}");
    assert!(xml.contains("<Type>Sender</Type>"), "{xml}");
    assert!(
        xml.contains("sqs:sendmessage on resource: arn:aws:sqs:us-east-1:000000000000:jobs"),
        "{xml}"
    );
    // A batch needs the single operation's action.
    let (status, _, v) = sqs_json(
        &t,
        &key,
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "x"}]}),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        v["message"].as_str().unwrap().contains("sqs:sendmessage"),
        "{v}"
    );
    // Nothing was sent.
    let (_, _, v) = sqs_json(
        &t,
        "AKIDHOST",
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]}),
    )
    .await;
    assert_eq!(v["Attributes"]["ApproximateNumberOfMessages"], "0", "{v}");

    put_policy(
        &t,
        "app",
        "send",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:*:*:jobs"}]}"#,
    )
    .await;
    let (status, _, v) = sqs_json(&t, &key, "SendMessage", send).await;
    assert_eq!(status, 200, "{v}");
    let (status, xml) = sqs_query(
        &t,
        &key,
        &[
            ("Action", "SendMessage"),
            ("QueueUrl", &url),
            ("MessageBody", "hi"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    let (status, _, _) = sqs_json(&t, &key, "ReceiveMessage", json!({"QueueUrl": url})).await;
    assert_eq!(status, 403, "receiving is another action");
    t.stop().await;
}

#[tokio::test]
async fn ecs_and_cloud_map_calls_are_judged_on_their_resources() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    create_role(&t, "app").await;
    let key = t.app.credentials().issue(TASK, ROLE).access_key_id;
    let ecs = "AmazonEC2ContainerServiceV20141113";
    // (target, body, action, resource named in the denial)
    let cases = [
        (
            format!("{ecs}.ListClusters"),
            json!({}),
            "ecs:ListClusters",
            "*",
        ),
        (
            format!("{ecs}.RunTask"),
            json!({"cluster": "c", "taskDefinition": "web:3"}),
            "ecs:RunTask",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3",
        ),
        (
            format!("{ecs}.StopTask"),
            json!({"cluster": "c", "task": "abc"}),
            "ecs:StopTask",
            "arn:aws:ecs:us-east-1:000000000000:task/c/abc",
        ),
        (
            format!("{ecs}.DescribeTasks"),
            json!({"cluster": "c", "tasks": [TASK]}),
            "ecs:DescribeTasks",
            TASK,
        ),
        (
            format!("{ecs}.UpdateService"),
            json!({"cluster": "arn:aws:ecs:us-east-1:000000000000:cluster/c", "service": "api", "desiredCount": 2}),
            "ecs:UpdateService",
            "arn:aws:ecs:us-east-1:000000000000:service/c/api",
        ),
        (
            "Route53AutoNaming_v20170314.ListInstances".to_string(),
            json!({"ServiceId": "srv-1"}),
            "servicediscovery:ListInstances",
            "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1",
        ),
        (
            "Logs_20140328.FilterLogEvents".to_string(),
            json!({"logGroupName": "/ecs/web"}),
            "logs:FilterLogEvents",
            "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*",
        ),
        (
            "secretsmanager.ListSecrets".to_string(),
            json!({}),
            "secretsmanager:ListSecrets",
            "*",
        ),
    ];
    for (target, body, action, resource) in &cases {
        let (status, v) = signed(&t, &key, target, body.clone()).await;
        assert_eq!(status, 400, "{target}: {v}");
        assert_eq!(v["__type"], "AccessDeniedException", "{target}");
        assert_eq!(
            v["message"],
            format!(
                "User: {WHO} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
            ),
            "{target}"
        );
    }
    // Nothing was changed by a refused call: no service was scaled, no
    // task run.
    let listed = t.ecs_ok("ListClusters", json!({})).await;
    assert_eq!(listed["clusterArns"], json!([]));
    put_policy(
        &t,
        "app",
        "read",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:List*","ecs:Describe*"],"Resource":"*"}]}"#,
    )
    .await;
    let (status, v) = signed(&t, &key, &cases[0].0, json!({})).await;
    assert_eq!(status, 200, "{v}");
    t.stop().await;
}

/// An app's read of a value under a customer KMS key needs `kms:Decrypt`
/// on the key as well as the read itself: SSM answers with the text it
/// passes on from KMS, Secrets Manager with its own; neither names the
/// role. A read without decryption, or of SSM's or Secrets Manager's own
/// key, needs nothing more.
#[tokio::test]
async fn reads_under_a_customer_key_need_kms_decrypt() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    create_role(&t, "app").await;
    let key = t.app.credentials().issue(TASK, ROLE).access_key_id;
    let host = |target: &'static str, body: Value| {
        let t = &t;
        async move {
            let (status, v) = signed(t, "AKIDHOST", target, body).await;
            assert_eq!(status, 200, "{target}: {v}");
        }
    };
    host(
        "AmazonSSM.PutParameter",
        json!({"Name": "/app/db", "Value": "pw", "Type": "SecureString", "KeyId": "k1"}),
    )
    .await;
    host(
        "AmazonSSM.PutParameter",
        json!({"Name": "/app/plain", "Value": "pw", "Type": "SecureString"}),
    )
    .await;
    host(
        "secretsmanager.CreateSecret",
        json!({"Name": "db", "SecretString": "pw", "KmsKeyId": "alias/k2"}),
    )
    .await;
    put_policy(
        &t,
        "app",
        "read",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:GetParameter","ssm:GetParameters","secretsmanager:GetSecretValue"],"Resource":"*"}]}"#,
    )
    .await;
    let get = json!({"Name": "/app/db", "WithDecryption": true});
    let (status, v) = signed(&t, &key, "AmazonSSM.GetParameter", get.clone()).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["__type"], "AccessDeniedException");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.starts_with("The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: "),
        "{message}"
    );
    let (status, v) = signed(
        &t,
        &key,
        "AmazonSSM.GetParameters",
        json!({"Names": ["/app/plain", "/app/db"], "WithDecryption": true}),
    )
    .await;
    assert_eq!(
        (status, &v["__type"]),
        (400, &json!("AccessDeniedException"))
    );
    for (target, body) in [
        ("AmazonSSM.GetParameter", json!({"Name": "/app/db"})),
        (
            "AmazonSSM.GetParameter",
            json!({"Name": "/app/plain", "WithDecryption": true}),
        ),
    ] {
        let (status, v) = signed(&t, &key, target, body).await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = signed(
        &t,
        &key,
        "secretsmanager.GetSecretValue",
        json!({"SecretId": "db"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        (&v["__type"], &v["message"]),
        (
            &json!("AccessDeniedException"),
            &json!("Access to KMS is not allowed")
        )
    );

    put_policy(
        &t,
        "app",
        "keys",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":["arn:aws:kms:us-east-1:000000000000:key/k1","arn:aws:kms:us-east-1:000000000000:alias/k2"]}]}"#,
    )
    .await;
    let (status, v) = signed(&t, &key, "AmazonSSM.GetParameter", get).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Parameter"]["Value"], "pw");
    let (status, v) = signed(
        &t,
        &key,
        "secretsmanager.GetSecretValue",
        json!({"SecretId": "db"}),
    )
    .await;
    assert_eq!((status, &v["SecretString"]), (200, &json!("pw")), "{v}");
    t.stop().await;
}

#[tokio::test]
async fn the_policy_endpoint_needs_a_known_task() {
    let t = spawn_app_with(&[]).await;
    let (status, v) = get(&t, "/_fargate-local/iam/policy").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["__type"], "InvalidParameterException");
    let (status, v) = get(&t, "/_fargate-local/iam/policy?task=nope").await;
    assert_eq!(status, 404, "{v}");
    let (status, _) = get(&t, "/_fargate-local/iam/policy?task=a&service=b").await;
    assert_eq!(status, 400);
    let (status, v) = get(&t, "/_fargate-local/iam/policy?service=api&cluster=c").await;
    assert_eq!(status, 404, "{v}");
    let (status, _) = get(&t, "/_fargate-local/iam/usage").await;
    assert_eq!(status, 400);
    t.stop().await;
}

/// The statements of a role's generated policies.
fn statements(role: &Value) -> Vec<Value> {
    role["generatedPolicyResult"]["generatedPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let doc: Value = serde_json::from_str(p["policy"].as_str().unwrap()).unwrap();
            doc["Statement"].as_array().unwrap().clone()
        })
        .collect()
}

/// One policy document of a role's generated statements.
fn document(role: &Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements(role)}).to_string()
}

#[tokio::test]
async fn policies_are_generated_in_off_and_warn_too() {
    for mode in ["off", "warn"] {
        let t = spawn_app_with(&["--iam", mode]).await;
        create_role(&t, "app").await;
        let (_, task, key) = clients(&t);
        let _ = task
            .get_object()
            .bucket("data")
            .key("in/a.txt")
            .send()
            .await;
        let _ = sqs_json(
            &t,
            &key,
            "SendMessage",
            json!({"QueueUrl": "http://x/000000000000/jobs", "MessageBody": "m"}),
        )
        .await;
        let (status, v) = get(
            &t,
            &format!(
                "/_fargate-local/iam/policy?task={}",
                TASK.rsplit('/').next().unwrap()
            ),
        )
        .await;
        assert_eq!(status, 200, "{mode}: {v}");
        assert_eq!(v["taskArns"], json!([TASK]));
        assert_eq!(v["executionRole"], Value::Null);
        let props = &v["taskRole"]["generatedPolicyResult"]["properties"];
        assert_eq!(props["principalArn"], ROLE);
        assert_eq!(props["isComplete"], true);
        assert_eq!(
            statements(&v["taskRole"]),
            vec![
                json!({"Sid": "SupportedServiceSid0", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/in/a.txt"}),
                json!({"Sid": "SupportedServiceSid1", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:000000000000:jobs"}),
            ],
            "{mode}"
        );
        let (status, usage) = get(&t, &format!("/_fargate-local/iam/usage?task={TASK}")).await;
        assert_eq!(status, 200);
        let outcome = if mode == "off" {
            "notEvaluated"
        } else {
            "wouldDeny"
        };
        assert_eq!(usage["uses"][0]["outcome"], outcome, "{usage}");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_tasks_generated_policies_let_it_run_again_in_enforce() {
    // A task with an env file and a secret (the execution role's) that
    // reads S3, sends to SQS and reads a parameter (the task role's), first
    // with roles that may do anything, then with only what was generated.
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    for role in ["app", "exec"] {
        create_role(&t, role).await;
        t.iam(
            "AttachRolePolicy",
            &[("RoleName", role), ("PolicyArn", admin)],
        )
        .await;
    }
    let (host, _, _) = clients(&t);
    host.create_bucket().bucket("conf").send().await.unwrap();
    host.put_object()
        .bucket("conf")
        .key("web.env")
        .body(b"MODE=local\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let (_, _, v) = sqs_json(&t, "AKIDHOST", "CreateQueue", json!({"QueueName": "jobs"})).await;
    let url = v["QueueUrl"].as_str().unwrap().to_string();
    signed(
        &t,
        "AKIDHOST",
        "AmazonSSM.PutParameter",
        json!({"Name": "/web/token", "Value": "s3cr3t", "Type": "SecureString"}),
    )
    .await;
    t.create_cluster("c").await;
    t.ecs_ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "taskRoleArn": "app",
            "executionRoleArn": "exec",
            "containerDefinitions": [{
                "name": "app", "image": "web:1", "essential": true,
                "environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::conf/web.env"}],
                "secrets": [{"name": "TOKEN", "valueFrom": "/web/token"}],
            }],
        }),
    )
    .await;

    let (status, v) = run_web(&t).await;
    assert_eq!(status, 200, "{v}");
    let first = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_task(&t, &first, "RUNNING").await;
    let calls = app_calls(&t, &first, &url).await;
    assert_eq!(
        calls,
        [200, 200, 200],
        "all allowed with AdministratorAccess"
    );

    let (status, generated) = get(&t, &format!("/_fargate-local/iam/policy?task={first}")).await;
    assert_eq!(status, 200, "{generated}");
    let task_statements = statements(&generated["taskRole"]);
    let actions: Vec<&Value> = task_statements.iter().map(|s| &s["Action"]).collect();
    assert_eq!(
        actions,
        [
            &json!("s3:GetObject"),
            &json!("sqs:SendMessage"),
            &json!("ssm:GetParameter")
        ],
        "{task_statements:?}"
    );
    let exec_statements = statements(&generated["executionRole"]);
    let exec_text = Value::from(exec_statements.clone()).to_string();
    for want in [
        "\"s3:GetBucketLocation\"",
        "\"arn:aws:s3:::conf\"",
        "\"s3:GetObject\"",
        "\"arn:aws:s3:::conf/web.env\"",
        "\"ssm:GetParameters\"",
        "\"arn:aws:ssm:us-east-1:000000000000:parameter/web/token\"",
    ] {
        assert!(exec_text.contains(want), "{want} in {exec_text}");
    }
    assert_eq!(
        generated["executionRole"]["generatedPolicyResult"]["properties"]["principalArn"],
        "arn:aws:iam::000000000000:role/exec"
    );

    // Exactly those policies, nothing else: the task runs and its calls
    // are allowed.
    for (role, key) in [("app", "taskRole"), ("exec", "executionRole")] {
        t.iam(
            "DetachRolePolicy",
            &[("RoleName", role), ("PolicyArn", admin)],
        )
        .await;
        put_policy(&t, role, "generated", &document(&generated[key])).await;
    }
    let (status, v) = run_web(&t).await;
    assert_eq!(status, 200, "{v}");
    let second = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_task(&t, &second, "RUNNING").await;
    // None of the resources names the task, so the first task's policies
    // fit the second.
    let calls = app_calls(&t, &second, &url).await;
    assert_eq!(calls, [200, 200, 200]);
    // And a call the first task did not make is refused.
    let key = t.app.credentials().issue(&second, ROLE).access_key_id;
    let (status, _, _) = sqs_json(&t, &key, "ReceiveMessage", json!({"QueueUrl": url})).await;
    assert_eq!(status, 403);
    t.stop().await;
}

/// The task's app, with its task credentials: reads the env file's object,
/// sends a message, reads its parameter; each call's status.
async fn app_calls(t: &TestApp, task_arn: &str, url: &str) -> [u16; 3] {
    let c = t.app.credentials().issue(task_arn, ROLE);
    let s3c = s3(t, &c.access_key_id, &c.secret_access_key, Some(&c.token));
    let got = s3c.get_object().bucket("conf").key("web.env").send().await;
    let s3_status = match got {
        Ok(_) => 200,
        Err(e) => e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0),
    };
    let (sqs_status, _, _) = sqs_json(
        t,
        &c.access_key_id,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "m"}),
    )
    .await;
    let (ssm_status, _) = signed(
        t,
        &c.access_key_id,
        "AmazonSSM.GetParameter",
        json!({"Name": "/web/token", "WithDecryption": true}),
    )
    .await;
    [s3_status, sqs_status, ssm_status]
}
