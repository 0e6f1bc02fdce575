//! The Secrets Manager backend: secrets with versions and staging labels
//! (AWSCURRENT, AWSPREVIOUS, AWSPENDING), tags, and deletion with a
//! recovery window. One method per operation, named after it; state in
//! memory behind one std mutex, partitioned by region, every change in the
//! store before the method returns.
//!
//! Left out: rotation (no Lambda to call), replication, resource policies,
//! KMS (the `KmsKeyId` is kept and shown, nothing is encrypted at rest).

pub mod model;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::Rng;

use crate::domain::time::{Timestamp, now};
use crate::store::{Op, Store};
use model::*;

const KIND_SECRET: &str = "secretsmanager.secret";
const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";
const DAY: f64 = 86_400.0;

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

impl crate::services::kit::AwsError for SecretsManagerError {
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

    fn store_failed(e: crate::store::StoreError) -> Self {
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

impl From<crate::store::StoreError> for SecretsManagerError {
    fn from(e: crate::store::StoreError) -> Self {
        <Self as crate::services::kit::AwsError>::store_failed(e)
    }
}

pub type Result<T> = std::result::Result<T, SecretsManagerError>;

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
}

#[derive(Default)]
struct State {
    /// region -> name -> secret
    regions: HashMap<String, BTreeMap<String, SecretRecord>>,
}

struct Inner {
    state: Mutex<State>,
    store: Store,
    account: String,
}

/// A cheap handle to the Secrets Manager backend.
#[derive(Clone)]
pub struct SecretsManager {
    inner: Arc<Inner>,
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
    if id.starts_with("arn:") {
        id == s.arn || s.arn.len() > 7 && id == &s.arn[..s.arn.len() - 7]
    } else {
        id == s.name
    }
}

fn key(region: &str, name: &str) -> String {
    format!("{region}/{name}")
}

impl SecretsManager {
    pub fn load(
        store: Store,
        account: String,
    ) -> std::result::Result<Self, crate::store::StoreError> {
        let mut state = State::default();
        for (k, s) in store.load::<SecretRecord>(KIND_SECRET)? {
            let region = k.split_once('/').map_or("", |(r, _)| r).to_string();
            state
                .regions
                .entry(region)
                .or_default()
                .insert(s.name.clone(), s);
        }
        Ok(SecretsManager {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                store,
                account,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn reset(&self) -> Result<()> {
        let mut st = self.lock();
        self.inner.store.clear_prefix("secretsmanager.")?;
        *st = State::default();
        Ok(())
    }

    /// The region's secrets, with those whose recovery window has passed
    /// removed (for good, from the store too).
    fn region<'a>(
        &self,
        st: &'a mut State,
        region: &str,
    ) -> Result<&'a mut BTreeMap<String, SecretRecord>> {
        let secrets = st.regions.entry(region.to_string()).or_default();
        let t = now();
        let expired: Vec<String> = secrets
            .values()
            .filter(|s| s.deletion_date.is_some_and(|d| d <= t))
            .map(|s| s.name.clone())
            .collect();
        if !expired.is_empty() {
            self.inner.store.write(
                expired
                    .iter()
                    .map(|n| Op::delete(KIND_SECRET, key(region, n)))
                    .collect(),
            )?;
            for n in expired {
                secrets.remove(&n);
            }
        }
        Ok(secrets)
    }

    fn save(&self, region: &str, s: &SecretRecord) -> Result<()> {
        self.inner
            .store
            .put(KIND_SECRET, &key(region, &s.name), s)?;
        Ok(())
    }

    fn find<'a>(
        secrets: &'a mut BTreeMap<String, SecretRecord>,
        id: &str,
    ) -> Result<&'a mut SecretRecord> {
        if id.is_empty() {
            return Err(SecretsManagerError::InvalidParameter(
                "You must provide a value for the SecretId parameter.".into(),
            ));
        }
        secrets
            .values_mut()
            .find(|s| names(s, id))
            .ok_or_else(SecretsManagerError::not_found)
    }

