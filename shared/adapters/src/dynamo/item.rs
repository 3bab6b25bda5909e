//! The table's item layout (CONTRACTS.md): keys, sort-key formats, time encodings, the `STATE`
//! item's attributes and their parsing, and a small update-expression builder. Pure: no calls.

use std::collections::HashMap;

use autoscaler_core::{
    ClusterId, ClusterState, Operation,
    ports::{DecisionRecord, Lease},
    time::Timestamp,
};
use aws_sdk_dynamodb::types::AttributeValue;

/// One DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// Partition key attribute.
pub(crate) const PK: &str = "cluster_id";
/// Sort key attribute.
pub(crate) const SK: &str = "sk";
/// TTL attribute (epoch seconds).
pub(crate) const EXPIRES_AT: &str = "expires_at";
/// Sort key of the cluster's state item.
pub(crate) const STATE_SK: &str = "STATE";
/// Sort key prefix of operation records.
pub(crate) const OP_PREFIX: &str = "OP#";
/// Sort key prefix of decision records.
pub(crate) const DECISION_PREFIX: &str = "DECISION#";

/// Lease attributes of the `STATE` item.
pub(crate) const LEASE_OWNER: &str = "lease_owner";
pub(crate) const LEASE_UNTIL: &str = "lease_until";
pub(crate) const LEASE_TOKEN: &str = "lease_token";
/// Version attribute of the `STATE` item (authoritative; the JSON copy follows it).
pub(crate) const VERSION: &str = "version";
/// The whole `ClusterState` as JSON; the other attributes are projections for operators.
pub(crate) const STATE_JSON: &str = "state";

/// The key of `sk` in `cluster`'s partition.
pub(crate) fn key(cluster: &ClusterId, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(cluster.as_str())), (SK.to_owned(), s(sk))])
}

/// `MSG#<message id>`.
pub(crate) fn msg_sk(message_id: &str) -> String {
    format!("MSG#{message_id}")
}

/// `OP#<started>#<id>`: sorts by start time.
pub(crate) fn op_sk(op: &Operation) -> String {
    format!("{OP_PREFIX}{}#{}", sort_time(op.started_at), op.id)
}

/// `DECISION#<time>#<message id>`: sorts by time; the message id keeps two decisions of one
/// millisecond apart and makes a redelivered message overwrite its own record.
pub(crate) fn decision_sk(record: &DecisionRecord) -> String {
    format!("{DECISION_PREFIX}{}#{}", sort_time(record.at), record.message_id)
}

/// RFC 3339 in UTC with exactly three fractional digits, so that strings sort like instants.
pub(crate) fn sort_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(crate) fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A number attribute read as `T`; `Ok(None)` when absent.
pub(crate) fn number<T: std::str::FromStr>(item: &Item, attr: &str) -> Result<Option<T>, String> {
    match item.get(attr) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => {
            v.parse().map(Some).map_err(|_| format!("attribute {attr} = {v:?} is not a valid number"))
        }
        Some(other) => Err(format!("attribute {attr} is not a number: {other:?}")),
    }
}

/// A string attribute; `None` when absent or not a string.
pub(crate) fn string<'a>(item: &'a Item, attr: &str) -> Option<&'a str> {
    item.get(attr).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// Whether a record with TTL `expires_at` (epoch seconds) is expired at `now`. DynamoDB deletes
/// expired items lazily (up to days late) and moto never does, so readers must check.
pub(crate) fn expired(item: &Item, now: Timestamp) -> bool {
    matches!(number::<i64>(item, EXPIRES_AT), Ok(Some(t)) if t <= now.as_second())
}

/// Builds `SET … REMOVE …` update expressions with `#name` and `:value` placeholders (every
/// attribute gets a name placeholder, so DynamoDB's reserved words never bite).
#[derive(Debug, Default)]
pub(crate) struct Expr {
    set: Vec<String>,
    remove: Vec<String>,
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// The placeholder of attribute `attr`.
    pub(crate) fn name(&mut self, attr: &str) -> String {
        let p = format!("#{attr}");
        self.names.insert(p.clone(), attr.to_owned());
        p
    }

    /// Binds value placeholder `:key`.
    pub(crate) fn value(&mut self, key: &str, v: AttributeValue) -> String {
        let p = format!(":{key}");
        self.values.insert(p.clone(), v);
        p
    }

    /// `SET attr = v`.
    pub(crate) fn set(&mut self, attr: &str, v: AttributeValue) {
        let (name, value) = (self.name(attr), self.value(&format!("set_{attr}"), v));
        self.set.push(format!("{name} = {value}"));
    }

    /// `SET attr = v` when `v` is given, `REMOVE attr` otherwise.
    pub(crate) fn set_or_remove(&mut self, attr: &str, v: Option<AttributeValue>) {
        match v {
            Some(v) => self.set(attr, v),
            None => {
                let name = self.name(attr);
                self.remove.push(name);
            }
        }
    }

    /// The update expression.
    pub(crate) fn update(&self) -> String {
        let mut parts = vec![];
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        parts.join(" ")
    }
}

