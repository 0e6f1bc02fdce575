//! The front doors of `serve --front-door`: a target group and a listener
//! per flag that no API call made. They sit in the backend's maps like any
//! other (so registration, health and draining take the same path) but are
//! not stored, not listed and not deletable, and survive a reset. Their
//! ARNs derive from the host port, so they are the same at every start.
//!
//! Left out: parsing the flag (`lb::FrontDoorSpec`) and opening the port
//! (the caller's, as for stored listeners at start-up).

use super::model::{Listener, TargetGroup, VPC_ID, default_attributes, health_check};
use super::{Elbv2, Result, error::validation};

/// A front door given on the command line.
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

impl Elbv2 {
    /// Installs a `--front-door`: a target group with the flag's health
    /// check and deregistration delay (AWS's defaults otherwise) and a
    /// listener on the flag's host port that forwards to it. Returns the
    /// listener (its door is opened by the caller).
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
        let tg = TargetGroup {
            arn: self.arn(region, &format!("targetgroup/{name}/{id}")),
            name,
            protocol: "HTTP".into(),
            port: spec.container_port,
            vpc_id: VPC_ID.into(),
            target_type: "ip".into(),
            health,
            attributes: default_attributes(spec.deregistration_delay.unwrap_or(300)),
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
        self.read(|st| {
            st.front_doors
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
        })
    }

    pub fn is_front_door(&self, arn: &str) -> bool {
        self.read(|st| st.is_front_door(arn))
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
}
