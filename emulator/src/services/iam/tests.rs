//! The IAM backend's operations, table-style where they can be.

use super::*;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const S3_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
const EXEC_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

fn iam() -> Iam {
    Iam::load(Store::in_memory(), "000000000000".into()).unwrap()
}

fn role(iam: &Iam, name: &str) -> Result<Role> {
    iam.create_role(CreateRole {
        role_name: Some(name.into()),
        assume_role_policy_document: Some(TRUST.into()),
        path: None,
        description: None,
        max_session_duration: None,
        tags: vec![],
    })
}

fn policy(iam: &Iam, name: &str) -> Result<PolicyView> {
    iam.create_policy(CreatePolicy {
        policy_name: Some(name.into()),
        policy_document: Some(S3_READ.into()),
        path: None,
        description: None,
        tags: vec![],
    })
}

fn s(v: &str) -> Option<String> {
    Some(v.into())
}

fn all() -> PageRequest {
    PageRequest {
        marker: None,
        max_items: None,
    }
}

#[test]
fn roles_have_aws_shapes_and_names_ignore_case() {
    let iam = iam();
    let r = role(&iam, "App").unwrap();
    assert_eq!(r.arn, "arn:aws:iam::000000000000:role/App");
    assert!(r.role_id.starts_with("AROA") && r.role_id.len() == 21);
    assert_eq!(r.max_session_duration, 3600);
    let e = role(&iam, "app").unwrap_err();
    assert_eq!(
        (e.code(), e.status(), e.to_string().as_str()),
        (
            "EntityAlreadyExists",
            409,
            "Role with name App already exists."
        )
    );
    assert_eq!(iam.get_role(s("APP")).unwrap().name, "App");
    let e = iam.get_role(s("nope")).unwrap_err();
    assert_eq!(
        (e.code(), e.status(), e.to_string().as_str()),
        (
            "NoSuchEntity",
            404,
            "The role with name nope cannot be found."
        )
    );
    let e = iam.get_role(None).unwrap_err();
    assert_eq!(e.code(), "ValidationError");
    for bad in ["", "a b", &"x".repeat(65)] {
        assert_eq!(
            role(&iam, bad).unwrap_err().code(),
            "ValidationError",
            "{bad}"
        );
    }
}

