//! The IAM backend: roles (trust policy, inline policies, attached managed
//! policies, tags), customer managed policies with versions, and the AWS
//! managed policies ECS setups use, read-only, with their real documents
//! (`aws_managed_policies.json`). One method per operation, named after it.
//!
//! IAM is global: one state per emulator, not per region. State is on the
//! kit's [`Backend`]: every change is validated, written to the store and
//! only then made in memory, so an error answer changes nothing. Names are
//! unique ignoring case, as IAM's are, and found ignoring case.
//!
//! Policy documents are kept as submitted (IAM returns them with their
//! whitespace) and validated by [`policy::parse`]; the api layer
//! percent-encodes them on the way out.
//!
//! Left out: users, groups, instance profiles, permissions boundaries
//! (accepted nowhere), service-linked roles, access keys. The AWS managed
//! policies' documents and version ids are AWS's current ones; the creation
//! dates of those created before their current version are approximate.

pub mod cli;
pub mod eval;
pub mod policy;
pub mod sts;
pub mod usage;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::domain::time::{Timestamp, now};
use crate::services::kit::tags::{self, TagError, TagPair, TagRules};
use crate::services::kit::{AwsError, Backend, Change, PageError, Paging, backend};
use crate::store::{Op, Store, StoreError};

const KIND_ROLE: &str = "iam.role";
const KIND_POLICY: &str = "iam.policy";
/// `MaxItems`: 1 to 1000, 100 by default.
const LIST: Paging = Paging::up_to(1000).default_size(100);
/// IAM's tag limits: 50 a role, keys 1..128, values 0..256, `aws:` reserved,
/// the same key twice in one request refused.
const TAG_RULES: TagRules = TagRules {
    refuse_duplicates: true,
    ..tags::AWS
};

/// IAM's quotas (`reference_iam-quotas`).
pub const MAX_ROLES: usize = 1000;
pub const MAX_POLICIES: usize = 1500;
pub const MAX_ATTACHED: usize = 10;
pub const MAX_VERSIONS: usize = 5;
pub const MAX_MANAGED_SIZE: usize = 6144;
pub const MAX_INLINE_SIZE: usize = 10240;
pub const MAX_TRUST_SIZE: usize = 2048;
/// A policy document parameter's length limit (the service model's).
pub const MAX_DOCUMENT_CHARS: usize = 131_072;

/// Every error IAM answers with; the text is AWS's message.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    PolicyNotAttachable(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    InvalidAction(String),
    #[error("{0}")]
    ServiceFailure(String),
}

impl AwsError for IamError {
    fn code(&self) -> &'static str {
        match self {
            Self::NoSuchEntity(_) => "NoSuchEntity",
            Self::EntityAlreadyExists(_) => "EntityAlreadyExists",
            Self::DeleteConflict(_) => "DeleteConflict",
            Self::LimitExceeded(_) => "LimitExceeded",
            Self::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            Self::InvalidInput(_) => "InvalidInput",
            Self::Validation(_) => "ValidationError",
            Self::PolicyNotAttachable(_) => "PolicyNotAttachable",
            Self::AccessDenied(_) => "AccessDenied",
            Self::InvalidAction(_) => "InvalidAction",
            Self::ServiceFailure(_) => "ServiceFailure",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, Self::ServiceFailure(_))
    }

    fn status(&self) -> u16 {
        match self {
            Self::NoSuchEntity(_) => 404,
            Self::EntityAlreadyExists(_) | Self::DeleteConflict(_) | Self::LimitExceeded(_) => 409,
            Self::AccessDenied(_) => 403,
            Self::ServiceFailure(_) => 500,
            _ => 400,
        }
    }

    fn store_failed(e: StoreError) -> Self {
        Self::ServiceFailure(crate::services::kit::error::store_message(&e))
    }
}

pub type Result<T> = std::result::Result<T, IamError>;

fn no_role(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

fn no_policy(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
}

fn quota(name: &str, n: usize) -> IamError {
    IamError::LimitExceeded(format!("Cannot exceed quota for {name}: {n}"))
}

/// `1 validation error detected: ...`, AWS's member-constraint text.
fn invalid(value: &str, member: &str, constraint: &str) -> IamError {
    IamError::Validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must {constraint}"
    ))
}

/// A required member.
pub fn required(v: Option<String>, member: &str) -> Result<String> {
    v.ok_or_else(|| {
        IamError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn page_error(e: PageError) -> IamError {
    match e {
        PageError::InvalidToken => IamError::Validation("Invalid Marker.".into()),
        PageError::MaxResults { value, max, .. } => invalid(
            &value.to_string(),
            "maxItems",
            &format!("have value less than or equal to {max}"),
        ),
    }
}

fn tag_error(e: TagError) -> IamError {
    match e {
        TagError::TooMany { limit, .. } => quota("TagsPerRole", limit),
        TagError::Duplicate { .. } => IamError::InvalidInput(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
        ),
        TagError::KeyLength { key } => invalid(
            &key,
            "tags.1.member.key",
            "have length less than or equal to 128",
        ),
        TagError::ValueLength { value, .. } => invalid(
            &value,
            "tags.1.member.value",
            "have length less than or equal to 256",
        ),
        TagError::Reserved { key } | TagError::KeyChars { key } => invalid(
            &key,
            "tags.1.member.key",
            "satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+",
        ),
        TagError::ValueChars { value, .. } => invalid(
            &value,
            "tags.1.member.value",
            "satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*",
        ),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl TagPair for Tag {
    fn key(&self) -> &str {
        &self.key
    }
    fn value(&self) -> &str {
        &self.value
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub path: String,
    pub role_id: String,
    pub arn: String,
    pub create_date: Timestamp,
    /// As submitted.
    pub trust_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub tags: Vec<Tag>,
    /// Inline policies by name, as submitted.
    pub inline: BTreeMap<String, String>,
    /// Attached managed policies' ARNs, in the order attached.
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub document: String,
    pub create_date: Timestamp,
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerPolicy {
    pub name: String,
    pub path: String,
    pub policy_id: String,
    pub arn: String,
    pub description: Option<String>,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
    pub default_version: String,
    /// By version id (`v1`, `v2`, ...).
    pub versions: BTreeMap<String, PolicyVersion>,
    pub next_version: u32,
    pub tags: Vec<Tag>,
}

/// An AWS managed policy, from the data file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AwsManaged {
    name: String,
    path: String,
    default_version_id: String,
    create_date: String,
    update_date: String,
    document: String,
}

static AWS_MANAGED: LazyLock<Vec<AwsManaged>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("aws_managed_policies.json"))
        .expect("aws_managed_policies.json is valid")
});

fn parse_iso(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp() as f64)
        .unwrap_or(0.0)
}

/// A managed policy as the API shows it (customer or AWS).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyView {
    pub name: String,
    pub policy_id: String,
    pub arn: String,
    pub path: String,
    pub default_version_id: String,
    pub attachment_count: usize,
    pub description: Option<String>,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
    pub tags: Vec<Tag>,
    pub aws_managed: bool,
}

/// One version of a managed policy, as GetPolicyVersion shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionView {
    pub document: String,
    pub version_id: String,
    pub is_default: bool,
    pub create_date: Timestamp,
}

