//! The policy evaluator: one pure function from policy documents and a
//! request (action, resource, condition keys) to a decision, as IAM
//! decides within one account: an explicit deny wins over any allow, an
//! allow wins over the implicit deny. Trust policies are evaluated the same
//! way with the principal matched too ([`trusts`]).
//!
//! Matching follows IAM's rules: actions ignore case, resources do not;
//! `*` matches any run of characters (colons and slashes included) and `?`
//! one; `${...}` policy variables are replaced from the request's keys
//! (`${*}`, `${?}`, `${$}` are the literal characters). Conditions: every
//! operator, every key in it and at least one value per key must hold;
//! negated operators must match none; a missing key is false, true for
//! negated operators and `...IfExists`; `ForAllValues` over a missing key
//! is true, `ForAnyValue` false. Condition key names ignore case.
//!
//! Left out: resource-based policies, permissions boundaries, session
//! policies and SCPs (none exist in the emulator).

use std::collections::HashMap;
use std::net::IpAddr;

use super::policy::{Condition, Document, Effect, Patterns, Principal, Statement, split_operator};

/// The request's condition keys and their values, by lower-cased name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context(HashMap<String, Vec<String>>);

impl Context {
    pub fn new() -> Self {
        Context::default()
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0
            .entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.into());
        self
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.0
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }
}

/// What is asked: an action (`s3:GetObject`) on a resource (an ARN, or
/// `*` for actions without resource-level permissions).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it.
    ImplicitDeny,
    /// A statement denies it.
    ExplicitDeny,
}

/// A pattern's pieces, once its variables are replaced.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Char(char),
    Star,
    One,
}

/// A pattern as tokens, `None` when a variable it names has no value.
fn tokens(pattern: &str, ctx: &Context) -> Option<Vec<Token>> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("${")
            && let Some(end) = after.find('}')
        {
            let var = &after[..end];
            match var {
                "*" => out.push(Token::Char('*')),
                "?" => out.push(Token::Char('?')),
                "$" => out.push(Token::Char('$')),
                key => {
                    // `${key, 'default'}` is not supported: a missing key
                    // makes the pattern match nothing.
                    let v = ctx.get(key.trim())?.first()?;
                    out.extend(v.chars().map(Token::Char));
                }
            }
            rest = &after[end + 1..];
            continue;
        }
        out.push(match c {
            '*' => Token::Star,
            '?' => Token::One,
            c => Token::Char(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// Glob matching of tokens against text, iteratively (no recursion, so no
/// pattern can blow the stack or take exponential time).
fn matches_tokens(p: &[Token], text: &str, ignore_case: bool) -> bool {
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(Token::Star) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(Token::One) => {
                pi += 1;
                ti += 1;
            }
            Some(Token::Char(c)) if eq(*c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|x| *x == Token::Star)
}

/// `pattern` (with `*`, `?` and variables) against `text`.
pub fn glob(pattern: &str, text: &str, ignore_case: bool, ctx: &Context) -> bool {
    if !pattern.contains("${") {
        return glob_plain(pattern, text, ignore_case);
    }
    tokens(pattern, ctx).is_some_and(|t| matches_tokens(&t, text, ignore_case))
}

/// [`glob`] for a pattern without variables (nearly every one), on the
/// strings themselves: the same matching as [`matches_tokens`], without
/// building tokens or a copy of the text. Every request a task's
/// credentials sign goes through here.
fn glob_plain(p: &str, t: &str, ignore_case: bool) -> bool {
    // A pattern matches itself, whatever its wildcards.
    if p == "*" || p == t || (ignore_case && p.eq_ignore_ascii_case(t)) {
        return true;
    }
    let wild = |b: u8| p.as_bytes().contains(&b);
    if p.is_ascii() && t.is_ascii() && !wild(b'*') && !wild(b'?') {
        // Not equal, and nothing in the pattern but itself matches.
        return false;
    }
    let eq = |a: char, b: char| {
        if a == b {
            true
        } else if !ignore_case {
            false
        } else if a.is_ascii() && b.is_ascii() {
            a.eq_ignore_ascii_case(&b)
        } else {
            a.to_lowercase().eq(b.to_lowercase())
        }
    };
    let first = |s: &str, at: usize| s[at..].chars().next();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where the last `*` is in the pattern, and where its match ends.
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = first(t, ti) {
        match first(p, pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if c == '?' || eq(c, tc) => {
                pi += c.len_utf8();
                ti += tc.len_utf8();
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + first(t, st).map_or(1, char::len_utf8);
                    star = Some((sp, ti));
                }
                None => return false,
            },
        }
    }
    p[pi..].chars().all(|c| c == '*')
}

fn any_matches(p: &Patterns, text: &str, ignore_case: bool, ctx: &Context) -> bool {
    let hit = p.items.iter().any(|x| glob(x, text, ignore_case, ctx));
    hit != p.negated
}

/// ARN operators: each of the six colon-separated parts compared alone.
fn arn_like(pattern: &str, value: &str, ctx: &Context) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let v: Vec<&str> = value.splitn(6, ':').collect();
    if p.len() != 6 || v.len() != 6 {
        // Not an ARN: only `*` (or a whole-string pattern) can match.
        return glob(pattern, value, false, ctx);
    }
    p.iter().zip(&v).all(|(p, v)| glob(p, v, false, ctx))
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

fn date(s: &str) -> Option<f64> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis() as f64 / 1000.0);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp() as f64);
    }
    number(s)
}

