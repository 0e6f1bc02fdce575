//! Amazon Resource Names: building them (through a [`Scope`]) and taking
//! them apart (one [`Arn`] type for every service). The ECS references below
//! are lenient where AWS is (a bare name or id is accepted wherever an ARN
//! is) and strict about the service and resource type.

/// The partition, region and account every ARN of this emulator carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub region: String,
    pub account: String,
}

impl Scope {
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Self {
        Scope {
            region: region.into(),
            account: account.into(),
        }
    }

    /// `arn:aws:<service>:<region>:<account>:<resource>`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }
    /// An ARN of a global service, without a region (IAM):
    /// `arn:aws:<service>::<account>:<resource>`.
    pub fn global_arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}::{}:{resource}", self.account)
    }
    fn ecs(&self, resource: &str) -> String {
        self.arn("ecs", resource)
    }
    pub fn cluster(&self, name: &str) -> String {
        self.ecs(&format!("cluster/{name}"))
    }
    pub fn task_definition(&self, family: &str, revision: i32) -> String {
        self.ecs(&format!("task-definition/{family}:{revision}"))
    }
    pub fn task(&self, cluster: &str, task_id: &str) -> String {
        self.ecs(&format!("task/{cluster}/{task_id}"))
    }
    pub fn container(&self, cluster: &str, task_id: &str, uuid: &str) -> String {
        self.ecs(&format!("container/{cluster}/{task_id}/{uuid}"))
    }
    pub fn service(&self, cluster: &str, name: &str) -> String {
        self.ecs(&format!("service/{cluster}/{name}"))
    }
    pub fn capacity_provider(&self, name: &str) -> String {
        self.ecs(&format!("capacity-provider/{name}"))
    }
    pub fn iam_root(&self) -> String {
        iam_root(&self.account)
    }
}

/// The account's root principal, `arn:aws:iam::<account>:root`.
pub fn iam_root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// A `KmsKeyId` as a service stores it (key id, key ARN, alias name or
/// alias ARN) as the ARN IAM evaluates `kms:Decrypt` on; `None` for none
/// and for the service's AWS managed key (`aws_managed`, e.g.
/// `alias/aws/ssm`), whose use through the service needs no permission of
/// the caller. An alias is not resolved to its key (there is no KMS here),
/// so a policy names it by the alias ARN.
pub fn customer_kms_key(
    region: &str,
    account: &str,
    key: &str,
    aws_managed: &str,
) -> Option<String> {
    let managed = key == aws_managed
        || key
            .strip_suffix(aws_managed)
            .is_some_and(|arn| arn.ends_with(':'));
    if key.is_empty() || managed {
        return None;
    }
    Some(if key.starts_with("arn:") {
        key.to_string()
    } else if key.starts_with("alias/") {
        format!("arn:aws:kms:{region}:{account}:{key}")
    } else {
        format!("arn:aws:kms:{region}:{account}:key/{key}")
    })
}

/// A parsed `arn:<partition>:<service>:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Parses an ARN; `None` when it is not one.
    pub fn parse(s: &'a str) -> Option<Arn<'a>> {
        parse(s)
    }

    /// Parses an ARN of one service (`"logs"`, `"s3"`).
    pub fn of_service(s: &'a str, service: &str) -> Option<Arn<'a>> {
        parse(s).filter(|a| a.service == service)
    }

    /// The resource after a type prefix (`"log-group:"`, `"parameter/"`),
    /// if the resource has it.
    pub fn resource_of(&self, prefix: &str) -> Option<&'a str> {
        self.resource.strip_prefix(prefix)
    }
}

impl std::fmt::Display for Arn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

pub fn parse(s: &str) -> Option<Arn<'_>> {
    let mut parts = s.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let arn = Arn {
        partition: parts.next()?,
        service: parts.next()?,
        region: parts.next()?,
        account: parts.next()?,
        resource: parts.next()?,
    };
    if arn.partition.is_empty() || arn.service.is_empty() || arn.resource.is_empty() {
        return None;
    }
    Some(arn)
}

/// The cluster name from a cluster name or ARN.
pub fn cluster_name(s: &str) -> Option<&str> {
    if s.starts_with("arn:") {
        let arn = parse(s)?;
        if arn.service != "ecs" {
            return None;
        }
        let name = arn.resource.strip_prefix("cluster/")?;
        (!name.is_empty() && !name.contains('/')).then_some(name)
    } else {
        Some(s)
    }
}

/// A reference to a task: its id, and the cluster when the ARN names one.
#[derive(Debug, PartialEq, Eq)]
pub struct TaskRef<'a> {
    pub cluster: Option<&'a str>,
    pub id: &'a str,
}

pub fn task_ref(s: &str) -> Option<TaskRef<'_>> {
    if s.starts_with("arn:") {
        let arn = parse(s)?;
        if arn.service != "ecs" {
            return None;
        }
        let rest = arn.resource.strip_prefix("task/")?;
        match rest.split_once('/') {
            Some((cluster, id)) if !id.contains('/') && !id.is_empty() => Some(TaskRef {
                cluster: Some(cluster),
                id,
            }),
            // The old ARN format without the cluster.
            None if !rest.is_empty() => Some(TaskRef {
                cluster: None,
                id: rest,
            }),
            _ => None,
        }
    } else if !s.is_empty() && !s.contains('/') {
        Some(TaskRef {
            cluster: None,
            id: s,
        })
    } else {
        None
    }
}

