//! A task's configuration from outside its task definition: `secrets` and
//! log drivers' `secretOptions` (Secrets Manager, SSM Parameter Store),
//! `environmentFiles` (objects in S3) and a private registry's
//! `repositoryCredentials`, fetched as the ECS agent fetches them, with the
//! task execution role (which is also judged on ECR pulls), just before
//! the images are pulled and the containers are created. A `TaskHook`: the runtime
//! knows nothing of where values come from.
//!
//! Any failure ends the task before a container is created, with the
//! `ResourceInitializationError: ...` reason Fargate gives. Resolved values
//! go into the containers' environment and nowhere else: not the plan (it
//! is stored), not the logs, not labels.

pub mod envfiles;
pub mod registry;
pub mod secrets;

use crate::services::kit::AwsError;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::arn::Arn;
use crate::runtime::plan::{ContainerPlan, Secret, TaskPlan};
use crate::runtime::{RegistryAuth, TaskHook};
use crate::services::secretsmanager::{SecretsManager, SecretsManagerError};
use crate::services::ssm::{Ssm, SsmError};
use secrets::SecretRef;

/// Fargate's prefix for a secret that could not be had.
pub const SECRETS_PREFIX: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: ";
/// Fargate's prefix for an env file that could not be had.
pub const ENV_FILES_PREFIX: &str = "ResourceInitializationError: failed to download env files: ";

/// Where env files are read from: the embedded S3 or an external one.
#[async_trait]
pub trait ObjectSource: Send + Sync {
    /// An object's bytes, or the SDK-style error text the agent reports.
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String>;
}

/// The hook: reads secrets from the emulator's own Secrets Manager and
/// SSM, env files from `files`.
pub struct ConfigSources {
    pub secrets_manager: SecretsManager,
    pub ssm: Ssm,
    pub files: Option<Arc<dyn ObjectSource>>,
    /// IAM and `serve --iam`: the execution role's policies judge each
    /// read (`None`: nothing is judged).
    pub iam: Option<(crate::services::iam::Iam, crate::services::iam::Mode)>,
}

/// `arn:<partition>:s3:::<bucket>/<key>`, the agent's pattern: an S3 ARN
/// without region or account whose resource is a bucket and a key.
/// The execution role of a task, as `Iam::decide` names it.
pub(crate) fn execution<'a>(
    plan: &'a TaskPlan,
    role: &'a str,
) -> crate::services::iam::Subject<'a> {
    crate::services::iam::Subject {
        kind: crate::services::iam::usage::RoleKind::Execution,
        role,
        task_arn: &plan.task_arn,
    }
}

