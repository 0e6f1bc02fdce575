//! The SSM Parameter Store backend: String, StringList and SecureString
//! parameters with versions, hierarchies (`/a/b/c`) and version selectors
//! (`name:3`). One method per operation, named after it; state on the kit's
//! [`Backend`], partitioned by region: every change is validated, written
//! to the store, and only then made in memory, so an error changes nothing.
//!
//! Left out: labels, policies, parameter history, advanced-tier sharing,
//! tag operations, and real KMS: a SecureString read without decryption
//! answers an opaque stand-in for the ciphertext (never the value), with
//! decryption the value.

pub mod model;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use sha2::Digest;

use crate::domain::arn::{self, Arn, Scope};
use crate::domain::time::{Timestamp, now};
use crate::services::kit::{AwsError, Backend, Change, PageError, Paging, Regional, backend};
use crate::store::{Op, Store, StoreError};
use model::*;

const KIND_PARAMETER: &str = "ssm.parameter";
/// AWS keeps the last 100 versions of a parameter.
const MAX_VERSIONS: usize = 100;
const DEFAULT_KEY: &str = "alias/aws/ssm";
/// GetParametersByPath's `MaxResults`: 1 to 10, 10 by default.
const BY_PATH: Paging = Paging::up_to(10);
/// DescribeParameters' `MaxResults`: 1 to 50, 50 by default.
const DESCRIBE: Paging = Paging::up_to(50);

/// Every error SSM answers with; the text is AWS's message.
#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    /// AWS sends this one without a message.
    #[error("")]
    ParameterNotFound,
    #[error("{0}")]
    ParameterVersionNotFound(String),
    #[error(
        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."
    )]
    ParameterAlreadyExists,
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidFilterKey(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    HierarchyLevelLimitExceeded(String),
    #[error("{0}")]
    InternalServer(String),
}

impl AwsError for SsmError {
    fn code(&self) -> &'static str {
        match self {
            Self::ParameterNotFound => "ParameterNotFound",
            Self::ParameterVersionNotFound(_) => "ParameterVersionNotFound",
            Self::ParameterAlreadyExists => "ParameterAlreadyExists",
            Self::Validation(_) => "ValidationException",
            Self::InvalidFilterKey(_) => "InvalidFilterKey",
            Self::InvalidNextToken(_) => "InvalidNextToken",
            Self::HierarchyLevelLimitExceeded(_) => "HierarchyLevelLimitExceededException",
            Self::InternalServer(_) => "InternalServerError",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, Self::InternalServer(_))
    }

    fn store_failed(e: StoreError) -> Self {
        Self::InternalServer(crate::services::kit::error::store_message(&e))
    }
}

/// A paging refusal in SSM's words.
fn page_error(e: PageError) -> SsmError {
    match e {
        PageError::InvalidToken => {
            SsmError::InvalidNextToken("The specified token isn't valid.".into())
        }
        PageError::MaxResults { value, min, max } => validation(format!(
            "1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: Member must have value {}",
            if value < min as i64 {
                format!("greater than or equal to {min}")
            } else {
                format!("less than or equal to {max}")
            }
        )),
    }
}