/// An AWS-shaped unique id: the prefix and 17 characters of AWS's alphabet.
fn unique_id(prefix: &str) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    let tail: String = (0..17)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// The same id for the same seed (AWS managed policies' ids).
pub fn stable_id(prefix: &str, seed: &str) -> String {
    use sha2::{Digest, Sha256};
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let d = Sha256::digest(seed.as_bytes());
    let tail: String = d[..17]
        .iter()
        .map(|b| CHARS[(*b % 32) as usize] as char)
        .collect();
    format!("{prefix}{tail}")
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct State {
    /// By lower-cased name.
    roles: BTreeMap<String, Role>,
    /// By ARN.
    policies: BTreeMap<String, CustomerPolicy>,
}

impl State {
    /// A role by ARN (`arn:aws:iam::<acct>:role/<path><name>`) or bare name.
    fn role_by_arn(&self, arn: &str) -> Option<&Role> {
        if !arn.starts_with("arn:") {
            return self.roles.get(&arn.to_lowercase());
        }
        self.roles.values().find(|r| r.arn == arn)
    }

    /// A role's permission documents, named: inline ones, then attached
    /// ones' default versions.
    fn documents(&self, role: &Role) -> Vec<(String, String)> {
        let mut documents: Vec<(String, String)> = role
            .inline
            .iter()
            .map(|(n, d)| (format!("inline policy {n}"), d.clone()))
            .collect();
        for a in &role.attached {
            if let Some(d) = self.default_document(a) {
                documents.push((a.clone(), d));
            }
        }
        documents
    }

    fn role(&self, name: &str) -> Result<&Role> {
        self.roles
            .get(&name.to_lowercase())
            .ok_or_else(|| no_role(name))
    }

    fn attachments(&self, arn: &str) -> usize {
        self.roles
            .values()
            .filter(|r| r.attached.iter().any(|a| a == arn))
            .count()
    }

    fn aws_view(&self, p: &AwsManaged) -> PolicyView {
        let arn = aws_arn(p);
        PolicyView {
            name: p.name.clone(),
            policy_id: stable_id("ANPA", &arn),
            attachment_count: self.attachments(&arn),
            arn,
            path: p.path.clone(),
            default_version_id: p.default_version_id.clone(),
            description: None,
            create_date: parse_iso(&p.create_date),
            update_date: parse_iso(&p.update_date),
            tags: Vec::new(),
            aws_managed: true,
        }
    }

    fn customer_view(&self, p: &CustomerPolicy) -> PolicyView {
        PolicyView {
            name: p.name.clone(),
            policy_id: p.policy_id.clone(),
            arn: p.arn.clone(),
            path: p.path.clone(),
            default_version_id: p.default_version.clone(),
            attachment_count: self.attachments(&p.arn),
            description: p.description.clone(),
            create_date: p.create_date,
            update_date: p.update_date,
            tags: p.tags.clone(),
            aws_managed: false,
        }
    }

    /// A managed policy (AWS or customer) by ARN.
    fn policy_view(&self, arn: &str) -> Option<PolicyView> {
        if let Some(p) = self.policies.get(arn) {
            return Some(self.customer_view(p));
        }
        AWS_MANAGED
            .iter()
            .find(|p| aws_arn(p) == arn)
            .map(|p| self.aws_view(p))
    }

    /// The default document of a managed policy.
    fn default_document(&self, arn: &str) -> Option<String> {
        if let Some(p) = self.policies.get(arn) {
            return p
                .versions
                .get(&p.default_version)
                .map(|v| v.document.clone());
        }
        AWS_MANAGED
            .iter()
            .find(|p| aws_arn(p) == arn)
            .map(|p| p.document.clone())
    }
}

fn aws_arn(p: &AwsManaged) -> String {
    crate::domain::arn::Scope::new("", "aws")
        .global_arn("iam", &format!("policy{}{}", p.path, p.name))
}

/// Role and policy names: `[\w+=,.@-]+` of 1 to `max` characters.
fn check_name(v: &str, member: &str, max: usize) -> Result<()> {
    let n = v.chars().count();
    if n == 0 {
        return Err(invalid(v, member, "have length greater than or equal to 1"));
    }
    if n > max {
        return Err(invalid(
            v,
            member,
            &format!("have length less than or equal to {max}"),
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(invalid(
            v,
            member,
            "satisfy regular expression pattern: [\\w+=,.@-]+",
        ));
    }
    Ok(())
}

/// Paths: `/` or `/.../` of printable ASCII, up to 512 characters.
fn check_path(v: &str) -> Result<()> {
    let ok = v == "/"
        || (v.len() >= 2
            && v.len() <= 512
            && v.starts_with('/')
            && v.ends_with('/')
            && v.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            v,
            "path",
            "satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        ))
    }
}

/// A document parameter's model constraints, then IAM's own validation.
fn check_document(text: &str, kind: policy::Kind, member: &str) -> Result<policy::Document> {
    let n = text.chars().count();
    if n == 0 || n > MAX_DOCUMENT_CHARS {
        let shown: String = text.chars().take(64).collect();
        return Err(invalid(
            &shown,
            member,
            &format!("have length less than or equal to {MAX_DOCUMENT_CHARS}"),
        ));
    }
    if !text
        .chars()
        .all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'))
    {
        return Err(invalid(
            "...",
            member,
            "satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
        ));
    }
    policy::parse(text, kind).map_err(IamError::MalformedPolicyDocument)
}

fn check_description(d: Option<&str>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > 1000 => Err(invalid(
            d,
            "description",
            "have length less than or equal to 1000",
        )),
        _ => Ok(()),
    }
}

pub struct CreateRole {
    pub role_name: Option<String>,
    pub assume_role_policy_document: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub max_session_duration: Option<i64>,
    pub tags: Vec<Tag>,
}

pub struct CreatePolicy {
    pub policy_name: Option<String>,
    pub policy_document: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

/// A list answer: the items and the marker of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub marker: Option<String>,
}

/// Where a list starts and how long it is.
pub struct PageRequest {
    pub marker: Option<String>,
    pub max_items: Option<i64>,
}

fn paged<T: Clone>(items: Vec<T>, p: &PageRequest) -> Result<Listed<T>> {
    let page = LIST
        .page(&items, p.marker.as_deref(), p.max_items)
        .map_err(page_error)?;
    Ok(Listed {
        items: page.items,
        marker: page.next_token,
    })
}

/// What a role's permissions are made of, for the evaluator: its inline
/// documents and the default documents of its attached policies, as text.
#[derive(Debug, Clone, PartialEq)]
pub struct RolePolicies {
    pub role: Role,
    /// (where the statements come from, the document).
    pub documents: Vec<(String, String)>,
}

/// `serve --iam`: whether roles are enforced where AWS enforces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// Nothing is evaluated.
    Off,
    /// Evaluated; what `enforce` would refuse is logged and allowed.
    #[default]
    Warn,
    /// Refused as AWS refuses it.
    Enforce,
}

/// The text ECS gives when it cannot assume a task's role.
pub fn ecs_unable_to_assume(role_arn: &str) -> String {
    format!(
        "ECS was unable to assume the role '{role_arn}' that was provided for this task. Please verify that the role being passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role."
    )
}

/// A cheap handle to the IAM backend.
#[derive(Clone)]
pub struct Iam {
    inner: Arc<Backend<State>>,
    /// Sessions AssumeRole handed out, by access key id. In memory only,
    /// as short-lived credentials: after a restart callers assume again.
    sessions: Arc<std::sync::Mutex<std::collections::HashMap<String, sts::Session>>>,
    /// What each task's roles were used for.
    usage: usage::Usage,
    /// Where decisions are noted (set once by the app).
    requests: Arc<std::sync::OnceLock<crate::services::requestlog::RequestLog>>,
    /// Parsed policy documents by their text (`Iam::parsed`).
    parsed: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<policy::Document>>>>,
    /// Each role's permissions as a decision needs them, by the role
    /// reference decisions name it by (`Iam::grant`).
    grants: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Grant>>>>,
}

/// How many parsed documents (and roles' grants) are kept before the
/// cache starts over.
const PARSED_CACHE: usize = 4096;

/// A role's permissions as [`Iam::judge_role`] needs them, read for one
/// revision of the IAM state: every request with a task's credentials is
/// judged, and this spares each one finding the role, copying its policies'
/// texts and looking each up in the parse cache.
struct Grant {
    /// The IAM state's revision they were read at ([`Backend::revision`]).
    revision: u64,
    /// The role's ARN (for a role that does not exist, the one asked for).
    arn: String,
    /// The role's inline policies, then its attached ones' default
    /// versions; none for a role that does not exist.
    documents: Vec<Arc<policy::Document>>,
    /// Whether a statement has a condition or a policy variable: only then
    /// does a decision need the request's condition keys.
    needs_context: bool,
}

/// Whose permissions a decision is about: a task's task or execution role.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub kind: usage::RoleKind,
    /// An ARN or a bare role name.
    pub role: &'a str,
    pub task_arn: &'a str,
}

