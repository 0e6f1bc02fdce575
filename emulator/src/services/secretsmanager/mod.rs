//! The Secrets Manager backend: secrets with versions and staging labels
//! (AWSCURRENT, AWSPREVIOUS, AWSPENDING), tags, and deletion with a
//! recovery window. One method per operation, named after it; state on the
//! kit's [`Backend`], partitioned by region: every change is validated,
//! written to the store, and only then made in memory, so an error changes
//! nothing.
//!
//! Left out: rotation (no Lambda to call), replication, resource policies,
//! KMS (the `KmsKeyId` is kept and shown, nothing is encrypted at rest).

pub mod model;

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;

use crate::domain::arn::{Arn, Scope};
use crate::domain::time::{Timestamp, now};
use crate::services::kit::tags::{self, TagError, TagPair, TagRules};
use crate::services::kit::{AwsError, Backend, Change, PageError, Paging, Regional, backend};
use crate::store::{Op, Store, StoreError};
use model::*;

const KIND_SECRET: &str = "secretsmanager.secret";
const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";
const DAY: f64 = 86_400.0;
/// ListSecrets' `MaxResults`: 1 to 100, 100 by default.
const LIST: Paging = Paging::up_to(100);
/// Secrets Manager's tag limits, as the TagResource reference gives them:
/// 50 tags a secret, `aws:` reserved (neither added nor removed by users),
/// no character rule of its own. The reference's prose says keys of 127
/// and values of 255 characters, its `Tag` shape (and the service model)
/// 128 and 256; the model's numbers are the ones kept here.
const TAG_RULES: TagRules = tags::AWS;

/// Every error Secrets Manager answers with; the text is AWS's message.
#[derive(Debug, thiserror::Error)]
pub enum SecretsManagerError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceExists(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    InternalService(String),
}

impl AwsError for SecretsManagerError {
    fn code(&self) -> &'static str {
        match self {
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::ResourceExists(_) => "ResourceExistsException",
            Self::InvalidParameter(_) => "InvalidParameterException",
            Self::InvalidRequest(_) => "InvalidRequestException",
            Self::Validation(_) => "ValidationException",
            Self::InvalidNextToken(_) => "InvalidNextTokenException",
            Self::InternalService(_) => "InternalServiceError",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, Self::InternalService(_))
    }

    fn store_failed(e: StoreError) -> Self {
        Self::InternalService(crate::services::kit::error::store_message(&e))
    }
}

impl SecretsManagerError {
    fn not_found() -> Self {
        Self::ResourceNotFound("Secrets Manager can't find the specified secret.".into())
    }

    fn deleted() -> Self {
        Self::InvalidRequest(
            "You can't perform this operation on the secret because it was marked for deletion."
                .into(),
        )
    }
}

/// A paging refusal in Secrets Manager's words.
fn page_error(e: PageError) -> SecretsManagerError {
    match e {
        PageError::InvalidToken => {
            SecretsManagerError::InvalidNextToken("The NextToken value is not valid.".into())
        }
        PageError::MaxResults { .. } => {
            SecretsManagerError::InvalidParameter("MaxResults must be between 1 and 100.".into())
        }
    }
}

/// A tag refusal in Secrets Manager's words. `add` is the request's list,
/// for the member index a constraint message names. The length messages
/// are the service model's constraints in AWS's usual validation wording;
/// the texts for the count and the `aws:` prefix are the emulator's own
/// (AWS documents the limits, not its messages), with the modeled
/// InvalidParameterException.
fn tag_error(e: TagError, add: &[Tag]) -> SecretsManagerError {
    let member = |key: &str| add.iter().position(|t| t.key == key).map_or(1, |i| i + 1);
    match e {
        TagError::TooMany { limit, .. } => SecretsManagerError::InvalidParameter(format!(
            "A secret can have at most {limit} tags; the request would exceed the limit."
        )),
        TagError::KeyLength { key } => {
            let bound = if key.is_empty() {
                "greater than or equal to 1".to_string()
            } else {
                format!("less than or equal to {}", TAG_RULES.max_key_chars)
            };
            SecretsManagerError::Validation(format!(
                "1 validation error detected: Value '{key}' at 'tags.{}.member.key' failed to satisfy constraint: Member must have length {bound}",
                member(&key)
            ))
        }
        TagError::ValueLength { key, value } => SecretsManagerError::Validation(format!(
            "1 validation error detected: Value '{value}' at 'tags.{}.member.value' failed to satisfy constraint: Member must have length less than or equal to {}",
            member(&key),
            TAG_RULES.max_value_chars
        )),
        TagError::Reserved { key } => SecretsManagerError::InvalidParameter(format!(
            "You can't add, edit or remove the tag {key}: the aws: prefix is reserved for AWS use."
        )),
        // Not in Secrets Manager's rules (no character rule, duplicates
        // allowed); answered the same way should the rules change.
        TagError::KeyChars { key }
        | TagError::ValueChars { key, .. }
        | TagError::Duplicate { key } => {
            SecretsManagerError::InvalidParameter(format!("The tag {key} is not valid."))
        }
    }
}