#[test]
fn malformed_and_oversized_documents_store_nothing() {
    let iam = iam();
    let bad_trust = iam
        .create_role(CreateRole {
            role_name: s("r"),
            assume_role_policy_document: s(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#),
            path: None,
            description: None,
            max_session_duration: None,
            tags: vec![],
        })
        .unwrap_err();
    assert_eq!(bad_trust.code(), "MalformedPolicyDocument");
    assert!(iam.get_role(s("r")).is_err());
    role(&iam, "r").unwrap();
    // (document, code)
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":[{}]}}]}}"#,
        (0..400)
            .map(|i| format!("\"arn:aws:s3:::bucket-{i}/*\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let cases = [
        ("{not json", "MalformedPolicyDocument"),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get","Resource":"*","Condition":{"Nope":{"a:b":"c"}}}}"#,
            "MalformedPolicyDocument",
        ),
        (big.as_str(), "LimitExceeded"),
        ("", "ValidationError"),
    ];
    for (doc, code) in cases {
        let e = iam.put_role_policy(s("r"), s("p"), s(doc)).unwrap_err();
        assert_eq!(e.code(), code, "{doc:.40}");
        let e = iam
            .create_policy(CreatePolicy {
                policy_name: s("p"),
                policy_document: s(doc),
                path: None,
                description: None,
                tags: vec![],
            })
            .unwrap_err();
        assert_eq!(e.code(), code, "{doc:.40}");
    }
    assert!(iam.get_role(s("r")).unwrap().inline.is_empty());
    assert!(
        iam.get_policy(s("arn:aws:iam::000000000000:policy/p"))
            .is_err()
    );
    let huge = "x".repeat(MAX_DOCUMENT_CHARS + 1);
    assert_eq!(
        iam.put_role_policy(s("r"), s("p"), Some(huge))
            .unwrap_err()
            .code(),
        "ValidationError"
    );
}

#[test]
fn inline_and_managed_policies_and_delete_conflicts() {
    let iam = iam();
    role(&iam, "r").unwrap();
    iam.put_role_policy(s("r"), s("read"), s(S3_READ)).unwrap();
    assert_eq!(iam.get_role_policy(s("r"), s("read")).unwrap().2, S3_READ);
    assert_eq!(
        iam.list_role_policies(s("r"), all()).unwrap().items,
        ["read"]
    );
    let e = iam.get_role_policy(s("r"), s("nope")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "The role policy with name nope cannot be found."
    );

    iam.attach_role_policy(s("r"), s(EXEC_POLICY)).unwrap();
    let p = policy(&iam, "mine").unwrap();
    assert_eq!(p.arn, "arn:aws:iam::000000000000:policy/mine");
    iam.attach_role_policy(s("r"), Some(p.arn.clone())).unwrap();
    let e = iam
        .attach_role_policy(s("r"), s("arn:aws:iam::aws:policy/Nope"))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable."
    );
    let attached = iam
        .list_attached_role_policies(s("r"), None, all())
        .unwrap();
    assert_eq!(
        attached.items,
        [
            (
                "AmazonECSTaskExecutionRolePolicy".to_string(),
                EXEC_POLICY.to_string()
            ),
            ("mine".to_string(), p.arn.clone())
        ]
    );
    assert_eq!(
        iam.get_policy(Some(p.arn.clone()))
            .unwrap()
            .attachment_count,
        1
    );
    let rp = iam
        .role_policies("arn:aws:iam::000000000000:role/r")
        .unwrap();
    assert_eq!(rp.documents.len(), 3);

    let conflict = |e: IamError| (e.code(), e.status(), e.to_string());
    assert_eq!(
        conflict(iam.delete_role(s("r")).unwrap_err()),
        (
            "DeleteConflict",
            409,
            "Cannot delete entity, must detach all policies first.".into()
        )
    );
    assert_eq!(
        conflict(iam.delete_policy(Some(p.arn.clone())).unwrap_err()).2,
        "Cannot delete a policy attached to entities."
    );
    iam.detach_role_policy(s("r"), s(EXEC_POLICY)).unwrap();
    iam.detach_role_policy(s("r"), Some(p.arn.clone())).unwrap();
    assert_eq!(
        conflict(iam.delete_role(s("r")).unwrap_err()).2,
        "Cannot delete entity, must delete policies first."
    );
    iam.delete_role_policy(s("r"), s("read")).unwrap();
    iam.delete_role(s("r")).unwrap();
    assert!(iam.get_role(s("r")).is_err());

    // Versions: at most five, the default cannot go, deletion needs one.
    for _ in 0..4 {
        iam.create_policy_version(Some(p.arn.clone()), s(S3_READ), false)
            .unwrap();
    }
    let e = iam
        .create_policy_version(Some(p.arn.clone()), s(S3_READ), true)
        .unwrap_err();
    assert_eq!(e.code(), "LimitExceeded");
    assert_eq!(
        conflict(iam.delete_policy(Some(p.arn.clone())).unwrap_err()).0,
        "DeleteConflict"
    );
    assert_eq!(
        iam.delete_policy_version(Some(p.arn.clone()), s("v1"))
            .unwrap_err()
            .to_string(),
        "Cannot delete the default version of a policy."
    );
    for v in ["v2", "v3", "v4", "v5"] {
        iam.delete_policy_version(Some(p.arn.clone()), s(v))
            .unwrap();
    }
    iam.delete_policy(Some(p.arn.clone())).unwrap();
    assert_eq!(
        iam.get_policy(Some(p.arn)).unwrap_err().code(),
        "NoSuchEntity"
    );
}