/// A refusal (or, under `warn`, what `enforce` would refuse): AWS's text
/// (`User: <session ARN> is not authorized to perform: ...`), and the
/// smallest statement that would allow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub message: String,
    pub statement: String,
    pub action: String,
    pub resource: String,
}

fn put_role<R>(r: Role, answer: R) -> Change<'static, State, R> {
    Change::answer(answer)
        .write(Op::put(KIND_ROLE, r.name.to_lowercase(), &r))
        .then(move |st: &mut State| {
            st.roles.insert(r.name.to_lowercase(), r);
        })
}

fn put_policy<R>(p: CustomerPolicy, answer: R) -> Change<'static, State, R> {
    Change::answer(answer)
        .write(Op::put(KIND_POLICY, p.arn.clone(), &p))
        .then(move |st: &mut State| {
            st.policies.insert(p.arn.clone(), p);
        })
}

impl Iam {
    pub fn load(store: Store, account: String) -> std::result::Result<Self, StoreError> {
        let mut state = State::default();
        for (k, r) in backend::load::<Role>(&store, KIND_ROLE)? {
            state.roles.insert(k, r);
        }
        for (k, p) in backend::load::<CustomerPolicy>(&store, KIND_POLICY)? {
            state.policies.insert(k, p);
        }
        let usage = usage::Usage::load(store.clone())?;
        Ok(Iam {
            inner: Arc::new(Backend::new(store, account, "iam.", state)),
            sessions: Arc::default(),
            usage,
            requests: Arc::default(),
            parsed: Arc::default(),
            grants: Arc::default(),
        })
    }