pub type Result<T> = std::result::Result<T, SecretsManagerError>;

impl TagPair for Tag {
    fn key(&self) -> &str {
        &self.key
    }
    fn value(&self) -> &str {
        &self.value
    }
}

/// One version of a secret's value.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VersionRecord {
    pub secret_string: Option<String>,
    /// Base64, as the wire carries it.
    pub secret_binary: Option<String>,
    pub stages: Vec<String>,
    pub created_date: Timestamp,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SecretRecord {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub tags: Vec<Tag>,
    pub created_date: Timestamp,
    pub last_changed_date: Timestamp,
    pub last_accessed_date: Option<Timestamp>,
    /// When it will be deleted, once scheduled.
    pub deletion_date: Option<Timestamp>,
    pub versions: BTreeMap<String, VersionRecord>,
}

impl SecretRecord {
    fn version_with_stage(&self, stage: &str) -> Option<(&String, &VersionRecord)> {
        self.versions
            .iter()
            .find(|(_, v)| v.stages.iter().any(|s| s == stage))
    }

    fn versions_to_stages(&self) -> BTreeMap<String, Vec<String>> {
        self.versions
            .iter()
            .filter(|(_, v)| !v.stages.is_empty())
            .map(|(k, v)| (k.clone(), v.stages.clone()))
            .collect()
    }

    fn secret_ref(&self) -> SecretRef {
        SecretRef {
            arn: self.arn.clone(),
            name: self.name.clone(),
            version_id: None,
            version_stages: None,
            deletion_date: None,
        }
    }
}

/// A region's secrets by name.
type Secrets = BTreeMap<String, SecretRecord>;
type State = Regional<Secrets>;

/// A cheap handle to the Secrets Manager backend.
#[derive(Clone)]
pub struct SecretsManager {
    inner: Arc<Backend<State>>,
}

/// Six characters from AWS's suffix alphabet.
fn arn_suffix() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// AWS's rule for secret names: 1 to 512 of letters, digits and `/_+=.@-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

/// Whether `id` (a name, a full ARN or an ARN without the six-character
/// suffix) names `s`.
fn names(s: &SecretRecord, id: &str) -> bool {
    if !id.starts_with("arn:") {
        return id == s.name;
    }
    if id == s.arn {
        return true;
    }
    // A partial ARN: the secret's own ARN but for its `-XXXXXX` suffix.
    match (Arn::of_service(id, "secretsmanager"), Arn::parse(&s.arn)) {
        (Some(given), Some(own)) => {
            (given.partition, given.region, given.account)
                == (own.partition, own.region, own.account)
                && given.resource_of("secret:") == Some(s.name.as_str())
        }
        _ => false,
    }
}

fn key(region: &str, name: &str) -> String {
    format!("{region}/{name}")
}

fn find<'a>(secrets: &'a Secrets, id: &str) -> Result<&'a SecretRecord> {
    if id.is_empty() {
        return Err(SecretsManagerError::InvalidParameter(
            "You must provide a value for the SecretId parameter.".into(),
        ));
    }
    secrets
        .values()
        .find(|s| names(s, id))
        .ok_or_else(SecretsManagerError::not_found)
}

/// The change that stores `s` in place of its old self and answers `answer`.
fn replace<'a, R>(region: &'a str, s: SecretRecord, answer: R) -> Change<'a, State, R> {
    Change::answer(answer)
        .write(Op::put(KIND_SECRET, key(region, &s.name), &s))
        .then(move |st: &mut State| {
            st.get_mut(region).insert(s.name.clone(), s);
        })
}

impl SecretsManager {
    pub fn load(store: Store, account: String) -> std::result::Result<Self, StoreError> {
        let mut state = State::default();
        for (k, s) in backend::load::<SecretRecord>(&store, KIND_SECRET)? {
            state
                .get_mut(backend::region_of(&k))
                .insert(s.name.clone(), s);
        }
        Ok(SecretsManager {
            inner: Arc::new(Backend::new(store, account, "secretsmanager.", state)),
        })
    }

    pub fn reset(&self) -> Result<()> {
        self.inner.reset()
    }

    /// The full ARN of the secret `id` (a name, full or partial ARN) names,
    /// if there is one (IAM evaluates calls against it).
    pub fn arn_of(&self, region: &str, id: &str) -> Option<String> {
        self.inner.read(|st| {
            st.get(region)
                .and_then(|s| s.values().find(|s| names(s, id)))
                .map(|s| s.arn.clone())
        })
    }

    /// The customer KMS key the secret `id` is encrypted with, as the ARN
    /// IAM evaluates `kms:Decrypt` on; `None` for the AWS managed key
    /// (`aws/secretsmanager`, whose use needs no permission of the caller).
    pub fn kms_key_of(&self, region: &str, id: &str) -> Option<String> {
        let key = self.inner.read(|st| {
            st.get(region)
                .and_then(|s| s.values().find(|s| names(s, id)))
                .and_then(|s| s.kms_key_id.clone())
        })?;
        crate::domain::arn::customer_kms_key(
            region,
            self.inner.account(),
            &key,
            "alias/aws/secretsmanager",
        )
    }