pub fn parse_s3_arn(arn: &str) -> Option<(String, String)> {
    let arn = Arn::of_service(arn, "s3").filter(|a| a.region.is_empty() && a.account.is_empty())?;
    let (bucket, key) = arn.resource.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

impl ConfigSources {
    /// The values of `list` (a container's `secrets`, or a log driver's
    /// `secretOptions`), in order, as (name, value).
    fn resolve_secrets(
        &self,
        plan: &TaskPlan,
        list: &[Secret],
    ) -> Result<Vec<(String, String)>, String> {
        let mut refs = Vec::new();
        for s in list {
            let r = secrets::parse(&s.value_from, &plan.region)
                .map_err(|e| format!("{SECRETS_PREFIX}{e}"))?;
            refs.push((s.name.clone(), r));
        }
        if plan.execution_role_arn.is_none() {
            let asm = refs
                .iter()
                .any(|(_, r)| matches!(r, SecretRef::SecretsManager { .. }));
            return Err(format!(
                "{SECRETS_PREFIX}{} secret resource: unable to find execution role credentials",
                if asm { "ASM" } else { "ssm" }
            ));
        }
        self.judge_secrets(plan, &refs)?;
        // SSM first, all at once, as the agent batches GetParameters: every
        // missing name is reported together.
        let mut out = Vec::new();
        let mut invalid = Vec::new();
        for (name, r) in &refs {
            if let SecretRef::Ssm { region, name: p } = r {
                match self.ssm_value(region, p) {
                    Ok(v) => out.push((name.clone(), v)),
                    Err(SsmLookup::Missing) => invalid.push(p.clone()),
                    Err(SsmLookup::Failed(e)) => {
                        return Err(format!(
                            "{SECRETS_PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 time(s): {e}"
                        ));
                    }
                }
            }
        }
        if !invalid.is_empty() {
            return Err(format!(
                "{SECRETS_PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: {}",
                invalid.join(",")
            ));
        }
        for (name, r) in &refs {
            if let SecretRef::SecretsManager {
                region,
                secret_id,
                json_key,
                version_stage,
                version_id,
            } = r
            {
                let value = self
                    .secrets_manager
                    .secret_string(
                        region,
                        secret_id,
                        version_stage.as_deref(),
                        version_id.as_deref(),
                    )
                    .map_err(|e| asm_failure(&e))?;
                let value = match json_key {
                    None => value,
                    Some(k) => secrets::json_key(&value, k).map_err(|e| {
                        format!(
                            "{SECRETS_PREFIX}unable to retrieve secret from asm: service call has been retried 1 time(s): {e}"
                        )
                    })?,
                };
                out.push((name.clone(), value));
            }
        }
        // Back in definition order.
        out.sort_by_key(|(n, _)| list.iter().position(|s| s.name == *n));
        Ok(out)
    }

    /// The execution role's permission to read each secret, under
    /// `serve --iam`: `enforce` fails the task with Fargate's text, `warn`
    /// logs it. An SSM parameter needs `ssm:GetParameters` on it, and
    /// `kms:Decrypt` on its key when it is a SecureString with a customer
    /// key (SSM then answers with KMS's text, naming no role); a Secrets
    /// Manager secret read through `/aws/reference/secretsmanager/` needs
    /// what reading the secret needs as well.
    fn judge_secrets(&self, plan: &TaskPlan, refs: &[(String, SecretRef)]) -> Result<(), String> {
        let (Some((iam, mode)), Some(role)) = (&self.iam, plan.execution_role_arn.as_deref())
        else {
            return Ok(());
        };
        let who = execution(plan, role);
        for (_, r) in refs {
            match r {
                SecretRef::Ssm { region, name } => {
                    let denied = |m: &str| {
                        format!(
                            "{SECRETS_PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: {m} status code: 400, request id: {}",
                            crate::domain::ids::uuid()
                        )
                    };
                    let parameter = crate::api::authz::parameter_arn(region, iam.account(), name);
                    iam.decide(*mode, who, None, "ssm:GetParameters", &[parameter])
                        .map_err(|d| denied(&d.message))?;
                    if let Some(key) = self.ssm.kms_key_of(region, name) {
                        iam.decide(*mode, who, None, "kms:Decrypt", &[key])
                            .map_err(|_| denied(&ssm_kms_denied()))?;
                    }
                    // A secret SSM hands out reads it as the caller: the
                    // secret's own permissions too (with Secrets Manager's
                    // texts passed on [inferred: no refusal was found
                    // quoted]).
                    if let Some(secret) = name.strip_prefix("/aws/reference/secretsmanager/") {
                        self.judge_secret_read(plan, role, region, secret)
                            .map_err(|m| denied(&m))?;
                    }
                }
                SecretRef::SecretsManager {
                    region, secret_id, ..
                } => {
                    self.judge_secret_read(plan, role, region, secret_id)
                        .map_err(|m| {
                            format!(
                                "{SECRETS_PREFIX}unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {secret_id} from secrets manager: AccessDeniedException: {m} status code: 400, request id: {}",
                                crate::domain::ids::uuid()
                            )
                        })?;
                }
            }
        }
        Ok(())
    }

    /// The execution role's `secretsmanager:GetSecretValue` on a secret,
    /// and `kms:Decrypt` on its key when that is a customer key (Secrets
    /// Manager then answers the caller with its own text, naming no role).
    /// The error is the AccessDeniedException's message.
    fn judge_secret_read(
        &self,
        plan: &TaskPlan,
        role: &str,
        region: &str,
        secret_id: &str,
    ) -> Result<(), String> {
        let Some((iam, mode)) = &self.iam else {
            return Ok(());
        };
        let who = execution(plan, role);
        let arn = self
            .secrets_manager
            .arn_of(region, secret_id)
            .unwrap_or_else(|| secret_id.to_string());
        iam.decide(*mode, who, None, "secretsmanager:GetSecretValue", &[arn])
            .map_err(|d| d.message)?;
        if let Some(key) = self.secrets_manager.kms_key_of(region, secret_id) {
            iam.decide(*mode, who, None, "kms:Decrypt", &[key])
                .map_err(|_| "Access to KMS is not allowed".to_string())?;
        }
        Ok(())
    }

    /// The execution role's permission to pull an ECR image: the registry
    /// token (`ecr:GetAuthorizationToken` on `*`), then the repository's
    /// image actions. A refused token is Fargate's
    /// `ResourceInitializationError` with IAM's text; refused image
    /// actions are ECR's bare 403 in a `CannotPullContainerError`.
    fn judge_ecr_pull(&self, plan: &TaskPlan, image: &registry::EcrImage) -> Result<(), String> {
        let (Some((iam, mode)), Some(role)) = (&self.iam, plan.execution_role_arn.as_deref())
        else {
            return Ok(());
        };
        let who = execution(plan, role);
        iam.decide(*mode, who, None, "ecr:GetAuthorizationToken", &["*".to_string()])
            .map_err(|d| {
                format!(
                    "{SECRETS_PREFIX}unable to retrieve ecr registry auth: service call has been retried 1 time(s): AccessDeniedException: {} status code: 400, request id: {}",
                    d.message,
                    crate::domain::ids::uuid()
                )
            })?;
        let repository = image.repository_arn();
        // The manifest first, then its layers, as a pull asks for them.
        for action in [
            "ecr:BatchGetImage",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
        ] {
            iam.decide(*mode, who, None, action, std::slice::from_ref(&repository))
                .map_err(|_| image.forbidden())?;
        }
        Ok(())
    }

    /// A private registry's credentials from the `repositoryCredentials`
    /// secret `id`, read as the execution role. Errors are Fargate's
    /// reasons: the agent's `asm fetching ...` texts under the
    /// registry-auth prefix.
    fn repository_credentials(
        &self,
        plan: &TaskPlan,
        c: &ContainerPlan,
        id: &str,
    ) -> Result<RegistryAuth, String> {
        let fetching =
            |e: &str| format!("{SECRETS_PREFIX}asm fetching secret from the service for {id}: {e}");
        let Some(role) = plan.execution_role_arn.as_deref() else {
            return Err(format!(
                "{SECRETS_PREFIX}ASM registry auth resource: unable to find execution role credentials"
            ));
        };
        let region = Arn::of_service(id, "secretsmanager")
            .map(|a| a.region)
            .filter(|r| !r.is_empty())
            .unwrap_or(&plan.region)
            .to_string();
        self.judge_secret_read(plan, role, &region, id)
            .map_err(|m| {
                fetching(&format!(
                    "AccessDeniedException: {m} status code: 400, request id: {}",
                    crate::domain::ids::uuid()
                ))
            })?;
        let value = self
            .secrets_manager
            .secret_string(&region, id, None, None)
            .map_err(|e| fetching(&format!("{}: {e}", e.code())))?;
        let (username, password) =
            registry::credentials(&value).map_err(|e| format!("{SECRETS_PREFIX}{e}"))?;
        Ok(RegistryAuth {
            username,
            password,
            server_address: registry::registry_host(&c.image),
        })
    }

    /// The execution role's permission to read each env file
    /// (`s3:GetObject` on the object, `s3:GetBucketLocation` on the
    /// bucket), under `serve --iam`. The agent's HeadObject gets a bare 403,
    /// so the reason carries no IAM text, as on Fargate.
    fn judge_env_files(&self, plan: &TaskPlan, targets: &[(String, String)]) -> Result<(), String> {
        let (Some((iam, mode)), Some(role)) = (&self.iam, plan.execution_role_arn.as_deref())
        else {
            return Ok(());
        };
        for (bucket, key) in targets {
            let checks = [
                ("s3:GetObject", format!("arn:aws:s3:::{bucket}/{key}")),
                ("s3:GetBucketLocation", format!("arn:aws:s3:::{bucket}")),
            ];
            for (action, resource) in checks {
                iam.decide(*mode, execution(plan, role), None, action, &[resource])
                    .map_err(|_| {
                        format!(
                            "{ENV_FILES_PREFIX}service call has been retried 1 time(s): operation error S3: HeadObject, https response error StatusCode: 403, api error Forbidden: Forbidden."
                        )
                    })?;
            }
        }
        Ok(())
    }

    fn ssm_value(&self, region: &str, name: &str) -> Result<String, SsmLookup> {
        // SSM can hand out a Secrets Manager secret under this prefix.
        if let Some(secret) = name.strip_prefix("/aws/reference/secretsmanager/") {
            return self
                .secrets_manager
                .secret_string(region, secret, None, None)
                .map_err(|e| match e {
                    SecretsManagerError::ResourceNotFound(_) => SsmLookup::Missing,
                    e => SsmLookup::Failed(format!("{}: {e}", e.code())),
                });
        }
        self.ssm.parameter_value(region, name).map_err(|e| match e {
            SsmError::ParameterNotFound | SsmError::ParameterVersionNotFound(_) => {
                SsmLookup::Missing
            }
            e => SsmLookup::Failed(format!("{}: {e}", e.code())),
        })
    }

    /// The container's env files, parsed, in list order.
    async fn fetch_env_files(
        &self,
        plan: &TaskPlan,
        c: &ContainerPlan,
    ) -> Result<Vec<Vec<(String, String)>>, String> {
        let mut targets = Vec::new();
        for f in &c.environment_files {
            let Some((bucket, key)) = parse_s3_arn(&f.value) else {
                return Err(format!(
                    "{ENV_FILES_PREFIX}unable to parse bucket and key from s3 ARN specified in environmentFile {v}, error: invalid s3 arn: {v}",
                    v = f.value
                ));
            };
            targets.push((bucket, key));
        }
        if plan.execution_role_arn.is_none() {
            return Err(format!(
                "{ENV_FILES_PREFIX}environment file resource: unable to find execution role credentials"
            ));
        }
        self.judge_env_files(plan, &targets)?;
        let Some(source) = &self.files else {
            return Err(format!(
                "{ENV_FILES_PREFIX}no S3 endpoint is configured (fargate-local serve --no-s3)"
            ));
        };
        // In parallel, as the agent downloads them.
        let gets = targets
            .iter()
            .map(|(b, k)| async move { source.get_object(b, k).await });
        let bodies = futures_util::future::join_all(gets).await;
        let mut files = Vec::new();
        for ((_, key), body) in targets.iter().zip(bodies) {
            let body = body.map_err(|e| format!("{ENV_FILES_PREFIX}{e}"))?;
            let file = key.rsplit('/').next().unwrap_or(key);
            files.push(envfiles::parse(file, &body).map_err(|e| format!("{ENV_FILES_PREFIX}{e}"))?);
        }
        Ok(files)
    }
}

/// What SSM answers a GetParameters with decryption when the caller may
/// not use the parameter's customer key: KMS's refusal, passed on in the
/// Java SDK's words (the text seen from GetParameter in public reports;
/// it names neither the role nor the key).
pub(crate) fn ssm_kms_denied() -> String {
    format!(
        "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: {}; Proxy: null)",
        crate::domain::ids::uuid()
    )
}

enum SsmLookup {
    Missing,
    Failed(String),
}

/// A Secrets Manager failure in Fargate's words.
fn asm_failure(e: &SecretsManagerError) -> String {
    // The agent retries a missing secret before giving up.
    let retries = match e {
        SecretsManagerError::ResourceNotFound(_) => 5,
        _ => 1,
    };
    format!(
        "{SECRETS_PREFIX}unable to retrieve secret from asm: service call has been retried {retries} time(s): {}: {e}",
        e.code()
    )
}

#[async_trait]
impl TaskHook for ConfigSources {
    async fn registry_auth(
        &self,
        plan: &TaskPlan,
        container: &ContainerPlan,
    ) -> Result<Option<RegistryAuth>, String> {
        if let Some(image) = registry::ecr_image(&container.image) {
            self.judge_ecr_pull(plan, &image)?;
        }
        match &container.repository_credentials {
            None => Ok(None),
            Some(id) => self.repository_credentials(plan, container, id).map(Some),
        }
    }

    async fn environment(
        &self,
        plan: &TaskPlan,
        container: &ContainerPlan,
        env: &mut Vec<(String, String)>,
    ) -> Result<(), String> {
        // A FireLens log router also gets the secret options of the
        // containers that log to it.
        let log_secrets = crate::services::firelens::router_secrets(plan, container);
        // Another log driver's `secretOptions` are read (and judged) as the
        // agent reads them for Docker's log options. The emulator ships
        // awslogs itself and runs no other driver, so the values stop here.
        let driver_secrets: &[Secret] = container
            .log_configuration
            .as_ref()
            .filter(|l| l.log_driver != "awsfirelens")
            .and_then(|l| l.secret_options.as_deref())
            .unwrap_or_default();
        if !driver_secrets.is_empty() {
            self.resolve_secrets(plan, driver_secrets)?;
        }
        if container.secrets.is_empty()
            && log_secrets.is_empty()
            && container.environment_files.is_empty()
        {
            return Ok(());
        }
        let secrets = if container.secrets.is_empty() && log_secrets.is_empty() {
            Vec::new()
        } else if log_secrets.is_empty() {
            self.resolve_secrets(plan, &container.secrets)?
        } else {
            let mut list = container.secrets.clone();
            list.extend(log_secrets);
            self.resolve_secrets(plan, &list)?
        };
        let files = if container.environment_files.is_empty() {
            Vec::new()
        } else {
            self.fetch_env_files(plan, container).await?
        };
        // Secrets are merged over the environment, as the agent merges them
        // (registration keeps their names apart).
        for (k, v) in secrets {
            match env.iter_mut().find(|(ek, _)| *ek == k) {
                Some(slot) => slot.1 = v,
                None => env.push((k, v)),
            }
        }
        envfiles::merge(env, files);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_arns() {
        let cases = [
            (
                "arn:aws:s3:::app-config/web/app.env",
                Some(("app-config", "web/app.env")),
            ),
            ("arn:aws-cn:s3:::b/k", Some(("b", "k"))),
            ("arn:aws:s3:::bucket-only", None),
            ("arn:aws:s3:::b/", None),
            ("s3://b/k", None),
            ("arn:aws:s3:eu-west-1::b/k", None),
        ];
        for (arn, want) in cases {
            let got = parse_s3_arn(arn);
            assert_eq!(
                got.as_ref().map(|(b, k)| (b.as_str(), k.as_str())),
                want,
                "{arn}"
            );
        }
    }
}