pub type Result<T> = std::result::Result<T, SsmError>;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VersionRecord {
    pub version: i64,
    pub value: String,
    pub kind: String,
    pub description: Option<String>,
    pub key_id: Option<String>,
    pub last_modified_date: Timestamp,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ParameterRecord {
    pub name: String,
    pub arn: String,
    pub tier: String,
    pub data_type: String,
    pub allowed_pattern: Option<String>,
    pub tags: Vec<Tag>,
    /// Oldest first; the last is the current one.
    pub versions: Vec<VersionRecord>,
}

impl ParameterRecord {
    fn current(&self) -> &VersionRecord {
        // A record is never stored without a version.
        self.versions.last().expect("a parameter has a version")
    }
}

/// A region's parameters by name.
type Params = BTreeMap<String, ParameterRecord>;
type State = Regional<Params>;

/// A cheap handle to the Parameter Store backend.
#[derive(Clone)]
pub struct Ssm {
    inner: Arc<Backend<State>>,
}

fn validation(msg: impl Into<String>) -> SsmError {
    SsmError::Validation(msg.into())
}

/// AWS's rules for a parameter name, with its messages.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 1011 {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length between 1 and 1011."
        )));
    }
    let bare = name.trim_start_matches('/').to_ascii_lowercase();
    if bare.starts_with("aws") || bare.starts_with("ssm") {
        return Err(validation(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
    {
        return Err(validation(
            "Parameter name can only contain letters, numbers and the symbols _.-/",
        ));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(validation("Parameter name must be a fully qualified name."));
    }
    if name.matches('/').count() > 15 {
        return Err(SsmError::HierarchyLevelLimitExceeded(
            "A hierarchy can have a maximum of 15 levels.".into(),
        ));
    }
    Ok(())
}

/// A stand-in for a SecureString's ciphertext: opaque, stable per version,
/// and not the value.
fn ciphertext(arn: &str, version: i64) -> String {
    let digest = sha2::Sha256::digest(format!("fargate-local:{arn}:{version}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode([&b"AQICAH"[..], &digest[..]].concat())
}

impl Ssm {
    pub fn load(store: Store, account: String) -> std::result::Result<Self, StoreError> {
        let mut state = State::default();
        for (k, p) in backend::load::<ParameterRecord>(&store, KIND_PARAMETER)? {
            state
                .get_mut(backend::region_of(&k))
                .insert(p.name.clone(), p);
        }
        Ok(Ssm {
            inner: Arc::new(Backend::new(store, account, "ssm.", state)),
        })
    }

    pub fn reset(&self) -> Result<()> {
        self.inner.reset()
    }

    fn arn(&self, region: &str, name: &str) -> String {
        Scope::new(region, self.inner.account()).arn(
            "ssm",
            &format!("parameter/{}", name.trim_start_matches('/')),
        )
    }

    fn key(region: &str, name: &str) -> String {
        format!("{region}/{name}")
    }

    /// Reads the region's parameters under the lock.
    fn read<R>(&self, region: &str, f: impl FnOnce(&Params) -> R) -> R {
        self.inner.read(|st| match st.get(region) {
            Some(params) => f(params),
            None => f(&Params::new()),
        })
    }

    pub fn put_parameter(
        &self,
        region: &str,
        r: PutParameterRequest,
    ) -> Result<PutParameterResponse> {
        check_name(&r.name)?;
        if let Some(t) = &r.kind
            && !["String", "StringList", "SecureString"].contains(&t.as_str())
        {
            return Err(validation(format!(
                "1 validation error detected: Value '{t}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
            )));
        }
        let tier = match r.tier.as_deref() {
            None | Some("Standard") | Some("Intelligent-Tiering") => "Standard",
            Some("Advanced") => "Advanced",
            Some(t) => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{t}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
                )));
            }
        };
        if r.value.is_empty() {
            return Err(validation(
                "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.",
            ));
        }
        let limit = if tier == "Advanced" { 8192 } else { 4096 };
        if r.value.chars().count() > limit {
            return Err(validation(if tier == "Standard" {
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.".to_string()
            } else {
                "Advanced tier parameters support a maximum parameter value of 8192 characters."
                    .to_string()
            }));
        }
        let overwrite = r.overwrite.unwrap_or(false);
        if overwrite && r.tags.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(validation(
                "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
            ));
        }
        self.inner.update(|st| {
            let mut rec = match st.get(region).and_then(|p| p.get(&r.name)) {
                Some(_) if !overwrite => return Err(SsmError::ParameterAlreadyExists),
                Some(p) => p.clone(),
                None => {
                    if r.kind.is_none() {
                        return Err(validation(
                            "A parameter type is required when you create a parameter.",
                        ));
                    }
                    ParameterRecord {
                        name: r.name.clone(),
                        arn: self.arn(region, &r.name),
                        tier: tier.to_string(),
                        data_type: r.data_type.clone().unwrap_or_else(|| "text".into()),
                        allowed_pattern: r.allowed_pattern.clone(),
                        tags: r.tags.clone().unwrap_or_default(),
                        versions: Vec::new(),
                    }
                }
            };
            let prev = rec.versions.last().cloned();
            let kind = r
                .kind
                .clone()
                .or_else(|| prev.as_ref().map(|p| p.kind.clone()))
                .unwrap_or_else(|| "String".into());
            let version = prev.as_ref().map_or(0, |p| p.version) + 1;
            let key_id = (kind == "SecureString").then(|| {
                r.key_id
                    .clone()
                    .or_else(|| prev.as_ref().and_then(|p| p.key_id.clone()))
                    .unwrap_or_else(|| DEFAULT_KEY.into())
            });
            rec.versions.push(VersionRecord {
                version,
                value: r.value.clone(),
                kind,
                description: r
                    .description
                    .clone()
                    .or_else(|| prev.as_ref().and_then(|p| p.description.clone())),
                key_id,
                last_modified_date: now(),
            });
            if rec.versions.len() > MAX_VERSIONS {
                rec.versions.remove(0);
            }
            if tier == "Advanced" {
                rec.tier = tier.to_string();
            }
            let answer = PutParameterResponse {
                version,
                tier: rec.tier.clone(),
            };
            Ok(Change::answer(answer)
                .write(Op::put(KIND_PARAMETER, Self::key(region, &rec.name), &rec))
                .then(move |st: &mut State| {
                    st.get_mut(region).insert(rec.name.clone(), rec);
                }))
        })
    }

    /// The parameter and version a `Name` refers to: a name, or an ARN of
    /// this account and region, either with `:<version>` after it.
    fn lookup<'a>(
        &self,
        params: &'a Params,
        region: &str,
        id: &str,
    ) -> Result<(&'a ParameterRecord, &'a VersionRecord, Option<String>)> {
        let (name_part, selector) = if id.starts_with("arn:") {
            // An ARN's resource is `parameter/<name without its leading
            // slash>`; another account's or region's names nothing here.
            let rest = Arn::of_service(id, "ssm")
                .filter(|a| {
                    a.partition == "aws" && a.region == region && a.account == self.inner.account()
                })
                .and_then(|a| a.resource_of("parameter"))
                .ok_or(SsmError::ParameterNotFound)?;
            split_selector(rest)
        } else {
            split_selector(id)
        };
        let rec = params
            .get(name_part)
            .or_else(|| {
                // An ARN's resource part has one slash before a bare name.
                id.starts_with("arn:")
                    .then(|| params.get(name_part.trim_start_matches('/')))
                    .flatten()
            })
            .ok_or(SsmError::ParameterNotFound)?;
        let version = match &selector {
            None => rec.current(),
            Some(sel) => {
                let n: i64 = sel.parse().map_err(|_| {
                    SsmError::ParameterVersionNotFound(format!(
                        "Systems Manager could not find version {sel} of {}. Verify the version and try again.",
                        rec.name
                    ))
                })?;
                rec.versions.iter().find(|v| v.version == n).ok_or_else(|| {
                    SsmError::ParameterVersionNotFound(format!(
                        "Systems Manager could not find version {n} of {}. Verify the version and try again.",
                        rec.name
                    ))
                })?
            }
        };
        Ok((rec, version, selector.map(|s| format!(":{s}"))))
    }

    fn parameter(
        rec: &ParameterRecord,
        v: &VersionRecord,
        selector: Option<String>,
        decrypt: bool,
    ) -> Parameter {
        let value = if v.kind == "SecureString" && !decrypt {
            ciphertext(&rec.arn, v.version)
        } else {
            v.value.clone()
        };
        Parameter {
            name: rec.name.clone(),
            kind: v.kind.clone(),
            value,
            version: v.version,
            selector,
            last_modified_date: v.last_modified_date,
            arn: rec.arn.clone(),
            data_type: rec.data_type.clone(),
        }
    }

    pub fn get_parameter(
        &self,
        region: &str,
        r: GetParameterRequest,
    ) -> Result<GetParameterResponse> {
        self.read(region, |params| {
            let (rec, v, sel) = self.lookup(params, region, &r.name)?;
            Ok(GetParameterResponse {
                parameter: Self::parameter(rec, v, sel, r.with_decryption.unwrap_or(false)),
            })
        })
    }

    /// The decrypted value of a parameter (name, ARN or `name:version`),
    /// as the ECS agent reads it for a task's `secrets`.
    pub fn parameter_value(&self, region: &str, id: &str) -> Result<String> {
        self.read(region, |params| {
            let (_, v, _) = self.lookup(params, region, id)?;
            Ok(v.value.clone())
        })
    }

    /// The customer KMS key that the version of a SecureString parameter
    /// the ECS agent would read (name, ARN or `name:version`) is encrypted
    /// with, as the ARN IAM evaluates `kms:Decrypt` on. `None` for another
    /// type, for SSM's AWS managed key (`alias/aws/ssm`, the default, whose
    /// use needs no permission of the caller) and for a parameter that does
    /// not exist (its read fails on its own).
    pub fn kms_key_of(&self, region: &str, id: &str) -> Option<String> {
        let key = self.read(region, |params| {
            let (_, v, _) = self.lookup(params, region, id).ok()?;
            (v.kind == "SecureString")
                .then(|| v.key_id.clone())
                .flatten()
        })?;
        arn::customer_kms_key(region, self.inner.account(), &key, DEFAULT_KEY)
    }

    pub fn get_parameters(
        &self,
        region: &str,
        r: GetParametersRequest,
    ) -> Result<GetParametersResponse> {
        if r.names.is_empty() || r.names.len() > 10 {
            return Err(validation(format!(
                "1 validation error detected: Value '[{}]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1",
                r.names.join(", ")
            )));
        }
        let decrypt = r.with_decryption.unwrap_or(false);
        self.read(region, |params| {
            let mut out = GetParametersResponse::default();
            for n in &r.names {
                match self.lookup(params, region, n) {
                    Ok((rec, v, sel)) => {
                        if !out
                            .parameters
                            .iter()
                            .any(|p| p.name == rec.name && p.version == v.version)
                        {
                            out.parameters.push(Self::parameter(rec, v, sel, decrypt));
                        }
                    }
                    Err(SsmError::ParameterNotFound | SsmError::ParameterVersionNotFound(_)) => {
                        if !out.invalid_parameters.contains(n) {
                            out.invalid_parameters.push(n.clone());
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
    }

    pub fn get_parameters_by_path(
        &self,
        region: &str,
        r: GetParametersByPathRequest,
    ) -> Result<GetParametersByPathResponse> {
        if !r.path.starts_with('/') {
            return Err(validation(
                "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".",
            ));
        }
        BY_PATH.size(r.max_results).map_err(page_error)?;
        let base = if r.path.ends_with('/') {
            r.path.clone()
        } else {
            format!("{}/", r.path)
        };
        let recursive = r.recursive.unwrap_or(false);
        let decrypt = r.with_decryption.unwrap_or(false);
        self.read(region, |params| {
            let all: Vec<&ParameterRecord> = params
                .values()
                .filter(|p| {
                    p.name
                        .strip_prefix(&base)
                        .is_some_and(|rest| recursive || !rest.contains('/'))
                })
                .filter(|p| {
                    r.parameter_filters
                        .iter()
                        .flatten()
                        .all(|f| filter_matches(f, p))
                })
                .collect();
            let page = BY_PATH
                .page(&all, r.next_token.as_deref(), r.max_results)
                .map_err(page_error)?;
            Ok(GetParametersByPathResponse {
                parameters: page
                    .items
                    .iter()
                    .map(|p| Self::parameter(p, p.current(), None, decrypt))
                    .collect(),
                next_token: page.next_token,
            })
        })
    }

    pub fn describe_parameters(
        &self,
        region: &str,
        r: DescribeParametersRequest,
    ) -> Result<DescribeParametersResponse> {
        DESCRIBE.size(r.max_results).map_err(page_error)?;
        let mut filters: Vec<ParameterStringFilter> = r.parameter_filters.unwrap_or_default();
        for f in r.filters.unwrap_or_default() {
            filters.push(ParameterStringFilter {
                key: f.key,
                option: Some("Equals".into()),
                values: f.values,
            });
        }
        for f in &filters {
            let known = ["Name", "Type", "KeyId", "Path", "Tier", "DataType"];
            if !known.contains(&f.key.as_str()) && !f.key.starts_with("tag:") {
                return Err(SsmError::InvalidFilterKey(format!(
                    "The following filter key is not valid: {}. Valid filter keys include: [Name, Type, KeyId, Path, Tier, DataType, tag:<key>].",
                    f.key
                )));
            }
        }
        let user = arn::iam_root(self.inner.account());
        self.read(region, |params| {
            let all: Vec<&ParameterRecord> = params
                .values()
                .filter(|p| filters.iter().all(|f| filter_matches(f, p)))
                .collect();
            let page = DESCRIBE
                .page(&all, r.next_token.as_deref(), r.max_results)
                .map_err(page_error)?;
            Ok(DescribeParametersResponse {
                parameters: page
                    .items
                    .iter()
                    .map(|p| {
                        let v = p.current();
                        ParameterMetadata {
                            name: p.name.clone(),
                            arn: p.arn.clone(),
                            kind: v.kind.clone(),
                            key_id: v.key_id.clone(),
                            last_modified_date: v.last_modified_date,
                            last_modified_user: user.clone(),
                            description: v.description.clone(),
                            allowed_pattern: p.allowed_pattern.clone(),
                            version: v.version,
                            tier: p.tier.clone(),
                            policies: Vec::new(),
                            data_type: p.data_type.clone(),
                        }
                    })
                    .collect(),
                next_token: page.next_token,
            })
        })
    }

    pub fn delete_parameter(&self, region: &str, r: DeleteParameterRequest) -> Result<()> {
        self.inner.update(|st| {
            if !st.get(region).is_some_and(|p| p.contains_key(&r.name)) {
                return Err(SsmError::ParameterNotFound);
            }
            let name = r.name.clone();
            Ok(Change::answer(())
                .write(Op::delete(KIND_PARAMETER, Self::key(region, &name)))
                .then(move |st: &mut State| {
                    st.get_mut(region).remove(&name);
                }))
        })
    }

    pub fn delete_parameters(
        &self,
        region: &str,
        r: DeleteParametersRequest,
    ) -> Result<DeleteParametersResponse> {
        if r.names.is_empty() || r.names.len() > 10 {
            return Err(validation(
                "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1",
            ));
        }
        self.inner.update(|st| {
            let mut out = DeleteParametersResponse::default();
            let mut ops = Vec::new();
            for n in &r.names {
                if out.deleted_parameters.contains(n) {
                    continue;
                }
                if st.get(region).is_some_and(|p| p.contains_key(n)) {
                    ops.push(Op::delete(KIND_PARAMETER, Self::key(region, n)));
                    out.deleted_parameters.push(n.clone());
                } else {
                    out.invalid_parameters.push(n.clone());
                }
            }
            let deleted = out.deleted_parameters.clone();
            Ok(Change::answer(out).writes(ops).then(move |st: &mut State| {
                let params = st.get_mut(region);
                for n in &deleted {
                    params.remove(n);
                }
            }))
        })
    }
}

/// `name:3` -> (`name`, Some("3")). Parameter names cannot hold a colon.
fn split_selector(id: &str) -> (&str, Option<String>) {
    match id.rsplit_once(':') {
        Some((n, sel)) => (n, Some(sel.to_string())),
        None => (id, None),
    }
}

fn filter_matches(f: &ParameterStringFilter, p: &ParameterRecord) -> bool {
    let values = f.values.as_deref().unwrap_or_default();
    let option = f.option.as_deref().unwrap_or("Equals");
    let v = p.current();
    let test = |field: &str| match option {
        "BeginsWith" => values.iter().any(|x| field.starts_with(x.as_str())),
        "Contains" => values.iter().any(|x| field.contains(x.as_str())),
        _ => values.iter().any(|x| x == field),
    };
    match f.key.as_str() {
        "Name" => {
            test(&p.name)
                || (!p.name.starts_with('/') && test(&format!("/{}", p.name)))
                || test(p.name.trim_start_matches('/'))
        }
        "Type" => test(&v.kind),
        "KeyId" => v.key_id.as_deref().is_some_and(test),
        "Tier" => test(&p.tier),
        "DataType" => test(&p.data_type),
        "Path" => values.iter().any(|path| {
            let base = if path.ends_with('/') {
                path.clone()
            } else {
                format!("{path}/")
            };
            p.name
                .strip_prefix(&base)
                .is_some_and(|rest| option == "Recursive" || !rest.contains('/'))
        }),
        k => match k.strip_prefix("tag:") {
            Some(tag) => p
                .tags
                .iter()
                .any(|t| t.key == tag && (values.is_empty() || values.contains(&t.value))),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::kit::AwsError;
    use serde_json::json;

    fn ssm() -> Ssm {
        Ssm::load(Store::in_memory(), "000000000000".into()).unwrap()
    }

    fn put(s: &Ssm, body: serde_json::Value) -> Result<PutParameterResponse> {
        s.put_parameter("us-east-1", serde_json::from_value(body).unwrap())
    }

    fn get(s: &Ssm, name: &str, decrypt: bool) -> Result<Parameter> {
        s.get_parameter(
            "us-east-1",
            serde_json::from_value(json!({"Name": name, "WithDecryption": decrypt})).unwrap(),
        )
        .map(|r| r.parameter)
    }

    #[test]
    fn names_follow_aws_rules() {
        let cases = [
            ("/web/api-key", None),
            ("plain", None),
            ("a.b_c-d", None),
            ("/aws/x", Some("ValidationException")),
            ("SSMthing", Some("ValidationException")),
            ("a/b", Some("ValidationException")),
            ("has space", Some("ValidationException")),
            ("", Some("ValidationException")),
            (
                "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16",
                Some("HierarchyLevelLimitExceededException"),
            ),
        ];
        for (name, want) in cases {
            assert_eq!(check_name(name).err().map(|e| e.code()), want, "{name}");
        }
    }

    #[test]
    fn versions_overwrite_and_selectors() {
        let s = ssm();
        let r = put(&s, json!({"Name": "/a/b", "Value": "1", "Type": "String"})).unwrap();
        assert_eq!(r.version, 1);
        let e = put(&s, json!({"Name": "/a/b", "Value": "2"})).unwrap_err();
        assert_eq!(e.code(), "ParameterAlreadyExists");
        let r = put(&s, json!({"Name": "/a/b", "Value": "2", "Overwrite": true})).unwrap();
        assert_eq!(r.version, 2);
        assert_eq!(get(&s, "/a/b", false).unwrap().value, "2");
        assert_eq!(get(&s, "/a/b:1", false).unwrap().value, "1");
        let arn = "arn:aws:ssm:us-east-1:000000000000:parameter/a/b";
        assert_eq!(get(&s, arn, false).unwrap().value, "2");
        assert_eq!(
            get(&s, "/a/b:9", false).unwrap_err().code(),
            "ParameterVersionNotFound"
        );
        let e = get(&s, "/a/c", false).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            ("ParameterNotFound", "")
        );
        let e = put(&s, json!({"Name": "/new", "Value": "x"})).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
    }

    #[test]
    fn secure_strings_need_decryption() {
        let s = ssm();
        put(
            &s,
            json!({"Name": "/k", "Value": "s3cr3t", "Type": "SecureString"}),
        )
        .unwrap();
        let hidden = get(&s, "/k", false).unwrap();
        assert_eq!(hidden.kind, "SecureString");
        assert_ne!(hidden.value, "s3cr3t");
        assert!(!hidden.value.contains("s3cr3t"));
        assert_eq!(get(&s, "/k", true).unwrap().value, "s3cr3t");
    }

    #[test]
    fn the_customer_key_of_the_version_read() {
        let s = ssm();
        let key = "arn:aws:kms:us-east-1:000000000000:key/k1";
        put(
            &s,
            json!({"Name": "/k", "Value": "a", "Type": "SecureString"}),
        )
        .unwrap();
        put(
            &s,
            json!({"Name": "/k", "Value": "b", "Type": "SecureString", "KeyId": "k1", "Overwrite": true}),
        )
        .unwrap();
        put(&s, json!({"Name": "plain", "Value": "p", "Type": "String"})).unwrap();
        put(
            &s,
            json!({"Name": "/d", "Value": "d", "Type": "SecureString", "KeyId": "alias/aws/ssm"}),
        )
        .unwrap();
        let cases = [
            ("/k", Some(key)),
            ("/k:2", Some(key)),
            ("arn:aws:ssm:us-east-1:000000000000:parameter/k", Some(key)),
            // The first version has SSM's own key, the default.
            ("/k:1", None),
            ("/d", None),
            ("plain", None),
            ("/missing", None),
        ];
        for (id, want) in cases {
            assert_eq!(s.kms_key_of("us-east-1", id).as_deref(), want, "{id}");
        }
    }

    #[test]
    fn paths_one_level_or_recursive() {
        let s = ssm();
        for n in ["/app/a", "/app/b", "/app/deep/c", "/other/d", "bare"] {
            put(&s, json!({"Name": n, "Value": "v", "Type": "String"})).unwrap();
        }
        let names = |recursive: bool| -> Vec<String> {
            s.get_parameters_by_path(
                "us-east-1",
                serde_json::from_value(json!({"Path": "/app", "Recursive": recursive})).unwrap(),
            )
            .unwrap()
            .parameters
            .into_iter()
            .map(|p| p.name)
            .collect()
        };
        assert_eq!(names(false), ["/app/a", "/app/b"]);
        assert_eq!(names(true), ["/app/a", "/app/b", "/app/deep/c"]);
        let got = s
            .get_parameters(
                "us-east-1",
                serde_json::from_value(json!({"Names": ["/app/a", "/nope", "bare"]})).unwrap(),
            )
            .unwrap();
        assert_eq!(got.parameters.len(), 2);
        assert_eq!(got.invalid_parameters, ["/nope"]);
        let del = s
            .delete_parameters(
                "us-east-1",
                serde_json::from_value(json!({"Names": ["/app/a", "/nope"]})).unwrap(),
            )
            .unwrap();
        assert_eq!(del.deleted_parameters, ["/app/a"]);
        assert_eq!(del.invalid_parameters, ["/nope"]);
    }

    #[test]
    fn paging_walks_to_the_end_and_refuses_foreign_tokens() {
        let s = ssm();
        for i in 0..7 {
            put(
                &s,
                json!({"Name": format!("/p/{i}"), "Value": "v", "Type": "String"}),
            )
            .unwrap();
        }
        let by_path = |token: Option<String>, max: Option<i64>| {
            s.get_parameters_by_path(
                "us-east-1",
                serde_json::from_value(
                    json!({"Path": "/p", "MaxResults": max, "NextToken": token}),
                )
                .unwrap(),
            )
        };
        let (mut seen, mut token) = (Vec::new(), None);
        loop {
            let page = by_path(token, Some(3)).unwrap();
            seen.extend(page.parameters.into_iter().map(|p| p.name));
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 7);
        // (token, max, code, message)
        let cases = [
            (
                Some("3"),
                None,
                "InvalidNextToken",
                "The specified token isn't valid.",
            ),
            (
                None,
                Some(0),
                "ValidationException",
                "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
            ),
            (
                None,
                Some(11),
                "ValidationException",
                "1 validation error detected: Value '11' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10",
            ),
        ];
        for (token, max, code, message) in cases {
            let e = by_path(token.map(str::to_string), max).unwrap_err();
            assert_eq!((e.code(), e.to_string().as_str()), (code, message));
        }
        let e = s
            .describe_parameters(
                "us-east-1",
                serde_json::from_value(json!({"NextToken": "garbage"})).unwrap(),
            )
            .unwrap_err();
        assert_eq!(e.code(), "InvalidNextToken");
    }

    /// A backend on a durable store with a few parameters, and its
    /// directory.
    fn durable() -> (Ssm, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("fl-ssm-{}", uuid::Uuid::new_v4()));
        let s = Ssm::load(Store::open(&dir, false).unwrap(), "000000000000".into()).unwrap();
        put(
            &s,
            json!({"Name": "/a/one", "Value": "1", "Type": "String"}),
        )
        .unwrap();
        put(
            &s,
            json!({"Name": "/a/one", "Value": "2", "Overwrite": true}),
        )
        .unwrap();
        put(
            &s,
            json!({"Name": "/a/two", "Value": "k", "Type": "SecureString"}),
        )
        .unwrap();
        (s, dir)
    }

    /// Everything the backend holds: its memory and its store's documents.
    fn snapshot(s: &Ssm) -> String {
        let memory = s.inner.read(|st| {
            let regions: BTreeMap<&String, &Params> = st.iter().collect();
            serde_json::to_string(&regions).unwrap()
        });
        let stored: Vec<(String, serde_json::Value)> =
            s.inner.store().load(KIND_PARAMETER).unwrap();
        format!("{memory}\n{stored:?}")
    }

    /// An error answer changes nothing: every mutating operation, with the
    /// store's writes failing, answers InternalServerError and leaves
    /// memory and store as they were (and with writes working, changes
    /// them, so the case is not vacuous); refusals found after the lookup
    /// leave them too.
    #[test]
    fn an_error_changes_nothing() {
        type Call = fn(&Ssm) -> Result<()>;
        let cases: [(&str, Call); 6] = [
            ("put_parameter (new)", |s| {
                put(s, json!({"Name": "/a/new", "Value": "n", "Type": "String"})).map(drop)
            }),
            ("put_parameter (overwrite)", |s| {
                put(
                    s,
                    json!({"Name": "/a/one", "Value": "3", "Overwrite": true}),
                )
                .map(drop)
            }),
            ("put_parameter (to Advanced)", |s| {
                put(
                    s,
                    json!({"Name": "/a/two", "Value": "x", "Overwrite": true, "Tier": "Advanced"}),
                )
                .map(drop)
            }),
            ("delete_parameter", |s| {
                s.delete_parameter(
                    "us-east-1",
                    serde_json::from_value(json!({"Name": "/a/one"})).unwrap(),
                )
            }),
            ("delete_parameters", |s| {
                s.delete_parameters(
                    "us-east-1",
                    serde_json::from_value(json!({"Names": ["/a/one", "/a/two", "/nope"]}))
                        .unwrap(),
                )
                .map(drop)
            }),
            ("reset", |s| s.reset()),
        ];
        for (name, call) in cases {
            let (s, dir) = durable();
            let before = snapshot(&s);
            s.inner.store().fail_writes(true);
            let e = call(&s).unwrap_err();
            assert_eq!(e.code(), "InternalServerError", "{name}");
            assert_eq!(snapshot(&s), before, "{name} changed state");
            s.inner.store().fail_writes(false);
            call(&s).unwrap();
            assert_ne!(snapshot(&s), before, "{name} changes nothing");
            drop(s);
            std::fs::remove_dir_all(dir).unwrap();
        }

        // Refusals decided on the stored state.
        let (s, dir) = durable();
        let before = snapshot(&s);
        let refusals: [(Call, &str); 3] = [
            (
                |s| put(s, json!({"Name": "/a/one", "Value": "x"})).map(drop),
                "ParameterAlreadyExists",
            ),
            (
                |s| put(s, json!({"Name": "/a/new", "Value": "x"})).map(drop),
                "ValidationException",
            ),
            (
                |s| {
                    s.delete_parameter(
                        "us-east-1",
                        serde_json::from_value(json!({"Name": "/nope"})).unwrap(),
                    )
                },
                "ParameterNotFound",
            ),
        ];
        for (call, code) in refusals {
            assert_eq!(call(&s).unwrap_err().code(), code);
            assert_eq!(snapshot(&s), before, "{code} changed state");
        }
        drop(s);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn arns_name_this_account_and_region_only() {
        let s = ssm();
        put(&s, json!({"Name": "plain", "Value": "p", "Type": "String"})).unwrap();
        put(&s, json!({"Name": "/a/b", "Value": "v", "Type": "String"})).unwrap();
        let cases = [
            (
                "arn:aws:ssm:us-east-1:000000000000:parameter/plain",
                Ok("p"),
            ),
            ("arn:aws:ssm:us-east-1:000000000000:parameter/a/b", Ok("v")),
            (
                "arn:aws:ssm:us-east-1:000000000000:parameter/a/b:1",
                Ok("v"),
            ),
            (
                "arn:aws:ssm:eu-west-1:000000000000:parameter/a/b",
                Err("ParameterNotFound"),
            ),
            (
                "arn:aws:ssm:us-east-1:111111111111:parameter/a/b",
                Err("ParameterNotFound"),
            ),
            (
                "arn:aws:secretsmanager:us-east-1:000000000000:parameter/a/b",
                Err("ParameterNotFound"),
            ),
            ("arn:aws:ssm", Err("ParameterNotFound")),
        ];
        for (id, want) in cases {
            let got = s.parameter_value("us-east-1", id);
            assert_eq!(got.as_deref().map_err(|e| e.code()), want, "{id}");
        }
    }
}
