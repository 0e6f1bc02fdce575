//! IAM on the awsQuery protocol (`Action=<Op>&Version=2010-05-08&...`,
//! answers in XML in IAM's namespace): one `match` from action to backend
//! method (`services::iam`). Policy documents leave percent-encoded, as IAM
//! sends them (RFC 3986; botocore and the CLI decode them, the other SDKs
//! do not). Errors carry IAM's statuses (404 NoSuchEntity, 409 conflicts).

use axum::http::StatusCode;
use axum::response::Response;

use super::query::{Params, X, leaf, members};
use crate::app::App;
use crate::services::iam::policy::url_encode;
use crate::services::iam::{
    CreatePolicy, CreateRole, Iam, IamError, Listed, PageRequest, PolicyView, Role, Tag,
    VersionView,
};
use crate::services::kit::AwsError;

pub const VERSION: &str = "2010-05-08";
pub(crate) const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// ISO 8601 with seconds, `Z`, as IAM writes dates.
pub fn iso(ts: f64) -> String {
    chrono::DateTime::from_timestamp(ts as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The one place an IAM error becomes HTTP.
pub fn error(e: &IamError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    super::query::error(XMLNS, status, e.code(), &e.message(), request_id)
}

fn tags_xml(tags: &[Tag]) -> X {
    members(
        "Tags",
        tags.iter()
            .map(|t| vec![leaf("Key", &t.key), leaf("Value", &t.value)])
            .collect(),
    )
}

/// A role; `full` adds what GetRole shows and ListRoles does not.
fn role_xml(r: &Role, full: bool) -> Vec<X> {
    let mut out = vec![
        leaf("Path", &r.path),
        leaf("RoleName", &r.name),
        leaf("RoleId", &r.role_id),
        leaf("Arn", &r.arn),
        leaf("CreateDate", iso(r.create_date)),
        leaf("AssumeRolePolicyDocument", url_encode(&r.trust_policy)),
    ];
    if let Some(d) = &r.description {
        out.push(leaf("Description", d));
    }
    out.push(leaf("MaxSessionDuration", r.max_session_duration));
    if full {
        if !r.tags.is_empty() {
            out.push(tags_xml(&r.tags));
        }
        out.push(X::Node("RoleLastUsed", vec![]));
    }
    out
}

fn policy_xml(p: &PolicyView, tags: bool) -> Vec<X> {
    let mut out = vec![
        leaf("PolicyName", &p.name),
        leaf("PolicyId", &p.policy_id),
        leaf("Arn", &p.arn),
        leaf("Path", &p.path),
        leaf("DefaultVersionId", &p.default_version_id),
        leaf("AttachmentCount", p.attachment_count),
        leaf("PermissionsBoundaryUsageCount", 0),
        leaf("IsAttachable", true),
    ];
    if let Some(d) = &p.description {
        out.push(leaf("Description", d));
    }
    out.push(leaf("CreateDate", iso(p.create_date)));
    out.push(leaf("UpdateDate", iso(p.update_date)));
    if tags && !p.tags.is_empty() {
        out.push(tags_xml(&p.tags));
    }
    out
}

fn version_xml(v: &VersionView) -> Vec<X> {
    vec![
        leaf("Document", url_encode(&v.document)),
        leaf("VersionId", &v.version_id),
        leaf("IsDefaultVersion", v.is_default),
        leaf("CreateDate", iso(v.create_date)),
    ]
}

/// A list's members, `IsTruncated` and `Marker`.
fn listed<T>(name: &'static str, l: Listed<T>, xml: impl Fn(&T) -> X) -> Vec<X> {
    let mut out = vec![X::Node(name, l.items.iter().map(xml).collect())];
    out.push(leaf("IsTruncated", l.marker.is_some()));
    if let Some(m) = l.marker {
        out.push(leaf("Marker", m));
    }
    out
}

fn page(p: &Params) -> Result<PageRequest, IamError> {
    Ok(PageRequest {
        marker: p.get("Marker"),
        max_items: p.num("MaxItems").map_err(IamError::Validation)?,
    })
}

fn tags(p: &Params) -> Vec<Tag> {
    let keys = p.list("Tags", Some("Key"));
    let values = p.list("Tags", Some("Value"));
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| Tag {
            key,
            value: values.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

fn flag(p: &Params, k: &str) -> bool {
    p.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Handles one awsQuery request already known to be IAM's.
pub fn handle(app: &App, request_id: &str, p: &Params) -> (String, Result<Response, IamError>) {
    let action = p.get("Action").unwrap_or_default();
    let result = run(app.iam(), &action, p)
        .map(|result| super::query::ok(XMLNS, &action, &result, request_id));
    (action, result)
}

/// From action to backend method: decode the form, call, encode the answer.
fn run(iam: &Iam, action: &str, p: &Params) -> Result<Vec<X>, IamError> {
    let role = || p.get("RoleName");
    Ok(match action {
        "CreateRole" => {
            let r = iam.create_role(CreateRole {
                role_name: role(),
                assume_role_policy_document: p.get("AssumeRolePolicyDocument"),
                path: p.get("Path"),
                description: p.get("Description"),
                max_session_duration: p.num("MaxSessionDuration").map_err(IamError::Validation)?,
                tags: tags(p),
            })?;
            vec![X::Node("Role", role_xml(&r, true))]
        }
        "GetRole" => vec![X::Node("Role", role_xml(&iam.get_role(role())?, true))],
        "ListRoles" => listed(
            "Roles",
            iam.list_roles(p.get("PathPrefix"), page(p)?)?,
            |r| X::Node("member", role_xml(r, false)),
        ),
        "DeleteRole" => {
            iam.delete_role(role())?;
            vec![]
        }
        "UpdateAssumeRolePolicy" => {
            iam.update_assume_role_policy(role(), p.get("PolicyDocument"))?;
            vec![]
        }
        "PutRolePolicy" => {
            iam.put_role_policy(role(), p.get("PolicyName"), p.get("PolicyDocument"))?;
            vec![]
        }
        "GetRolePolicy" => {
            let (r, n, d) = iam.get_role_policy(role(), p.get("PolicyName"))?;
            vec![
                leaf("RoleName", r),
                leaf("PolicyName", n),
                leaf("PolicyDocument", url_encode(&d)),
            ]
        }
        "DeleteRolePolicy" => {
            iam.delete_role_policy(role(), p.get("PolicyName"))?;
            vec![]
        }
        "ListRolePolicies" => listed(
            "PolicyNames",
            iam.list_role_policies(role(), page(p)?)?,
            |n| leaf("member", n),
        ),
        "AttachRolePolicy" => {
            iam.attach_role_policy(role(), p.get("PolicyArn"))?;
            vec![]
        }
        "DetachRolePolicy" => {
            iam.detach_role_policy(role(), p.get("PolicyArn"))?;
            vec![]
        }
        "ListAttachedRolePolicies" => listed(
            "AttachedPolicies",
            iam.list_attached_role_policies(role(), p.get("PathPrefix"), page(p)?)?,
            |(n, a)| X::Node("member", vec![leaf("PolicyName", n), leaf("PolicyArn", a)]),
        ),
        "TagRole" => {
            iam.tag_role(role(), tags(p))?;
            vec![]
        }
        "UntagRole" => {
            iam.untag_role(role(), p.list("TagKeys", None))?;
            vec![]
        }
        "ListRoleTags" => listed("Tags", iam.list_role_tags(role(), page(p)?)?, |t| {
            X::Node("member", vec![leaf("Key", &t.key), leaf("Value", &t.value)])
        }),
        "CreatePolicy" => {
            let v = iam.create_policy(CreatePolicy {
                policy_name: p.get("PolicyName"),
                policy_document: p.get("PolicyDocument"),
                path: p.get("Path"),
                description: p.get("Description"),
                tags: tags(p),
            })?;
            vec![X::Node("Policy", policy_xml(&v, true))]
        }
        "GetPolicy" => vec![X::Node(
            "Policy",
            policy_xml(&iam.get_policy(p.get("PolicyArn"))?, true),
        )],
        "GetPolicyVersion" => vec![X::Node(
            "PolicyVersion",
            version_xml(&iam.get_policy_version(p.get("PolicyArn"), p.get("VersionId"))?),
        )],
        "CreatePolicyVersion" => vec![X::Node(
            "PolicyVersion",
            version_xml(&iam.create_policy_version(
                p.get("PolicyArn"),
                p.get("PolicyDocument"),
                flag(p, "SetAsDefault"),
            )?),
        )],
        "ListPolicyVersions" => {
            let versions = iam.list_policy_versions(p.get("PolicyArn"))?;
            vec![
                members("Versions", versions.iter().map(version_xml).collect()),
                leaf("IsTruncated", false),
            ]
        }
        "DeletePolicyVersion" => {
            iam.delete_policy_version(p.get("PolicyArn"), p.get("VersionId"))?;
            vec![]
        }
        "SetDefaultPolicyVersion" => {
            iam.set_default_policy_version(p.get("PolicyArn"), p.get("VersionId"))?;
            vec![]
        }
        "DeletePolicy" => {
            iam.delete_policy(p.get("PolicyArn"))?;
            vec![]
        }
        "ListPolicies" => listed(
            "Policies",
            iam.list_policies(
                p.get("Scope"),
                flag(p, "OnlyAttached"),
                p.get("PathPrefix"),
                page(p)?,
            )?,
            |v| X::Node("member", policy_xml(v, false)),
        ),
        other => {
            return Err(IamError::InvalidAction(format!(
                "fargate-local does not support the IAM action {other} (or it does not exist)."
            )));
        }
    })
}