    /// Removes, for good and from the store too, the region's secrets whose
    /// recovery window has passed. Every operation starts with it, so none
    /// sees such a secret. It is a change of its own: a failed write leaves
    /// them in memory and in the store alike, and the operation fails.
    fn purge(&self, region: &str) -> Result<()> {
        let t = now();
        self.inner.update(|st| {
            let expired: Vec<String> = st
                .get(region)
                .into_iter()
                .flat_map(|s| s.values())
                .filter(|s| s.deletion_date.is_some_and(|d| d <= t))
                .map(|s| s.name.clone())
                .collect();
            if expired.is_empty() {
                return Ok(Change::answer(()));
            }
            let ops: Vec<Op<'static>> = expired
                .iter()
                .map(|n| Op::delete(KIND_SECRET, key(region, n)))
                .collect();
            Ok(Change::answer(()).writes(ops).then(move |st: &mut State| {
                let secrets = st.get_mut(region);
                for n in &expired {
                    secrets.remove(n);
                }
            }))
        })
    }

    /// Reads the region's secrets (after the purge) under the lock.
    fn read<R>(&self, region: &str, f: impl FnOnce(&Secrets) -> Result<R>) -> Result<R> {
        self.purge(region)?;
        self.inner.read(|st| match st.get(region) {
            Some(secrets) => f(secrets),
            None => f(&Secrets::new()),
        })
    }

