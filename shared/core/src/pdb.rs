//! PodDisruptionBudgets and the label selectors that bind them to pods.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Pod;

/// A `policy/v1` PodDisruptionBudget: how many matching pods may be evicted right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pdb {
    /// Namespace; a PDB only covers pods of its own namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Which pods it covers.
    pub selector: LabelSelector,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: u32,
}

impl Pdb {
    /// Whether this budget covers `pod`.
    pub fn covers(&self, pod: &Pod) -> bool {
        self.namespace == pod.namespace && self.selector.matches(&pod.labels)
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A Kubernetes label selector (`matchLabels` and `matchExpressions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSelector {
    /// Every pair must be present.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Every expression must hold.
    #[serde(default)]
    pub match_expressions: Vec<LabelExpression>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelExpression {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: LabelOperator,
    /// Values for `In` / `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Operators of a label selector expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelOperator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Kubernetes semantics: an empty selector matches every pod.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator {
                    LabelOperator::In => value.is_some_and(|v| e.values.contains(v)),
                    LabelOperator::NotIn => value.is_none_or(|v| !e.values.contains(v)),
                    LabelOperator::Exists => value.is_some(),
                    LabelOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let app_web = labels(&[("app", "web"), ("tier", "front")]);
        let sel = |ml: &[(&str, &str)], ex: Vec<LabelExpression>| LabelSelector {
            match_labels: labels(ml),
            match_expressions: ex,
        };
        let ex = |key: &str, operator, values: &[&str]| LabelExpression {
            key: key.into(),
            operator,
            values: values.iter().map(|v| (*v).into()).collect(),
        };
        let cases = [
            (sel(&[], vec![]), true),
            (sel(&[("app", "web")], vec![]), true),
            (sel(&[("app", "db")], vec![]), false),
            (sel(&[], vec![ex("tier", LabelOperator::In, &["front", "back"])]), true),
            (sel(&[], vec![ex("tier", LabelOperator::NotIn, &["front"])]), false),
            (sel(&[], vec![ex("zone", LabelOperator::NotIn, &["a"])]), true),
            (sel(&[], vec![ex("app", LabelOperator::Exists, &[])]), true),
            (sel(&[], vec![ex("app", LabelOperator::DoesNotExist, &[])]), false),
        ];
        for (i, (selector, want)) in cases.iter().enumerate() {
            assert_eq!(selector.matches(&app_web), *want, "case {i}: {selector:?}");
        }
    }
}
