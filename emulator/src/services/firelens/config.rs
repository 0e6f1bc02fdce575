//! The configuration the ECS agent generates for a task's FireLens log
//! router (`firelensconfig_unix.go`), as a pure function of the plan: the
//! inputs Docker's fluentd driver and the applications write to, the grep
//! filters of `include-pattern` / `exclude-pattern`, the ECS metadata
//! filter, the user's `@INCLUDE`, and one output per `awsfirelens`
//! container.
//!
//! One difference from the agent: outputs come out in container order (the
//! agent's follow Go map iteration, which is random). Outputs fan out, so
//! the order changes nothing.

use std::collections::BTreeMap;

use crate::runtime::plan::{ContainerPlan, TaskPlan};

/// The socket the router listens on, inside its container.
pub const SOCKET_PATH: &str = "/var/run/fluent.sock";
/// The socket's directory in the router (the task's socket directory is
/// mounted there).
pub const SOCKET_DIR_IN_ROUTER: &str = "/var/run/";
/// The TCP forward input, for applications using a fluent logger library.
pub const FORWARD_PORT: u16 = 24224;
/// The tcp input Fluent Bit health checks write to.
pub const HEALTH_CHECK_PORT: u16 = 8877;
pub const HEALTH_CHECK_TAG: &str = "firelens-healthcheck";
/// Where the generated file is mounted, per router type.
pub const FLUENTBIT_CONFIG: &str = "/fluent-bit/etc/fluent-bit.conf";
pub const FLUENTD_CONFIG: &str = "/fluentd/etc/fluent.conf";
/// Where an S3-hosted config file is mounted (EC2 only).
pub const FLUENTBIT_EXTERNAL: &str = "/fluent-bit/etc/external.conf";
pub const FLUENTD_EXTERNAL: &str = "/fluentd/etc/external.conf";

/// Options of an `awsfirelens` container that never reach an output.
const NOT_OUTPUT_OPTIONS: [&str; 3] = [
    "include-pattern",
    "exclude-pattern",
    "log-driver-buffer-limit",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterType {
    FluentBit,
    Fluentd,
}

impl RouterType {
    pub fn parse(s: &str) -> Option<RouterType> {
        match s {
            "fluentbit" => Some(RouterType::FluentBit),
            "fluentd" => Some(RouterType::Fluentd),
            _ => None,
        }
    }

    fn name_key(self) -> &'static str {
        match self {
            RouterType::FluentBit => "Name",
            RouterType::Fluentd => "@type",
        }
    }

    fn label(self) -> &'static str {
        match self {
            RouterType::FluentBit => "fluentbit",
            RouterType::Fluentd => "fluentd",
        }
    }

    /// Where the generated config is mounted in the router.
    pub fn config_path(self) -> &'static str {
        match self {
            RouterType::FluentBit => FLUENTBIT_CONFIG,
            RouterType::Fluentd => FLUENTD_CONFIG,
        }
    }
}

/// `config-file-type` / `config-file-value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalConfig {
    /// A file in the router's image (or a volume).
    File(String),
    /// An S3 object ARN (EC2 only; registration refuses it for Fargate).
    S3(String),
}

/// What the agent reads from the router's `firelensConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSettings {
    pub kind: RouterType,
    pub ecs_metadata: bool,
    pub external: Option<ExternalConfig>,
    /// A warning to log (an unparsable `enable-ecs-log-metadata`).
    pub warning: Option<String>,
}

/// Go's `strconv.ParseBool`.
pub fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Reads the router's options, with the agent's error messages.
pub fn router_settings(router: &ContainerPlan) -> Result<RouterSettings, String> {
    let Some(fc) = &router.firelens else {
        return Err("the container has no firelensConfiguration".into());
    };
    let kind = RouterType::parse(&fc.kind)
        .ok_or_else(|| format!("invalid firelens configuration type: {}", fc.kind))?;
    let opts = fc.options.clone().unwrap_or_default();
    let mut warning = None;
    let ecs_metadata = match opts.get("enable-ecs-log-metadata") {
        None => true,
        Some(v) => match go_parse_bool(v) {
            Some(b) => b,
            None => {
                // The agent logs the parse error and keeps the zero value.
                warning = Some(format!(
                    "invalid value {v} for option enable-ecs-log-metadata: ECS log metadata is disabled"
                ));
                false
            }
        },
    };
    let external = match opts.get("config-file-type") {
        None => None,
        Some(t) => {
            let value = opts.get("config-file-value").ok_or_else(|| {
                "option config-file-type is specified but config-file-value is not specified"
                    .to_string()
            })?;
            match t.as_str() {
                "file" => Some(ExternalConfig::File(value.clone())),
                "s3" => Some(ExternalConfig::S3(value.clone())),
                other => {
                    return Err(format!(
                        "invalid value {other} is specified for option config-file-type"
                    ));
                }
            }
        }
    };
    Ok(RouterSettings {
        kind,
        ecs_metadata,
        external,
        warning,
    })
}