    pub fn create_secret(&self, region: &str, r: CreateSecretRequest) -> Result<SecretRef> {
        if !valid_name(&r.name) {
            return Err(SecretsManagerError::InvalidParameter(
                "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!".into(),
            ));
        }
        check_value(r.secret_string.as_deref(), r.secret_binary.as_deref())?;
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
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
                    secret_string: r.secret_string,
                    secret_binary: r.secret_binary,
                    stages: vec![CURRENT.into()],
                    created_date: t,
                },
            );
        }
        let s = SecretRecord {
            arn: format!(
                "arn:aws:secretsmanager:{region}:{}:secret:{}-{}",
                self.inner.account,
                r.name,
                arn_suffix()
            ),
            name: r.name.clone(),
            description: r.description,
            kms_key_id: r.kms_key_id,
            tags: r.tags.unwrap_or_default(),
            created_date: t,
            last_changed_date: t,
            last_accessed_date: None,
            deletion_date: None,
            versions,
        };
        self.save(region, &s)?;
        let out = SecretRef {
            arn: s.arn.clone(),
            name: s.name.clone(),
            version_id,
            version_stages: None,
            deletion_date: None,
        };
        secrets.insert(s.name.clone(), s);
        Ok(out)
    }

    pub fn get_secret_value(
        &self,
        region: &str,
        r: GetSecretValueRequest,
    ) -> Result<GetSecretValueResponse> {
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let s = Self::find(secrets, &r.secret_id)?;
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
        // AWS keeps the access date to the day.
        let today = (now() / DAY).floor() * DAY;
        if s.last_accessed_date != Some(today) {
            s.last_accessed_date = Some(today);
            let copy = s.clone();
            self.save(region, &copy)?;
        }
        Ok(GetSecretValueResponse {
            arn: s.arn.clone(),
            name: s.name.clone(),
            version_id: id,
            secret_string: v.secret_string,
            secret_binary: v.secret_binary,
            version_stages: v.stages,
            created_date: v.created_date,
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
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let s = Self::find(secrets, &r.secret_id)?;
        if s.deletion_date.is_some() {
            return Err(SecretsManagerError::deleted());
        }
        let mut copy = s.clone();
        let (id, stages) = Self::add_version(
            &mut copy,
            r.client_request_token,
            r.secret_string,
            r.secret_binary,
            r.version_stages,
        )?;
        self.save(region, &copy)?;
        *s = copy;
        Ok(SecretRef {
            arn: s.arn.clone(),
            name: s.name.clone(),
            version_id: Some(id),
            version_stages: Some(stages),
            deletion_date: None,
        })
    }

    pub fn update_secret(&self, region: &str, r: UpdateSecretRequest) -> Result<SecretRef> {
        check_value(r.secret_string.as_deref(), r.secret_binary.as_deref())?;
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let s = Self::find(secrets, &r.secret_id)?;
        if s.deletion_date.is_some() {
            return Err(SecretsManagerError::deleted());
        }
        let mut copy = s.clone();
        if r.description.is_some() {
            copy.description = r.description;
        }
        if r.kms_key_id.is_some() {
            copy.kms_key_id = r.kms_key_id;
        }
        copy.last_changed_date = now();
        let mut version_id = None;
        if r.secret_string.is_some() || r.secret_binary.is_some() {
            let (id, _) = Self::add_version(
                &mut copy,
                r.client_request_token,
                r.secret_string,
                r.secret_binary,
                None,
            )?;
            version_id = Some(id);
        }
        self.save(region, &copy)?;
        *s = copy;
        Ok(SecretRef {
            arn: s.arn.clone(),
            name: s.name.clone(),
            version_id,
            version_stages: None,
            deletion_date: None,
        })
    }

    pub fn describe_secret(
        &self,
        region: &str,
        r: SecretIdRequest,
    ) -> Result<DescribeSecretResponse> {
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let s = Self::find(secrets, &r.secret_id)?;
        Ok(describe(s))
    }

    pub fn list_secrets(&self, region: &str, r: ListSecretsRequest) -> Result<ListSecretsResponse> {
        let max = r.max_results.unwrap_or(100);
        if !(1..=100).contains(&max) {
            return Err(SecretsManagerError::InvalidParameter(
                "MaxResults must be between 1 and 100.".into(),
            ));
        }
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let mut all: Vec<&SecretRecord> = secrets
            .values()
            .filter(|s| r.include_planned_deletion.unwrap_or(false) || s.deletion_date.is_none())
            .filter(|s| r.filters.iter().flatten().all(|f| filter_matches(f, s)))
            .collect();
        // AWS lists by creation date, newest first unless asked otherwise.
        all.sort_by(|a, b| b.created_date.total_cmp(&a.created_date));
        if r.sort_order.as_deref() == Some("asc") {
            all.reverse();
        }
        let start: usize = match &r.next_token {
            None => 0,
            Some(t) => t.parse().map_err(|_| {
                SecretsManagerError::InvalidNextToken("The NextToken value is not valid.".into())
            })?,
        };
        let page: Vec<serde_json::Value> = all
            .iter()
            .skip(start)
            .take(max as usize)
            .map(|s| {
                let mut v = serde_json::to_value(describe(s)).unwrap_or_default();
                if let Some(o) = v.as_object_mut()
                    && let Some(x) = o.remove("VersionIdsToStages")
                {
                    o.insert("SecretVersionsToStages".into(), x);
                }
                v
            })
            .collect();
        let next = start + page.len();
        Ok(ListSecretsResponse {
            secret_list: page,
            next_token: (next < all.len()).then(|| next.to_string()),
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
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let s = Self::find(secrets, &r.secret_id)?;
        if s.deletion_date.is_some() && !force {
            return Err(SecretsManagerError::deleted());
        }
        let t = now();
        let (arn, name) = (s.arn.clone(), s.name.clone());
        if force {
            self.inner.store.delete(KIND_SECRET, &key(region, &name))?;
            secrets.remove(&name);
            return Ok(SecretRef {
                arn,
                name,
                version_id: None,
                version_stages: None,
                deletion_date: Some(t),
            });
        }
        let when = t + days as f64 * DAY;
        let mut copy = s.clone();
        copy.deletion_date = Some(when);
        self.save(region, &copy)?;
        *s = copy;
        Ok(SecretRef {
            arn,
            name,
            version_id: None,
            version_stages: None,
            deletion_date: Some(when),
        })
    }

    pub fn restore_secret(&self, region: &str, r: SecretIdRequest) -> Result<SecretRef> {
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let s = Self::find(secrets, &r.secret_id)?;
        let mut copy = s.clone();
        copy.deletion_date = None;
        self.save(region, &copy)?;
        *s = copy;
        Ok(SecretRef {
            arn: s.arn.clone(),
            name: s.name.clone(),
            version_id: None,
            version_stages: None,
            deletion_date: None,
        })
    }

    pub fn tag_resource(&self, region: &str, r: TagResourceRequest) -> Result<()> {
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let s = Self::find(secrets, &r.secret_id)?;
        let mut copy = s.clone();
        for t in r.tags {
            copy.tags.retain(|o| o.key != t.key);
            copy.tags.push(t);
        }
        self.save(region, &copy)?;
        *s = copy;
        Ok(())
    }

    pub fn untag_resource(&self, region: &str, r: UntagResourceRequest) -> Result<()> {
        let mut st = self.lock();
        let secrets = self.region(&mut st, region)?;
        let s = Self::find(secrets, &r.secret_id)?;
        let mut copy = s.clone();
        copy.tags.retain(|t| !r.tag_keys.contains(&t.key));
        self.save(region, &copy)?;
        *s = copy;
        Ok(())
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
}
