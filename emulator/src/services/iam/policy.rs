//! IAM policy documents: parsed once into a typed [`Document`], validated
//! the way IAM validates them (the `MalformedPolicyDocument` texts), sized
//! against IAM's quotas, and percent-encoded for the wire as IAM returns
//! them (RFC 3986, every byte outside the unreserved set).
//!
//! Pure: no state, no IO. What a statement means at request time is
//! `eval`'s business; this module only says whether a document is one IAM
//! would accept and gives its statements a shape to evaluate.
//!
//! The validation order and messages follow IAM's (as moto's validator,
//! built against AWS, reproduces them): JSON, syntax, version, legacy
//! parsing, unique Sids, actions, resource formats, action vendors, then
//! what is specific to identity or trust policies.

use serde_json::Value;

/// Which kind of policy a document is, which decides what it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Inline or managed permissions: resources, no principal.
    Identity,
    /// A role's trust policy: principals, `sts:` actions, no resource.
    Trust,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A statement's principal (or not-principal) element.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// `"Principal": "*"`.
    Any,
    /// `{"Service": [...], "AWS": [...], "Federated": [...]}`.
    Map(Vec<(String, Vec<String>)>),
}

/// One `Condition` entry: an operator (as written, with any `ForAnyValue:`
/// / `ForAllValues:` prefix and `IfExists` suffix), a key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

/// A list of patterns and whether it is the negated element (`NotAction`,
/// `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone, PartialEq)]
pub struct Patterns {
    pub items: Vec<String>,
    pub negated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<(Principal, bool)>,
    pub actions: Patterns,
    /// `None` in a trust policy.
    pub resources: Option<Patterns>,
    pub conditions: Vec<Condition>,
}

/// A validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub statements: Vec<Statement>,
}

/// The condition operators IAM knows, without set prefixes or `IfExists`.
pub const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

/// An operator without its set prefix and `IfExists` suffix, and those.
pub fn split_operator(op: &str) -> (Option<&str>, &str, bool) {
    let (set, rest) = match op.split_once(':') {
        Some((p @ ("ForAnyValue" | "ForAllValues"), rest)) => (Some(p), rest),
        _ => (None, op),
    };
    match rest.strip_suffix("IfExists") {
        Some(base) => (set, base, true),
        None => (set, rest, false),
    }
}

pub const INVALID_JSON: &str = "This policy contains invalid Json";
pub const SYNTAX: &str = "Syntax errors in policy.";
pub const VERSION: &str = "Policy document must be version 2012-10-17 or greater.";
pub const LEGACY: &str = "The policy failed legacy parsing";
pub const SID_UNIQUE: &str = "Statement IDs (SID) in a single policy must be unique.";
pub const NO_ACTIONS: &str = "Policy statement must contain actions.";
pub const NO_RESOURCES: &str = "Policy statement must contain resources.";
pub const HAS_PRINCIPAL: &str = "Policy document should not specify a principal.";
pub const NO_PRINCIPAL: &str = "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: The passed in policy has a statement with no principals!";
pub const TRUST_ACTIONS: &str = "Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity";
pub const TRUST_RESOURCE: &str = "Has prohibited field Resource.";

/// The actions a trust policy statement may name.
const TRUST_ACTION_NAMES: &[&str] = &[
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:TagSession",
    "sts:SetSourceIdentity",
    "sts:SetContext",
    "sts:*",
];

fn syntax<T>(ok: bool, v: T) -> Result<T, String> {
    if ok { Ok(v) } else { Err(SYNTAX.into()) }
}

/// A string or a list of strings (nulls in a list are skipped, as IAM
/// skips them).
fn strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .filter(|x| !x.is_null())
            .map(|x| x.as_str().map(str::to_string).ok_or(SYNTAX.to_string()))
            .collect(),
        _ => Err(SYNTAX.into()),
    }
}

fn condition_values(v: &Value) -> Result<Vec<String>, String> {
    let one = |x: &Value| match x {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(SYNTAX.to_string()),
    };
    match v {
        Value::Array(a) => a.iter().map(one).collect(),
        x => Ok(vec![one(x)?]),
    }
}

fn principal(v: &Value) -> Result<Principal, String> {
    match v {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), strings(v)?)))
            .collect::<Result<Vec<_>, String>>()
            .map(Principal::Map),
        _ => Err(SYNTAX.into()),
    }
}

