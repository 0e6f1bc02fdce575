//! A minimal Elastic Load Balancing v2 backend: application load balancers,
//! target groups (with their health check settings and attributes) and HTTP
//! listeners that forward to one target group, which is what an ECS service
//! with `loadBalancers` needs and what the CLI or Terraform create for it.
//! The targets of a group are registered and deregistered by the ECS service
//! scheduler only; their health comes from the checks `lb` runs.
//!
//! Left out: rules, HTTPS, network load balancers, RegisterTargets for
//! instances, stickiness; targets are not stored (the scheduler registers
//! the running tasks again after a restart, healthy ones as healthy).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::domain::time::{self, Timestamp};
use crate::store::{Op, Store};

pub type Result<T> = std::result::Result<T, ElbError>;

const KIND_LB: &str = "elbv2.load-balancer";
const KIND_TG: &str = "elbv2.target-group";
const KIND_LISTENER: &str = "elbv2.listener";

/// Every error the ELBv2 backend answers with; `code` is the error code of
/// the ELBv2 model.
#[derive(Debug, thiserror::Error)]
pub enum ElbError {
    #[error("One or more load balancers not found")]
    LoadBalancerNotFound,
    #[error("One or more target groups not found")]
    TargetGroupNotFound,
    #[error("One or more listeners not found")]
    ListenerNotFound,
    #[error("{0}")]
    DuplicateLoadBalancerName(String),
    #[error("{0}")]
    DuplicateTargetGroupName(String),
    #[error("{0}")]
    DuplicateListener(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidConfiguration(String),
    #[error("{0}")]
    Server(String),
}

impl crate::services::kit::AwsError for ElbError {
    fn code(&self) -> &'static str {
        match self {
            ElbError::LoadBalancerNotFound => "LoadBalancerNotFound",
            ElbError::TargetGroupNotFound => "TargetGroupNotFound",
            ElbError::ListenerNotFound => "ListenerNotFound",
            ElbError::DuplicateLoadBalancerName(_) => "DuplicateLoadBalancerName",
            ElbError::DuplicateTargetGroupName(_) => "DuplicateTargetGroupName",
            ElbError::DuplicateListener(_) => "DuplicateListener",
            ElbError::ResourceInUse(_) => "ResourceInUse",
            ElbError::Validation(_) => "ValidationError",
            ElbError::InvalidConfiguration(_) => "InvalidConfigurationRequest",
            ElbError::Server(_) => "InternalFailure",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, ElbError::Server(_))
    }

    fn store_failed(e: crate::store::StoreError) -> Self {
        ElbError::Server(crate::services::kit::error::store_message(&e))
    }
}

impl From<crate::store::StoreError> for ElbError {
    fn from(e: crate::store::StoreError) -> Self {
        <Self as crate::services::kit::AwsError>::store_failed(e)
    }
}

fn validation(msg: impl Into<String>) -> ElbError {
    ElbError::Validation(msg.into())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    pub scheme: String,
    pub kind: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub ip_address_type: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub protocol: String,
    pub port: String,
    pub path: String,
    pub interval: u32,
    pub timeout: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub vpc_id: String,
    pub target_type: String,
    pub health: HealthCheck,
    pub attributes: BTreeMap<String, String>,
}

impl TargetGroup {
    /// `deregistration_delay.timeout_seconds` (default 300).
    pub fn deregistration_delay(&self) -> f64 {
        self.attributes
            .get("deregistration_delay.timeout_seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(300.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: String,
    pub target_group_arn: String,
}

/// A target's health, as DescribeTargetHealth reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Initial,
    Healthy,
    Unhealthy,
    Draining,
}

impl TargetState {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Initial => "initial",
            TargetState::Healthy => "healthy",
            TargetState::Unhealthy => "unhealthy",
            TargetState::Draining => "draining",
        }
    }
}

