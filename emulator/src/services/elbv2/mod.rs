//! A minimal Elastic Load Balancing v2 backend: application load balancers,
//! target groups (with their health check settings and attributes) and HTTP
//! listeners that forward to one target group, which is what an ECS service
//! with `loadBalancers` needs and what the CLI or Terraform create for it.
//! One method per operation; every change goes through the kit's
//! `Backend::update` (validate, write the store, then change memory), so an
//! error answer changes nothing. A listener's port on the host is opened
//! through [`Ports`] (`lb::Doors`) before the listener is stored, and
//! closed again if the store refuses it.
//!
//! `targets` holds the registered targets and their health (registered by
//! the ECS service scheduler only, checked by `lb`); `front_doors` the
//! listeners of `serve --front-door`.
//!
//! Left out: rules, HTTPS, network load balancers, RegisterTargets for
//! instances, stickiness, tags; targets are not stored (the scheduler
//! registers the running tasks again after a restart, healthy ones as
//! healthy).

mod error;
mod front_doors;
mod model;
mod targets;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, MutexGuard, OnceLock};

use crate::domain::time;
use crate::services::kit::{Backend, Change, Paging};
use crate::store::{Op, Store, StoreError};

pub use error::ElbError;
use error::{required, validation};
pub use front_doors::FrontDoor;
pub use model::*;
pub use targets::{DueCheck, Target, TargetHealthDescription, TargetState};

pub type Result<T> = std::result::Result<T, ElbError>;

const KIND_LB: &str = "elbv2.load-balancer";
const KIND_TG: &str = "elbv2.target-group";
const KIND_LISTENER: &str = "elbv2.listener";

/// `PageSize` of the Describe operations: 1 to 400, 400 by default.
const PAGING: Paging = Paging::up_to(400);

/// Where listeners take their port on the host (`lb::Doors`).
pub trait Ports: Send + Sync {
    /// Binds the listener's port and serves it; an error (the port is
    /// taken) refuses the listener.
    fn open(&self, listener: &Listener) -> std::result::Result<(), String>;
    fn close(&self, listener_arn: &str);
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

impl State {
    fn is_front_door(&self, arn: &str) -> bool {
        self.front_doors
            .iter()
            .any(|f| f.target_group_arn == arn || f.listener.arn == arn)
    }

    /// The load balancers whose listeners forward to a target group.
    fn load_balancers_of(&self, tg: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .listeners
            .values()
            .filter(|l| l.target_group_arn == tg)
            .map(|l| l.load_balancer_arn.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

struct Inner {
    backend: Backend<State>,
    ports: OnceLock<Arc<dyn Ports>>,
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

/// Whether a resource ARN is in `region` (resources are regional).
fn in_region(arn: &str, region: &str) -> bool {
    crate::domain::arn::Arn::parse(arn).is_some_and(|a| a.region == region)
}

/// One page of `items`, as ELBv2 pages (`Marker`, `PageSize`).
fn page<T: Clone>(items: Vec<T>, req: &PageRequest) -> Result<Described<T>> {
    let p = PAGING.page(&items, req.marker.as_deref(), req.page_size)?;
    Ok(Described {
        items: p.items,
        next_marker: p.next_token,
    })
}

/// The items `keys` name, in that order, or `missing` for the first that
/// is not there.
fn by_keys<T: Clone>(
    keys: &[String],
    find: impl Fn(&str) -> Option<T>,
    missing: fn() -> ElbError,
) -> Result<Vec<T>> {
    keys.iter().map(|k| find(k).ok_or_else(missing)).collect()
}

impl Elbv2 {
    pub fn load(store: Store, account: String) -> std::result::Result<Elbv2, StoreError> {
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
                backend: Backend::new(store, account, "elbv2.", state),
                ports: OnceLock::new(),
            }),
        })
    }

    /// Connects the listeners' ports (once, at start-up).
    pub fn attach_ports(&self, ports: Arc<dyn Ports>) {
        let _ = self.inner.ports.set(ports);
    }

    fn ports(&self) -> Option<&Arc<dyn Ports>> {
        self.inner.ports.get()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.backend.lock()
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        self.inner.backend.read(f)
    }

    fn update<'a, R>(
        &self,
        decide: impl FnOnce(&State) -> Result<Change<'a, State, R>>,
    ) -> Result<R> {
        self.inner.backend.update(decide)
    }