fn in_cidr(cidr: &str, ip: &str) -> bool {
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    match (net.parse::<IpAddr>(), ip) {
        (Ok(IpAddr::V4(n)), IpAddr::V4(a)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (Ok(IpAddr::V6(n)), IpAddr::V6(a)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Whether one request value matches one policy value under a base
/// operator taken positively (`StringNotEquals` as `StringEquals`).
/// `None`: the operator is not known (the condition fails closed).
fn value_matches(base: &str, policy: &str, value: &str, ctx: &Context) -> Option<bool> {
    let num = |f: fn(f64, f64) -> bool| match (number(value), number(policy)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    };
    let dt = |f: fn(f64, f64) -> bool| match (date(value), date(policy)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    };
    Some(match base {
        "StringEquals" | "StringNotEquals" => value == policy,
        "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => {
            value.to_lowercase() == policy.to_lowercase()
        }
        "StringLike" | "StringNotLike" => glob(policy, value, false, ctx),
        "ArnEquals" | "ArnLike" | "ArnNotEquals" | "ArnNotLike" => arn_like(policy, value, ctx),
        "Bool" => value.eq_ignore_ascii_case(policy),
        "BinaryEquals" => value == policy,
        "NumericEquals" | "NumericNotEquals" => num(|a, b| a == b),
        "NumericLessThan" => num(|a, b| a < b),
        "NumericLessThanEquals" => num(|a, b| a <= b),
        "NumericGreaterThan" => num(|a, b| a > b),
        "NumericGreaterThanEquals" => num(|a, b| a >= b),
        "DateEquals" | "DateNotEquals" => dt(|a, b| a == b),
        "DateLessThan" => dt(|a, b| a < b),
        "DateLessThanEquals" => dt(|a, b| a <= b),
        "DateGreaterThan" => dt(|a, b| a > b),
        "DateGreaterThanEquals" => dt(|a, b| a >= b),
        "IpAddress" | "NotIpAddress" => in_cidr(policy, value),
        _ => return None,
    })
}

fn negated(base: &str) -> bool {
    matches!(
        base,
        "StringNotEquals"
            | "StringNotEqualsIgnoreCase"
            | "StringNotLike"
            | "ArnNotEquals"
            | "ArnNotLike"
            | "NumericNotEquals"
            | "DateNotEquals"
            | "NotIpAddress"
    )
}

/// One condition entry against the request's keys.
pub fn condition_holds(c: &Condition, ctx: &Context) -> bool {
    let (set, base, if_exists) = split_operator(&c.operator);
    let values = ctx.get(&c.key);
    if base == "Null" {
        let absent = values.is_none();
        return c
            .values
            .iter()
            .any(|v| v.eq_ignore_ascii_case("true") == absent);
    }
    let neg = negated(base);
    // Does one request value match any of the policy's values (taken
    // positively)? Unknown operators fail closed.
    let one = |v: &str| -> Option<bool> {
        let mut any = false;
        for p in &c.values {
            any |= value_matches(base, p, v, ctx)?;
        }
        Some(any)
    };
    match (set, values) {
        (Some("ForAllValues"), None) => true,
        (Some("ForAnyValue"), None) => false,
        (_, None) => if_exists || neg,
        (Some("ForAllValues"), Some(vs)) => vs.iter().all(|v| one(v).is_some_and(|m| m != neg)),
        (_, Some(vs)) => {
            if neg && set.is_none() {
                // Must match none of the policy's values.
                vs.iter().all(|v| one(v) == Some(false))
            } else {
                vs.iter().any(|v| one(v).is_some_and(|m| m != neg))
            }
        }
    }
}

fn statement_applies(s: &Statement, r: &Request) -> bool {
    if !any_matches(&s.actions, r.action, true, r.context) {
        return false;
    }
    if let Some(res) = &s.resources
        && !any_matches(res, r.resource, false, r.context)
    {
        return false;
    }
    s.conditions.iter().all(|c| condition_holds(c, r.context))
}

/// The decision of a set of documents (a role's inline and attached
/// policies) for one request.
pub fn evaluate<'d>(docs: impl IntoIterator<Item = &'d Document>, r: &Request) -> Decision {
    let mut allowed = false;
    for d in docs {
        for s in &d.statements {
            if statement_applies(s, r) {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Who asks to assume a role.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller<'a> {
    /// A service principal (`ecs-tasks.amazonaws.com`).
    Service(&'a str),
    /// An IAM principal: its ARN (the account root, a role, an assumed-role
    /// session) and account.
    Aws {
        arn: &'a str,
        account: &'a str,
        /// For an assumed-role session, its role's ARN.
        role_arn: Option<&'a str>,
    },
}

fn principal_matches(p: &Principal, caller: &Caller, ctx: &Context) -> bool {
    let Principal::Map(m) = p else {
        return true;
    };
    m.iter().any(|(kind, values)| {
        values.iter().any(|v| match (kind.as_str(), caller) {
            ("Service", Caller::Service(s)) => v == s,
            (
                "AWS",
                Caller::Aws {
                    arn,
                    account,
                    role_arn,
                },
            ) => {
                v == "*"
                    || v == account
                    || *v == crate::domain::arn::iam_root(account)
                    || glob(v, arn, false, ctx)
                    || role_arn.is_some_and(|r| v == r)
            }
            _ => false,
        })
    })
}

/// Whether a trust policy lets `caller` perform `action` (`sts:AssumeRole`)
/// with these keys: some statement allows it and none denies it.
pub fn trusts(doc: &Document, caller: &Caller, action: &str, ctx: &Context) -> bool {
    let mut allowed = false;
    for s in &doc.statements {
        if !any_matches(&s.actions, action, true, ctx)
            || !s.conditions.iter().all(|c| condition_holds(c, ctx))
        {
            continue;
        }
        let Some((p, not)) = &s.principal else {
            continue;
        };
        if principal_matches(p, caller, ctx) == *not {
            continue;
        }
        match s.effect {
            Effect::Deny => return false,
            Effect::Allow => allowed = true,
        }
    }
    allowed
}

#[cfg(test)]
mod tests;
