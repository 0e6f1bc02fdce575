//! What the agent reads before it pulls an image, as pure functions: an
//! ECR image reference's parts (the repository ARN the execution role is
//! judged on, the texts a refusal is reported with) and a private
//! registry's credentials from a `repositoryCredentials` secret. The hook
//! in `taskconfig` does the reading and the judging.

/// An image in ECR: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EcrImage {
    pub host: String,
    pub account: String,
    pub region: String,
    pub repository: String,
    /// The tag (`latest` when none is given) or the digest.
    pub reference: String,
    pub by_digest: bool,
}

impl EcrImage {
    /// The repository's ARN, on which the image actions are evaluated.
    pub fn repository_arn(&self) -> String {
        let partition = if self.host.ends_with(".amazonaws.com.cn") {
            "aws-cn"
        } else {
            "aws"
        };
        format!(
            "arn:{partition}:ecr:{}:{}:repository/{}",
            self.region, self.account, self.repository
        )
    }

    /// The reference as the agent names it in a pull failure.
    pub fn qualified(&self) -> String {
        let sep = if self.by_digest { '@' } else { ':' };
        format!("{}/{}{sep}{}", self.host, self.repository, self.reference)
    }

    /// Fargate's reason when the registry refuses the manifest: the
    /// execution role may not read the repository. ECR answers a bare 403,
    /// so the text names no role or action (the log and the request log do).
    pub fn forbidden(&self) -> String {
        format!(
            "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref {}: pulling from host {} failed with status code [manifests {}]: 403 Forbidden",
            self.qualified(),
            self.host,
            self.reference
        )
    }
}

/// The ECR parts of an image reference, if it is one.
pub fn ecr_image(image: &str) -> Option<EcrImage> {
    let (host, rest) = image.split_once('/')?;
    let (account, tail) = host.split_once(".dkr.ecr.")?;
    let region = tail
        .strip_suffix(".amazonaws.com")
        .or_else(|| tail.strip_suffix(".amazonaws.com.cn"))?;
    if account.is_empty()
        || !account.bytes().all(|b| b.is_ascii_digit())
        || region.is_empty()
        || rest.is_empty()
    {
        return None;
    }
    let (repository, reference, by_digest) = match rest.split_once('@') {
        Some((r, d)) => (r, d.to_string(), true),
        None => {
            let slash = rest.rfind('/').map_or(0, |i| i + 1);
            match rest[slash..].rfind(':') {
                Some(i) => (&rest[..slash + i], rest[slash + i + 1..].to_string(), false),
                None => (rest, "latest".to_string(), false),
            }
        }
    };
    Some(EcrImage {
        host: host.to_string(),
        account: account.to_string(),
        region: region.to_string(),
        repository: repository.to_string(),
        reference,
        by_digest,
    })
}

/// The registry an image is pulled from, as Docker names it in
/// credentials: the reference's host, or Docker Hub's index.
pub fn registry_host(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "https://index.docker.io/v1/".to_string(),
    }
}

