//! Secrets Manager and SSM Parameter Store through the AWS SDK for Rust, on
//! the emulator's one port: versions and stages, ARNs with AWS's suffix,
//! deletion windows, hierarchies, SecureString decryption, AWS-shaped
//! errors; the embedded S3 (its own port and the main one); and all three
//! surviving a `kill -9` of a durable emulator.

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::ParameterType;
use sdk_tests::Emulator;

#[tokio::test]
async fn secrets_manager_versions_stages_and_errors() {
    let emu = Emulator::start();
    let sm = emu.secrets_manager();
    let created = sm
        .create_secret()
        .name("prod/db")
        .secret_string(r#"{"password":"s3cr3t"}"#)
        .description("db")
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    let (base, suffix) = arn.rsplit_once('-').unwrap();
    assert_eq!(
        base,
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db"
    );
    assert_eq!(suffix.len(), 6, "{arn}");
    let first = created.version_id().unwrap().to_string();

    // By name, full ARN and partial ARN.
    for id in ["prod/db", arn.as_str(), base] {
        let v = sm.get_secret_value().secret_id(id).send().await.unwrap();
        assert_eq!(v.secret_string(), Some(r#"{"password":"s3cr3t"}"#), "{id}");
        assert_eq!(v.version_stages(), ["AWSCURRENT"]);
    }

    let put = sm
        .put_secret_value()
        .secret_id("prod/db")
        .secret_string("two")
        .send()
        .await
        .unwrap();
    let current = sm.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(current.secret_string(), Some("two"));
    assert_eq!(current.version_id(), put.version_id());
    let previous = sm
        .get_secret_value()
        .secret_id("prod/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(previous.version_id(), Some(first.as_str()));
    let by_id = sm
        .get_secret_value()
        .secret_id("prod/db")
        .version_id(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.secret_string(), Some(r#"{"password":"s3cr3t"}"#));

    sm.update_secret()
        .secret_id("prod/db")
        .description("changed")
        .secret_string("three")
        .send()
        .await
        .unwrap();
    sm.tag_resource()
        .secret_id("prod/db")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("team")
                .value("web")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = sm
        .describe_secret()
        .secret_id("prod/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.description(), Some("changed"));
    assert_eq!(d.tags().len(), 1);
    assert_eq!(d.version_ids_to_stages().unwrap().len(), 2);

    sm.create_secret()
        .name("other")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let listed = sm.list_secrets().send().await.unwrap();
    assert_eq!(listed.secret_list().len(), 2);

    // Errors, with AWS's codes and messages.
    let e = sm
        .create_secret()
        .name("prod/db")
        .secret_string("dup")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceExistsException"));
    let e = sm
        .get_secret_value()
        .secret_id("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        e.message(),
        Some("Secrets Manager can't find the specified secret.")
    );
    let e = sm
        .get_secret_value()
        .secret_id("prod/db")
        .version_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));

    // Deletion: a window, then refusals, then restore; force removes.
    let e = sm
        .delete_secret()
        .secret_id("other")
        .recovery_window_in_days(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterException"));
    let del = sm
        .delete_secret()
        .secret_id("other")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert!(del.deletion_date().is_some());
    let e = sm
        .get_secret_value()
        .secret_id("other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequestException"));
    assert_eq!(
        sm.list_secrets().send().await.unwrap().secret_list().len(),
        1
    );
    sm.restore_secret().secret_id("other").send().await.unwrap();
    sm.get_secret_value()
        .secret_id("other")
        .send()
        .await
        .unwrap();
    sm.delete_secret()
        .secret_id("other")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let e = sm
        .describe_secret()
        .secret_id("other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    emu.stop();
}

#[tokio::test]
async fn parameter_store_types_versions_paths_and_errors() {
    let emu = Emulator::start();
    let ssm = emu.ssm();
    let put = |name: &'static str, value: &'static str, t: ParameterType| {
        ssm.put_parameter().name(name).value(value).r#type(t).send()
    };
    assert_eq!(
        put("/web/api-key", "k", ParameterType::SecureString)
            .await
            .unwrap()
            .version(),
        1
    );
    put("/web/hosts", "a,b", ParameterType::StringList)
        .await
        .unwrap();
    put("/web/deep/level", "d", ParameterType::String)
        .await
        .unwrap();
    put("plain", "p", ParameterType::String).await.unwrap();

    let hidden = ssm
        .get_parameter()
        .name("/web/api-key")
        .send()
        .await
        .unwrap();
    let hidden = hidden.parameter().unwrap();
    assert_eq!(hidden.r#type(), Some(&ParameterType::SecureString));
    assert_ne!(hidden.value(), Some("k"));
    let shown = ssm
        .get_parameter()
        .name("/web/api-key")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.parameter().unwrap().value(), Some("k"));
    assert_eq!(
        shown.parameter().unwrap().arn(),
        Some("arn:aws:ssm:us-east-1:000000000000:parameter/web/api-key")
    );

    // Overwrite makes version 2; the old one stays reachable.
    let e = put("/web/hosts", "c", ParameterType::StringList)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ParameterAlreadyExists"));
    let v2 = ssm
        .put_parameter()
        .name("/web/hosts")
        .value("c")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(v2.version(), 2);
    let old = ssm
        .get_parameter()
        .name("/web/hosts:1")
        .send()
        .await
        .unwrap();
    assert_eq!(old.parameter().unwrap().value(), Some("a,b"));

    let one_level = ssm
        .get_parameters_by_path()
        .path("/web")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = one_level
        .parameters()
        .iter()
        .filter_map(|p| p.name())
        .collect();
    assert_eq!(names, ["/web/api-key", "/web/hosts"]);
    let all = ssm
        .get_parameters_by_path()
        .path("/web")
        .recursive(true)
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(all.parameters().len(), 3);

    let got = ssm
        .get_parameters()
        .names("/web/api-key")
        .names("/nope")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(got.parameters().len(), 1);
    assert_eq!(got.invalid_parameters(), ["/nope"]);

    let described = ssm.describe_parameters().send().await.unwrap();
    assert_eq!(described.parameters().len(), 4);

    let e = ssm
        .get_parameter()
        .name("/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ParameterNotFound"));
    let e = ssm
        .put_parameter()
        .name("/aws/reserved")
        .value("x")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    let e = ssm
        .put_parameter()
        .name("/big")
        .value("x".repeat(4097))
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));

    ssm.delete_parameter().name("plain").send().await.unwrap();
    let e = ssm
        .delete_parameter()
        .name("plain")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ParameterNotFound"));
    let del = ssm
        .delete_parameters()
        .names("/web/hosts")
        .names("/gone")
        .send()
        .await
        .unwrap();
    assert_eq!(del.deleted_parameters(), ["/web/hosts"]);
    assert_eq!(del.invalid_parameters(), ["/gone"]);
    emu.stop();
}

#[tokio::test]
async fn secrets_and_parameters_survive_kill_9() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut emu = Emulator::start_durable(dir.path());
    let arn = emu
        .secrets_manager()
        .create_secret()
        .name("kept")
        .secret_string("v1")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    emu.secrets_manager()
        .put_secret_value()
        .secret_id("kept")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    emu.ssm()
        .put_parameter()
        .name("/kept/p")
        .value("pv")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();

    let s3 = emu.s3();
    s3.create_bucket().bucket("kept").send().await.unwrap();
    s3.put_object()
        .bucket("kept")
        .key("a/b.env")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"K=v\n"))
        .send()
        .await
        .unwrap();

    emu.kill9();
    emu.restart();

    let got = emu
        .s3()
        .get_object()
        .bucket("kept")
        .key("a/b.env")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"K=v\n"
    );

    let sm = emu.secrets_manager();
    let v = sm.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(v.secret_string(), Some("v2"));
    let prev = sm
        .get_secret_value()
        .secret_id("kept")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("v1"));
    let p = emu
        .ssm()
        .get_parameter()
        .name("/kept/p")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(p.parameter().unwrap().value(), Some("pv"));
    emu.stop();
}