const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// The raw pieces of a statement, syntax-checked.
struct Raw {
    sid: Option<String>,
    effect: String,
    principal: Option<(Principal, bool)>,
    actions: Option<Patterns>,
    resources: Option<Patterns>,
    conditions: Vec<Condition>,
}

fn patterns(st: &serde_json::Map<String, Value>, key: &str) -> Result<Option<Patterns>, String> {
    let not = format!("Not{key}");
    match (st.get(key), st.get(&not)) {
        (Some(_), Some(_)) => Err(SYNTAX.into()),
        (Some(v), None) => Ok(Some(Patterns {
            items: strings(v)?,
            negated: false,
        })),
        (None, Some(v)) => Ok(Some(Patterns {
            items: strings(v)?,
            negated: true,
        })),
        (None, None) => Ok(None),
    }
}

fn raw_statement(v: &Value) -> Result<Raw, String> {
    let st = syntax(v.is_object(), v.as_object())?.expect("checked");
    syntax(st.keys().all(|k| STATEMENT_KEYS.contains(&k.as_str())), ())?;
    let effect = match st.get("Effect") {
        Some(Value::String(e))
            if e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny") =>
        {
            e.clone()
        }
        _ => return Err(SYNTAX.into()),
    };
    let principal = match (st.get("Principal"), st.get("NotPrincipal")) {
        (Some(_), Some(_)) => return Err(SYNTAX.into()),
        (Some(p), None) => Some((principal(p)?, false)),
        (None, Some(p)) => Some((principal(p)?, true)),
        (None, None) => None,
    };
    let sid = match st.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(SYNTAX.into()),
    };
    let mut conditions = Vec::new();
    if let Some(c) = st.get("Condition") {
        let c = c.as_object().ok_or(SYNTAX.to_string())?;
        for (op, block) in c {
            let block = block.as_object().ok_or(SYNTAX.to_string())?;
            let (_, base, _) = split_operator(op);
            if !OPERATORS.contains(&base) {
                // An operator IAM does not know is refused unless its block
                // is empty.
                syntax(block.is_empty(), ())?;
                continue;
            }
            for (key, values) in block {
                conditions.push(Condition {
                    operator: op.clone(),
                    key: key.clone(),
                    values: condition_values(values)?,
                });
            }
        }
    }
    Ok(Raw {
        sid,
        effect,
        principal,
        actions: patterns(st, "Action")?,
        resources: patterns(st, "Resource")?,
        conditions,
    })
}

/// The first problem with a resource pattern's format, if any.
fn resource_format_error(r: &str) -> Option<String> {
    if r == "*" {
        return None;
    }
    let Some((_, rest)) = r.split_once(':') else {
        return Some(format!("Resource {r} must be in ARN format or \"*\"."));
    };
    let (partition, rest) = rest.split_once(':').unwrap_or((rest, ""));
    if partition != "*" && !["aws", "aws-cn", "aws-us-gov"].contains(&partition) {
        return Some(format!(
            "Partition \"{partition}\" is not valid for resource \"{r}\"."
        ));
    }
    let (service, rest) = rest.split_once(':').unwrap_or((rest, ""));
    if service.is_empty() || service.contains(['*', '?']) {
        return Some("Resource vendor must be fully qualified and cannot contain regexes.".into());
    }
    let (region, rest) = rest.split_once(':').unwrap_or((rest, ""));
    let (_account, resource) = rest.split_once(':').unwrap_or((rest, ""));
    if service == "iam" && !region.is_empty() {
        return Some(format!(
            "IAM resource {r} cannot contain region information."
        ));
    }
    if service == "s3" && !region.is_empty() && !resource.starts_with("accesspoint/") {
        return Some(format!("Resource {r} can not contain region information."));
    }
    None
}

/// `vendor:Action` (or `*`): the first problem with an action, if any.
fn action_error(a: &str) -> Option<String> {
    let parts: Vec<&str> = a.split(':').collect();
    if parts.len() == 1 && parts[0] != "*" {
        return Some(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.".into(),
        );
    }
    if parts.len() > 2 {
        return Some("Actions/Condition can contain only one colon.".into());
    }
    let vendor = parts[0];
    if vendor != "*"
        && !vendor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Some(format!("Vendor {vendor} is not valid"));
    }
    None
}

/// Whether a `Service` principal names a service (`<name>.amazonaws.com`).
fn valid_service(s: &str) -> bool {
    let name = s
        .strip_suffix(".amazonaws.com")
        .or_else(|| s.strip_suffix(".amazonaws.com.cn"));
    name.is_some_and(|n| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    })
}