    /// Validate, write, apply (after the purge) over the region's secrets.
    fn update<'a, R>(
        &self,
        region: &'a str,
        decide: impl FnOnce(&Secrets) -> Result<Change<'a, State, R>>,
    ) -> Result<R> {
        self.purge(region)?;
        self.inner.update(|st| match st.get(region) {
            Some(secrets) => decide(secrets),
            None => decide(&Secrets::new()),
        })
    }

    pub fn create_secret(&self, region: &str, r: CreateSecretRequest) -> Result<SecretRef> {
        if !valid_name(&r.name) {
            return Err(SecretsManagerError::InvalidParameter(
                "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!".into(),
            ));
        }
        check_value(r.secret_string.as_deref(), r.secret_binary.as_deref())?;
        let add = r.tags.clone().unwrap_or_default();
        let tags = tags::merge(&[], &add, &TAG_RULES).map_err(|e| tag_error(e, &add))?;
        self.update(region, |secrets| {
            if let Some(s) = secrets.get(&r.name) {
                return Err(if s.deletion_date.is_some() {
                    SecretsManagerError::InvalidRequest(
                        "You can't create this secret because a secret with this name is already scheduled for deletion.".into(),
                    )
                } else {
                    SecretsManagerError::ResourceExists(format!(
                        "The operation failed because the secret {} already exists.",
                        r.name
                    ))
                });
            }
            let t = now();
            let mut versions = BTreeMap::new();
            let has_value = r.secret_string.is_some() || r.secret_binary.is_some();
            let version_id = has_value.then(|| {
                r.client_request_token
                    .clone()
                    .unwrap_or_else(crate::domain::ids::uuid)
            });
            if let Some(v) = &version_id {
                versions.insert(
                    v.clone(),
                    VersionRecord {
                        secret_string: r.secret_string.clone(),
                        secret_binary: r.secret_binary.clone(),
                        stages: vec![CURRENT.into()],
                        created_date: t,
                    },
                );
            }
            let s = SecretRecord {
                arn: Scope::new(region, self.inner.account()).arn(
                    "secretsmanager",
                    &format!("secret:{}-{}", r.name, arn_suffix()),
                ),
                name: r.name.clone(),
                description: r.description.clone(),
                kms_key_id: r.kms_key_id.clone(),
                tags,
                created_date: t,
                last_changed_date: t,
                last_accessed_date: None,
                deletion_date: None,
                versions,
            };
            let out = SecretRef {
                version_id,
                ..s.secret_ref()
            };
            Ok(replace(region, s, out))
        })
    }

    pub fn get_secret_value(
        &self,
        region: &str,
        r: GetSecretValueRequest,
    ) -> Result<GetSecretValueResponse> {
        self.update(region, |secrets| {
            let s = find(secrets, &r.secret_id)?;
            if s.deletion_date.is_some() {
                return Err(SecretsManagerError::deleted());
            }
            let (id, v) = match (&r.version_id, &r.version_stage) {
                (Some(id), stage) => {
                    let v = s.versions.get(id).ok_or_else(|| {
                        SecretsManagerError::ResourceNotFound(format!(
                            "Secrets Manager can't find the specified secret value for VersionId: {id}"
                        ))
                    })?;
                    if let Some(stage) = stage
                        && !v.stages.contains(stage)
                    {
                        return Err(SecretsManagerError::InvalidRequest(format!(
                            "You provided a VersionStage that is not associated to the provided VersionId. VersionStage: {stage}, VersionId: {id}"
                        )));
                    }
                    (id.clone(), v.clone())
                }
                (None, stage) => {
                    let stage = stage.as_deref().unwrap_or(CURRENT);
                    let (id, v) = s.version_with_stage(stage).ok_or_else(|| {
                        SecretsManagerError::ResourceNotFound(format!(
                            "Secrets Manager can't find the specified secret value for staging label: {stage}"
                        ))
                    })?;
                    (id.clone(), v.clone())
                }
            };
            let out = GetSecretValueResponse {
                arn: s.arn.clone(),
                name: s.name.clone(),
                version_id: id,
                secret_string: v.secret_string,
                secret_binary: v.secret_binary,
                version_stages: v.stages,
                created_date: v.created_date,
            };
            // AWS keeps the access date to the day: a read records it
            // once a day.
            let today = (now() / DAY).floor() * DAY;
            if s.last_accessed_date == Some(today) {
                return Ok(Change::answer(out));
            }
            let mut copy = s.clone();
            copy.last_accessed_date = Some(today);
            Ok(replace(region, copy, out))
        })
    }

    /// A new version that becomes AWSCURRENT (unless other stages are
    /// given); the old current one becomes AWSPREVIOUS.
    fn add_version(
        s: &mut SecretRecord,
        token: Option<String>,
        string: Option<String>,
        binary: Option<String>,
        stages: Option<Vec<String>>,
    ) -> Result<(String, Vec<String>)> {
        let id = token.unwrap_or_else(crate::domain::ids::uuid);
        if let Some(v) = s.versions.get(&id) {
            // An idempotent retry is fine; anything else changes history.
            if v.secret_string == string && v.secret_binary == binary {
                return Ok((id, v.stages.clone()));
            }
            return Err(SecretsManagerError::ResourceExists(
                "You can't modify an existing version, you can only create a new version.".into(),
            ));
        }
        let stages = stages.unwrap_or_else(|| vec![CURRENT.into()]);
        let t = now();
        if stages.iter().any(|st| st == CURRENT) {
            for v in s.versions.values_mut() {
                v.stages.retain(|st| st != PREVIOUS);
            }
            if let Some(old) = s
                .versions
                .values_mut()
                .find(|v| v.stages.iter().any(|st| st == CURRENT))
            {
                old.stages.retain(|st| st != CURRENT);
                old.stages.push(PREVIOUS.into());
            }
        }
        for v in s.versions.values_mut() {
            v.stages.retain(|st| st == PREVIOUS || !stages.contains(st));
        }
        s.versions.insert(
            id.clone(),
            VersionRecord {
                secret_string: string,
                secret_binary: binary,
                stages: stages.clone(),
                created_date: t,
            },
        );
        // AWS keeps about 100 versions; those without a label go first.
        while s.versions.len() > 100 {
            let Some(oldest) = s
                .versions
                .iter()
                .filter(|(_, v)| v.stages.is_empty())
                .min_by(|a, b| a.1.created_date.total_cmp(&b.1.created_date))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            s.versions.remove(&oldest);
        }
        s.last_changed_date = t;
        Ok((id, stages))
    }

    pub fn put_secret_value(&self, region: &str, r: PutSecretValueRequest) -> Result<SecretRef> {
        check_value(r.secret_string.as_deref(), r.secret_binary.as_deref())?;
        if r.secret_string.is_none() && r.secret_binary.is_none() {
            return Err(SecretsManagerError::InvalidRequest(
                "You must provide either SecretString or SecretBinary.".into(),
            ));
        }
        self.update(region, |secrets| {
            let s = find(secrets, &r.secret_id)?;
            if s.deletion_date.is_some() {
                return Err(SecretsManagerError::deleted());
            }
            let mut copy = s.clone();
            let (id, stages) = Self::add_version(
                &mut copy,
                r.client_request_token.clone(),
                r.secret_string.clone(),
                r.secret_binary.clone(),
                r.version_stages.clone(),
            )?;
            let out = SecretRef {
                version_id: Some(id),
                version_stages: Some(stages),
                ..copy.secret_ref()
            };
            Ok(replace(region, copy, out))
        })
    }

    pub fn update_secret(&self, region: &str, r: UpdateSecretRequest) -> Result<SecretRef> {
        check_value(r.secret_string.as_deref(), r.secret_binary.as_deref())?;
        self.update(region, |secrets| {
            let s = find(secrets, &r.secret_id)?;
            if s.deletion_date.is_some() {
                return Err(SecretsManagerError::deleted());
            }
            let mut copy = s.clone();
            if r.description.is_some() {
                copy.description = r.description.clone();
            }
            if r.kms_key_id.is_some() {
                copy.kms_key_id = r.kms_key_id.clone();
            }
            copy.last_changed_date = now();
            let mut version_id = None;
            if r.secret_string.is_some() || r.secret_binary.is_some() {
                let (id, _) = Self::add_version(
                    &mut copy,
                    r.client_request_token.clone(),
                    r.secret_string.clone(),
                    r.secret_binary.clone(),
                    None,
                )?;
                version_id = Some(id);
            }
            let out = SecretRef {
                version_id,
                ..copy.secret_ref()
            };
            Ok(replace(region, copy, out))
        })
    }

    pub fn describe_secret(
        &self,
        region: &str,
        r: SecretIdRequest,
    ) -> Result<DescribeSecretResponse> {
        self.read(region, |secrets| Ok(describe(find(secrets, &r.secret_id)?)))
    }

    pub fn list_secrets(&self, region: &str, r: ListSecretsRequest) -> Result<ListSecretsResponse> {
        LIST.size(r.max_results).map_err(page_error)?;
        self.read(region, |secrets| {
            let mut all: Vec<&SecretRecord> = secrets
                .values()
                .filter(|s| {
                    r.include_planned_deletion.unwrap_or(false) || s.deletion_date.is_none()
                })
                .filter(|s| r.filters.iter().flatten().all(|f| filter_matches(f, s)))
                .collect();
            // AWS lists by creation date, newest first unless asked otherwise.
            all.sort_by(|a, b| b.created_date.total_cmp(&a.created_date));
            if r.sort_order.as_deref() == Some("asc") {
                all.reverse();
            }
            let page = LIST
                .page(&all, r.next_token.as_deref(), r.max_results)
                .map_err(page_error)?;
            Ok(ListSecretsResponse {
                secret_list: page
                    .items
                    .iter()
                    .map(|s| {
                        let mut v = serde_json::to_value(describe(s)).unwrap_or_default();
                        if let Some(o) = v.as_object_mut()
                            && let Some(x) = o.remove("VersionIdsToStages")
                        {
                            o.insert("SecretVersionsToStages".into(), x);
                        }
                        v
                    })
                    .collect(),
                next_token: page.next_token,
            })
        })
    }

    pub fn delete_secret(&self, region: &str, r: DeleteSecretRequest) -> Result<SecretRef> {
        let force = r.force_delete_without_recovery.unwrap_or(false);
        if force && r.recovery_window_in_days.is_some() {
            return Err(SecretsManagerError::InvalidParameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
                    .into(),
            ));
        }
        let days = r.recovery_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(SecretsManagerError::InvalidParameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).".into(),
            ));
        }
        self.update(region, |secrets| {
            let s = find(secrets, &r.secret_id)?;
            if s.deletion_date.is_some() && !force {
                return Err(SecretsManagerError::deleted());
            }
            let t = now();
            if force {
                let name = s.name.clone();
                let out = SecretRef {
                    deletion_date: Some(t),
                    ..s.secret_ref()
                };
                return Ok(Change::answer(out)
                    .write(Op::delete(KIND_SECRET, key(region, &name)))
                    .then(move |st: &mut State| {
                        st.get_mut(region).remove(&name);
                    }));
            }
            let when = t + days as f64 * DAY;
            let mut copy = s.clone();
            copy.deletion_date = Some(when);
            let out = SecretRef {
                deletion_date: Some(when),
                ..copy.secret_ref()
            };
            Ok(replace(region, copy, out))
        })
    }

    pub fn restore_secret(&self, region: &str, r: SecretIdRequest) -> Result<SecretRef> {
        self.update(region, |secrets| {
            let s = find(secrets, &r.secret_id)?;
            let mut copy = s.clone();
            copy.deletion_date = None;
            let out = copy.secret_ref();
            Ok(replace(region, copy, out))
        })
    }

    pub fn tag_resource(&self, region: &str, r: TagResourceRequest) -> Result<()> {
        self.update(region, |secrets| {
            let s = find(secrets, &r.secret_id)?;
            let mut copy = s.clone();
            copy.tags =
                tags::merge(&s.tags, &r.tags, &TAG_RULES).map_err(|e| tag_error(e, &r.tags))?;
            Ok(replace(region, copy, ()))
        })
    }

    pub fn untag_resource(&self, region: &str, r: UntagResourceRequest) -> Result<()> {
        self.update(region, |secrets| {
            let s = find(secrets, &r.secret_id)?;
            let mut copy = s.clone();
            copy.tags =
                tags::remove(&s.tags, &r.tag_keys, &TAG_RULES).map_err(|e| tag_error(e, &[]))?;
            Ok(replace(region, copy, ()))
        })
    }
}