/// A reference to a task definition: family with an optional revision.
#[derive(Debug, PartialEq, Eq)]
pub struct TaskDefinitionRef<'a> {
    pub family: &'a str,
    pub revision: Option<&'a str>,
}

pub fn task_definition_ref(s: &str) -> Option<TaskDefinitionRef<'_>> {
    let body = if s.starts_with("arn:") {
        let arn = parse(s)?;
        if arn.service != "ecs" {
            return None;
        }
        arn.resource.strip_prefix("task-definition/")?
    } else {
        s
    };
    match body.split_once(':') {
        Some((family, rev)) => Some(TaskDefinitionRef {
            family,
            revision: Some(rev),
        }),
        None => Some(TaskDefinitionRef {
            family: body,
            revision: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds() {
        let s = Scope::new("eu-west-1", "000000000000");
        assert_eq!(
            s.cluster("dev"),
            "arn:aws:ecs:eu-west-1:000000000000:cluster/dev"
        );
        assert_eq!(
            s.task_definition("web", 3),
            "arn:aws:ecs:eu-west-1:000000000000:task-definition/web:3"
        );
        assert_eq!(
            s.task("dev", "abc"),
            "arn:aws:ecs:eu-west-1:000000000000:task/dev/abc"
        );
    }

    #[test]
    fn customer_kms_keys() {
        let key = |k: &str| customer_kms_key("eu-west-1", "000000000000", k, "alias/aws/ssm");
        let cases = [
            ("", None),
            ("alias/aws/ssm", None),
            ("arn:aws:kms:eu-west-1:000000000000:alias/aws/ssm", None),
            (
                "1234abcd-12ab-34cd-56ef-1234567890ab",
                Some("arn:aws:kms:eu-west-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            ),
            (
                "alias/app",
                Some("arn:aws:kms:eu-west-1:000000000000:alias/app"),
            ),
            (
                "arn:aws:kms:us-east-1:111122223333:key/k",
                Some("arn:aws:kms:us-east-1:111122223333:key/k"),
            ),
            // Another service's managed key is not this one's.
            (
                "alias/aws/secretsmanager",
                Some("arn:aws:kms:eu-west-1:000000000000:alias/aws/secretsmanager"),
            ),
            (
                "xalias/aws/ssm",
                Some("arn:aws:kms:eu-west-1:000000000000:key/xalias/aws/ssm"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(key(input).as_deref(), want, "{input}");
        }
    }

    fn check_task(input: &str, expected: Option<(Option<&str>, &str)>) {
        let got = task_ref(input).map(|r| (r.cluster, r.id));
        assert_eq!(got, expected, "{input}");
    }

    #[test]
    fn task_refs() {
        check_task("abc", Some((None, "abc")));
        check_task(
            "arn:aws:ecs:us-east-1:1:task/dev/abc",
            Some((Some("dev"), "abc")),
        );
        check_task("arn:aws:ecs:us-east-1:1:task/abc", Some((None, "abc")));
        check_task("arn:aws:ecs:us-east-1:1:cluster/abc", None);
        check_task("arn:aws:s3:us-east-1:1:task/dev/abc", None);
        check_task("a/b", None);
        check_task("", None);
    }

    #[test]
    fn any_service() {
        // (input, service, region, account, resource)
        let cases = [
            (
                "arn:aws:logs:eu-west-1:1:log-group:/ecs/web:*",
                Some(("logs", "eu-west-1", "1", "log-group:/ecs/web:*")),
            ),
            (
                "arn:aws:s3:::bucket/a/b.env",
                Some(("s3", "", "", "bucket/a/b.env")),
            ),
            (
                "arn:aws:iam::1:role/app",
                Some(("iam", "", "1", "role/app")),
            ),
            (
                "arn:aws-cn:ssm:cn-north-1:1:parameter/a",
                Some(("ssm", "cn-north-1", "1", "parameter/a")),
            ),
            ("arn:aws:s3:::", None),
            ("arn::s3:::b", None),
            ("nope", None),
        ];
        for (input, want) in cases {
            let got = Arn::parse(input).map(|a| (a.service, a.region, a.account, a.resource));
            assert_eq!(got, want, "{input}");
            if let Some(a) = Arn::parse(input) {
                assert_eq!(a.to_string(), input);
            }
        }
        let a = Arn::of_service("arn:aws:logs:r:1:log-group:g", "logs").unwrap();
        assert_eq!(a.resource_of("log-group:"), Some("g"));
        assert_eq!(a.resource_of("destination:"), None);
        assert!(Arn::of_service("arn:aws:logs:r:1:log-group:g", "s3").is_none());
        let s = Scope::new("r", "1");
        assert_eq!(s.arn("ssm", "parameter/a"), "arn:aws:ssm:r:1:parameter/a");
        assert_eq!(s.global_arn("iam", "role/x"), "arn:aws:iam::1:role/x");
        assert_eq!(s.iam_root(), "arn:aws:iam::1:root");
    }

    #[test]
    fn cluster_and_td_refs() {
        assert_eq!(cluster_name("dev"), Some("dev"));
        assert_eq!(cluster_name("arn:aws:ecs:r:1:cluster/dev"), Some("dev"));
        assert_eq!(cluster_name("arn:aws:ecs:r:1:task/dev"), None);
        assert_eq!(cluster_name("arn:aws"), None);
        let r = task_definition_ref("arn:aws:ecs:r:1:task-definition/web:2").unwrap();
        assert_eq!((r.family, r.revision), ("web", Some("2")));
        let r = task_definition_ref("web").unwrap();
        assert_eq!((r.family, r.revision), ("web", None));
    }
}