/// The update that stores `state` (already carrying its new version) on the `STATE` item: the
/// JSON copy plus the projections operators read in the console.
pub(crate) fn state_update(state: &ClusterState) -> Result<Expr, serde_json::Error> {
    let time = |t: Option<Timestamp>| t.map(|t| s(t.to_string()));
    let op = state.operation.as_ref();
    let mut e = Expr::default();
    e.set(STATE_JSON, s(serde_json::to_string(state)?));
    e.set(VERSION, n(state.version));
    e.set("node_count", n(state.node_count));
    e.set("desired_count", n(state.desired_count));
    e.set("scaling_in_progress", AttributeValue::Bool(state.scaling_in_progress));
    e.set_or_remove("last_scale_time", time(state.last_scale_time));
    e.set_or_remove("last_scale_up_at", time(state.last_scale_up_at));
    e.set_or_remove("last_scale_down_at", time(state.last_scale_down_at));
    e.set_or_remove("backoff_until", time(state.backoff_until));
    e.set_or_remove("operation_id", op.map(|o| s(&o.id)));
    e.set_or_remove("operation_phase", op.map(|o| s(enum_name(&o.phase))));
    Ok(e)
}

/// The serde name of a unit enum variant (`scale_up`, `waiting_ready`).
pub(crate) fn enum_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The state stored in a `STATE` item; `None` if the item only carries a lease so far.
pub(crate) fn parse_state(item: &Item) -> Result<Option<ClusterState>, String> {
    let Some(json) = string(item, STATE_JSON) else { return Ok(None) };
    let mut state: ClusterState =
        serde_json::from_str(json).map_err(|e| format!("attribute {STATE_JSON} is not a cluster state: {e}"))?;
    state.version = number(item, VERSION)?.ok_or_else(|| format!("attribute {VERSION} is missing"))?;
    Ok(Some(state))
}

/// The lease stored in a `STATE` item.
pub(crate) fn parse_lease(cluster: &ClusterId, item: &Item) -> Result<Lease, String> {
    let owner = string(item, LEASE_OWNER).ok_or_else(|| format!("attribute {LEASE_OWNER} is missing"))?;
    let until: i64 = number(item, LEASE_UNTIL)?.ok_or_else(|| format!("attribute {LEASE_UNTIL} is missing"))?;
    let token = number(item, LEASE_TOKEN)?.ok_or_else(|| format!("attribute {LEASE_TOKEN} is missing"))?;
    let until = Timestamp::from_millisecond(until).map_err(|e| format!("attribute {LEASE_UNTIL}: {e}"))?;
    Ok(Lease { cluster_id: cluster.clone(), owner: owner.to_owned(), until, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn sort_keys_sort_like_instants() {
        let a = sort_time(ts("2026-01-01T00:00:00Z"));
        let b = sort_time(ts("2026-01-01T00:00:00.5Z"));
        let c = sort_time(ts("2026-01-01T00:00:01Z"));
        assert_eq!(a, "2026-01-01T00:00:00.000Z");
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(msg_sk("am-1"), "MSG#am-1");
    }

    #[test]
    fn state_round_trips_through_its_item_with_projections() {
        let mut state = ClusterState::new(ClusterId::new("prod").unwrap());
        state.node_count = 3;
        state.last_scale_up_at = Some(ts("2026-01-01T00:00:00Z"));
        state.version = 7;
        let e = state_update(&state).unwrap();
        assert!(e.update().starts_with("SET #state = :set_state, #version = :set_version"));
        assert!(e.update().ends_with(
            "REMOVE #last_scale_time, #last_scale_down_at, #backoff_until, #operation_id, #operation_phase"
        ));
        let item: Item = e
            .names
            .iter()
            .filter_map(|(p, attr)| Some((attr.clone(), e.values.get(&format!(":set_{}", &p[1..]))?.clone())))
            .collect();
        assert_eq!(item["node_count"], n(3));
        assert_eq!(item["last_scale_up_at"], s("2026-01-01T00:00:00Z"));
        assert_eq!(parse_state(&item).unwrap(), Some(state));
    }

    #[test]
    fn a_lease_only_item_has_no_state_and_corrupt_items_are_reported() {
        let cluster = ClusterId::new("prod").unwrap();
        let mut item = key(&cluster, STATE_SK);
        item.insert(LEASE_OWNER.into(), s("inv-1"));
        item.insert(LEASE_UNTIL.into(), n(1_767_225_600_000_i64));
        item.insert(LEASE_TOKEN.into(), n(4));
        assert_eq!(parse_state(&item).unwrap(), None);
        let lease = parse_lease(&cluster, &item).unwrap();
        assert_eq!((lease.owner.as_str(), lease.token, lease.until), ("inv-1", 4, ts("2026-01-01T00:00:00Z")));
        item.insert(STATE_JSON.into(), s("{not json"));
        assert!(parse_state(&item).unwrap_err().contains("not a cluster state"));
        item.insert(LEASE_TOKEN.into(), s("4"));
        assert!(parse_lease(&cluster, &item).unwrap_err().contains("lease_token is not a number"));
    }

    #[test]
    fn records_expire_at_their_ttl() {
        let mut item = Item::new();
        assert!(!expired(&item, ts("2026-01-01T00:00:00Z")), "no TTL never expires");
        item.insert(EXPIRES_AT.into(), n(ts("2026-01-01T00:00:00Z").as_second()));
        assert!(!expired(&item, ts("2025-12-31T23:59:59Z")));
        assert!(expired(&item, ts("2026-01-01T00:00:00Z")));
    }
}