fn check_value(string: Option<&str>, binary: Option<&str>) -> Result<()> {
    if string.is_some() && binary.is_some() {
        return Err(SecretsManagerError::InvalidParameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.".into(),
        ));
    }
    // AWS's limit: 65536 bytes of secret value.
    let len = string.map_or(0, str::len) + binary.map_or(0, |b| b.len() / 4 * 3);
    if len > 65_536 {
        return Err(SecretsManagerError::InvalidParameter(
            "The secret value is larger than the 65536 bytes Secrets Manager allows.".into(),
        ));
    }
    Ok(())
}

fn filter_matches(f: &Filter, s: &SecretRecord) -> bool {
    let values = f.values.as_deref().unwrap_or_default();
    // A value starting with `!` negates; otherwise values are prefixes and
    // any one may match.
    let test = |field: &str| {
        values.iter().any(|v| match v.strip_prefix('!') {
            Some(neg) => !field.starts_with(neg),
            None => field.starts_with(v.as_str()),
        })
    };
    let desc = s.description.as_deref().unwrap_or("");
    match f.key.as_deref().unwrap_or("") {
        "name" => test(&s.name),
        "description" => test(desc),
        "tag-key" => s.tags.iter().any(|t| test(&t.key)),
        "tag-value" => s.tags.iter().any(|t| test(&t.value)),
        "all" => {
            test(&s.name) || test(desc) || s.tags.iter().any(|t| test(&t.key) || test(&t.value))
        }
        _ => false,
    }
}