/// A `repositoryCredentials` secret's value, `{"username": ..., "password":
/// ...}`, as the agent reads it: keys match whatever their case (Go's
/// `json.Unmarshal`), both must be non-empty strings. The error is the
/// agent's text.
pub fn credentials(secret: &str) -> Result<(String, String), String> {
    if secret.is_empty() {
        return Err("asm fetching authorization data: empty secrets value".into());
    }
    let invalid = || {
        "asm fetching authorization data: unable to unmarshal secret value, invalid schema"
            .to_string()
    };
    let v: serde_json::Value = serde_json::from_str(secret).map_err(|_| invalid())?;
    let obj = v.as_object().ok_or_else(invalid)?;
    let field = |name: &str| -> Result<String, String> {
        // The last key of that name wins, as in Go.
        match obj.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            None => Ok(String::new()),
            Some((_, serde_json::Value::String(s))) => Ok(s.clone()),
            Some((_, serde_json::Value::Null)) => Ok(String::new()),
            Some(_) => Err(invalid()),
        }
    };
    let (username, password) = (field("username")?, field("password")?);
    if username.is_empty() {
        return Err("asm fetching username: AuthorizationData is malformed, empty field".into());
    }
    if password.is_empty() {
        return Err("asm fetching password: AuthorizationData is malformed, empty field".into());
    }
    Ok((username, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(image: &str, want: Option<(&str, &str, &str)>) {
        let got = ecr_image(image);
        assert_eq!(
            got.as_ref()
                .map(|e| (e.repository_arn(), e.qualified(), e.reference.clone())),
            want.map(|(a, q, r)| (a.to_string(), q.to_string(), r.to_string())),
            "{image}"
        );
    }

    #[test]
    fn ecr_references() {
        check(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.2",
            Some((
                "arn:aws:ecr:us-east-1:123456789012:repository/web",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.2",
                "1.2",
            )),
        );
        check(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api",
            Some((
                "arn:aws:ecr:eu-west-1:123456789012:repository/team/api",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:latest",
                "latest",
            )),
        );
        check(
            "1.dkr.ecr.cn-north-1.amazonaws.com.cn/web@sha256:ab",
            Some((
                "arn:aws-cn:ecr:cn-north-1:1:repository/web",
                "1.dkr.ecr.cn-north-1.amazonaws.com.cn/web@sha256:ab",
                "sha256:ab",
            )),
        );
        check("nginx:1", None);
        check("public.ecr.aws/nginx/nginx:1", None);
        check("x.dkr.ecr.us-east-1.amazonaws.com/web", None);
        check("1.dkr.ecr.us-east-1.amazonaws.com/", None);
        check("localhost:5000/web:1", None);
    }

    #[test]
    fn the_refusal_names_the_manifest() {
        let e = ecr_image("1.dkr.ecr.us-east-1.amazonaws.com/backend-flask").unwrap();
        assert_eq!(
            e.forbidden(),
            "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 1.dkr.ecr.us-east-1.amazonaws.com/backend-flask:latest: pulling from host 1.dkr.ecr.us-east-1.amazonaws.com failed with status code [manifests latest]: 403 Forbidden"
        );
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(
            registry_host("registry.example.com/app:1"),
            "registry.example.com"
        );
        assert_eq!(registry_host("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_host("team/app:1"), "https://index.docker.io/v1/");
        assert_eq!(registry_host("app"), "https://index.docker.io/v1/");
    }

    #[test]
    fn credentials_as_the_agent_reads_them() {
        let ok = |u: &str, p: &str| Ok((u.to_string(), p.to_string()));
        /// A secret's text and what reading it gives: (user, password) or the error.
        type Case<'a> = (&'a str, Result<(String, String), String>);
        let cases: [Case; 8] = [
            (r#"{"username":"u","password":"p"}"#, ok("u", "p")),
            (r#"{"UserName":"u","PASSWORD":"p"}"#, ok("u", "p")),
            ("", Err("asm fetching authorization data: empty secrets value".into())),
            (
                "not json",
                Err("asm fetching authorization data: unable to unmarshal secret value, invalid schema".into()),
            ),
            (
                r#"["u","p"]"#,
                Err("asm fetching authorization data: unable to unmarshal secret value, invalid schema".into()),
            ),
            (
                r#"{"username":1,"password":"p"}"#,
                Err("asm fetching authorization data: unable to unmarshal secret value, invalid schema".into()),
            ),
            (
                r#"{"password":"p"}"#,
                Err("asm fetching username: AuthorizationData is malformed, empty field".into()),
            ),
            (
                r#"{"username":"u","password":""}"#,
                Err("asm fetching password: AuthorizationData is malformed, empty field".into()),
            ),
        ];
        for (secret, want) in cases {
            assert_eq!(credentials(secret), want, "{secret}");
        }
    }
}
