//! Reading a `policy/v1` PodDisruptionBudget as the core's [`Pdb`]: its selector and how many
//! disruptions it allows now. Pure.

use autoscaler_core::{
    LabelSelector, Pdb,
    pdb::{LabelExpression, LabelOperator},
};
use k8s_openapi::api::policy::v1 as k8s;

/// A selector operator this adapter does not know (the API server only accepts four).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PodDisruptionBudget {pdb} has a selector operator {operator:?} that is not In, NotIn, Exists or DoesNotExist")]
pub struct UnknownOperator {
    /// `namespace/name`.
    pub pdb: String,
    /// The operator read.
    pub operator: String,
}

/// The core's view of `pdb`; `None` for a budget without selector, which covers no pod
/// (`policy/v1`: a null selector selects nothing, an empty one every pod of the namespace).
pub fn to_pdb(pdb: &k8s::PodDisruptionBudget) -> Result<Option<Pdb>, UnknownOperator> {
    let namespace = pdb.metadata.namespace.clone().unwrap_or_default();
    let name = pdb.metadata.name.clone().unwrap_or_default();
    let Some(selector) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Ok(None);
    };
    let mut match_expressions = Vec::new();
    for e in selector.match_expressions.as_deref().unwrap_or_default() {
        let operator = match e.operator.as_str() {
            "In" => LabelOperator::In,
            "NotIn" => LabelOperator::NotIn,
            "Exists" => LabelOperator::Exists,
            "DoesNotExist" => LabelOperator::DoesNotExist,
            other => {
                return Err(UnknownOperator { pdb: format!("{namespace}/{name}"), operator: other.to_owned() });
            }
        };
        match_expressions.push(LabelExpression {
            key: e.key.clone(),
            operator,
            values: e.values.clone().unwrap_or_default(),
        });
    }
    // A budget whose status the disruption controller has not computed yet allows nothing, as
    // the API server's eviction check does.
    let allowed = pdb.status.as_ref().map_or(0, |s| s.disruptions_allowed);
    Ok(Some(Pdb {
        namespace,
        name,
        selector: LabelSelector { match_labels: selector.match_labels.clone().unwrap_or_default(), match_expressions },
        disruptions_allowed: u32::try_from(allowed).unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: serde_json::Value) -> Result<Option<Pdb>, UnknownOperator> {
        to_pdb(&serde_json::from_value(v).expect("valid PDB"))
    }

    #[test]
    fn a_budget_is_read_with_selector_and_allowance() {
        let pdb = read(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["batch"]}]}},
            "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}
        }))
        .expect("valid")
        .expect("has a selector");
        assert_eq!((pdb.key(), pdb.disruptions_allowed), ("shop/web".to_owned(), 1));
        assert_eq!(pdb.selector.match_labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(pdb.selector.match_expressions[0].operator, LabelOperator::NotIn);
    }

    #[test]
    fn a_budget_without_selector_covers_nothing_and_one_without_status_allows_nothing() {
        assert_eq!(read(json!({"metadata": {"name": "x", "namespace": "a"}, "spec": {}})), Ok(None));
        let pdb = read(json!({"metadata": {"name": "x", "namespace": "a"}, "spec": {"selector": {}}}));
        assert_eq!(pdb.expect("valid").map(|p| p.disruptions_allowed), Some(0));
    }

    #[test]
    fn an_unknown_operator_is_an_error_not_a_silent_match() {
        let err = read(json!({"metadata": {"name": "x", "namespace": "a"}, "spec": {"selector": {
            "matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]}}}));
        assert!(err.is_err());
    }
}