/// Whether an `AWS` principal is an account, `*` or an IAM/STS ARN.
fn valid_aws_principal(s: &str) -> bool {
    if s == "*" || (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())) {
        return true;
    }
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && ["iam", "sts"].contains(&parts[2])
        && parts[3].is_empty()
        && (parts[4] == "aws"
            || parts[4].len() == 12 && parts[4].bytes().all(|b| b.is_ascii_digit()))
        && !parts[5].is_empty()
}

fn principal_error(p: &Principal) -> Option<String> {
    let Principal::Map(m) = p else {
        return None;
    };
    for (kind, values) in m {
        for v in values {
            let ok = match kind.as_str() {
                "Service" => valid_service(v),
                "AWS" => valid_aws_principal(v),
                "Federated" | "CanonicalUser" => !v.is_empty(),
                _ => false,
            };
            if !ok {
                return Some(format!(
                    "Invalid principal in policy: \"{}\":\"{v}\"",
                    kind.to_ascii_uppercase()
                ));
            }
        }
    }
    None
}

/// Parses and validates a document as IAM does; the error is the
/// `MalformedPolicyDocument` message.
pub fn parse(text: &str, kind: Kind) -> Result<Document, String> {
    let v: Value = serde_json::from_str(text).map_err(|_| INVALID_JSON.to_string())?;
    let top = v.as_object().ok_or(SYNTAX.to_string())?;
    syntax(
        top.keys()
            .all(|k| ["Version", "Id", "Statement"].contains(&k.as_str())),
        (),
    )?;
    let version = match top.get("Version") {
        None => None,
        Some(Value::String(s)) if s == "2012-10-17" || s == "2008-10-17" => Some(s.as_str()),
        Some(_) => return Err(SYNTAX.into()),
    };
    if let Some(id) = top.get("Id") {
        syntax(id.is_string(), ())?;
    }
    let raws: Vec<Raw> = match top.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => {
            a.iter().map(raw_statement).collect::<Result<_, _>>()?
        }
        Some(o @ Value::Object(_)) => vec![raw_statement(o)?],
        _ => return Err(SYNTAX.into()),
    };
    if version != Some("2012-10-17") {
        return Err(VERSION.into());
    }
    // Legacy parsing: the effect's case, then resources with `::` that are
    // not whole ARNs.
    for r in &raws {
        if r.effect != "Allow" && r.effect != "Deny" {
            return Err(LEGACY.into());
        }
    }
    let mut sids = std::collections::HashSet::new();
    for r in &raws {
        if let Some(s) = r.sid.as_deref().filter(|s| !s.is_empty())
            && !sids.insert(s)
        {
            return Err(SID_UNIQUE.into());
        }
    }
    if raws
        .iter()
        .any(|r| r.actions.as_ref().is_none_or(|a| a.items.is_empty()))
    {
        return Err(NO_ACTIONS.into());
    }
    for r in &raws {
        if let Some(res) = &r.resources {
            let mut sorted: Vec<&String> = res.items.iter().collect();
            sorted.sort_by(|a, b| b.cmp(a));
            if let Some(e) = sorted.into_iter().find_map(|x| resource_format_error(x)) {
                return Err(e);
            }
        }
    }
    for r in &raws {
        if let Some(e) = r
            .actions
            .iter()
            .flat_map(|a| a.items.iter())
            .find_map(|a| action_error(a))
        {
            return Err(e);
        }
    }
    match kind {
        Kind::Identity => {
            if raws
                .iter()
                .any(|r| r.resources.as_ref().is_none_or(|x| x.items.is_empty()))
            {
                return Err(NO_RESOURCES.into());
            }
            if raws.iter().any(|r| r.principal.is_some()) {
                return Err(HAS_PRINCIPAL.into());
            }
        }
        Kind::Trust => {
            let sts_only = raws.iter().all(|r| {
                let a = r.actions.as_ref().expect("checked above");
                a.negated
                    || a.items
                        .iter()
                        .all(|x| TRUST_ACTION_NAMES.iter().any(|t| t.eq_ignore_ascii_case(x)))
            });
            if !sts_only {
                return Err(TRUST_ACTIONS.into());
            }
            if raws.iter().any(|r| r.resources.is_some()) {
                return Err(TRUST_RESOURCE.into());
            }
            if raws.iter().any(|r| r.principal.is_none()) {
                return Err(NO_PRINCIPAL.into());
            }
            if let Some(e) = raws
                .iter()
                .find_map(|r| principal_error(&r.principal.as_ref().expect("checked").0))
            {
                return Err(e);
            }
        }
    }
    Ok(Document {
        statements: raws
            .into_iter()
            .map(|r| Statement {
                sid: r.sid,
                effect: if r.effect == "Allow" {
                    Effect::Allow
                } else {
                    Effect::Deny
                },
                principal: r.principal,
                actions: r.actions.expect("checked above"),
                resources: r.resources,
                conditions: r.conditions,
            })
            .collect(),
    })
}

