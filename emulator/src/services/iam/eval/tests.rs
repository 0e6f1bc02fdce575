//! The evaluator, table-style: one `check` per request against a policy.

use super::*;
use crate::services::iam::policy::{Kind, parse};

fn doc(statements: &str) -> Document {
    parse(
        &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
        Kind::Identity,
    )
    .unwrap_or_else(|e| panic!("{e}: {statements}"))
}

fn check(d: &Document, action: &str, resource: &str, ctx: &Context, want: Decision) {
    let r = Request {
        action,
        resource,
        context: ctx,
    };
    assert_eq!(
        evaluate([d], &r),
        want,
        "{action} on {resource} with {ctx:?}"
    );
}

use Decision::{Allow, ExplicitDeny, ImplicitDeny};

#[test]
fn deny_beats_allow_beats_implicit_deny() {
    let none = Context::new();
    let d = doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},
           {"Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}"#);
    check(&d, "s3:GetObject", "arn:aws:s3:::b/k", &none, Allow);
    check(
        &d,
        "s3:DeleteObject",
        "arn:aws:s3:::b/k",
        &none,
        ExplicitDeny,
    );
    check(&d, "s3:DeleteObject", "arn:aws:s3:::other/k", &none, Allow);
    check(&d, "sqs:SendMessage", "*", &none, ImplicitDeny);
    // Order does not matter, nor which document holds the deny.
    let allow = doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#);
    let deny = doc(r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#);
    let r = Request {
        action: "s3:GetObject",
        resource: "*",
        context: &none,
    };
    assert_eq!(evaluate([&deny, &allow], &r), ExplicitDeny);
    assert_eq!(evaluate([&allow, &deny], &r), ExplicitDeny);
    assert_eq!(evaluate([], &r), ImplicitDeny);
}

#[test]
fn actions_ignore_case_resources_do_not() {
    let none = Context::new();
    let d = doc(
        r#"{"Effect":"Allow","Action":["S3:get*","logs:Put?ogEvents"],"Resource":"arn:aws:s3:::Bucket/*"}"#,
    );
    check(&d, "s3:GetObject", "arn:aws:s3:::Bucket/a/b", &none, Allow);
    check(&d, "s3:getobject", "arn:aws:s3:::Bucket/a", &none, Allow);
    check(
        &d,
        "s3:GetObject",
        "arn:aws:s3:::bucket/a",
        &none,
        ImplicitDeny,
    );
    check(
        &d,
        "s3:PutObject",
        "arn:aws:s3:::Bucket/a",
        &none,
        ImplicitDeny,
    );
    check(
        &d,
        "logs:PutLogEvents",
        "arn:aws:s3:::Bucket/x",
        &none,
        Allow,
    );
    check(
        &d,
        "logs:PutLLogEvents",
        "arn:aws:s3:::Bucket/x",
        &none,
        ImplicitDeny,
    );
    // `*` crosses colons: a log-group pattern covers its streams.
    let logs = doc(
        r#"{"Effect":"Allow","Action":"logs:*","Resource":"arn:aws:logs:*:*:log-group:/ecs/app:*"}"#,
    );
    check(
        &logs,
        "logs:CreateLogStream",
        "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/app:log-stream:web/app/abc",
        &none,
        Allow,
    );
    check(
        &logs,
        "logs:CreateLogStream",
        "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/other:log-stream:x",
        &none,
        ImplicitDeny,
    );
    // A resource-less action needs `*`.
    let ecr =
        doc(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/*"}"#);
    check(&ecr, "ecr:GetAuthorizationToken", "*", &none, ImplicitDeny);
    check(
        &ecr,
        "ecr:BatchGetImage",
        "arn:aws:ecr:us-east-1:1:repository/web",
        &none,
        Allow,
    );
}

#[test]
fn not_action_and_not_resource() {
    let none = Context::new();
    let d = doc(r#"{"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:s3:::secret/*"}"#);
    check(&d, "s3:GetObject", "arn:aws:s3:::public/k", &none, Allow);
    check(
        &d,
        "s3:GetObject",
        "arn:aws:s3:::secret/k",
        &none,
        ImplicitDeny,
    );
    check(
        &d,
        "iam:PassRole",
        "arn:aws:iam::1:role/r",
        &none,
        ImplicitDeny,
    );
    // Deny everything except reading.
    let d = doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"},
           {"Effect":"Deny","NotAction":["s3:Get*","s3:List*"],"Resource":"*"}"#);
    check(&d, "s3:GetObject", "*", &none, Allow);
    check(&d, "s3:PutObject", "*", &none, ExplicitDeny);
}

#[test]
fn conditions() {
    let d = |cond: &str| {
        doc(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{cond}}}"#
        ))
    };
    let ctx = Context::new()
        .with("aws:SourceAccount", "000000000000")
        .with(
            "aws:SourceArn",
            "arn:aws:ecs:us-east-1:000000000000:task/c/abc",
        )
        .with("aws:SecureTransport", "true")
        .with("aws:SourceIp", "10.1.2.3")
        .with("s3:max-keys", "10")
        .with("aws:CurrentTime", "2026-12-07T12:00:00Z")
        .with("aws:TagKeys", "team")
        .with("aws:TagKeys", "env");
    // (condition block, decision)
    let cases = [
        (
            r#"{"StringEquals":{"aws:SourceAccount":"000000000000"}}"#,
            Allow,
        ),
        (
            r#"{"StringEquals":{"AWS:SOURCEACCOUNT":["1","000000000000"]}}"#,
            Allow,
        ),
        (
            r#"{"StringEquals":{"aws:SourceAccount":"111122223333"}}"#,
            ImplicitDeny,
        ),
        (
            r#"{"StringNotEquals":{"aws:SourceAccount":"111122223333"}}"#,
            Allow,
        ),
        (
            r#"{"StringNotEquals":{"aws:SourceAccount":["1","000000000000"]}}"#,
            ImplicitDeny,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"aws:SecureTransport":"TRUE"}}"#,
            Allow,
        ),
        (
            r#"{"StringLike":{"aws:SourceArn":"arn:aws:ecs:*:000000000000:*"}}"#,
            Allow,
        ),
        (
            r#"{"StringNotLike":{"aws:SourceArn":"arn:aws:ecs:*"}}"#,
            ImplicitDeny,
        ),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:ecs:us-east-1:000000000000:*"}}"#,
            Allow,
        ),
        (
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:ecs:*:*:task/*"}}"#,
            Allow,
        ),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:ecs:eu-west-1:000000000000:*"}}"#,
            ImplicitDeny,
        ),
        (
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:ecs:eu-west-1:*:*"}}"#,
            Allow,
        ),
        (r#"{"Bool":{"aws:SecureTransport":"true"}}"#, Allow),
        (r#"{"Bool":{"aws:SecureTransport":false}}"#, ImplicitDeny),
        (r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#, Allow),
        (r#"{"NumericLessThan":{"s3:max-keys":10}}"#, ImplicitDeny),
        (r#"{"NumericGreaterThan":{"s3:max-keys":"9"}}"#, Allow),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#,
            Allow,
        ),
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2026-01-01"}}"#,
            ImplicitDeny,
        ),
        (r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, Allow),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8"]}}"#,
            ImplicitDeny,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"192.168.0.0/16"}}"#,
            ImplicitDeny,
        ),
        // Missing keys: false, true when negated or IfExists.
        (
            r#"{"StringEquals":{"aws:SourceVpce":"vpce-1"}}"#,
            ImplicitDeny,
        ),
        (r#"{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}"#, Allow),
        (
            r#"{"StringEqualsIfExists":{"aws:SourceVpce":"vpce-1"}}"#,
            Allow,
        ),
        (
            r#"{"StringEqualsIfExists":{"aws:SourceAccount":"1"}}"#,
            ImplicitDeny,
        ),
        (r#"{"Null":{"aws:SourceVpce":"true"}}"#, Allow),
        (r#"{"Null":{"aws:SourceAccount":"true"}}"#, ImplicitDeny),
        (r#"{"Null":{"aws:SourceAccount":"false"}}"#, Allow),
        // Set operators.
        (
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env","x"]}}"#,
            Allow,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}"#,
            ImplicitDeny,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"aws:Missing":["team"]}}"#,
            Allow,
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["env"]}}"#,
            Allow,
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"aws:Missing":["env"]}}"#,
            ImplicitDeny,
        ),
        (
            r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["env"]}}"#,
            Allow,
        ),
        // Everything in a block must hold.
        (
            r#"{"StringEquals":{"aws:SourceAccount":"000000000000"},"ArnLike":{"aws:SourceArn":"arn:aws:ecs:eu-*"}}"#,
            ImplicitDeny,
        ),
        (
            r#"{"StringEquals":{"aws:SourceAccount":"000000000000","aws:SecureTransport":"true"}}"#,
            Allow,
        ),
    ];
    for (cond, want) in cases {
        check(&d(cond), "s3:GetObject", "*", &ctx, want);
    }
}

#[test]
fn policy_variables() {
    let d =
        doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:userid}/*"}"#);
    let ctx = Context::new().with("aws:userid", "AROA1:task");
    check(
        &d,
        "s3:GetObject",
        "arn:aws:s3:::home/AROA1:task/f",
        &ctx,
        Allow,
    );
    check(
        &d,
        "s3:GetObject",
        "arn:aws:s3:::home/other/f",
        &ctx,
        ImplicitDeny,
    );
    check(
        &d,
        "s3:GetObject",
        "arn:aws:s3:::home/AROA1:task/f",
        &Context::new(),
        ImplicitDeny,
    );
    let lit = doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${*}"}"#);
    check(
        &lit,
        "s3:GetObject",
        "arn:aws:s3:::b/*",
        &Context::new(),
        Allow,
    );
    check(
        &lit,
        "s3:GetObject",
        "arn:aws:s3:::b/x",
        &Context::new(),
        ImplicitDeny,
    );
}

#[test]
fn globs_are_linear() {
    let none = Context::new();
    let p = "*a*a*a*a*a*a*a*a*a*a*a*b";
    let text = "a".repeat(5000);
    assert!(!glob(p, &text, false, &none));
    assert!(glob("a*", "a", false, &none));
    assert!(glob("*", "", false, &none));
    assert!(!glob("?", "", false, &none));
    assert!(glob("a?c", "abc", false, &none));
}

#[test]
fn trust_policies() {
    let trust = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ecs-tasks.amazonaws.com"]},"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:ecs:us-east-1:000000000000:*"},"StringEquals":{"aws:SourceAccount":"000000000000"}}}]}"#,
        Kind::Trust,
    )
    .unwrap();
    let ecs = Caller::Service("ecs-tasks.amazonaws.com");
    let ctx = Context::new()
        .with("aws:SourceAccount", "000000000000")
        .with(
            "aws:SourceArn",
            "arn:aws:ecs:us-east-1:000000000000:task/c/abc",
        );
    assert!(trusts(&trust, &ecs, "sts:AssumeRole", &ctx));
    assert!(!trusts(&trust, &ecs, "sts:TagSession", &ctx));
    assert!(!trusts(
        &trust,
        &Caller::Service("ecs.amazonaws.com"),
        "sts:AssumeRole",
        &ctx
    ));
    let other = Context::new()
        .with("aws:SourceAccount", "111122223333")
        .with(
            "aws:SourceArn",
            "arn:aws:ecs:us-east-1:111122223333:task/c/abc",
        );
    assert!(!trusts(&trust, &ecs, "sts:AssumeRole", &other));

    let aws = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:role/blocked"},"Action":"sts:AssumeRole"}]}"#,
        Kind::Trust,
    )
    .unwrap();
    let root = Caller::Aws {
        arn: "arn:aws:iam::000000000000:root",
        account: "000000000000",
        role_arn: None,
    };
    let session = Caller::Aws {
        arn: "arn:aws:sts::000000000000:assumed-role/blocked/t1",
        account: "000000000000",
        role_arn: Some("arn:aws:iam::000000000000:role/blocked"),
    };
    let stranger = Caller::Aws {
        arn: "arn:aws:iam::111122223333:root",
        account: "111122223333",
        role_arn: None,
    };
    let none = Context::new();
    assert!(trusts(&aws, &root, "sts:AssumeRole", &none));
    assert!(!trusts(&aws, &session, "sts:AssumeRole", &none));
    assert!(!trusts(&aws, &stranger, "sts:AssumeRole", &none));
    assert!(!trusts(&aws, &ecs, "sts:AssumeRole", &none));
}

/// Patterns without variables take a path of their own (no tokens, no copy
/// of the text): it decides as the token path does, case rules included.
#[test]
fn plain_globs_match_as_tokens_do() {
    let none = Context::new();
    let patterns = [
        "*",
        "",
        "ecs:DescribeClusters",
        "ECS:describe*",
        "ecs:*Clusters",
        "ecs:Describe?lusters",
        "arn:aws:ecs:*:*:cluster/*",
        "arn:aws:s3:::b/*/x?",
        "**a*",
        "?",
        "\u{212a}ey",
        "straße*",
        "ÉCS:*",
    ];
    let texts = [
        "",
        "ecs:DescribeClusters",
        "ecs:describeclusters",
        "ecs:DescribeTasks",
        "arn:aws:ecs:us-east-1:000000000000:cluster/bench",
        "arn:aws:s3:::b/a/b/xy",
        "arn:aws:s3:::b/xy",
        "baa",
        "a",
        "key",
        "KEY",
        "strasse",
        "straße/x",
        "écs:x",
    ];
    for p in patterns {
        let tokens = tokens(p, &none).unwrap();
        for t in texts {
            for ignore_case in [false, true] {
                assert_eq!(
                    glob(p, t, ignore_case, &none),
                    matches_tokens(&tokens, t, ignore_case),
                    "{p:?} on {t:?}, ignore_case {ignore_case}"
                );
            }
        }
    }
}