    pub fn reset(&self) -> Result<()> {
        self.inner.reset()?;
        self.sessions_lock().clear();
        self.usage.clear();
        Ok(())
    }

    /// A stored identity policy document, parsed once: by its text, so a
    /// changed policy is a new entry and nothing needs invalidating.
    fn parsed(&self, text: &str) -> Option<Arc<policy::Document>> {
        let mut cache = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = cache.get(text) {
            return Some(d.clone());
        }
        let d = Arc::new(policy::parse(text, policy::Kind::Identity).ok()?);
        if cache.len() >= PARSED_CACHE {
            cache.clear();
        }
        cache.insert(text.to_string(), d.clone());
        Some(d)
    }

    /// The role's permissions for the current IAM state: cached by the role
    /// reference and checked against the state's revision, so a changed
    /// role or policy (PutRolePolicy, AttachRolePolicy, a new default
    /// version, ...) is in effect for the next decision.
    fn grant(&self, role: &str) -> Arc<Grant> {
        let lock = || self.grants.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = lock().get(role)
            && g.revision == self.inner.revision()
        {
            return g.clone();
        }
        let arn = self.role_arn_of(role);
        // The texts and the revision they belong to, read together.
        let (revision, texts) = self.inner.read(|st| {
            let texts = st
                .role_by_arn(&arn)
                .map(|r| st.documents(r).into_iter().map(|(_, d)| d).collect())
                .unwrap_or_else(Vec::new);
            (self.inner.revision(), texts)
        });
        let documents: Vec<Arc<policy::Document>> =
            texts.iter().filter_map(|d| self.parsed(d)).collect();
        let variable = |p: &policy::Patterns| p.items.iter().any(|x| x.contains("${"));
        let needs_context = documents.iter().flat_map(|d| &d.statements).any(|s| {
            !s.conditions.is_empty()
                || variable(&s.actions)
                || s.resources.as_ref().is_some_and(variable)
        });
        let g = Arc::new(Grant {
            revision,
            arn,
            documents,
            needs_context,
        });
        let mut cache = lock();
        if cache.len() >= PARSED_CACHE {
            cache.clear();
        }
        cache.insert(role.to_string(), g.clone());
        g
    }

    /// Where decisions are noted: the app's request log.
    pub fn attach_request_log(&self, log: crate::services::requestlog::RequestLog) {
        let _ = self.requests.set(log);
    }

    /// What each task's roles were used for.
    pub fn usage(&self) -> &usage::Usage {
        &self.usage
    }

    /// The one decision point of `serve --iam` for a task's roles: the
    /// role's policies on `action` over each of `resources`, recorded in the
    /// task's usage (in every mode; `off` evaluates nothing). A denial is
    /// logged with the role, the action, the resource and the smallest
    /// statement that would allow it, and noted in the request log (on the
    /// call `request_id`, else as a call of the agent's); `Err` only under
    /// `enforce`. The agent's repeated calls (awslogs' `logs:PutLogEvents`,
    /// one per batch) are logged and noted only when the decision is news:
    /// the first time, or when the outcome changed, so that a refused log
    /// stream does not write a warning and a request-log entry every second.
    pub fn decide(
        &self,
        mode: Mode,
        who: Subject,
        request_id: Option<&str>,
        action: &str,
        resources: &[String],
    ) -> std::result::Result<(), Denial> {
        let role_arn: std::borrow::Cow<str> = if who.role.starts_with("arn:") {
            who.role.into()
        } else {
            self.role_arn_of(who.role).into()
        };
        if mode == Mode::Off {
            for r in resources {
                self.usage.record(
                    who.task_arn,
                    who.kind,
                    &role_arn,
                    action,
                    r,
                    usage::Outcome::NotEvaluated,
                );
            }
            return Ok(());
        }
        let session = who.task_arn.rsplit('/').next().unwrap_or_default();
        let mut denial = None;
        let mut news = false;
        for r in resources {
            let verdict = self.judge_role(&role_arn, session, action, std::slice::from_ref(r));
            let outcome = match (&verdict, mode) {
                (Ok(()), _) => usage::Outcome::Allowed,
                (Err(_), Mode::Enforce) => usage::Outcome::Denied,
                (Err(_), _) => usage::Outcome::WouldDeny,
            };
            let new_use = self
                .usage
                .record(who.task_arn, who.kind, &role_arn, action, r, outcome);
            if let (Err((message, statement)), None) = (verdict, &denial) {
                news = new_use;
                denial = Some(Denial {
                    message,
                    statement,
                    action: action.to_string(),
                    resource: r.clone(),
                });
                if mode == Mode::Enforce {
                    break;
                }
            }
        }
        let Some(d) = denial else {
            return Ok(());
        };
        let enforced = mode == Mode::Enforce;
        if request_id.is_none() && !news {
            return if enforced { Err(d) } else { Ok(()) };
        }
        let kind = who.kind.as_str();
        if enforced {
            tracing::warn!(
                task = %who.task_arn,
                role = %role_arn,
                role_kind = kind,
                action,
                resource = %d.resource,
                "iam (enforce): denied to the {kind} role: {}; the smallest statement that would allow it: {}",
                d.message,
                d.statement
            );
        } else {
            tracing::warn!(
                task = %who.task_arn,
                role = %role_arn,
                role_kind = kind,
                action,
                resource = %d.resource,
                "iam (warn): `--iam enforce` would deny this to the {kind} role: {}; the smallest statement that would allow it: {}",
                d.message,
                d.statement
            );
        }
        if let Some(log) = self.requests.get() {
            let note = crate::services::requestlog::IamNote {
                role_kind: kind.into(),
                role_arn: role_arn.to_string(),
                action: action.into(),
                resource: d.resource.clone(),
                decision: if enforced { "denied" } else { "wouldDeny" }.into(),
                message: d.message.clone(),
                smallest_statement: serde_json::from_str(&d.statement)
                    .unwrap_or(serde_json::Value::Null),
            };
            match request_id {
                Some(id) => log.note_iam(id, note),
                None => {
                    let (service, op) = action.split_once(':').unwrap_or((action, ""));
                    let principal = crate::services::credentials::Principal {
                        task_arn: who.task_arn.to_string(),
                        role_arn: role_arn.to_string(),
                    };
                    log.record_agent_call(
                        service,
                        op,
                        &principal,
                        enforced.then_some("AccessDeniedException"),
                        Some(note),
                    );
                }
            }
        }
        if enforced { Err(d) } else { Ok(()) }
    }

