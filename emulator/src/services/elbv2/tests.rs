//! The ELBv2 backend's operations through its own methods: every mutating
//! operation is atomic (an error answer, from validation or from the store,
//! leaves the observable state as it was, listener ports included), and the
//! Describe operations page with `Marker` and `PageSize`.

use std::sync::Mutex;

use super::*;
use crate::services::kit::AwsError;

const REGION: &str = "us-east-1";

/// Ports that record what is open, so a test can see a port closed again.
#[derive(Default)]
struct FakePorts {
    open: Mutex<Vec<String>>,
    refuse: Mutex<Option<u16>>,
}

impl Ports for FakePorts {
    fn open(&self, l: &Listener) -> std::result::Result<(), String> {
        if *self.refuse.lock().unwrap() == Some(l.port) {
            return Err(format!("port {} is taken", l.port));
        }
        self.open.lock().unwrap().push(l.arn.clone());
        Ok(())
    }

    fn close(&self, arn: &str) {
        self.open.lock().unwrap().retain(|a| a != arn);
    }
}

fn backend() -> (Elbv2, Arc<FakePorts>) {
    let elb = Elbv2::load(Store::in_memory(), "000000000000".into()).unwrap();
    let ports = Arc::new(FakePorts::default());
    elb.attach_ports(ports.clone());
    (elb, ports)
}

fn tg_request(name: &str) -> CreateTargetGroupRequest {
    CreateTargetGroupRequest {
        name: Some(name.into()),
        port: Some(8080),
        target_type: Some("ip".into()),
        ..Default::default()
    }
}

fn lb_request(name: &str) -> CreateLoadBalancerRequest {
    CreateLoadBalancerRequest {
        name: Some(name.into()),
        subnets: vec!["subnet-1".into()],
        ..Default::default()
    }
}

/// What a client can observe: every resource as described, and the open
/// ports.
#[derive(Debug, PartialEq)]
struct Snapshot {
    lbs: Vec<LoadBalancer>,
    tgs: Vec<TargetGroupDescription>,
    attributes: Vec<BTreeMap<String, String>>,
    listeners: Vec<Listener>,
    ports: Vec<String>,
}

fn snapshot(elb: &Elbv2, ports: &FakePorts) -> Snapshot {
    let lbs = elb
        .describe_load_balancers(REGION, Default::default())
        .unwrap()
        .items;
    let tgs = elb
        .describe_target_groups(REGION, Default::default())
        .unwrap()
        .items;
    let attributes = tgs
        .iter()
        .map(|t| {
            elb.describe_target_group_attributes(Some(t.group.arn.clone()))
                .unwrap()
        })
        .collect();
    Snapshot {
        lbs,
        tgs,
        attributes,
        listeners: elb.listeners(),
        ports: ports.open.lock().unwrap().clone(),
    }
}

/// A load balancer `web-lb` with a listener on 8001 forwarding to `web`,
/// and a spare target group `spare`.
fn populated() -> (Elbv2, Arc<FakePorts>, LoadBalancer, TargetGroup, Listener) {
    let (elb, ports) = backend();
    let tg = elb.create_target_group(REGION, tg_request("web")).unwrap();
    elb.create_target_group(REGION, tg_request("spare"))
        .unwrap();
    let lb = elb
        .create_load_balancer(REGION, lb_request("web-lb"))
        .unwrap();
    let l = elb
        .create_listener(CreateListenerRequest {
            load_balancer_arn: Some(lb.arn.clone()),
            port: Some(8001),
            target_group_arn: Some(tg.arn.clone()),
            ..Default::default()
        })
        .unwrap();
    (elb, ports, lb, tg, l)
}

type Operation = Box<dyn Fn(&Elbv2, &LoadBalancer, &TargetGroup, &Listener) -> Result<()>>;

/// Every mutating operation, each as a call that would change something.
fn operations() -> Vec<(&'static str, Operation)> {
    vec![
        (
            "create_load_balancer",
            Box::new(|e, _, _, _| e.create_load_balancer(REGION, lb_request("new")).map(drop)),
        ),
        (
            "delete_load_balancer",
            Box::new(|e, lb, _, _| e.delete_load_balancer(Some(lb.arn.clone()))),
        ),
        (
            "create_target_group",
            Box::new(|e, _, _, _| e.create_target_group(REGION, tg_request("new")).map(drop)),
        ),
        (
            "delete_target_group",
            Box::new(|e, _, _, _| {
                let spare = e
                    .describe_target_groups(
                        REGION,
                        DescribeTargetGroupsRequest {
                            names: vec!["spare".into()],
                            ..Default::default()
                        },
                    )?
                    .items
                    .remove(0);
                e.delete_target_group(Some(spare.group.arn))
            }),
        ),
        (
            "modify_target_group_attributes",
            Box::new(|e, _, tg, _| {
                e.modify_target_group_attributes(
                    Some(tg.arn.clone()),
                    vec![("deregistration_delay.timeout_seconds".into(), "5".into())],
                )
                .map(drop)
            }),
        ),
        (
            "create_listener",
            Box::new(|e, lb, tg, _| {
                e.create_listener(CreateListenerRequest {
                    load_balancer_arn: Some(lb.arn.clone()),
                    port: Some(8002),
                    target_group_arn: Some(tg.arn.clone()),
                    ..Default::default()
                })
                .map(drop)
            }),
        ),
        (
            "delete_listener",
            Box::new(|e, _, _, l| e.delete_listener(Some(l.arn.clone()))),
        ),
    ]
}