/// The size IAM counts against its quotas: characters, whitespace not
/// counted.
pub fn counted_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// RFC 3986 percent-encoding of everything outside the unreserved set
/// (`A-Z a-z 0-9 - _ . ~`), as IAM returns policy documents.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: Kind, doc: &str, want: Result<usize, &str>) {
        let got = parse(doc, kind).map(|d| d.statements.len());
        assert_eq!(got, want.map_err(str::to_string), "{doc}");
    }

    const TRUST_ECS: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    #[test]
    fn identity_policies() {
        use Kind::Identity as I;
        let ok = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#;
        check(I, ok, Ok(1));
        check(I, "{", Err(INVALID_JSON));
        check(I, "[]", Err(SYNTAX));
        check(I, r#"{"Version":"2012-10-17"}"#, Err(SYNTAX));
        check(I, r#"{"Version":"2012-10-17","Statement":[]}"#, Err(SYNTAX));
        check(
            I,
            r#"{"Version":"2012-10-17","Foo":1,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            Err(SYNTAX),
        );
        check(
            I,
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            Err(VERSION),
        );
        check(
            I,
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            Err(VERSION),
        );
        check(
            I,
            r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            Err(SYNTAX),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}"#,
            Err(SYNTAX),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"*","Resource":"*"}}"#,
            Err(LEGACY),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Deny","Action":"*","Resource":"*"}]}"#,
            Err(SID_UNIQUE),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
            Err(NO_ACTIONS),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
            Err(NO_ACTIONS),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
            Err(NO_RESOURCES),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}"#,
            Err("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:a:b","Resource":"*"}}"#,
            Err("Actions/Condition can contain only one colon."),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s 3:Get","Resource":"*"}}"#,
            Err("Vendor s 3 is not valid"),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get","Resource":"bucket"}}"#,
            Err("Resource bucket must be in ARN format or \"*\"."),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:Get","Resource":"arn:aws:iam:us-east-1:1:role/x"}}"#,
            Err("IAM resource arn:aws:iam:us-east-1:1:role/x cannot contain region information."),
        );
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:Get","Resource":"*"}}"#,
            Err(HAS_PRINCIPAL),
        );
        // Unknown condition operators are refused, known ones kept.
        check(
            I,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}}"#,
            Err(SYNTAX),
        );
        let d = parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"s3:Get","NotResource":["*"],"Condition":{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a","b"]},"Bool":{"aws:SecureTransport":true}}}}"#,
            I,
        )
        .unwrap();
        let s = &d.statements[0];
        assert!(s.actions.negated && s.resources.as_ref().unwrap().negated);
        assert_eq!(s.conditions.len(), 2);
        assert_eq!(s.conditions[1].values, ["a", "b"]);
        assert_eq!(s.conditions[0].values, ["true"]);
        // Deeply nested JSON is refused as JSON, not by a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        check(I, &deep, Err(INVALID_JSON));
    }

    #[test]
    fn trust_policies() {
        use Kind::Trust as T;
        check(T, TRUST_ECS, Ok(1));
        check(
            T,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ecs-tasks.amazonaws.com"],"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#,
            Ok(1),
        );
        check(
            T,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
            Err(NO_PRINCIPAL),
        );
        check(
            T,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs"},"Action":"sts:AssumeRole"}]}"#,
            Err("Invalid principal in policy: \"SERVICE\":\"ecs\""),
        );
        check(
            T,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}]}"#,
            Err("Invalid principal in policy: \"AWS\":\"bob\""),
        );
        check(
            T,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}"#,
            Err(TRUST_ACTIONS),
        );
        check(
            T,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}"#,
            Err(TRUST_RESOURCE),
        );
    }

    #[test]
    fn encoding_and_size() {
        assert_eq!(
            url_encode(r#"{"A": "s3:*/x~"}"#),
            "%7B%22A%22%3A%20%22s3%3A%2A%2Fx~%22%7D"
        );
        assert_eq!(url_encode("é"), "%C3%A9");
        assert_eq!(counted_size("{ \"a\" :\n 1 }"), 7);
    }
}
