//! Prices the egress lens applies: NAT gateway and VPC interface endpoint
//! charges per region. Pure data.
//!
//! Source: Amazon VPC pricing, <https://aws.amazon.com/vpc/pricing/> (NAT
//! gateway: per hour and per GB processed) and AWS PrivateLink pricing,
//! <https://aws.amazon.com/privatelink/pricing/> (interface endpoint: per
//! hour per AZ, and per GB processed for the first PB a month), on-demand,
//! as published in 2024 (the NAT figures have stood since 2020). Prices
//! change: `serve --nat-price-per-gb` overrides the NAT processing charge,
//! and the report says which figures it used. An S3 gateway endpoint is
//! free (no hourly or data charge).

use serde::Serialize;

/// One region's prices, in US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    pub nat_per_gb: f64,
    pub nat_per_hour: f64,
    pub interface_endpoint_per_hour: f64,
    pub interface_endpoint_per_gb: f64,
}

/// Where the figures come from, for the report.
pub const SOURCE: &str = "Amazon VPC and AWS PrivateLink pricing pages (aws.amazon.com/vpc/pricing, aws.amazon.com/privatelink/pricing), on-demand, as published in 2024";

/// (region, NAT per GB, NAT per hour, interface endpoint per hour per AZ,
/// interface endpoint per GB).
const TABLE: &[(&str, f64, f64, f64, f64)] = &[
    ("us-east-1", 0.045, 0.045, 0.01, 0.01),
    ("us-east-2", 0.045, 0.045, 0.01, 0.01),
    ("us-west-1", 0.048, 0.048, 0.011, 0.01),
    ("us-west-2", 0.045, 0.045, 0.01, 0.01),
    ("ca-central-1", 0.05, 0.05, 0.011, 0.01),
    ("eu-west-1", 0.048, 0.048, 0.011, 0.01),
    ("eu-west-2", 0.05, 0.05, 0.011, 0.01),
    ("eu-west-3", 0.05, 0.05, 0.012, 0.01),
    ("eu-central-1", 0.052, 0.052, 0.012, 0.01),
    ("eu-north-1", 0.046, 0.046, 0.011, 0.01),
    ("ap-northeast-1", 0.062, 0.062, 0.014, 0.01),
    ("ap-northeast-2", 0.059, 0.059, 0.013, 0.01),
    ("ap-southeast-1", 0.059, 0.059, 0.013, 0.01),
    ("ap-southeast-2", 0.059, 0.059, 0.013, 0.01),
    ("ap-south-1", 0.056, 0.056, 0.011, 0.01),
    ("sa-east-1", 0.093, 0.093, 0.017, 0.01),
];

/// The region's prices; a region not in the table gets us-east-1's
/// (`false`: the figures are not the region's own).
pub fn for_region(region: &str) -> (Prices, bool) {
    let row = TABLE.iter().find(|r| r.0 == region);
    let (_, g, h, ih, ig) = *row.unwrap_or(&TABLE[0]);
    (
        Prices {
            nat_per_gb: g,
            nat_per_hour: h,
            interface_endpoint_per_hour: ih,
            interface_endpoint_per_gb: ig,
        },
        row.is_some(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regions_the_issue_names() {
        assert_eq!(for_region("us-east-1").0.nat_per_gb, 0.045);
        assert_eq!(for_region("ap-northeast-1").0.nat_per_gb, 0.062);
        let (p, own) = for_region("xx-nowhere-1");
        assert!(!own);
        assert_eq!(p, for_region("us-east-1").0);
    }
}