#[test]
fn a_failed_write_changes_nothing() {
    for (name, op) in operations() {
        let (elb, ports, lb, tg, l) = populated();
        let before = snapshot(&elb, &ports);
        elb.inner.backend.store().fail_writes(true);
        let e = op(&elb, &lb, &tg, &l).expect_err(name);
        assert_eq!((e.code(), e.status()), ("InternalFailure", 500), "{name}");
        elb.inner.backend.store().fail_writes(false);
        assert_eq!(snapshot(&elb, &ports), before, "{name}");
        // The same call succeeds, and changes something, once writes work.
        op(&elb, &lb, &tg, &l).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_ne!(snapshot(&elb, &ports), before, "{name}");
    }
}

#[test]
fn a_refusal_after_partial_work_changes_nothing() {
    let (elb, ports, lb, tg, _) = populated();
    let before = snapshot(&elb, &ports);
    // The first attribute is fine, the second is not: neither is applied.
    let e = elb
        .modify_target_group_attributes(
            Some(tg.arn.clone()),
            vec![
                ("stickiness.enabled".into(), "true".into()),
                ("deregistration_delay.timeout_seconds".into(), "9999".into()),
            ],
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationError");
    assert_eq!(snapshot(&elb, &ports), before);
    // A port that cannot be had refuses the listener, which is not stored.
    *ports.refuse.lock().unwrap() = Some(8003);
    let e = elb
        .create_listener(CreateListenerRequest {
            load_balancer_arn: Some(lb.arn.clone()),
            port: Some(8003),
            target_group_arn: Some(tg.arn.clone()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), "InvalidConfigurationRequest");
    assert_eq!(snapshot(&elb, &ports), before);
    // Refused target group deletion (in use).
    let e = elb.delete_target_group(Some(tg.arn.clone())).unwrap_err();
    assert_eq!(e.code(), "ResourceInUse");
    assert_eq!(snapshot(&elb, &ports), before);
}

#[test]
fn deleting_a_load_balancer_closes_its_listeners_ports() {
    let (elb, ports, lb, _, l) = populated();
    assert_eq!(*ports.open.lock().unwrap(), vec![l.arn.clone()]);
    elb.delete_load_balancer(Some(lb.arn.clone())).unwrap();
    assert!(ports.open.lock().unwrap().is_empty());
    assert!(elb.listeners().is_empty());
    // Unknown: succeeds, as on AWS.
    elb.delete_load_balancer(Some(lb.arn)).unwrap();
}

#[test]
fn describe_operations_page() {
    let (elb, _) = backend();
    for i in 0..5 {
        elb.create_target_group(REGION, tg_request(&format!("tg-{i}")))
            .unwrap();
    }
    let mut marker = None;
    let mut names = Vec::new();
    loop {
        let d = elb
            .describe_target_groups(
                REGION,
                DescribeTargetGroupsRequest {
                    page: PageRequest {
                        marker: marker.clone(),
                        page_size: Some(2),
                    },
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(d.items.len() <= 2);
        names.extend(d.items.into_iter().map(|t| t.group.name));
        match d.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    names.sort();
    assert_eq!(names, ["tg-0", "tg-1", "tg-2", "tg-3", "tg-4"]);
    let bad = |page: PageRequest| {
        elb.describe_load_balancers(
            REGION,
            DescribeLoadBalancersRequest {
                page,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string()
    };
    assert!(
        bad(PageRequest {
            marker: None,
            page_size: Some(0),
        })
        .contains("greater than or equal to 1")
    );
    assert!(
        bad(PageRequest {
            marker: None,
            page_size: Some(401),
        })
        .contains("less than or equal to 400")
    );
    assert_eq!(
        bad(PageRequest {
            marker: Some("nonsense".into()),
            page_size: None,
        }),
        "Invalid marker"
    );
}

#[test]
fn resources_are_regional() {
    let (elb, _) = backend();
    elb.create_load_balancer(REGION, lb_request("web")).unwrap();
    let other = elb
        .create_load_balancer("eu-west-1", lb_request("web"))
        .unwrap();
    assert!(other.arn.contains(":eu-west-1:"));
    let listed = |region| {
        elb.describe_load_balancers(region, Default::default())
            .unwrap()
            .items
            .len()
    };
    assert_eq!((listed(REGION), listed("eu-west-1")), (1, 1));
}