/// A registered target: an ECS task's IP and container port, and where the
/// emulator reaches that port (the port published on the host).
#[derive(Debug, Clone)]
pub struct Target {
    pub task_id: String,
    pub ip: String,
    pub port: u16,
    pub host: String,
    pub state: TargetState,
    pub successes: u32,
    pub failures: u32,
    /// Why the last check failed (DescribeTargetHealth's reason).
    pub failure: Option<(&'static str, String)>,
    pub next_check: Timestamp,
    pub drain_until: Option<Timestamp>,
}

#[derive(Default)]
struct State {
    load_balancers: BTreeMap<String, LoadBalancer>,
    target_groups: BTreeMap<String, TargetGroup>,
    listeners: BTreeMap<String, Listener>,
    targets: HashMap<String, Vec<Target>>,
    /// Round-robin position per listener.
    next: HashMap<String, usize>,
    /// The front doors of `serve --front-door`: their target groups and
    /// listeners are in the maps above but are not stored, listed or
    /// deletable.
    front_doors: Vec<FrontDoor>,
}

/// A front door given on the command line, installed as a target group and
/// a listener that no API call created.
#[derive(Debug, Clone)]
pub struct FrontDoor {
    pub cluster: String,
    pub service: String,
    pub container: String,
    pub container_port: u16,
    pub target_group_arn: String,
    pub listener: Listener,
    /// Whether a task without the front door's container port was reported.
    pub mismatch_reported: bool,
}

impl State {
    fn is_front_door(&self, arn: &str) -> bool {
        self.front_doors
            .iter()
            .any(|f| f.target_group_arn == arn || f.listener.arn == arn)
    }
}

struct Inner {
    state: Mutex<State>,
    store: Store,
    account: String,
}

/// A cheap handle to the ELBv2 backend.
#[derive(Clone)]
pub struct Elbv2 {
    inner: Arc<Inner>,
}

fn hex16() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A target group's health check settings, with AWS's defaults (HTTP on the
/// traffic port, path `/`, every 30 s, 5 s timeout, 5 successes to become
/// healthy, 2 failures to become unhealthy, code 200) and AWS's ranges.
pub fn health_check(req: &CreateTargetGroupRequest) -> Result<HealthCheck> {
    let interval = req.health_check_interval.unwrap_or(30);
    let timeout = req.health_check_timeout.unwrap_or(5);
    if !(5..=300).contains(&interval) {
        return Err(validation(
            "Health check interval must be between 5 and 300 seconds",
        ));
    }
    if !(2..=120).contains(&timeout) || timeout >= interval {
        return Err(validation(
            "Health check timeout must be smaller than the interval",
        ));
    }
    let healthy = req.healthy_threshold.unwrap_or(5);
    let unhealthy = req.unhealthy_threshold.unwrap_or(2);
    if !(2..=10).contains(&healthy) || !(2..=10).contains(&unhealthy) {
        return Err(validation(
            "Health check thresholds must be between 2 and 10",
        ));
    }
    Ok(HealthCheck {
        protocol: req
            .health_check_protocol
            .clone()
            .unwrap_or_else(|| "HTTP".into()),
        port: req
            .health_check_port
            .clone()
            .unwrap_or_else(|| "traffic-port".into()),
        path: req.health_check_path.clone().unwrap_or_else(|| "/".into()),
        interval,
        timeout,
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        matcher: req.matcher.clone().unwrap_or_else(|| "200".into()),
    })
}

#[derive(Debug, Default)]
pub struct CreateLoadBalancerRequest {
    pub name: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub scheme: Option<String>,
    pub kind: Option<String>,
    pub ip_address_type: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct CreateTargetGroupRequest {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub port: Option<u16>,
    pub vpc_id: Option<String>,
    pub target_type: Option<String>,
    pub health_check_protocol: Option<String>,
    pub health_check_port: Option<String>,
    pub health_check_path: Option<String>,
    pub health_check_interval: Option<u32>,
    pub health_check_timeout: Option<u32>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
    pub matcher: Option<String>,
}

#[derive(Debug, Default)]
pub struct CreateListenerRequest {
    pub load_balancer_arn: Option<String>,
    pub protocol: Option<String>,
    pub port: Option<u16>,
    /// The target group of the (single) forward default action.
    pub target_group_arn: Option<String>,
    pub action_type: Option<String>,
}

impl Elbv2 {
    pub fn load(
        store: Store,
        account: String,
    ) -> std::result::Result<Elbv2, crate::store::StoreError> {
        let mut state = State::default();
        for (_, lb) in store.load::<LoadBalancer>(KIND_LB)? {
            state.load_balancers.insert(lb.arn.clone(), lb);
        }
        for (_, tg) in store.load::<TargetGroup>(KIND_TG)? {
            state.target_groups.insert(tg.arn.clone(), tg);
        }
        for (_, l) in store.load::<Listener>(KIND_LISTENER)? {
            state.listeners.insert(l.arn.clone(), l);
        }
        Ok(Elbv2 {
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

    fn arn(&self, region: &str, resource: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{region}:{}:{resource}",
            self.inner.account
        )
    }

    /// Forgets everything (the reset endpoint).
    pub fn reset(&self) -> Result<()> {
        let mut st = self.lock();
        self.inner.store.clear_prefix("elbv2.")?;
        let front_doors = std::mem::take(&mut st.front_doors);
        let mut fresh = State::default();
        for f in front_doors {
            if let Some(tg) = st.target_groups.remove(&f.target_group_arn) {
                fresh.target_groups.insert(tg.arn.clone(), tg);
            }
            fresh
                .listeners
                .insert(f.listener.arn.clone(), f.listener.clone());
            fresh.front_doors.push(f);
        }
        *st = fresh;
        Ok(())
    }

    // ------------------------------------------------------------ load balancers

    pub fn create_load_balancer(
        &self,
        region: &str,
        req: CreateLoadBalancerRequest,
    ) -> Result<LoadBalancer> {
        let name = req.name.ok_or_else(|| validation("Name is required"))?;
        if !valid_name(&name) {
            return Err(validation(format!(
                "Load balancer name '{name}' can only contain characters that are alphanumeric characters or hyphens(-), and must not begin or end with a hyphen"
            )));
        }
        let kind = req.kind.unwrap_or_else(|| "application".into());
        if kind != "application" {
            return Err(ElbError::InvalidConfiguration(format!(
                "fargate-local runs only application load balancers, not '{kind}'."
            )));
        }
        let scheme = req.scheme.unwrap_or_else(|| "internet-facing".into());
        let mut st = self.lock();
        if let Some(existing) = st.load_balancers.values().find(|l| l.name == name) {
            return Ok(existing.clone());
        }
        let id = hex16();
        let lb = LoadBalancer {
            arn: self.arn(region, &format!("loadbalancer/app/{name}/{id}")),
            dns_name: format!("{name}-{}.{region}.elb.amazonaws.com", &id[..10]),
            name,
            scheme,
            kind,
            vpc_id: "vpc-0fargatelocal0000".into(),
            subnets: req.subnets,
            security_groups: req.security_groups,
            ip_address_type: req.ip_address_type.unwrap_or_else(|| "ipv4".into()),
            created_at: time::now(),
        };
        self.inner
            .store
            .write(vec![Op::put(KIND_LB, lb.arn.clone(), &lb)])?;
        st.load_balancers.insert(lb.arn.clone(), lb.clone());
        Ok(lb)
    }

    pub fn describe_load_balancers(
        &self,
        arns: &[String],
        names: &[String],
    ) -> Result<Vec<LoadBalancer>> {
        let st = self.lock();
        if !arns.is_empty() {
            return arns
                .iter()
                .map(|a| {
                    st.load_balancers
                        .get(a)
                        .cloned()
                        .ok_or(ElbError::LoadBalancerNotFound)
                })
                .collect();
        }
        if !names.is_empty() {
            return names
                .iter()
                .map(|n| {
                    st.load_balancers
                        .values()
                        .find(|l| &l.name == n)
                        .cloned()
                        .ok_or(ElbError::LoadBalancerNotFound)
                })
                .collect();
        }
        Ok(st.load_balancers.values().cloned().collect())
    }

    /// Deletes a load balancer and its listeners; returns the listeners
    /// removed (their front doors close). Deleting an unknown one succeeds,
    /// as on AWS.
    pub fn delete_load_balancer(&self, arn: &str) -> Result<Vec<String>> {
        let mut st = self.lock();
        let listeners: Vec<String> = st
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == arn)
            .map(|l| l.arn.clone())
            .collect();
        let mut ops: Vec<Op<'static>> = listeners
            .iter()
            .map(|l| Op::delete(KIND_LISTENER, l.clone()))
            .collect();
        ops.push(Op::delete(KIND_LB, arn.to_string()));
        self.inner.store.write(ops)?;
        for l in &listeners {
            st.listeners.remove(l);
        }
        st.load_balancers.remove(arn);
        Ok(listeners)
    }

    // ------------------------------------------------------------ target groups

    pub fn create_target_group(
        &self,
        region: &str,
        req: CreateTargetGroupRequest,
    ) -> Result<TargetGroup> {
        let health = health_check(&req)?;
        let name = req.name.ok_or_else(|| validation("Name is required"))?;
        if !valid_name(&name) {
            return Err(validation(format!(
                "Target group name '{name}' can only contain characters that are alphanumeric characters or hyphens(-), and must not begin or end with a hyphen"
            )));
        }
        let target_type = req.target_type.unwrap_or_else(|| "instance".into());
        let protocol = req.protocol.unwrap_or_else(|| "HTTP".into());
        if protocol != "HTTP" {
            return Err(ElbError::InvalidConfiguration(format!(
                "fargate-local target groups speak HTTP only, not '{protocol}'."
            )));
        }
        let port = req
            .port
            .ok_or_else(|| validation("A port must be specified"))?;
        let mut st = self.lock();
        if let Some(existing) = st
            .target_groups
            .values()
            .find(|t| t.name == name && !st.is_front_door(&t.arn))
        {
            if existing.port == port
                && existing.health == health
                && existing.target_type == target_type
            {
                return Ok(existing.clone());
            }
            return Err(ElbError::DuplicateTargetGroupName(format!(
                "A target group with the same name '{name}' exists, but with different settings"
            )));
        }
        let mut attributes = BTreeMap::new();
        attributes.insert("deregistration_delay.timeout_seconds".into(), "300".into());
        attributes.insert("stickiness.enabled".into(), "false".into());
        attributes.insert("load_balancing.algorithm.type".into(), "round_robin".into());
        let tg = TargetGroup {
            arn: self.arn(region, &format!("targetgroup/{name}/{}", hex16())),
            name,
            protocol,
            port,
            vpc_id: req.vpc_id.unwrap_or_else(|| "vpc-0fargatelocal0000".into()),
            target_type,
            health,
            attributes,
        };
        self.inner
            .store
            .write(vec![Op::put(KIND_TG, tg.arn.clone(), &tg)])?;
        st.target_groups.insert(tg.arn.clone(), tg.clone());
        Ok(tg)
    }

    /// Target groups and the load balancers whose listeners use each.
    pub fn describe_target_groups(
        &self,
        arns: &[String],
        names: &[String],
        load_balancer: Option<&str>,
    ) -> Result<Vec<(TargetGroup, Vec<String>)>> {
        let st = self.lock();
        let lbs_of = |tg: &TargetGroup| -> Vec<String> {
            let mut v: Vec<String> = st
                .listeners
                .values()
                .filter(|l| l.target_group_arn == tg.arn)
                .map(|l| l.load_balancer_arn.clone())
                .collect();
            v.dedup();
            v
        };
        let groups: Vec<TargetGroup> = if !arns.is_empty() {
            arns.iter()
                .map(|a| {
                    st.target_groups
                        .get(a)
                        .cloned()
                        .ok_or(ElbError::TargetGroupNotFound)
                })
                .collect::<Result<_>>()?
        } else if !names.is_empty() {
            names
                .iter()
                .map(|n| {
                    st.target_groups
                        .values()
                        .find(|t| &t.name == n && !st.is_front_door(&t.arn))
                        .cloned()
                        .ok_or(ElbError::TargetGroupNotFound)
                })
                .collect::<Result<_>>()?
        } else if let Some(lb) = load_balancer {
            if !st.load_balancers.contains_key(lb) {
                return Err(ElbError::LoadBalancerNotFound);
            }
            st.target_groups
                .values()
                .filter(|t| lbs_of(t).iter().any(|a| a == lb))
                .cloned()
                .collect()
        } else {
            st.target_groups
                .values()
                .filter(|t| !st.is_front_door(&t.arn))
                .cloned()
                .collect()
        };
        Ok(groups
            .into_iter()
            .map(|t| {
                let lbs = lbs_of(&t);
                (t, lbs)
            })
            .collect())
    }

    pub fn delete_target_group(&self, arn: &str) -> Result<()> {
        let mut st = self.lock();
        if st.is_front_door(arn) {
            return Err(ElbError::ResourceInUse(format!(
                "Target group '{arn}' is the front door of fargate-local's --front-door flag; it goes when the flag does"
            )));
        }
        if st.listeners.values().any(|l| l.target_group_arn == arn) {
            return Err(ElbError::ResourceInUse(format!(
                "Target group '{arn}' is currently in use by a listener or a rule"
            )));
        }
        self.inner
            .store
            .write(vec![Op::delete(KIND_TG, arn.to_string())])?;
        st.target_groups.remove(arn);
        st.targets.remove(arn);
        Ok(())
    }

    pub fn target_group_attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let st = self.lock();
        st.target_groups
            .get(arn)
            .map(|t| t.attributes.clone())
            .ok_or(ElbError::TargetGroupNotFound)
    }

    pub fn modify_target_group_attributes(
        &self,
        arn: &str,
        attributes: Vec<(String, String)>,
    ) -> Result<BTreeMap<String, String>> {
        let mut st = self.lock();
        if st.is_front_door(arn) {
            return Err(ElbError::InvalidConfiguration(format!(
                "Target group '{arn}' is the front door of fargate-local's --front-door flag: set its attributes in the flag"
            )));
        }
        let tg = st
            .target_groups
            .get(arn)
            .ok_or(ElbError::TargetGroupNotFound)?;
        let mut next = tg.clone();
        for (k, v) in attributes {
            if k == "deregistration_delay.timeout_seconds"
                && !v.parse::<u32>().is_ok_and(|n| n <= 3600)
            {
                return Err(validation(format!(
                    "'{v}' must be an integer between 0 and 3600 for attribute '{k}'"
                )));
            }
            next.attributes.insert(k, v);
        }
        self.inner
            .store
            .write(vec![Op::put(KIND_TG, arn.to_string(), &next)])?;
        let out = next.attributes.clone();
        st.target_groups.insert(arn.to_string(), next);
        Ok(out)
    }

    // ------------------------------------------------------------ listeners

    pub fn create_listener(&self, req: CreateListenerRequest) -> Result<Listener> {
        let lb_arn = req
            .load_balancer_arn
            .ok_or_else(|| validation("LoadBalancerArn is required"))?;
        let port = req
            .port
            .ok_or_else(|| validation("A port must be specified"))?;
        let protocol = req.protocol.unwrap_or_else(|| "HTTP".into());
        if protocol != "HTTP" {
            return Err(ElbError::InvalidConfiguration(format!(
                "fargate-local listeners speak HTTP only, not '{protocol}'."
            )));
        }
        if req.action_type.as_deref().is_some_and(|t| t != "forward") {
            return Err(ElbError::InvalidConfiguration(
                "fargate-local listeners support only a forward default action.".into(),
            ));
        }
        let tg = req
            .target_group_arn
            .ok_or_else(|| validation("A default action must forward to a target group"))?;
        let mut st = self.lock();
        let lb = st
            .load_balancers
            .get(&lb_arn)
            .ok_or(ElbError::LoadBalancerNotFound)?
            .clone();
        if !st.target_groups.contains_key(&tg) {
            return Err(ElbError::TargetGroupNotFound);
        }
        if let Some(l) = st
            .listeners
            .values()
            .find(|l| l.load_balancer_arn == lb_arn && l.port == port)
        {
            if l.target_group_arn == tg {
                return Ok(l.clone());
            }
            return Err(ElbError::DuplicateListener(format!(
                "A listener already exists on this port for this load balancer '{lb_arn}'"
            )));
        }
        if st.listeners.values().any(|l| l.port == port) {
            return Err(ElbError::DuplicateListener(format!(
                "Port {port} is already used by a listener of another load balancer: every listener of fargate-local is a port on this host."
            )));
        }
        let suffix = lb.arn.split_once(":loadbalancer/").map_or("", |(_, s)| s);
        let l = Listener {
            arn: lb.arn.replace(
                &format!(":loadbalancer/{suffix}"),
                &format!(":listener/{suffix}/{}", hex16()),
            ),
            load_balancer_arn: lb_arn,
            port,
            protocol,
            target_group_arn: tg,
        };
        self.inner
            .store
            .write(vec![Op::put(KIND_LISTENER, l.arn.clone(), &l)])?;
        st.listeners.insert(l.arn.clone(), l.clone());
        Ok(l)
    }

    pub fn describe_listeners(
        &self,
        load_balancer: Option<&str>,
        arns: &[String],
    ) -> Result<Vec<Listener>> {
        let st = self.lock();
        if !arns.is_empty() {
            return arns
                .iter()
                .map(|a| {
                    st.listeners
                        .get(a)
                        .cloned()
                        .ok_or(ElbError::ListenerNotFound)
                })
                .collect();
        }
        let lb = load_balancer.ok_or_else(|| {
            validation("You must specify either listener ARNs or a load balancer ARN")
        })?;
        if !st.load_balancers.contains_key(lb) {
            return Err(ElbError::LoadBalancerNotFound);
        }
        Ok(st
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == lb)
            .cloned()
            .collect())
    }

    pub fn delete_listener(&self, arn: &str) -> Result<()> {
        let mut st = self.lock();
        if !st.listeners.contains_key(arn) || st.is_front_door(arn) {
            return Err(ElbError::ListenerNotFound);
        }
        self.inner
            .store
            .write(vec![Op::delete(KIND_LISTENER, arn.to_string())])?;
        st.listeners.remove(arn);
        Ok(())
    }

    /// Every listener, the front doors' included.
    pub fn listeners(&self) -> Vec<Listener> {
        self.lock().listeners.values().cloned().collect()
    }

    /// Installs a `--front-door`: a target group with the flag's health
    /// check and deregistration delay (AWS's defaults otherwise) and a
    /// listener on the flag's host port that forwards to it. Neither is
    /// stored; the ARNs are the same at every start. Returns the listener
    /// (its door is opened by the caller).
    pub fn install_front_door(
        &self,
        region: &str,
        spec: &crate::lb::FrontDoorSpec,
    ) -> Result<Listener> {
        let health = health_check(&spec.health)?;
        let mut st = self.lock();
        if let Some(other) = st
            .front_doors
            .iter()
            .find(|f| f.listener.port == spec.host_port)
        {
            return Err(validation(format!(
                "host port {} is given to two front doors ({}/{} and {}/{})",
                spec.host_port, other.cluster, other.service, spec.cluster, spec.service
            )));
        }
        let name = format!("front-door-{}", spec.host_port);
        let id = format!("{:016x}", spec.host_port);
        let lb_arn = self.arn(
            region,
            "loadbalancer/app/fargate-local-front-doors/0000000000000000",
        );
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "deregistration_delay.timeout_seconds".into(),
            spec.deregistration_delay.unwrap_or(300).to_string(),
        );
        attributes.insert("stickiness.enabled".into(), "false".into());
        attributes.insert("load_balancing.algorithm.type".into(), "round_robin".into());
        let tg = TargetGroup {
            arn: self.arn(region, &format!("targetgroup/{name}/{id}")),
            name,
            protocol: "HTTP".into(),
            port: spec.container_port,
            vpc_id: "vpc-0fargatelocal0000".into(),
            target_type: "ip".into(),
            health,
            attributes,
        };
        let listener = Listener {
            arn: self.arn(
                region,
                &format!("listener/app/fargate-local-front-doors/0000000000000000/{id}"),
            ),
            load_balancer_arn: lb_arn,
            port: spec.host_port,
            protocol: "HTTP".into(),
            target_group_arn: tg.arn.clone(),
        };
        // The flag wins over a stored listener on the same port.
        st.front_doors.push(FrontDoor {
            cluster: spec.cluster.clone(),
            service: spec.service.clone(),
            container: spec.container.clone(),
            container_port: spec.container_port,
            target_group_arn: tg.arn.clone(),
            listener: listener.clone(),
            mismatch_reported: false,
        });
        st.target_groups.insert(tg.arn.clone(), tg);
        st.listeners.insert(listener.arn.clone(), listener.clone());
        Ok(listener)
    }

    /// The front doors of a service: (target group, container, port).
    pub fn front_doors_of(&self, cluster: &str, service: &str) -> Vec<(String, String, u16)> {
        self.lock()
            .front_doors
            .iter()
            .filter(|f| f.cluster == cluster && f.service == service)
            .map(|f| {
                (
                    f.target_group_arn.clone(),
                    f.container.clone(),
                    f.container_port,
                )
            })
            .collect()
    }

    pub fn is_front_door(&self, arn: &str) -> bool {
        self.lock().is_front_door(arn)
    }

    /// Whether a listener forwards to the target group (AWS refuses a
    /// service's load balancer whose target group has none).
    pub fn has_listener(&self, tg: &str) -> bool {
        self.lock()
            .listeners
            .values()
            .any(|l| l.target_group_arn == tg)
    }

    /// True the first time a front door meets a task without its container
    /// port (so that it is logged once).
    pub fn front_door_mismatch(&self, tg: &str) -> bool {
        let mut st = self.lock();
        match st.front_doors.iter_mut().find(|f| f.target_group_arn == tg) {
            Some(f) if !f.mismatch_reported => {
                f.mismatch_reported = true;
                true
            }
            _ => false,
        }
    }

    pub fn listener(&self, arn: &str) -> Option<Listener> {
        self.lock().listeners.get(arn).cloned()
    }

    // ------------------------------------------------------------ targets

    pub fn target_group(&self, arn: &str) -> Option<TargetGroup> {
        self.lock().target_groups.get(arn).cloned()
    }

    pub fn describe_target_health(&self, arn: &str) -> Result<(TargetGroup, Vec<Target>)> {
        let st = self.lock();
        let tg = st
            .target_groups
            .get(arn)
            .cloned()
            .ok_or(ElbError::TargetGroupNotFound)?;
        Ok((tg, st.targets.get(arn).cloned().unwrap_or_default()))
    }

    /// Registers a task's address (the scheduler, once the task runs).
    /// Returns true when it was not registered yet. Targets are not stored:
    /// after a restart the scheduler registers its running tasks again, and
    /// one it had counted healthy comes back `healthy` (its checks go on, so
    /// a failing one turns unhealthy as usual) instead of `initial`, so that
    /// a restart of the emulator does not take the service off its load
    /// balancer until the checks pass again.
    pub fn register(
        &self,
        tg: &str,
        task_id: &str,
        ip: &str,
        port: u16,
        host: &str,
        healthy: bool,
    ) -> bool {
        let mut st = self.lock();
        if !st.target_groups.contains_key(tg) {
            return false;
        }
        let targets = st.targets.entry(tg.to_string()).or_default();
        if targets.iter().any(|t| t.task_id == task_id) {
            return false;
        }
        targets.push(Target {
            task_id: task_id.to_string(),
            ip: ip.to_string(),
            port,
            host: host.to_string(),
            state: if healthy {
                TargetState::Healthy
            } else {
                TargetState::Initial
            },
            successes: 0,
            failures: 0,
            failure: None,
            next_check: time::now(),
            drain_until: None,
        });
        true
    }

    /// Starts draining a task's target; returns when the drain ends (None
    /// when it was not registered, or drains already).
    pub fn deregister(&self, tg: &str, task_id: &str) -> Option<Timestamp> {
        let mut st = self.lock();
        let delay = st.target_groups.get(tg)?.deregistration_delay();
        let t = st
            .targets
            .get_mut(tg)?
            .iter_mut()
            .find(|t| t.task_id == task_id)?;
        if t.state == TargetState::Draining {
            return None;
        }
        let until = time::now() + delay;
        t.state = TargetState::Draining;
        t.drain_until = Some(until);
        Some(until)
    }

    /// Removes a target at once (its task stopped).
    pub fn remove(&self, tg: &str, task_id: &str) -> bool {
        let mut st = self.lock();
        let Some(targets) = st.targets.get_mut(tg) else {
            return false;
        };
        let before = targets.len();
        targets.retain(|t| t.task_id != task_id);
        before != targets.len()
    }

    pub fn target_state(&self, tg: &str, task_id: &str) -> Option<TargetState> {
        let st = self.lock();
        st.targets
            .get(tg)?
            .iter()
            .find(|t| t.task_id == task_id)
            .map(|t| t.state)
    }

    /// The host address of the next target for a request on `listener`:
    /// healthy targets in turn; when none is healthy, every registered target
    /// that is not draining (ALB's fail-open); else none.
    pub fn pick(&self, listener: &str) -> Option<String> {
        let mut st = self.lock();
        let tg = st.listeners.get(listener)?.target_group_arn.clone();
        let targets = st.targets.get(&tg)?;
        let healthy: Vec<String> = targets
            .iter()
            .filter(|t| t.state == TargetState::Healthy)
            .map(|t| t.host.clone())
            .collect();
        let pool = if healthy.is_empty() {
            targets
                .iter()
                .filter(|t| t.state == TargetState::Unhealthy)
                .map(|t| t.host.clone())
                .collect()
        } else {
            healthy
        };
        if pool.is_empty() {
            return None;
        }
        let n = st.next.entry(listener.to_string()).or_insert(0);
        *n = n.wrapping_add(1);
        Some(pool[*n % pool.len()].clone())
    }

    /// The health checks due now: (target group, task id, URL, timeout).
    pub fn due_checks(&self, now: Timestamp) -> Vec<(String, String, String, u32, String)> {
        let mut st = self.lock();
        let st = &mut *st;
        let mut out = Vec::new();
        for (tg_arn, targets) in st.targets.iter_mut() {
            let Some(tg) = st.target_groups.get(tg_arn) else {
                continue;
            };
            // Drained targets leave.
            targets.retain(|t| t.drain_until.is_none_or(|u| u > now));
            for t in targets.iter_mut() {
                if t.state == TargetState::Draining || t.next_check > now {
                    continue;
                }
                t.next_check = now + f64::from(tg.health.interval);
                out.push((
                    tg_arn.clone(),
                    t.task_id.clone(),
                    format!("http://{}{}", t.host, tg.health.path),
                    tg.health.timeout,
                    tg.health.matcher.clone(),
                ));
            }
        }
        out
    }

    /// Records a health check result.
    pub fn check_result(&self, tg: &str, task_id: &str, failure: Option<(&'static str, String)>) {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(group) = st.target_groups.get(tg) else {
            return;
        };
        let (healthy_n, unhealthy_n) = (
            group.health.healthy_threshold,
            group.health.unhealthy_threshold,
        );
        let Some(t) = st
            .targets
            .get_mut(tg)
            .and_then(|v| v.iter_mut().find(|t| t.task_id == task_id))
        else {
            return;
        };
        if t.state == TargetState::Draining {
            return;
        }
        match failure {
            None => {
                t.failures = 0;
                t.successes += 1;
                if t.successes >= healthy_n {
                    t.state = TargetState::Healthy;
                    t.failure = None;
                }
            }
            Some(f) => {
                t.successes = 0;
                t.failures += 1;
                t.failure = Some(f);
                if t.failures >= unhealthy_n {
                    t.state = TargetState::Unhealthy;
                }
            }
        }
    }
}

/// Whether an HTTP status matches a matcher ("200", "200-299", "200,302").
pub fn matches(matcher: &str, status: u16) -> bool {
    matcher
        .split(',')
        .map(str::trim)
        .any(|part| match part.split_once('-') {
            Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
                (Ok(a), Ok(b)) => (a..=b).contains(&status),
                _ => false,
            },
            None => part.parse::<u16>() == Ok(status),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers() {
        let cases = [
            ("200", 200, true),
            ("200", 204, false),
            ("200-299", 204, true),
            ("200,302", 302, true),
            ("200, 302", 404, false),
        ];
        for (m, s, want) in cases {
            assert_eq!(matches(m, s), want, "{m} {s}");
        }
    }

    #[test]
    fn thresholds_move_targets() {
        let elb = Elbv2::load(Store::in_memory(), "000000000000".into()).unwrap();
        let tg = elb
            .create_target_group(
                "us-east-1",
                CreateTargetGroupRequest {
                    name: Some("web".into()),
                    port: Some(80),
                    target_type: Some("ip".into()),
                    health_check_interval: Some(5),
                    health_check_timeout: Some(2),
                    healthy_threshold: Some(2),
                    unhealthy_threshold: Some(2),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(elb.register(&tg.arn, "t1", "10.0.0.2", 80, "127.0.0.1:1", false));
        assert!(!elb.register(&tg.arn, "t1", "10.0.0.2", 80, "127.0.0.1:1", true));
        assert_eq!(elb.target_state(&tg.arn, "t1"), Some(TargetState::Initial));
        // Registered again after a restart, a target counted healthy before.
        assert!(elb.register(&tg.arn, "t2", "10.0.0.3", 80, "127.0.0.1:2", true));
        assert_eq!(elb.target_state(&tg.arn, "t2"), Some(TargetState::Healthy));
        let state = || elb.target_state(&tg.arn, "t1").unwrap();
        elb.check_result(&tg.arn, "t1", None);
        assert_eq!(state(), TargetState::Initial);
        elb.check_result(&tg.arn, "t1", None);
        assert_eq!(state(), TargetState::Healthy);
        let fail = || Some(("Target.Timeout", "Request timed out".to_string()));
        elb.check_result(&tg.arn, "t1", fail());
        assert_eq!(state(), TargetState::Healthy);
        elb.check_result(&tg.arn, "t1", fail());
        assert_eq!(state(), TargetState::Unhealthy);
        assert!(elb.deregister(&tg.arn, "t1").is_some());
        assert_eq!(state(), TargetState::Draining);
        assert!(elb.remove(&tg.arn, "t1"));
        // The restored target's checks go on.
        elb.check_result(&tg.arn, "t2", fail());
        elb.check_result(&tg.arn, "t2", fail());
        assert_eq!(
            elb.target_state(&tg.arn, "t2"),
            Some(TargetState::Unhealthy)
        );
    }
}