    fn arn(&self, region: &str, resource: &str) -> String {
        crate::domain::arn::Scope::new(region, self.inner.backend.account())
            .arn("elasticloadbalancing", resource)
    }

    /// Forgets everything (the reset endpoint) but the front doors.
    pub fn reset(&self) -> Result<()> {
        let mut st = self.lock();
        self.inner
            .backend
            .store()
            .clear_prefix("elbv2.")
            .map_err(<ElbError as crate::services::kit::AwsError>::store_failed)?;
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

    /// CreateLoadBalancer. Creating one that exists (by name) answers it,
    /// as AWS does.
    pub fn create_load_balancer(
        &self,
        region: &str,
        req: CreateLoadBalancerRequest,
    ) -> Result<LoadBalancer> {
        let name = required(req.name, "Name")?;
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
        self.update(|st| {
            if let Some(existing) = st
                .load_balancers
                .values()
                .find(|l| l.name == name && in_region(&l.arn, region))
            {
                return Ok(Change::answer(existing.clone()));
            }
            let id = hex16();
            let lb = LoadBalancer {
                arn: self.arn(region, &format!("loadbalancer/app/{name}/{id}")),
                dns_name: format!("{name}-{}.{region}.elb.amazonaws.com", &id[..10]),
                name,
                scheme,
                kind,
                vpc_id: VPC_ID.into(),
                subnets: req.subnets,
                security_groups: req.security_groups,
                ip_address_type: req.ip_address_type.unwrap_or_else(|| "ipv4".into()),
                created_at: time::now(),
            };
            let stored = lb.clone();
            Ok(Change::answer(lb.clone())
                .write(Op::put(KIND_LB, lb.arn.clone(), &lb))
                .then(move |st: &mut State| {
                    st.load_balancers.insert(stored.arn.clone(), stored);
                }))
        })
    }

    /// DescribeLoadBalancers: by ARN, by name, or all of the region.
    pub fn describe_load_balancers(
        &self,
        region: &str,
        req: DescribeLoadBalancersRequest,
    ) -> Result<Described<LoadBalancer>> {
        let all = self.read(|st| {
            if !req.arns.is_empty() {
                return by_keys(
                    &req.arns,
                    |a| st.load_balancers.get(a).cloned(),
                    || ElbError::LoadBalancerNotFound,
                );
            }
            let in_region = st
                .load_balancers
                .values()
                .filter(|l| in_region(&l.arn, region));
            if !req.names.is_empty() {
                let list: Vec<&LoadBalancer> = in_region.collect();
                return by_keys(
                    &req.names,
                    |n| list.iter().find(|l| l.name == n).map(|l| (*l).clone()),
                    || ElbError::LoadBalancerNotFound,
                );
            }
            Ok(in_region.cloned().collect())
        })?;
        page(all, &req.page)
    }

    /// DeleteLoadBalancer, with its listeners (whose ports close). Deleting
    /// an unknown one succeeds, as on AWS.
    pub fn delete_load_balancer(&self, arn: Option<String>) -> Result<()> {
        let arn = required(arn, "LoadBalancerArn")?;
        let listeners = self.update(|st| {
            let listeners: Vec<String> = st
                .listeners
                .values()
                .filter(|l| l.load_balancer_arn == arn && !st.is_front_door(&l.arn))
                .map(|l| l.arn.clone())
                .collect();
            if !st.load_balancers.contains_key(&arn) {
                return Ok(Change::answer(Vec::new()));
            }
            let ops: Vec<Op<'static>> = listeners
                .iter()
                .map(|l| Op::delete(KIND_LISTENER, l.clone()))
                .chain([Op::delete(KIND_LB, arn.clone())])
                .collect();
            let removed = listeners.clone();
            let arn = arn.clone();
            Ok(Change::answer(listeners)
                .writes(ops)
                .then(move |st: &mut State| {
                    for l in &removed {
                        st.listeners.remove(l);
                    }
                    st.load_balancers.remove(&arn);
                }))
        })?;
        if let Some(ports) = self.ports() {
            for l in &listeners {
                ports.close(l);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ target groups

    /// CreateTargetGroup. Creating one that exists with the same settings
    /// answers it; with other settings it is refused, as on AWS.
    pub fn create_target_group(
        &self,
        region: &str,
        req: CreateTargetGroupRequest,
    ) -> Result<TargetGroup> {
        let health = health_check(&req)?;
        let name = required(req.name, "Name")?;
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
        self.update(|st| {
            if let Some(existing) = st
                .target_groups
                .values()
                .find(|t| t.name == name && in_region(&t.arn, region) && !st.is_front_door(&t.arn))
            {
                if existing.port == port
                    && existing.health == health
                    && existing.target_type == target_type
                {
                    return Ok(Change::answer(existing.clone()));
                }
                return Err(ElbError::DuplicateTargetGroupName(format!(
                    "A target group with the same name '{name}' exists, but with different settings"
                )));
            }
            let tg = TargetGroup {
                arn: self.arn(region, &format!("targetgroup/{name}/{}", hex16())),
                name,
                protocol,
                port,
                vpc_id: req.vpc_id.unwrap_or_else(|| VPC_ID.into()),
                target_type,
                health,
                attributes: default_attributes(300),
            };
            let stored = tg.clone();
            Ok(Change::answer(tg.clone())
                .write(Op::put(KIND_TG, tg.arn.clone(), &tg))
                .then(move |st: &mut State| {
                    st.target_groups.insert(stored.arn.clone(), stored);
                }))
        })
    }

    /// DescribeTargetGroups: by ARN, by name, by load balancer, or all of
    /// the region; each with the load balancers that forward to it.
    pub fn describe_target_groups(
        &self,
        region: &str,
        req: DescribeTargetGroupsRequest,
    ) -> Result<Described<TargetGroupDescription>> {
        let all = self.read(|st| {
            let groups: Vec<TargetGroup> = if !req.arns.is_empty() {
                by_keys(
                    &req.arns,
                    |a| st.target_groups.get(a).cloned(),
                    || ElbError::TargetGroupNotFound,
                )?
            } else if !req.names.is_empty() {
                by_keys(
                    &req.names,
                    |n| {
                        st.target_groups
                            .values()
                            .find(|t| {
                                t.name == n
                                    && in_region(&t.arn, region)
                                    && !st.is_front_door(&t.arn)
                            })
                            .cloned()
                    },
                    || ElbError::TargetGroupNotFound,
                )?
            } else if let Some(lb) = &req.load_balancer_arn {
                if !st.load_balancers.contains_key(lb) {
                    return Err(ElbError::LoadBalancerNotFound);
                }
                st.target_groups
                    .values()
                    .filter(|t| st.load_balancers_of(&t.arn).contains(lb))
                    .cloned()
                    .collect()
            } else {
                st.target_groups
                    .values()
                    .filter(|t| in_region(&t.arn, region) && !st.is_front_door(&t.arn))
                    .cloned()
                    .collect()
            };
            Ok(groups
                .into_iter()
                .map(|group| TargetGroupDescription {
                    load_balancer_arns: st.load_balancers_of(&group.arn),
                    group,
                })
                .collect::<Vec<_>>())
        })?;
        page(all, &req.page)
    }

    /// DeleteTargetGroup; refused while a listener forwards to it.
    pub fn delete_target_group(&self, arn: Option<String>) -> Result<()> {
        let arn = required(arn, "TargetGroupArn")?;
        self.update(|st| {
            if st.is_front_door(&arn) {
                return Err(ElbError::ResourceInUse(format!(
                    "Target group '{arn}' is the front door of fargate-local's --front-door flag; it goes when the flag does"
                )));
            }
            if st.listeners.values().any(|l| l.target_group_arn == arn) {
                return Err(ElbError::ResourceInUse(format!(
                    "Target group '{arn}' is currently in use by a listener or a rule"
                )));
            }
            let key = arn.clone();
            Ok(Change::answer(())
                .write(Op::delete(KIND_TG, arn.clone()))
                .then(move |st: &mut State| {
                    st.target_groups.remove(&key);
                    st.targets.remove(&key);
                }))
        })
    }

    /// DescribeTargetGroupAttributes.
    pub fn describe_target_group_attributes(
        &self,
        arn: Option<String>,
    ) -> Result<BTreeMap<String, String>> {
        let arn = required(arn, "TargetGroupArn")?;
        self.read(|st| {
            st.target_groups
                .get(&arn)
                .map(|t| t.attributes.clone())
                .ok_or(ElbError::TargetGroupNotFound)
        })
    }

    /// ModifyTargetGroupAttributes: every attribute is checked before any
    /// is changed.
    pub fn modify_target_group_attributes(
        &self,
        arn: Option<String>,
        attributes: Vec<(String, String)>,
    ) -> Result<BTreeMap<String, String>> {
        let arn = required(arn, "TargetGroupArn")?;
        self.update(|st| {
            if st.is_front_door(&arn) {
                return Err(ElbError::InvalidConfiguration(format!(
                    "Target group '{arn}' is the front door of fargate-local's --front-door flag: set its attributes in the flag"
                )));
            }
            let mut next = st
                .target_groups
                .get(&arn)
                .ok_or(ElbError::TargetGroupNotFound)?
                .clone();
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
            let out = next.attributes.clone();
            Ok(Change::answer(out)
                .write(Op::put(KIND_TG, arn.clone(), &next))
                .then(move |st: &mut State| {
                    st.target_groups.insert(next.arn.clone(), next);
                }))
        })
    }

    // ------------------------------------------------------------ listeners

    /// CreateListener: its port on the host is opened before it is stored
    /// (a port in use refuses it) and closed again if the store fails.
    pub fn create_listener(&self, req: CreateListenerRequest) -> Result<Listener> {
        let lb_arn = required(req.load_balancer_arn, "LoadBalancerArn")?;
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
        let mut opened: Option<String> = None;
        let result = self.update(|st| {
            let lb = st
                .load_balancers
                .get(&lb_arn)
                .ok_or(ElbError::LoadBalancerNotFound)?;
            if !st.target_groups.contains_key(&tg) {
                return Err(ElbError::TargetGroupNotFound);
            }
            if let Some(l) = st
                .listeners
                .values()
                .find(|l| l.load_balancer_arn == lb_arn && l.port == port)
            {
                if l.target_group_arn == tg {
                    return Ok(Change::answer(l.clone()));
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
                load_balancer_arn: lb_arn.clone(),
                port,
                protocol,
                target_group_arn: tg.clone(),
            };
            if let Some(ports) = self.ports() {
                ports.open(&l).map_err(ElbError::InvalidConfiguration)?;
                opened = Some(l.arn.clone());
            }
            let stored = l.clone();
            Ok(Change::answer(l.clone())
                .write(Op::put(KIND_LISTENER, l.arn.clone(), &l))
                .then(move |st: &mut State| {
                    st.listeners.insert(stored.arn.clone(), stored);
                }))
        });
        if result.is_err()
            && let (Some(ports), Some(arn)) = (self.ports(), opened)
        {
            ports.close(&arn);
        }
        result
    }

    /// DescribeListeners: by ARN, or those of a load balancer.
    pub fn describe_listeners(&self, req: DescribeListenersRequest) -> Result<Described<Listener>> {
        let all = self.read(|st| {
            if !req.arns.is_empty() {
                return by_keys(
                    &req.arns,
                    |a| st.listeners.get(a).cloned(),
                    || ElbError::ListenerNotFound,
                );
            }
            let lb = req.load_balancer_arn.as_ref().ok_or_else(|| {
                validation("You must specify either listener ARNs or a load balancer ARN")
            })?;
            if !st.load_balancers.contains_key(lb) {
                return Err(ElbError::LoadBalancerNotFound);
            }
            Ok(st
                .listeners
                .values()
                .filter(|l| &l.load_balancer_arn == lb)
                .cloned()
                .collect())
        })?;
        page(all, &req.page)
    }

    /// DeleteListener; its port closes.
    pub fn delete_listener(&self, arn: Option<String>) -> Result<()> {
        let arn = required(arn, "ListenerArn")?;
        self.update(|st| {
            if !st.listeners.contains_key(&arn) || st.is_front_door(&arn) {
                return Err(ElbError::ListenerNotFound);
            }
            let key = arn.clone();
            Ok(Change::answer(())
                .write(Op::delete(KIND_LISTENER, arn.clone()))
                .then(move |st: &mut State| {
                    st.listeners.remove(&key);
                }))
        })?;
        if let Some(ports) = self.ports() {
            ports.close(&arn);
        }
        Ok(())
    }

    /// Every listener, the front doors' included.
    pub fn listeners(&self) -> Vec<Listener> {
        self.read(|st| st.listeners.values().cloned().collect())
    }

    pub fn listener(&self, arn: &str) -> Option<Listener> {
        self.read(|st| st.listeners.get(arn).cloned())
    }

    /// Whether a listener forwards to the target group (AWS refuses a
    /// service's load balancer whose target group has none).
    pub fn has_listener(&self, tg: &str) -> bool {
        self.read(|st| st.listeners.values().any(|l| l.target_group_arn == tg))
    }
}