    pub fn account(&self) -> &str {
        self.inner.account()
    }

    /// A role reference as ECS takes it (an ARN or a bare name), as an ARN.
    /// An ARN of this account in a global service (IAM, STS).
    pub(crate) fn global_arn(&self, service: &str, resource: &str) -> String {
        crate::domain::arn::Scope::new("", self.account()).global_arn(service, resource)
    }

    pub fn role_arn_of(&self, role: &str) -> String {
        if role.starts_with("arn:") {
            role.to_string()
        } else {
            self.global_arn("iam", &format!("role/{role}"))
        }
    }

    /// The decision of a role's policies on `action` over each of
    /// `resources`, for the session `session` (a task id): the first
    /// denial's AWS text (`User: <session ARN> is not authorized to perform:
    /// ...`), and the smallest statement that would allow it.
    pub fn judge_role(
        &self,
        role: &str,
        session: &str,
        action: &str,
        resources: &[String],
    ) -> std::result::Result<(), (String, String)> {
        let g = self.grant(role);
        // Built only when a statement reads it (most name none).
        let ctx = if g.needs_context {
            eval::Context::new()
                .with("aws:PrincipalArn", g.arn.clone())
                .with("aws:PrincipalAccount", self.account())
                .with("aws:userid", session)
        } else {
            eval::Context::new()
        };
        for resource in resources {
            let r = eval::Request {
                action,
                resource,
                context: &ctx,
            };
            let reason = match eval::evaluate(g.documents.iter().map(|d| &**d), &r) {
                eval::Decision::Allow => continue,
                eval::Decision::ImplicitDeny => {
                    format!("because no identity-based policy allows the {action} action")
                }
                eval::Decision::ExplicitDeny => {
                    "with an explicit deny in an identity-based policy".into()
                }
            };
            let role_name = g.arn.rsplit('/').next().unwrap_or_default();
            let who = self.global_arn("sts", &format!("assumed-role/{role_name}/{session}"));
            return Err((
                format!(
                    "User: {who} is not authorized to perform: {action} on resource: {resource} {reason}"
                ),
                format!(
                    r#"{{"Effect":"Allow","Action":{},"Resource":{}}}"#,
                    serde_json::Value::from(action),
                    serde_json::Value::from(resource.as_str())
                ),
            ));
        }
        Ok(())
    }

    /// Whether ECS (`ecs-tasks.amazonaws.com`) may assume `role` for the
    /// task `task_arn`: the role exists and its trust policy allows it, with
    /// `aws:SourceAccount` and `aws:SourceArn` (the task's ARN) as ECS
    /// supplies them. The error is ECS's text.
    pub fn ecs_can_assume(&self, role: &str, task_arn: &str) -> std::result::Result<(), String> {
        let arn = self.role_arn_of(role);
        let denied = || ecs_unable_to_assume(&arn);
        let r = self.role_by_arn(&arn).ok_or_else(denied)?;
        let trust = policy::parse(&r.trust_policy, policy::Kind::Trust).map_err(|_| denied())?;
        let ctx = eval::Context::new()
            .with("aws:SourceAccount", self.account())
            .with("aws:SourceArn", task_arn);
        let ecs = eval::Caller::Service("ecs-tasks.amazonaws.com");
        if eval::trusts(&trust, &ecs, "sts:AssumeRole", &ctx) {
            Ok(())
        } else {
            Err(denied())
        }
    }

    fn role_arn(&self, path: &str, name: &str) -> String {
        self.global_arn("iam", &format!("role{path}{name}"))
    }

