//! The worker subnets by availability zone, parsed from `SUBNETS` (`az=subnet-id,az=subnet-id`).
//! Pure.

use std::str::FromStr;

use crate::error::AdapterError;

/// Worker subnets, one per zone, in the order configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subnets(Vec<(String, String)>);

impl Subnets {
    /// The subnet of `zone`, if one is configured.
    pub fn get(&self, zone: &str) -> Option<&str> {
        self.0.iter().find(|(z, _)| z == zone).map(|(_, s)| s.as_str())
    }

    /// The zones, in the order configured.
    pub fn zones(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(z, _)| z.as_str())
    }

    /// The zone of `subnet`, if it is one of ours.
    pub fn zone_of(&self, subnet: &str) -> Option<&str> {
        self.0.iter().find(|(_, s)| s == subnet).map(|(z, _)| z.as_str())
    }
}

impl FromStr for Subnets {
    type Err = AdapterError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| AdapterError::Setting { name: "SUBNETS", reason };
        let mut pairs: Vec<(String, String)> = vec![];
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (zone, subnet) = entry
                .split_once('=')
                .map(|(z, s)| (z.trim(), s.trim()))
                .filter(|(z, s)| !z.is_empty() && !s.is_empty())
                .ok_or_else(|| bad(format!("{entry:?} is not az=subnet-id (expected e.g. us-east-1a=subnet-0abc)")))?;
            if !subnet.starts_with("subnet-") {
                return Err(bad(format!("{subnet:?} (zone {zone}) is not a subnet id")));
            }
            if pairs.iter().any(|(z, _)| z == zone) {
                return Err(bad(format!("zone {zone} is listed twice")));
            }
            pairs.push((zone.to_owned(), subnet.to_owned()));
        }
        if pairs.is_empty() {
            return Err(bad("no subnets given (expected az=subnet-id,az=subnet-id)".to_owned()));
        }
        Ok(Self(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_read_by_zone_in_order() {
        let s: Subnets = "us-east-1a=subnet-0aa, us-east-1b=subnet-0bb".parse().unwrap();
        assert_eq!(s.get("us-east-1b"), Some("subnet-0bb"));
        assert_eq!(s.get("us-east-1c"), None);
        assert_eq!(s.zones().collect::<Vec<_>>(), ["us-east-1a", "us-east-1b"]);
        assert_eq!(s.zone_of("subnet-0aa"), Some("us-east-1a"));
    }

    #[test]
    fn malformed_subnets_fail_naming_the_setting_and_the_entry() {
        for (value, reason) in [
            ("", "no subnets given"),
            ("us-east-1a", "\"us-east-1a\" is not az=subnet-id"),
            ("us-east-1a=", "is not az=subnet-id"),
            ("us-east-1a=vpc-1", "\"vpc-1\" (zone us-east-1a) is not a subnet id"),
            ("a=subnet-1,a=subnet-2", "zone a is listed twice"),
        ] {
            let err = value.parse::<Subnets>().unwrap_err().to_string();
            assert!(err.starts_with("setting SUBNETS: ") && err.contains(reason), "{value:?}: {err}");
        }
    }
}