#[tokio::test]
async fn embedded_s3_objects_and_bad_input() {
    let emu = Emulator::start();
    // Both the S3 port and the main port serve S3.
    for (endpoint, bucket) in [
        (emu.s3_endpoint(), "own-port"),
        (emu.endpoint(), "main-port"),
    ] {
        let s3 = sdk_tests::s3_client(&endpoint);
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        let body = vec![7u8; 1 << 20];
        s3.put_object()
            .bucket(bucket)
            .key("dir/blob")
            .body(aws_sdk_s3::primitives::ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket(bucket)
            .key("dir/blob")
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(1 << 20));
        let got = s3
            .get_object()
            .bucket(bucket)
            .key("dir/blob")
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().to_vec(),
            body
        );
        let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
        assert_eq!(listed.contents().len(), 1);

        // Path traversal is refused with a clear error, and nothing escapes.
        for key in ["../escape", "dir/../../escape", "./x"] {
            let e = s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap_err();
            assert_eq!(
                aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
                Some("InvalidArgument"),
                "{key}"
            );
        }
        let e = s3
            .get_object()
            .bucket("no-such-bucket")
            .key("k")
            .send()
            .await
            .unwrap_err();
        assert!(
            aws_sdk_s3::error::ProvideErrorMetadata::code(&e).is_some(),
            "{e:?}"
        );
        s3.delete_object()
            .bucket(bucket)
            .key("dir/blob")
            .send()
            .await
            .unwrap();
        let e = s3
            .head_object()
            .bucket(bucket)
            .key("dir/blob")
            .send()
            .await
            .unwrap_err();
        assert!(e.raw_response().is_some_and(|r| r.status().as_u16() == 404));
    }
    // The emulator keeps serving after all that.
    emu.secrets_manager().list_secrets().send().await.unwrap();
    emu.stop();
}