#[test]
fn aws_managed_policies_are_there_with_their_documents() {
    let iam = iam();
    let listed = iam
        .list_policies(s("AWS"), false, None, all())
        .unwrap()
        .items;
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    for want in [
        "AmazonECSTaskExecutionRolePolicy",
        "AmazonS3ReadOnlyAccess",
        "AmazonS3FullAccess",
        "AmazonSQSFullAccess",
        "SecretsManagerReadWrite",
        "AmazonSSMReadOnlyAccess",
        "CloudWatchLogsFullAccess",
        "AdministratorAccess",
    ] {
        assert!(names.contains(&want), "{want}");
    }
    for p in &listed {
        let v = iam
            .get_policy_version(Some(p.arn.clone()), Some(p.default_version_id.clone()))
            .unwrap();
        policy::parse(&v.document, policy::Kind::Identity)
            .unwrap_or_else(|e| panic!("{}: {e}", p.name));
    }
    let exec = iam.get_policy(s(EXEC_POLICY)).unwrap();
    assert_eq!(
        (exec.path.as_str(), exec.default_version_id.as_str()),
        ("/service-role/", "v1")
    );
    let doc = iam
        .get_policy_version(s(EXEC_POLICY), s("v1"))
        .unwrap()
        .document;
    let d = policy::parse(&doc, policy::Kind::Identity).unwrap();
    assert_eq!(d.statements[0].actions.items.len(), 6);
    assert!(!doc.contains("CreateLogGroup"));
    assert_eq!(
        iam.delete_policy(s(EXEC_POLICY)).unwrap_err().code(),
        "InvalidInput"
    );
    assert!(
        iam.list_policies(s("Local"), false, None, all())
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn lists_page_and_tags_merge() {
    let iam = iam();
    for i in 0..5 {
        role(&iam, &format!("r{i}")).unwrap();
    }
    let mut marker = None;
    let mut seen = vec![];
    loop {
        let page = iam
            .list_roles(
                None,
                PageRequest {
                    marker,
                    max_items: Some(2),
                },
            )
            .unwrap();
        seen.extend(page.items.into_iter().map(|r| r.name));
        match page.marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen, ["r0", "r1", "r2", "r3", "r4"]);
    let tag = |k: &str, v: &str| Tag {
        key: k.into(),
        value: v.into(),
    };
    iam.tag_role(s("r0"), vec![tag("a", "1"), tag("b", "2")])
        .unwrap();
    iam.tag_role(s("r0"), vec![tag("a", "9")]).unwrap();
    assert_eq!(
        iam.list_role_tags(s("r0"), all()).unwrap().items,
        [tag("a", "9"), tag("b", "2")]
    );
    let e = iam
        .tag_role(s("r0"), vec![tag("c", "1"), tag("c", "2")])
        .unwrap_err();
    assert_eq!(e.code(), "InvalidInput");
    iam.untag_role(s("r0"), vec!["a".into()]).unwrap();
    assert_eq!(
        iam.list_role_tags(s("r0"), all()).unwrap().items,
        [tag("b", "2")]
    );
    let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_eq!(
        iam.tag_role(s("r0"), many).unwrap_err().code(),
        "LimitExceeded"
    );
}

/// Everything the backend holds: memory and store.
fn snapshot(iam: &Iam) -> String {
    let memory = iam.inner.read(|st| serde_json::to_string(st).unwrap());
    let roles: Vec<(String, serde_json::Value)> = iam.inner.store().load(KIND_ROLE).unwrap();
    let policies: Vec<(String, serde_json::Value)> = iam.inner.store().load(KIND_POLICY).unwrap();
    format!("{memory}\n{roles:?}\n{policies:?}")
}

/// An error answer changes nothing: every mutating operation, with the
/// store's writes failing, answers ServiceFailure (500) and leaves memory
/// and store as they were; with writes working it changes them.
#[test]
fn an_error_changes_nothing() {
    type Call = fn(&Iam) -> Result<()>;
    let cases: [(&str, Call); 16] = [
        ("create_role", |i| role(i, "new").map(drop)),
        ("delete_role", |i| i.delete_role(s("bare"))),
        ("update_assume_role_policy", |i| {
            i.update_assume_role_policy(s("r"), s(TRUST.replace("ecs-tasks", "lambda").as_str()))
        }),
        ("put_role_policy", |i| {
            i.put_role_policy(s("r"), s("new"), s(S3_READ))
        }),
        ("delete_role_policy", |i| {
            i.delete_role_policy(s("r"), s("read"))
        }),
        ("attach_role_policy", |i| {
            i.attach_role_policy(s("r"), s("arn:aws:iam::aws:policy/AdministratorAccess"))
        }),
        ("detach_role_policy", |i| {
            i.detach_role_policy(s("r"), s(EXEC_POLICY))
        }),
        ("tag_role", |i| {
            i.tag_role(
                s("r"),
                vec![Tag {
                    key: "k".into(),
                    value: "v".into(),
                }],
            )
        }),
        ("untag_role", |i| i.untag_role(s("r"), vec!["t".into()])),
        ("create_policy", |i| policy(i, "new").map(drop)),
        ("create_policy_version", |i| {
            i.create_policy_version(s("arn:aws:iam::000000000000:policy/mine"), s(S3_READ), true)
                .map(drop)
        }),
        ("delete_policy_version", |i| {
            i.delete_policy_version(s("arn:aws:iam::000000000000:policy/two"), s("v2"))
        }),
        ("set_default_policy_version", |i| {
            i.set_default_policy_version(s("arn:aws:iam::000000000000:policy/two"), s("v2"))
        }),
        ("delete_policy", |i| {
            i.delete_policy(s("arn:aws:iam::000000000000:policy/mine"))
        }),
        ("reset", |i| i.reset()),
        ("create_role (second)", |i| role(i, "other").map(drop)),
    ];
    for (name, call) in cases {
        let dir = std::env::temp_dir().join(format!("fl-iam-{}", uuid::Uuid::new_v4()));
        let iam = Iam::load(Store::open(&dir, false).unwrap(), "000000000000".into()).unwrap();
        role(&iam, "r").unwrap();
        role(&iam, "bare").unwrap();
        iam.put_role_policy(s("r"), s("read"), s(S3_READ)).unwrap();
        iam.attach_role_policy(s("r"), s(EXEC_POLICY)).unwrap();
        iam.tag_role(
            s("r"),
            vec![Tag {
                key: "t".into(),
                value: "1".into(),
            }],
        )
        .unwrap();
        policy(&iam, "mine").unwrap();
        let two = policy(&iam, "two").unwrap();
        iam.create_policy_version(Some(two.arn), s(S3_READ), false)
            .unwrap();
        let before = snapshot(&iam);
        iam.inner.store().fail_writes(true);
        let e = call(&iam).unwrap_err();
        assert_eq!((e.code(), e.status()), ("ServiceFailure", 500), "{name}");
        assert_eq!(snapshot(&iam), before, "{name} changed state");
        iam.inner.store().fail_writes(false);
        call(&iam).unwrap();
        assert_ne!(snapshot(&iam), before, "{name} changes nothing");
        // Durable: a reload sees what memory holds.
        let now = snapshot(&iam);
        drop(iam);
        let again = Iam::load(Store::open(&dir, false).unwrap(), "000000000000".into()).unwrap();
        assert_eq!(snapshot(&again), now, "{name} reloaded");
        drop(again);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// The agent's repeated call (awslogs' PutLogEvents, once per batch) is
/// logged and noted once per use, and again only when its outcome
/// changes; a caller's own calls are noted every time.
#[test]
fn an_agent_call_is_noted_once_per_use_and_again_when_the_outcome_changes() {
    let iam = iam();
    let log = crate::services::requestlog::RequestLog::default();
    iam.attach_request_log(log.clone());
    let task = "arn:aws:ecs:us-east-1:000000000000:task/c/t1";
    let who = Subject {
        kind: usage::RoleKind::Execution,
        role: "exec",
        task_arn: task,
    };
    let stream =
        |s: &str| format!("arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:{s}");
    let put = |mode, s: &str| iam.decide(mode, who, None, "logs:PutLogEvents", &[stream(s)]);
    let noted = || {
        log.entries()
            .iter()
            .filter(|e| e.operation == "PutLogEvents")
            .map(|e| (e.error.clone(), e.iam.as_ref().map(|n| n.resource.clone())))
            .collect::<Vec<_>>()
    };
    // The role does not exist: warn would deny every batch.
    for _ in 0..5 {
        assert!(put(Mode::Warn, "a").is_ok());
    }
    assert_eq!(noted(), vec![(None, Some(stream("a")))]);
    // Another stream is another use.
    assert!(put(Mode::Warn, "b").is_ok());
    assert_eq!(noted().len(), 2);
    // Enforce refuses every batch, and notes the change once.
    for _ in 0..3 {
        assert!(put(Mode::Enforce, "a").is_err());
    }
    let n = noted();
    assert_eq!(n.len(), 3, "{n:?}");
    assert_eq!(
        n[2],
        (Some("AccessDeniedException".into()), Some(stream("a")))
    );
    let usage = iam.usage().of_task(task).unwrap();
    let a = usage
        .uses
        .iter()
        .find(|u| u.resource == stream("a"))
        .unwrap();
    assert_eq!((a.count, a.outcome), (8, usage::Outcome::Denied));
    // A caller's call (with a request id) is noted each time.
    for id in ["r1", "r2"] {
        let _ = iam.decide(
            Mode::Warn,
            who,
            Some(id),
            "logs:PutLogEvents",
            &[stream("a")],
        );
        log.record(id, "logs", "PutLogEvents", None, None, None);
    }
    assert_eq!(noted().len(), 5);
}

/// A role's parsed policies are kept between decisions, by the name or
/// ARN asked for: every change that can alter a decision (an inline policy
/// put or deleted, a managed policy attached or detached, a new default
/// version, the role deleted or created again, a reset) is in effect for
/// the very next one.
#[test]
fn decisions_follow_every_change_of_the_roles_policies() {
    let iam = iam();
    let read = || {
        ["r", "arn:aws:iam::000000000000:role/r"].map(|who| {
            iam.judge_role(who, "t1", "s3:GetObject", &["arn:aws:s3:::b/k".into()])
                .is_ok()
        })
    };
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#;
    assert_eq!(read(), [false, false], "no role");
    role(&iam, "r").unwrap();
    assert_eq!(read(), [false, false], "no policy");
    iam.put_role_policy(s("r"), s("read"), s(S3_READ)).unwrap();
    assert_eq!(read(), [true, true], "inline policy");
    iam.delete_role_policy(s("r"), s("read")).unwrap();
    assert_eq!(read(), [false, false], "inline policy deleted");
    let p = policy(&iam, "managed").unwrap();
    iam.attach_role_policy(s("r"), Some(p.arn.clone())).unwrap();
    assert_eq!(read(), [true, true], "managed policy attached");
    iam.create_policy_version(Some(p.arn.clone()), s(deny), true)
        .unwrap();
    assert_eq!(read(), [false, false], "a denying default version");
    iam.set_default_policy_version(Some(p.arn.clone()), s("v1"))
        .unwrap();
    assert_eq!(read(), [true, true], "v1 the default again");
    iam.detach_role_policy(s("r"), Some(p.arn.clone())).unwrap();
    assert_eq!(read(), [false, false], "detached");
    iam.put_role_policy(s("r"), s("read"), s(S3_READ)).unwrap();
    iam.delete_role_policy(s("r"), s("read")).unwrap();
    iam.delete_role(s("r")).unwrap();
    role(&iam, "r").unwrap();
    assert_eq!(read(), [false, false], "created again, without policies");
    iam.put_role_policy(s("r"), s("read"), s(S3_READ)).unwrap();
    assert_eq!(read(), [true, true]);
    iam.reset().unwrap();
    assert_eq!(read(), [false, false], "reset");
}

/// Condition keys are still there for a statement that reads them (they
/// are only built for such policies).
#[test]
fn conditions_and_variables_see_the_sessions_keys() {
    let iam = iam();
    role(&iam, "r").unwrap();
    let doc = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:userid}/*"},
        {"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::000000000000:role/r"}}}]}"#;
    iam.put_role_policy(s("r"), s("p"), s(doc)).unwrap();
    let judge = |action: &str, resource: &str| {
        iam.judge_role("r", "t1", action, &[resource.into()])
            .is_ok()
    };
    assert!(judge("s3:GetObject", "arn:aws:s3:::b/t1/k"));
    assert!(!judge("s3:GetObject", "arn:aws:s3:::b/t2/k"));
    assert!(judge("s3:PutObject", "arn:aws:s3:::b/x"));
}