/// The router's unix input buffer: half its memory reservation (or hard
/// limit), in MiB, or 25MB.
fn mem_buf_limit(router: &ContainerPlan) -> String {
    match router
        .memory_reservation_mib
        .filter(|m| *m > 0)
        .or(router.memory_mib.filter(|m| *m > 0))
    {
        Some(m) => format!("{}MB", m / 2),
        None => "25MB".into(),
    }
}

/// The Docker tag glob of a container's records.
fn match_pattern(kind: RouterType, container: &str) -> String {
    match kind {
        RouterType::FluentBit => format!("{container}-firelens*"),
        RouterType::Fluentd => format!("{container}-firelens**"),
    }
}

/// The name of the router's variable holding a log secret option: the
/// option name and the container's index in the task definition.
pub fn secret_variable(option: &str, index: usize) -> String {
    format!("{option}_{index}")
}

/// One `awsfirelens` container's output options (sorted), or the agent's
/// error. `None` when it has no output (no options but the patterns).
fn output_options(
    kind: RouterType,
    index: usize,
    c: &ContainerPlan,
) -> Result<Option<PluginOptions>, String> {
    let log = c.log_configuration.as_ref();
    let mut opts: BTreeMap<String, String> = log
        .and_then(|l| l.options.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !NOT_OUTPUT_OPTIONS.contains(&k.as_str()))
        .collect();
    for s in log
        .and_then(|l| l.secret_options.clone())
        .unwrap_or_default()
    {
        let var = secret_variable(&s.name, index);
        let value = match kind {
            RouterType::FluentBit => format!("${{{var}}}"),
            RouterType::Fluentd => format!("\"#{{ENV['{var}']}}\""),
        };
        opts.insert(s.name, value);
    }
    if opts.is_empty() {
        return Ok(None);
    }
    match opts.remove(kind.name_key()) {
        Some(name) => Ok(Some((name, opts))),
        None => Err(format!(
            "missing output key {} which is required for firelens configuration of type {}",
            kind.name_key(),
            kind.label()
        )),
    }
}

/// The generated configuration text for the task, or the agent's error.
/// `awsvpc` network mode (the only one on Fargate): the TCP inputs listen on
/// 127.0.0.1.
pub fn generate(plan: &TaskPlan) -> Result<String, String> {
    let Some(router) = plan.firelens_router() else {
        return Err("the task has no FireLens log router".into());
    };
    let settings = router_settings(router)?;
    let kind = settings.kind;
    let mut includes = Vec::new();
    let mut excludes = Vec::new();
    let mut outputs = Vec::new();
    for (index, c) in plan.containers.iter().enumerate() {
        if !c.uses_firelens() {
            continue;
        }
        let opts = c
            .log_configuration
            .as_ref()
            .and_then(|l| l.options.clone())
            .unwrap_or_default();
        if let Some(p) = opts.get("include-pattern") {
            includes.push((c.name.clone(), p.clone()));
        }
        if let Some(p) = opts.get("exclude-pattern") {
            excludes.push((c.name.clone(), p.clone()));
        }
        if let Some(out) = output_options(kind, index, c)? {
            outputs.push((c.name.clone(), out));
        }
    }
    let metadata = settings.ecs_metadata.then(|| {
        vec![
            ("ecs_cluster".to_string(), plan.cluster_name.clone()),
            ("ecs_task_arn".to_string(), plan.task_arn.clone()),
            (
                "ecs_task_definition".to_string(),
                format!("{}:{}", plan.family, plan.revision),
            ),
        ]
    });
    let include = settings.external.as_ref().map(|e| match (e, kind) {
        (ExternalConfig::File(path), _) => path.clone(),
        (ExternalConfig::S3(_), RouterType::FluentBit) => FLUENTBIT_EXTERNAL.to_string(),
        (ExternalConfig::S3(_), RouterType::Fluentd) => FLUENTD_EXTERNAL.to_string(),
    });
    let parts = Parts {
        mem_buf_limit: mem_buf_limit(router),
        includes,
        excludes,
        metadata,
        include,
        outputs,
    };
    Ok(match kind {
        RouterType::FluentBit => render_fluentbit(&parts),
        RouterType::Fluentd => render_fluentd(&parts),
    })
}