fn describe(s: &SecretRecord) -> DescribeSecretResponse {
    DescribeSecretResponse {
        arn: s.arn.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        kms_key_id: s.kms_key_id.clone(),
        rotation_enabled: false,
        last_changed_date: Some(s.last_changed_date),
        last_accessed_date: s.last_accessed_date,
        deleted_date: s.deletion_date,
        tags: (!s.tags.is_empty()).then(|| s.tags.clone()),
        version_ids_to_stages: s.versions_to_stages(),
        created_date: s.created_date,
    }
}

/// What a task's `secrets` entry needs: the value of one version of a
/// secret, read as the ECS agent reads it. Errors are the SDK-style
/// messages the agent wraps.
impl SecretsManager {
    pub fn secret_string(
        &self,
        region: &str,
        secret_id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<String> {
        let r = self.get_secret_value(
            region,
            GetSecretValueRequest {
                secret_id: secret_id.to_string(),
                version_id: version_id.map(str::to_string),
                version_stage: version_stage.map(str::to_string),
            },
        )?;
        r.secret_string.ok_or_else(|| {
            SecretsManagerError::InvalidRequest(
                "the secret has no SecretString (binary secrets are not supported)".into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::kit::AwsError;

    fn sm() -> SecretsManager {
        SecretsManager::load(Store::in_memory(), "000000000000".into()).unwrap()
    }

    fn create(sm: &SecretsManager, name: &str, value: &str) -> SecretRef {
        sm.create_secret(
            "us-east-1",
            serde_json::from_value(serde_json::json!({"Name": name, "SecretString": value}))
                .unwrap(),
        )
        .unwrap()
    }

    fn get(sm: &SecretsManager, id: &str) -> Result<String> {
        sm.secret_string("us-east-1", id, None, None)
    }

    #[test]
    fn arns_carry_a_six_character_suffix_and_every_id_form_works() {
        let sm = sm();
        let r = create(&sm, "prod/db", "v1");
        let (base, suffix) = r.arn.rsplit_once('-').unwrap();
        assert_eq!(
            base,
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db"
        );
        assert_eq!(suffix.len(), 6);
        for id in ["prod/db", r.arn.as_str(), base] {
            assert_eq!(get(&sm, id).unwrap(), "v1", "{id}");
        }
        assert_eq!(
            get(&sm, "prod").unwrap_err().code(),
            "ResourceNotFoundException"
        );
        assert_eq!(
            get(&sm, &format!("{base}-zzzzzz")).unwrap_err().code(),
            "ResourceNotFoundException"
        );
    }

    #[test]
    fn versions_move_their_stages() {
        let sm = sm();
        let first = create(&sm, "s", "v1").version_id.unwrap();
        let put = sm
            .put_secret_value(
                "us-east-1",
                serde_json::from_value(serde_json::json!({"SecretId": "s", "SecretString": "v2"}))
                    .unwrap(),
            )
            .unwrap();
        let check = |stage: Option<&str>, id: Option<&str>, want: &str| {
            assert_eq!(
                sm.secret_string("us-east-1", "s", stage, id).unwrap(),
                want,
                "{stage:?} {id:?}"
            );
        };
        check(None, None, "v2");
        check(Some("AWSPREVIOUS"), None, "v1");
        check(None, Some(&first), "v1");
        check(None, put.version_id.as_deref(), "v2");
        let e = sm
            .secret_string("us-east-1", "s", None, Some("nope"))
            .unwrap_err();
        assert_eq!(e.code(), "ResourceNotFoundException");
        let e = sm
            .secret_string("us-east-1", "s", Some("AWSPENDING"), None)
            .unwrap_err();
        assert_eq!(e.code(), "ResourceNotFoundException");
    }

    #[test]
    fn deletion_has_a_window_unless_forced() {
        let sm = sm();
        create(&sm, "s", "v");
        let del = |body: serde_json::Value| {
            sm.delete_secret("us-east-1", serde_json::from_value(body).unwrap())
        };
        let e = del(serde_json::json!({"SecretId": "s", "RecoveryWindowInDays": 3})).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        let e = del(serde_json::json!({"SecretId": "s", "RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": true})).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        del(serde_json::json!({"SecretId": "s", "RecoveryWindowInDays": 7})).unwrap();
        let e = get(&sm, "s").unwrap_err();
        assert_eq!(e.code(), "InvalidRequestException");
        assert!(e.to_string().contains("marked for deletion"));
        let e = sm
            .create_secret(
                "us-east-1",
                serde_json::from_value(serde_json::json!({"Name": "s"})).unwrap(),
            )
            .unwrap_err();
        assert_eq!(e.code(), "InvalidRequestException");
        del(serde_json::json!({"SecretId": "s", "ForceDeleteWithoutRecovery": true})).unwrap();
        assert_eq!(
            get(&sm, "s").unwrap_err().code(),
            "ResourceNotFoundException"
        );
    }

    #[test]
    fn names_follow_aws_rules() {
        for (name, ok) in [
            ("prod/db", true),
            ("a+b=c.d@e_f-g", true),
            ("", false),
            ("has space", false),
            ("semi;colon", false),
            (&"x".repeat(513), false),
        ] {
            assert_eq!(valid_name(name), ok, "{name}");
        }
    }

    fn tags(prefix: &str, n: usize) -> Vec<Tag> {
        (0..n)
            .map(|i| Tag {
                key: format!("{prefix}{i}"),
                value: "v".into(),
            })
            .collect()
    }

    fn tag(sm: &SecretsManager, id: &str, add: Vec<Tag>) -> Result<()> {
        sm.tag_resource(
            "us-east-1",
            TagResourceRequest {
                secret_id: id.into(),
                tags: add,
            },
        )
    }

    fn tag_count(sm: &SecretsManager, id: &str) -> usize {
        sm.describe_secret(
            "us-east-1",
            SecretIdRequest {
                secret_id: id.into(),
            },
        )
        .unwrap()
        .tags
        .map_or(0, |t| t.len())
    }

    /// Tags are validated before anything changes: a merge over the limit
    /// is refused whole (the 45 + 10), and so are bad keys and
    /// values and the reserved prefix.
    #[test]
    fn tags_are_validated_before_anything_changes() {
        let sm = sm();
        create(&sm, "s", "v");
        tag(&sm, "s", tags("a", 45)).unwrap();
        let e = tag(&sm, "s", tags("b", 10)).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        assert_eq!(tag_count(&sm, "s"), 45);
        // Replacing values does not count twice; five more reach the limit.
        tag(&sm, "s", tags("a", 45)).unwrap();
        tag(&sm, "s", tags("b", 5)).unwrap();
        assert_eq!(tag_count(&sm, "s"), 50);
        let one = |k: &str, v: &str| {
            vec![Tag {
                key: k.into(),
                value: v.into(),
            }]
        };
        // (tags, code, message start)
        let cases = [
            (
                one("", "v"),
                "ValidationException",
                "1 validation error detected: Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ),
            (
                one(&"k".repeat(129), "v"),
                "ValidationException",
                "1 validation error detected: Value 'kkk",
            ),
            (
                one("k", &"v".repeat(257)),
                "ValidationException",
                "1 validation error detected: Value 'vvv",
            ),
            (one("aws:x", "v"), "InvalidParameterException", "You can't"),
            (one("AWS:x", "v"), "InvalidParameterException", "You can't"),
        ];
        for (add, code, message) in cases {
            let e = tag(&sm, "s", add.clone()).unwrap_err();
            assert_eq!(e.code(), code, "{add:?}");
            assert!(e.to_string().starts_with(message), "{e}");
            assert_eq!(tag_count(&sm, "s"), 50);
        }
        let e = sm
            .untag_resource(
                "us-east-1",
                UntagResourceRequest {
                    secret_id: "s".into(),
                    tag_keys: vec!["a0".into(), "aws:x".into()],
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        assert_eq!(tag_count(&sm, "s"), 50);
        let e = sm
            .create_secret(
                "us-east-1",
                CreateSecretRequest {
                    tags: Some(tags("c", 51)),
                    ..serde_json::from_value(serde_json::json!({"Name": "t"})).unwrap()
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
        assert_eq!(
            get(&sm, "t").unwrap_err().code(),
            "ResourceNotFoundException"
        );
    }

    #[test]
    fn list_pages_walk_to_the_end() {
        let sm = sm();
        for i in 0..5 {
            create(&sm, &format!("s{i}"), "v");
        }
        let list = |token: Option<String>, max: Option<i64>| {
            sm.list_secrets(
                "us-east-1",
                ListSecretsRequest {
                    max_results: max,
                    next_token: token,
                    filters: None,
                    include_planned_deletion: None,
                    sort_order: Some("asc".into()),
                },
            )
        };
        let (mut seen, mut token) = (Vec::new(), None);
        loop {
            let page = list(token, Some(2)).unwrap();
            seen.extend(page.secret_list.iter().map(|s| s["Name"].clone()));
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 5);
        let e = list(Some("2".into()), None).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            (
                "InvalidNextTokenException",
                "The NextToken value is not valid."
            )
        );
        let e = list(None, Some(101)).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterException");
    }

    /// A backend on a durable store with secrets in every state the
    /// operations below act on, and its directory.
    fn durable() -> (SecretsManager, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("fl-sm-{}", uuid::Uuid::new_v4()));
        let sm =
            SecretsManager::load(Store::open(&dir, false).unwrap(), "000000000000".into()).unwrap();
        create(&sm, "live", "v1");
        tag(&sm, "live", tags("t", 3)).unwrap();
        create(&sm, "scheduled", "v");
        sm.delete_secret(
            "us-east-1",
            serde_json::from_value(serde_json::json!({"SecretId": "scheduled"})).unwrap(),
        )
        .unwrap();
        (sm, dir)
    }

    /// Puts a secret's recovery window in the past, in memory and store.
    fn expire(sm: &SecretsManager, name: &str) {
        sm.inner
            .update(|st: &State| {
                let mut s = st.get("us-east-1").unwrap()[name].clone();
                s.deletion_date = Some(now() - 1.0);
                Ok::<_, SecretsManagerError>(replace("us-east-1", s, ()))
            })
            .unwrap();
    }

    /// Everything the backend holds: its memory and its store's documents.
    fn snapshot(sm: &SecretsManager) -> String {
        let memory = sm.inner.read(|st| {
            let regions: BTreeMap<&String, &Secrets> = st.iter().collect();
            serde_json::to_string(&regions).unwrap()
        });
        let stored: Vec<(String, serde_json::Value)> = sm.inner.store().load(KIND_SECRET).unwrap();
        format!("{memory}\n{stored:?}")
    }

    /// An error answer changes nothing: every mutating operation (reads
    /// that record the access date and the purge of expired secrets
    /// included), with the store's writes failing, answers
    /// InternalServiceError and leaves memory and store as they were; with
    /// writes working it changes them, so no case is vacuous.
    #[test]
    fn an_error_changes_nothing() {
        type Call = fn(&SecretsManager) -> Result<()>;
        fn body<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
            serde_json::from_value(v).unwrap()
        }
        let cases: [(&str, Call); 12] = [
            ("create_secret", |sm| {
                sm.create_secret(
                    "us-east-1",
                    body(serde_json::json!({"Name": "new", "SecretString": "x"})),
                )
                .map(drop)
            }),
            ("get_secret_value (first read of the day)", |sm| {
                sm.get_secret_value("us-east-1", body(serde_json::json!({"SecretId": "live"})))
                    .map(drop)
            }),
            ("put_secret_value", |sm| {
                sm.put_secret_value(
                    "us-east-1",
                    body(serde_json::json!({"SecretId": "live", "SecretString": "v2"})),
                )
                .map(drop)
            }),
            ("update_secret", |sm| {
                sm.update_secret(
                    "us-east-1",
                    body(serde_json::json!({"SecretId": "live", "Description": "d"})),
                )
                .map(drop)
            }),
            ("delete_secret (window)", |sm| {
                sm.delete_secret("us-east-1", body(serde_json::json!({"SecretId": "live"})))
                    .map(drop)
            }),
            ("delete_secret (force)", |sm| {
                sm.delete_secret(
                    "us-east-1",
                    body(
                        serde_json::json!({"SecretId": "live", "ForceDeleteWithoutRecovery": true}),
                    ),
                )
                .map(drop)
            }),
            ("restore_secret", |sm| {
                sm.restore_secret(
                    "us-east-1",
                    body(serde_json::json!({"SecretId": "scheduled"})),
                )
                .map(drop)
            }),
            ("tag_resource", |sm| tag(sm, "live", tags("new", 2))),
            ("untag_resource", |sm| {
                sm.untag_resource(
                    "us-east-1",
                    body(serde_json::json!({"SecretId": "live", "TagKeys": ["t0"]})),
                )
            }),
            ("the purge, before a describe", |sm| {
                sm.describe_secret("us-east-1", body(serde_json::json!({"SecretId": "live"})))
                    .map(drop)
            }),
            ("the purge, before a list", |sm| {
                sm.list_secrets("us-east-1", body(serde_json::json!({})))
                    .map(drop)
            }),
            ("reset", |sm| sm.reset()),
        ];
        for (name, call) in cases {
            let (sm, dir) = durable();
            if name.starts_with("the purge") {
                expire(&sm, "scheduled");
            }
            let before = snapshot(&sm);
            sm.inner.store().fail_writes(true);
            let e = call(&sm).unwrap_err();
            assert_eq!(e.code(), "InternalServiceError", "{name}");
            assert_eq!(snapshot(&sm), before, "{name} changed state");
            sm.inner.store().fail_writes(false);
            call(&sm).unwrap();
            assert_ne!(snapshot(&sm), before, "{name} changes nothing");
            drop(sm);
            std::fs::remove_dir_all(dir).unwrap();
        }
        // The purge, once it succeeds, has removed the secret from both.
        let (sm, dir) = durable();
        expire(&sm, "scheduled");
        assert_eq!(
            get(&sm, "scheduled").unwrap_err().code(),
            "ResourceNotFoundException"
        );
        assert!(!snapshot(&sm).contains("scheduled"));
        drop(sm);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