    pub fn create_role(&self, r: CreateRole) -> Result<Role> {
        let name = required(r.role_name, "roleName")?;
        let doc = required(r.assume_role_policy_document, "assumeRolePolicyDocument")?;
        check_name(&name, "roleName", 64)?;
        let path = r.path.unwrap_or_else(|| "/".into());
        check_path(&path)?;
        check_description(r.description.as_deref())?;
        let max = r.max_session_duration.unwrap_or(3600);
        if !(3600..=43200).contains(&max) {
            return Err(invalid(
                &max.to_string(),
                "maxSessionDuration",
                "have value less than or equal to 43200",
            ));
        }
        check_document(&doc, policy::Kind::Trust, "assumeRolePolicyDocument")?;
        if policy::counted_size(&doc) > MAX_TRUST_SIZE {
            return Err(quota("ACLSizePerRole", MAX_TRUST_SIZE));
        }
        let tags = tags::merge(&[], &r.tags, &TAG_RULES).map_err(tag_error)?;
        self.inner.update(|st| {
            if let Some(old) = st.roles.get(&name.to_lowercase()) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Role with name {} already exists.",
                    old.name
                )));
            }
            if st.roles.len() >= MAX_ROLES {
                return Err(quota("RolesPerAccount", MAX_ROLES));
            }
            let role = Role {
                arn: self.role_arn(&path, &name),
                name: name.clone(),
                path: path.clone(),
                role_id: unique_id("AROA"),
                create_date: now().floor(),
                trust_policy: doc.clone(),
                description: r.description.clone(),
                max_session_duration: max,
                tags,
                inline: BTreeMap::new(),
                attached: Vec::new(),
            };
            let out = role.clone();
            Ok(put_role(role, out))
        })
    }

    pub fn get_role(&self, name: Option<String>) -> Result<Role> {
        let name = required(name, "roleName")?;
        self.inner.read(|st| st.role(&name).cloned())
    }

    /// A role by ARN (`arn:aws:iam::<acct>:role/<path><name>`) or bare name.
    pub fn role_by_arn(&self, arn: &str) -> Option<Role> {
        self.inner.read(|st| st.role_by_arn(arn).cloned())
    }

    /// A role's permission documents: inline ones, then attached ones'
    /// default versions.
    pub fn role_policies(&self, arn: &str) -> Option<RolePolicies> {
        self.inner.read(|st| {
            let role = st.role_by_arn(arn)?;
            Some(RolePolicies {
                documents: st.documents(role),
                role: role.clone(),
            })
        })
    }

    pub fn list_roles(&self, path_prefix: Option<String>, p: PageRequest) -> Result<Listed<Role>> {
        let prefix = path_prefix.unwrap_or_else(|| "/".into());
        let mut roles: Vec<Role> = self.inner.read(|st| {
            st.roles
                .values()
                .filter(|r| r.path.starts_with(&prefix))
                .cloned()
                .collect()
        });
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        paged(roles, &p)
    }

    pub fn delete_role(&self, name: Option<String>) -> Result<()> {
        let name = required(name, "roleName")?;
        self.inner.update(|st| {
            let role = st.role(&name)?;
            if !role.attached.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".into(),
                ));
            }
            if !role.inline.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            let key = role.name.to_lowercase();
            Ok(Change::answer(())
                .write(Op::delete(KIND_ROLE, key.clone()))
                .then(move |st: &mut State| {
                    st.roles.remove(&key);
                }))
        })
    }

    /// Changes a role through `f`, which sees a copy and may refuse.
    fn change_role(
        &self,
        name: Option<String>,
        f: impl FnOnce(&State, &mut Role) -> Result<()>,
    ) -> Result<()> {
        let name = required(name, "roleName")?;
        self.inner.update(|st| {
            let mut role = st.role(&name)?.clone();
            f(st, &mut role)?;
            Ok(put_role(role, ()))
        })
    }

    pub fn update_assume_role_policy(
        &self,
        name: Option<String>,
        document: Option<String>,
    ) -> Result<()> {
        let name = required(name, "roleName")?;
        let doc = required(document, "policyDocument")?;
        check_document(&doc, policy::Kind::Trust, "policyDocument")?;
        if policy::counted_size(&doc) > MAX_TRUST_SIZE {
            return Err(quota("ACLSizePerRole", MAX_TRUST_SIZE));
        }
        self.change_role(Some(name), |_, r| {
            r.trust_policy = doc;
            Ok(())
        })
    }

    pub fn put_role_policy(
        &self,
        role: Option<String>,
        policy_name: Option<String>,
        document: Option<String>,
    ) -> Result<()> {
        let role = required(role, "roleName")?;
        let pname = required(policy_name, "policyName")?;
        let doc = required(document, "policyDocument")?;
        check_name(&pname, "policyName", 128)?;
        check_document(&doc, policy::Kind::Identity, "policyDocument")?;
        self.change_role(Some(role), |_, r| {
            let total: usize = r
                .inline
                .iter()
                .filter(|(n, _)| **n != pname)
                .map(|(_, d)| policy::counted_size(d))
                .sum::<usize>()
                + policy::counted_size(&doc);
            if total > MAX_INLINE_SIZE {
                return Err(quota("RolePolicySize", MAX_INLINE_SIZE));
            }
            r.inline.insert(pname, doc);
            Ok(())
        })
    }

    pub fn get_role_policy(
        &self,
        role: Option<String>,
        policy_name: Option<String>,
    ) -> Result<(String, String, String)> {
        let role = required(role, "roleName")?;
        let pname = required(policy_name, "policyName")?;
        self.inner.read(|st| {
            let r = st.role(&role)?;
            let doc = r.inline.get(&pname).ok_or_else(|| {
                IamError::NoSuchEntity(format!(
                    "The role policy with name {pname} cannot be found."
                ))
            })?;
            Ok((r.name.clone(), pname.clone(), doc.clone()))
        })
    }

    pub fn delete_role_policy(
        &self,
        role: Option<String>,
        policy_name: Option<String>,
    ) -> Result<()> {
        let pname = required(policy_name, "policyName")?;
        self.change_role(role, |_, r| {
            r.inline.remove(&pname).map(drop).ok_or_else(|| {
                IamError::NoSuchEntity(format!(
                    "The role policy with name {pname} cannot be found."
                ))
            })
        })
    }

    pub fn list_role_policies(
        &self,
        role: Option<String>,
        p: PageRequest,
    ) -> Result<Listed<String>> {
        let role = required(role, "roleName")?;
        let names: Vec<String> = self
            .inner
            .read(|st| Ok::<_, IamError>(st.role(&role)?.inline.keys().cloned().collect()))?;
        paged(names, &p)
    }

    pub fn attach_role_policy(&self, role: Option<String>, arn: Option<String>) -> Result<()> {
        let arn = required(arn, "policyArn")?;
        self.change_role(role, |st, r| {
            let Some(view) = st.policy_view(&arn) else {
                return Err(no_policy(&arn));
            };
            if view.aws_managed && view.path.starts_with("/aws-service-role/") {
                return Err(IamError::PolicyNotAttachable(
                    "Cannot attach a Service Role Policy to a Customer Role.".into(),
                ));
            }
            if r.attached.contains(&arn) {
                return Ok(());
            }
            if r.attached.len() >= MAX_ATTACHED {
                return Err(quota("PoliciesPerRole", MAX_ATTACHED));
            }
            r.attached.push(arn);
            Ok(())
        })
    }

    pub fn detach_role_policy(&self, role: Option<String>, arn: Option<String>) -> Result<()> {
        let arn = required(arn, "policyArn")?;
        self.change_role(role, |_, r| {
            let Some(i) = r.attached.iter().position(|a| *a == arn) else {
                return Err(IamError::NoSuchEntity(format!(
                    "Policy {arn} was not found."
                )));
            };
            r.attached.remove(i);
            Ok(())
        })
    }

    /// (name, ARN) of the role's attached policies.
    pub fn list_attached_role_policies(
        &self,
        role: Option<String>,
        path_prefix: Option<String>,
        p: PageRequest,
    ) -> Result<Listed<(String, String)>> {
        let role = required(role, "roleName")?;
        let prefix = path_prefix.unwrap_or_else(|| "/".into());
        let items: Vec<(String, String)> = self.inner.read(|st| {
            let r = st.role(&role)?;
            Ok::<_, IamError>(
                r.attached
                    .iter()
                    .filter_map(|a| st.policy_view(a))
                    .filter(|v| v.path.starts_with(&prefix))
                    .map(|v| (v.name, v.arn))
                    .collect(),
            )
        })?;
        paged(items, &p)
    }

    pub fn tag_role(&self, role: Option<String>, add: Vec<Tag>) -> Result<()> {
        self.change_role(role, |_, r| {
            r.tags = tags::merge(&r.tags, &add, &TAG_RULES).map_err(tag_error)?;
            Ok(())
        })
    }

    pub fn untag_role(&self, role: Option<String>, keys: Vec<String>) -> Result<()> {
        self.change_role(role, |_, r| {
            r.tags = tags::remove(&r.tags, &keys, &TAG_RULES).map_err(tag_error)?;
            Ok(())
        })
    }

    pub fn list_role_tags(&self, role: Option<String>, p: PageRequest) -> Result<Listed<Tag>> {
        let role = required(role, "roleName")?;
        let tags = self
            .inner
            .read(|st| st.role(&role).map(|r| r.tags.clone()))?;
        paged(tags, &p)
    }

    pub fn create_policy(&self, r: CreatePolicy) -> Result<PolicyView> {
        let name = required(r.policy_name, "policyName")?;
        let doc = required(r.policy_document, "policyDocument")?;
        check_name(&name, "policyName", 128)?;
        let path = r.path.unwrap_or_else(|| "/".into());
        check_path(&path)?;
        check_description(r.description.as_deref())?;
        check_document(&doc, policy::Kind::Identity, "policyDocument")?;
        if policy::counted_size(&doc) > MAX_MANAGED_SIZE {
            return Err(quota("PolicySize", MAX_MANAGED_SIZE));
        }
        let tags = tags::merge(&[], &r.tags, &TAG_RULES).map_err(tag_error)?;
        let arn = self.global_arn("iam", &format!("policy{path}{name}"));
        self.inner.update(|st| {
            // Policy names are unique in the account whatever their path.
            if st
                .policies
                .values()
                .any(|p| p.name.eq_ignore_ascii_case(&name))
            {
                return Err(IamError::EntityAlreadyExists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            if st.policies.len() >= MAX_POLICIES {
                return Err(quota("PoliciesPerAccount", MAX_POLICIES));
            }
            let t = now().floor();
            let p = CustomerPolicy {
                name: name.clone(),
                path: path.clone(),
                policy_id: unique_id("ANPA"),
                arn: arn.clone(),
                description: r.description.clone(),
                create_date: t,
                update_date: t,
                default_version: "v1".into(),
                versions: BTreeMap::from([(
                    "v1".to_string(),
                    PolicyVersion {
                        document: doc.clone(),
                        create_date: t,
                    },
                )]),
                next_version: 2,
                tags,
            };
            let view = st.customer_view(&p);
            Ok(put_policy(p, view))
        })
    }

    pub fn get_policy(&self, arn: Option<String>) -> Result<PolicyView> {
        let arn = required(arn, "policyArn")?;
        self.inner.read(|st| {
            st.policy_view(&arn)
                .ok_or_else(|| IamError::NoSuchEntity(format!("Policy {arn} was not found.")))
        })
    }

    pub fn get_policy_version(
        &self,
        arn: Option<String>,
        version: Option<String>,
    ) -> Result<VersionView> {
        let arn = required(arn, "policyArn")?;
        let version = required(version, "versionId")?;
        self.inner.read(|st| {
            let missing = || {
                IamError::NoSuchEntity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                ))
            };
            if let Some(p) = st.policies.get(&arn) {
                let v = p.versions.get(&version).ok_or_else(missing)?;
                return Ok(VersionView {
                    document: v.document.clone(),
                    version_id: version.clone(),
                    is_default: p.default_version == version,
                    create_date: v.create_date,
                });
            }
            let p = AWS_MANAGED
                .iter()
                .find(|p| aws_arn(p) == arn)
                .filter(|p| p.default_version_id == version)
                .ok_or_else(missing)?;
            Ok(VersionView {
                document: p.document.clone(),
                version_id: version.clone(),
                is_default: true,
                create_date: parse_iso(&p.update_date),
            })
        })
    }

    pub fn list_policy_versions(&self, arn: Option<String>) -> Result<Vec<VersionView>> {
        let arn = required(arn, "policyArn")?;
        let v = self.get_policy(Some(arn.clone()))?;
        if v.aws_managed {
            return Ok(vec![
                self.get_policy_version(Some(arn), Some(v.default_version_id))?,
            ]);
        }
        self.inner.read(|st| {
            let p = &st.policies[&arn];
            let mut out: Vec<VersionView> = p
                .versions
                .iter()
                .map(|(id, v)| VersionView {
                    document: v.document.clone(),
                    version_id: id.clone(),
                    is_default: *id == p.default_version,
                    create_date: v.create_date,
                })
                .collect();
            out.sort_by(|a, b| {
                b.create_date
                    .total_cmp(&a.create_date)
                    .then(b.version_id.cmp(&a.version_id))
            });
            Ok(out)
        })
    }

    /// A customer policy for a change; AWS managed ones cannot be changed.
    fn customer<'s>(st: &'s State, arn: &str) -> Result<&'s CustomerPolicy> {
        if let Some(p) = st.policies.get(arn) {
            return Ok(p);
        }
        if arn.starts_with("arn:aws:iam::aws:policy/") && st.policy_view(arn).is_some() {
            return Err(IamError::InvalidInput(format!(
                "Policy {arn} is an AWS managed policy and cannot be changed."
            )));
        }
        Err(IamError::NoSuchEntity(format!(
            "Policy {arn} was not found."
        )))
    }

    pub fn create_policy_version(
        &self,
        arn: Option<String>,
        document: Option<String>,
        set_as_default: bool,
    ) -> Result<VersionView> {
        let arn = required(arn, "policyArn")?;
        let doc = required(document, "policyDocument")?;
        check_document(&doc, policy::Kind::Identity, "policyDocument")?;
        if policy::counted_size(&doc) > MAX_MANAGED_SIZE {
            return Err(quota("PolicySize", MAX_MANAGED_SIZE));
        }
        self.inner.update(|st| {
            let mut p = Self::customer(st, &arn)?.clone();
            if p.versions.len() >= MAX_VERSIONS {
                return Err(IamError::LimitExceeded(
                    "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.".into(),
                ));
            }
            let id = format!("v{}", p.next_version);
            let t = now().floor();
            p.next_version += 1;
            p.versions.insert(
                id.clone(),
                PolicyVersion {
                    document: doc.clone(),
                    create_date: t,
                },
            );
            if set_as_default {
                p.default_version = id.clone();
                p.update_date = t;
            }
            let view = VersionView {
                document: doc.clone(),
                version_id: id,
                is_default: set_as_default,
                create_date: t,
            };
            Ok(put_policy(p, view))
        })
    }

    pub fn delete_policy_version(
        &self,
        arn: Option<String>,
        version: Option<String>,
    ) -> Result<()> {
        let arn = required(arn, "policyArn")?;
        let version = required(version, "versionId")?;
        self.inner.update(|st| {
            let mut p = Self::customer(st, &arn)?.clone();
            if !p.versions.contains_key(&version) {
                return Err(IamError::NoSuchEntity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                )));
            }
            if p.default_version == version {
                return Err(IamError::DeleteConflict(
                    "Cannot delete the default version of a policy.".into(),
                ));
            }
            p.versions.remove(&version);
            Ok(put_policy(p, ()))
        })
    }

    pub fn set_default_policy_version(
        &self,
        arn: Option<String>,
        version: Option<String>,
    ) -> Result<()> {
        let arn = required(arn, "policyArn")?;
        let version = required(version, "versionId")?;
        self.inner.update(|st| {
            let mut p = Self::customer(st, &arn)?.clone();
            if !p.versions.contains_key(&version) {
                return Err(IamError::NoSuchEntity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                )));
            }
            p.default_version = version;
            p.update_date = now().floor();
            Ok(put_policy(p, ()))
        })
    }

    pub fn delete_policy(&self, arn: Option<String>) -> Result<()> {
        let arn = required(arn, "policyArn")?;
        self.inner.update(|st| {
            let p = Self::customer(st, &arn)?;
            if st.attachments(&arn) > 0 {
                return Err(IamError::DeleteConflict(
                    "Cannot delete a policy attached to entities.".into(),
                ));
            }
            if p.versions.len() > 1 {
                return Err(IamError::DeleteConflict(
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into(),
                ));
            }
            let arn = arn.clone();
            Ok(Change::answer(())
                .write(Op::delete(KIND_POLICY, arn.clone()))
                .then(move |st: &mut State| {
                    st.policies.remove(&arn);
                }))
        })
    }

    /// `scope`: `All` (default), `AWS` or `Local`.
    pub fn list_policies(
        &self,
        scope: Option<String>,
        only_attached: bool,
        path_prefix: Option<String>,
        p: PageRequest,
    ) -> Result<Listed<PolicyView>> {
        let scope = scope.unwrap_or_else(|| "All".into());
        if !["All", "AWS", "Local"].contains(&scope.as_str()) {
            return Err(invalid(
                &scope,
                "scope",
                "satisfy enum value set: [All, AWS, Local]",
            ));
        }
        let prefix = path_prefix.unwrap_or_else(|| "/".into());
        let mut items: Vec<PolicyView> = self.inner.read(|st| {
            let mut v: Vec<PolicyView> = Vec::new();
            if scope != "Local" {
                v.extend(AWS_MANAGED.iter().map(|p| st.aws_view(p)));
            }
            if scope != "AWS" {
                v.extend(st.policies.values().map(|p| st.customer_view(p)));
            }
            v
        });
        items.retain(|v| v.path.starts_with(&prefix) && (!only_attached || v.attachment_count > 0));
        items.sort_by(|a, b| a.name.cmp(&b.name));
        paged(items, &p)
    }
}

#[cfg(test)]
mod tests;