/// An output's plugin name and its other options.
type PluginOptions = (String, BTreeMap<String, String>);
/// A container and its output.
type Output = (String, PluginOptions);

struct Parts {
    mem_buf_limit: String,
    includes: Vec<(String, String)>,
    excludes: Vec<(String, String)>,
    metadata: Option<Vec<(String, String)>>,
    include: Option<String>,
    outputs: Vec<Output>,
}

fn section(out: &mut String, header: &str, entries: &[(&str, &str)]) {
    out.push_str(header);
    out.push('\n');
    for (k, v) in entries {
        out.push_str(&format!("    {k} {v}\n"));
    }
    out.push('\n');
}

fn render_fluentbit(p: &Parts) -> String {
    let mut out = String::new();
    let port = FORWARD_PORT.to_string();
    let hc_port = HEALTH_CHECK_PORT.to_string();
    section(
        &mut out,
        "[INPUT]",
        &[
            ("Name", "forward"),
            ("Mem_Buf_Limit", &p.mem_buf_limit),
            ("unix_path", SOCKET_PATH),
        ],
    );
    section(
        &mut out,
        "[INPUT]",
        &[
            ("Name", "forward"),
            ("Listen", "127.0.0.1"),
            ("Port", &port),
        ],
    );
    section(
        &mut out,
        "[INPUT]",
        &[
            ("Name", "tcp"),
            ("Tag", HEALTH_CHECK_TAG),
            ("Listen", "127.0.0.1"),
            ("Port", &hc_port),
        ],
    );
    for (c, pattern) in &p.includes {
        let m = match_pattern(RouterType::FluentBit, c);
        let rule = format!("log {pattern}");
        section(
            &mut out,
            "[FILTER]",
            &[("Name", "grep"), ("Match", &m), ("Regex", &rule)],
        );
    }
    for (c, pattern) in &p.excludes {
        let m = match_pattern(RouterType::FluentBit, c);
        let rule = format!("log {pattern}");
        section(
            &mut out,
            "[FILTER]",
            &[("Name", "grep"), ("Match", &m), ("Exclude", &rule)],
        );
    }
    if let Some(records) = &p.metadata {
        let values: Vec<String> = records.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let mut entries = vec![("Name", "record_modifier"), ("Match", "*")];
        entries.extend(values.iter().map(|v| ("Record", v.as_str())));
        section(&mut out, "[FILTER]", &entries);
    }
    if let Some(path) = &p.include {
        out.push_str(&format!("@INCLUDE {path}\n\n"));
    }
    section(
        &mut out,
        "[OUTPUT]",
        &[("Name", "null"), ("Match", HEALTH_CHECK_TAG)],
    );
    for (c, (name, opts)) in &p.outputs {
        let m = match_pattern(RouterType::FluentBit, c);
        let mut entries = vec![("Name", name.as_str()), ("Match", m.as_str())];
        entries.extend(opts.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        section(&mut out, "[OUTPUT]", &entries);
    }
    out
}

fn render_fluentd(p: &Parts) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "<source>\n    @type unix\n    path {SOCKET_PATH}\n</source>\n\n"
    ));
    out.push_str(&format!(
        "<source>\n    @type forward\n    bind 127.0.0.1\n    port {FORWARD_PORT}\n</source>\n\n"
    ));
    for (c, pattern) in &p.includes {
        out.push_str(&format!(
            "<filter {}>\n    @type grep\n    <regexp>\n        key log\n        pattern {pattern}\n    </regexp>\n</filter>\n\n",
            match_pattern(RouterType::Fluentd, c)
        ));
    }
    for (c, pattern) in &p.excludes {
        out.push_str(&format!(
            "<filter {}>\n    @type grep\n    <exclude>\n        key log\n        pattern {pattern}\n    </exclude>\n</filter>\n\n",
            match_pattern(RouterType::Fluentd, c)
        ));
    }
    if let Some(records) = &p.metadata {
        out.push_str("<filter **>\n    @type record_transformer\n    <record>\n");
        for (k, v) in records {
            out.push_str(&format!("        {k} {v}\n"));
        }
        out.push_str("    </record>\n</filter>\n\n");
    }
    if let Some(path) = &p.include {
        out.push_str(&format!("@include {path}\n\n"));
    }
    for (c, (name, opts)) in &p.outputs {
        out.push_str(&format!(
            "<match {}>\n    @type {name}\n",
            match_pattern(RouterType::Fluentd, c)
        ));
        for (k, v) in opts {
            out.push_str(&format!("    {k} {v}\n"));
        }
        out.push_str("</match>\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ecs::model::{
        ContainerDefinition, FirelensConfiguration, LogConfiguration, Secret, TaskDefinition,
    };
    use crate::services::ecs::planning::{PlanInput, plan_task};

    fn router(kind: &str, opts: &[(&str, &str)]) -> ContainerDefinition {
        ContainerDefinition {
            name: Some("log_router".into()),
            image: Some("fluent-bit".into()),
            firelens_configuration: Some(FirelensConfiguration {
                kind: kind.into(),
                options: (!opts.is_empty()).then(|| {
                    opts.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }),
            }),
            ..Default::default()
        }
    }

    fn app(name: &str, opts: &[(&str, &str)], secrets: &[(&str, &str)]) -> ContainerDefinition {
        ContainerDefinition {
            name: Some(name.into()),
            image: Some("app".into()),
            log_configuration: Some(LogConfiguration {
                log_driver: "awsfirelens".into(),
                options: Some(
                    opts.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                secret_options: (!secrets.is_empty()).then(|| {
                    secrets
                        .iter()
                        .map(|(n, v)| Secret {
                            name: n.to_string(),
                            value_from: v.to_string(),
                        })
                        .collect()
                }),
            }),
            ..Default::default()
        }
    }

    fn plan(containers: Vec<ContainerDefinition>) -> TaskPlan {
        let td = TaskDefinition {
            family: Some("rails-app".into()),
            revision: Some(7),
            container_definitions: Some(containers),
            ..Default::default()
        };
        plan_task(PlanInput {
            task_definition: &td,
            overrides: None,
            task_arn:
                "arn:aws:ecs:eu-west-1:111122223333:task/mycluster/0123456789abcdef0123456789abcdef"
                    .into(),
            task_id: "0123456789abcdef0123456789abcdef".into(),
            cluster_arn: "arn:aws:ecs:eu-west-1:111122223333:cluster/mycluster".into(),
            cluster_name: "mycluster".into(),
            region: "eu-west-1".into(),
            container_arn: &|n| format!("arn:container/{n}"),
            runtime_id: &|| "t-1".into(),
            enable_execute_command: false,
        })
    }

    /// The reference's rendered example (the agent's unit test shape).
    #[test]
    fn fluentbit_config_as_the_agent_writes_it() {
        let p = plan(vec![
            router(
                "fluentbit",
                &[
                    ("enable-ecs-log-metadata", "true"),
                    ("config-file-type", "file"),
                    ("config-file-value", "/fluent-bit/etc/extra.conf"),
                ],
            ),
            app(
                "web",
                &[
                    ("Name", "cloudwatch_logs"),
                    ("region", "eu-west-1"),
                    ("log_group_name", "/ecs/rails/app"),
                    ("log_stream_prefix", "web/"),
                    ("auto_create_group", "true"),
                    ("log-driver-buffer-limit", "2097152"),
                ],
                &[],
            ),
        ]);
        let want = "\
[INPUT]
    Name forward
    Mem_Buf_Limit 25MB
    unix_path /var/run/fluent.sock

[INPUT]
    Name forward
    Listen 127.0.0.1
    Port 24224

[INPUT]
    Name tcp
    Tag firelens-healthcheck
    Listen 127.0.0.1
    Port 8877

[FILTER]
    Name record_modifier
    Match *
    Record ecs_cluster mycluster
    Record ecs_task_arn arn:aws:ecs:eu-west-1:111122223333:task/mycluster/0123456789abcdef0123456789abcdef
    Record ecs_task_definition rails-app:7

@INCLUDE /fluent-bit/etc/extra.conf

[OUTPUT]
    Name null
    Match firelens-healthcheck

[OUTPUT]
    Name cloudwatch_logs
    Match web-firelens*
    auto_create_group true
    log_group_name /ecs/rails/app
    log_stream_prefix web/
    region eu-west-1

";
        assert_eq!(generate(&p).unwrap(), want);
    }

    #[test]
    fn patterns_secrets_memory_and_no_metadata() {
        let mut r = router("fluentbit", &[("enable-ecs-log-metadata", "F")]);
        r.memory_reservation = Some(100);
        let p = plan(vec![
            app(
                "web",
                &[("include-pattern", "^GET "), ("exclude-pattern", "health")],
                &[],
            ),
            r,
            app(
                "worker",
                &[("Name", "http"), ("Host", "example.com")],
                &[(
                    "HTTP_Passwd",
                    "arn:aws:ssm:eu-west-1:111122223333:parameter/pw",
                )],
            ),
        ]);
        let want = "\
[INPUT]
    Name forward
    Mem_Buf_Limit 50MB
    unix_path /var/run/fluent.sock

[INPUT]
    Name forward
    Listen 127.0.0.1
    Port 24224

[INPUT]
    Name tcp
    Tag firelens-healthcheck
    Listen 127.0.0.1
    Port 8877

[FILTER]
    Name grep
    Match web-firelens*
    Regex log ^GET 

[FILTER]
    Name grep
    Match web-firelens*
    Exclude log health

[OUTPUT]
    Name null
    Match firelens-healthcheck

[OUTPUT]
    Name http
    Match worker-firelens*
    HTTP_Passwd ${HTTP_Passwd_2}
    Host example.com

";
        assert_eq!(generate(&p).unwrap(), want);
    }

    #[test]
    fn fluentd_flavour() {
        let mut r = router("fluentd", &[]);
        r.memory = Some(64);
        let p = plan(vec![
            r,
            app(
                "web",
                &[
                    ("@type", "cloudwatch_logs"),
                    ("exclude-pattern", "ELB-HealthChecker"),
                ],
                &[("token", "arn:aws:ssm:eu-west-1:111122223333:parameter/t")],
            ),
        ]);
        let want = "\
<source>
    @type unix
    path /var/run/fluent.sock
</source>

<source>
    @type forward
    bind 127.0.0.1
    port 24224
</source>

<filter web-firelens**>
    @type grep
    <exclude>
        key log
        pattern ELB-HealthChecker
    </exclude>
</filter>

<filter **>
    @type record_transformer
    <record>
        ecs_cluster mycluster
        ecs_task_arn arn:aws:ecs:eu-west-1:111122223333:task/mycluster/0123456789abcdef0123456789abcdef
        ecs_task_definition rails-app:7
    </record>
</filter>

<match web-firelens**>
    @type cloudwatch_logs
    token \"#{ENV['token_1']}\"
</match>

";
        assert_eq!(generate(&p).unwrap(), want);
    }

    #[test]
    fn agent_errors() {
        let cases: Vec<(ContainerDefinition, ContainerDefinition, &str)> = vec![
            (
                router("fluentbit", &[]),
                app("web", &[("region", "eu-west-1")], &[]),
                "missing output key Name which is required for firelens configuration of type fluentbit",
            ),
            (
                router("fluentd", &[]),
                app("web", &[("Name", "x")], &[]),
                "missing output key @type which is required for firelens configuration of type fluentd",
            ),
            (
                router(
                    "fluentbit",
                    &[("config-file-type", "http"), ("config-file-value", "/x")],
                ),
                app("web", &[], &[]),
                "invalid value http is specified for option config-file-type",
            ),
            (
                router("fluentbit", &[("config-file-type", "file")]),
                app("web", &[], &[]),
                "option config-file-type is specified but config-file-value is not specified",
            ),
        ];
        for (r, a, want) in cases {
            assert_eq!(generate(&plan(vec![r, a])).unwrap_err(), want);
        }
    }

    #[test]
    fn metadata_option_follows_go_parse_bool() {
        let cases = [
            (None, true, false),
            (Some("true"), true, false),
            (Some("1"), true, false),
            (Some("FALSE"), false, false),
            (Some("yes"), false, true),
        ];
        for (v, want, warns) in cases {
            let opts: Vec<(&str, &str)> = v
                .map(|v| vec![("enable-ecs-log-metadata", v)])
                .unwrap_or_default();
            let p = plan(vec![router("fluentbit", &opts), app("web", &[], &[])]);
            let s = router_settings(p.firelens_router().unwrap()).unwrap();
            assert_eq!(s.ecs_metadata, want, "{v:?}");
            assert_eq!(s.warning.is_some(), warns, "{v:?}");
        }
    }
}
