//! `KubeCluster` against scripted K3s API answers (kube-rs over a `tower-test` mock): the requests
//! it sends (paths, query, patch and eviction bodies) and how it reads the answers.

use autoscaler_adapters::kube::{KubeCluster, KubeCredentials, quantity};
use autoscaler_core::{
    InstanceId, Lifecycle, OwnerKind, PodPhase, Resources,
    ports::{Cluster, Eviction},
};
use http::{Request, Response};
use kube::client::Body;
use reqwest::Url;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

type Api = Handle<Request<Body>, Response<Body>>;

fn cluster() -> (KubeCluster, Api) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (KubeCluster::new(kube::Client::new(service, "default")), handle)
}

/// One request as the API server saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: Value,
}

impl Seen {
    fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Takes the next request and answers it with `status` and `body`.
async fn answer(api: &mut Api, status: u16, body: Value) -> Seen {
    let (request, respond) = api.next_request().await.expect("the adapter sends a request");
    let (parts, req_body) = request.into_parts();
    let bytes = req_body.collect_bytes().await.expect("request body");
    let url = Url::parse(&format!("http://k3s{}", parts.uri)).expect("request uri");
    let seen = Seen {
        method: parts.method.to_string(),
        path: url.path().to_owned(),
        query: url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        content_type: parts.headers.get(http::header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("").to_owned()),
        body: if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") },
    };
    let response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).expect("serialisable")))
        .expect("response");
    respond.send_response(response);
    seen
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
}

fn node(name: &str, rv: &str, taints: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "resourceVersion": rv}, "spec": {"taints": taints}})
}

#[tokio::test]
async fn cordon_sends_one_guarded_merge_patch_that_adds_the_drain_taint_and_keeps_the_others() {
    let (cluster, mut api) = cluster();
    let gpu = json!({"key": "dedicated", "value": "gpu", "effect": "NoExecute"});
    let (result, (get, patch)) = tokio::join!(cluster.cordon("i-0abc"), async {
        let get = answer(&mut api, 200, node("i-0abc", "42", json!([gpu]))).await;
        let patch = answer(&mut api, 200, node("i-0abc", "43", json!([]))).await;
        (get, patch)
    });
    result.expect("cordoned");
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", "/api/v1/nodes/i-0abc"));
    assert_eq!((patch.method.as_str(), patch.path.as_str()), ("PATCH", "/api/v1/nodes/i-0abc"));
    assert_eq!(patch.content_type.as_deref(), Some("application/merge-patch+json"));
    assert_eq!(patch.param("fieldManager"), Some("k3s-autoscaler"));
    assert_eq!(
        patch.body,
        json!({"metadata": {"resourceVersion": "42"}, "spec": {"unschedulable": true, "taints": [
            gpu, {"key": "k3s-autoscaler/draining", "value": "true", "effect": "NoSchedule"}]}})
    );
}

#[tokio::test]
async fn cordon_reads_the_node_again_when_it_changed_meanwhile_and_loses_no_taint() {
    let (cluster, mut api) = cluster();
    let added = json!({"key": "maintenance", "effect": "NoSchedule"});
    let (result, last) = tokio::join!(cluster.cordon("i-0abc"), async {
        answer(&mut api, 200, node("i-0abc", "42", json!([]))).await;
        answer(&mut api, 409, status(409, "Conflict", "the object has been modified")).await;
        answer(&mut api, 200, node("i-0abc", "44", json!([added]))).await;
        answer(&mut api, 200, node("i-0abc", "45", json!([]))).await
    });
    result.expect("cordoned on the second try");
    assert_eq!(last.body["metadata"]["resourceVersion"], "44");
    assert_eq!(last.body["spec"]["taints"][0], added);
}

#[tokio::test]
async fn uncordon_clears_unschedulable_and_removes_only_the_drain_taint() {
    let (cluster, mut api) = cluster();
    let other = json!({"key": "dedicated", "value": "gpu", "effect": "NoExecute"});
    let mut cordoned = node(
        "i-0abc",
        "9",
        json!([other, {"key": "k3s-autoscaler/draining", "value": "true",
        "effect": "NoSchedule"}]),
    );
    cordoned["spec"]["unschedulable"] = json!(true);
    let (result, patch) = tokio::join!(cluster.uncordon("i-0abc"), async {
        answer(&mut api, 200, cordoned).await;
        answer(&mut api, 200, node("i-0abc", "10", json!([]))).await
    });
    result.expect("uncordoned");
    assert_eq!(
        patch.body,
        json!({"metadata": {"resourceVersion": "9"}, "spec": {"unschedulable": null, "taints": [other]}})
    );
}

#[tokio::test]
async fn eviction_posts_a_policy_v1_eviction_carrying_the_grace_period() {
    let (cluster, mut api) = cluster();
    let (result, post) = tokio::join!(
        cluster.evict("shop", "web-1", 30),
        answer(&mut api, 201, json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}))
    );
    assert_eq!(result.expect("answered"), Eviction::Evicted);
    assert_eq!((post.method.as_str(), post.path.as_str()), ("POST", "/api/v1/namespaces/shop/pods/web-1/eviction"));
    assert_eq!(post.body["apiVersion"], "policy/v1");
    assert_eq!(post.body["kind"], "Eviction");
    assert_eq!(post.body["metadata"], json!({"name": "web-1", "namespace": "shop"}));
    assert_eq!(post.body["deleteOptions"], json!({"gracePeriodSeconds": 30}));
}

#[tokio::test]
async fn eviction_answers_map_to_blocked_gone_or_an_error() {
    let pdb = "Cannot evict pod as it would violate the pod's disruption budget.";
    let two = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";
    let cases = [
        (429, status(429, "TooManyRequests", pdb), Ok(Eviction::Blocked)),
        (404, status(404, "NotFound", "pods \"web-1\" not found"), Ok(Eviction::Gone)),
        (200, json!({"kind": "Status", "status": "Success"}), Ok(Eviction::Evicted)),
        (500, status(500, "InternalError", two), Ok(Eviction::Blocked)),
        (500, status(500, "InternalError", "etcdserver: request timed out"), Err(true)),
        (403, status(403, "Forbidden", "cannot create pods/eviction"), Err(false)),
    ];
    for (code, body, want) in cases {
        let (cluster, mut api) = cluster();
        let (result, _) = tokio::join!(cluster.evict("shop", "web-1", 30), answer(&mut api, code, body));
        match (result, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "HTTP {code}"),
            (Err(e), Err(retryable)) => assert_eq!(e.retryable(), retryable, "HTTP {code}: {e}"),
            (got, want) => panic!("HTTP {code}: got {got:?}, want {want:?}"),
        }
    }
}

#[tokio::test]
async fn a_drain_retries_the_eviction_a_budget_blocked_until_it_is_accepted() {
    let (cluster, mut api) = cluster();
    let accepted = json!({"kind": "Status", "status": "Success", "code": 201});
    let blocked = status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.");
    let script = [(201, accepted.clone()), (429, blocked), (201, accepted.clone()), (201, accepted)];
    let drain = async {
        // What the engine does: evict every pod, then retry the blocked ones on a later pass.
        let mut pending = vec!["web-1", "web-2", "web-3"];
        let mut outcomes = Vec::new();
        for _pass in 0..3 {
            let mut blocked = Vec::new();
            for pod in pending {
                let outcome = cluster.evict("shop", pod, 30).await.expect("no API error");
                outcomes.push((pod, outcome));
                if outcome == Eviction::Blocked {
                    blocked.push(pod);
                }
            }
            pending = blocked;
            if pending.is_empty() {
                break;
            }
        }
        (outcomes, pending)
    };
    let server = async {
        let mut paths = Vec::new();
        for (code, body) in script {
            paths.push(answer(&mut api, code, body).await.path);
        }
        paths
    };
    let ((outcomes, left), paths) = tokio::join!(drain, server);
    use Eviction::*;
    assert_eq!(outcomes, vec![("web-1", Evicted), ("web-2", Blocked), ("web-3", Evicted), ("web-2", Evicted)]);
    assert!(left.is_empty());
    let pods: Vec<&str> = paths.iter().map(|p| p.split('/').nth(6).unwrap_or("")).collect();
    assert_eq!(pods, ["web-1", "web-2", "web-3", "web-2"]);
}

#[tokio::test]
async fn nodes_are_listed_page_by_page_and_mapped() {
    let (cluster, mut api) = cluster();
    let cluster = cluster.with_page_size(1);
    let worker = json!({
        "metadata": {"name": "i-0abc", "creationTimestamp": "2026-03-01T10:00:00Z", "labels": {
            "topology.kubernetes.io/zone": "us-east-1b", "k3s-autoscaler/managed": "true",
            "k3s-autoscaler/lifecycle": "spot"}},
        "spec": {"providerID": "aws:///us-east-1b/i-0abc"},
        "status": {"allocatable": {"cpu": "1950m", "memory": "2032Mi"},
                   "conditions": [{"type": "Ready", "status": "True"}]}
    });
    let master = json!({
        "metadata": {"name": "ip-10-0-1-10", "labels": {"node-role.kubernetes.io/control-plane": "true",
            "topology.kubernetes.io/zone": "us-east-1a"}, "annotations": {}},
        "spec": {"providerID": "aws:///us-east-1a/i-0master", "unschedulable": false},
        "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}, "conditions": [{"type": "Ready", "status": "False"}]}
    });
    let (nodes, (first, second)) = tokio::join!(cluster.nodes(), async {
        let first = answer(
            &mut api,
            200,
            json!({"apiVersion": "v1", "kind": "NodeList",
            "metadata": {"continue": "page-2-token"}, "items": [worker]}),
        )
        .await;
        let second = answer(
            &mut api,
            200,
            json!({"apiVersion": "v1", "kind": "NodeList",
            "metadata": {}, "items": [master]}),
        )
        .await;
        (first, second)
    });
    let nodes = nodes.expect("listed");
    assert_eq!(
        (first.path.as_str(), first.param("limit"), first.param("continue")),
        ("/api/v1/nodes", Some("1"), None)
    );
    assert_eq!(second.param("continue"), Some("page-2-token"));
    assert_eq!(nodes.len(), 2);
    let (w, m) = (&nodes[0], &nodes[1]);
    assert_eq!(
        (w.name.as_str(), w.instance_id.clone(), w.zone.as_str()),
        ("i-0abc", Some(InstanceId("i-0abc".into())), "us-east-1b")
    );
    assert!(w.ready && w.managed && !w.control_plane && !w.cordoned);
    assert_eq!(w.lifecycle, Lifecycle::Spot);
    assert_eq!(w.allocatable, Resources::new(1950, 2032 << 20));
    assert!(m.control_plane && !m.ready && !m.managed);
    assert_eq!(m.allocatable, Resources::new(2000, 4 << 30));
}

#[tokio::test]
async fn pods_are_listed_without_finished_ones_and_pending_ones_know_since_when() {
    let (cluster, mut api) = cluster();
    let pending = json!({
        "metadata": {"name": "web-9", "namespace": "shop", "creationTimestamp": "2026-03-01T10:00:00Z",
            "labels": {"app": "web"}, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d", "uid": "u", "controller": true}]},
        "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "lastTransitionTime": "2026-03-01T10:00:02Z"}]}
    });
    let (pods, list) = tokio::join!(
        cluster.pods(),
        answer(&mut api, 200, json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [pending]}))
    );
    let pods = pods.expect("listed");
    assert_eq!(list.path, "/api/v1/pods");
    assert_eq!(list.param("fieldSelector"), Some("status.phase!=Succeeded,status.phase!=Failed"));
    let p = &pods[0];
    assert_eq!(
        (p.key(), p.phase, p.owner.clone()),
        ("shop/web-9".to_owned(), PodPhase::Pending, OwnerKind::ReplicaSet)
    );
    assert_eq!(p.requests, Resources::new(250, 256 << 20));
    assert_eq!(p.pending_since.map(|t| t.to_string()).as_deref(), Some("2026-03-01T10:00:02Z"));
    assert_eq!(p.labels.get("app").map(String::as_str), Some("web"));
}

#[tokio::test]
async fn budgets_are_listed_with_their_allowance() {
    let (cluster, mut api) = cluster();
    let pdb = json!({"metadata": {"name": "web", "namespace": "shop"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 2}});
    let (pdbs, list) = tokio::join!(
        cluster.pdbs(),
        answer(&mut api, 200, json!({"kind": "PodDisruptionBudgetList", "metadata": {}, "items": [pdb]}))
    );
    let pdbs = pdbs.expect("listed");
    assert_eq!(list.path, "/apis/policy/v1/poddisruptionbudgets");
    assert_eq!((pdbs[0].key(), pdbs[0].disruptions_allowed), ("shop/web".to_owned(), 0));
}

#[tokio::test]
async fn deleting_a_node_that_is_already_gone_succeeds() {
    let (cluster, mut api) = cluster();
    let (result, seen) =
        tokio::join!(cluster.delete_node("i-0abc"), answer(&mut api, 404, status(404, "NotFound", "not found")));
    result.expect("absent already is success");
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("DELETE", "/api/v1/nodes/i-0abc"));
    let (cluster, mut api) = self::cluster();
    let (result, _) =
        tokio::join!(cluster.delete_node("i-0abc"), answer(&mut api, 503, status(503, "ServiceUnavailable", "")));
    assert!(result.expect_err("503 fails").retryable());
}

#[tokio::test]
async fn list_errors_are_classified_for_the_queue() {
    for (code, reason, retryable) in [
        (401, "Unauthorized", false),
        (403, "Forbidden", false),
        (500, "InternalError", true),
        (429, "TooManyRequests", true),
    ] {
        let (cluster, mut api) = cluster();
        let (result, _) = tokio::join!(cluster.nodes(), answer(&mut api, code, status(code, reason, "m")));
        let err = result.expect_err("fails");
        assert_eq!(err.retryable(), retryable, "HTTP {code}");
        assert!(err.to_string().contains("listing nodes"), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_api_server_is_a_transient_error() {
    // A port that was free a moment ago: nothing listens, the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let credentials = KubeCredentials::new(format!("https://127.0.0.1:{port}"), "token", CA);
    let cluster = KubeCluster::connect(&credentials).expect("client builds with aws-lc-rs rustls");
    let err = cluster.nodes().await.expect_err("nothing listens");
    assert!(err.retryable(), "{err:?}");
}

#[test]
fn quantities_read_as_the_scheduler_counts_them() {
    for (q, millis) in [("1950m", 1950), ("2", 2000), ("1.5", 1500)] {
        assert_eq!(quantity::cpu_millis(q), Ok(millis), "{q}");
    }
    for (q, bytes) in [("2032Mi", 2032u64 << 20), ("4Gi", 4 << 30), ("1000000k", 1_000_000_000), ("123456", 123_456)] {
        assert_eq!(quantity::bytes(q), Ok(bytes), "{q}");
    }
    assert!(quantity::bytes("12Qi").is_err());
}

// A throwaway self-signed CA (openssl req -x509, P-256), made for these tests only.
const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT2gAwIBAgIUYKV5mkqg5hxWJdqEwuF/5BAuyL0wCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWazNzLWF1dG9zY2FsZXItdGVzdC1jYTAeFw0yNjEyMDMxMTA1
MjhaFw0zNjExMzAxMTA1MjhaMCExHzAdBgNVBAMMFmszcy1hdXRvc2NhbGVyLXRl
c3QtY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATC6VOi2Ma3q3BRo8+SRi4c
Ufkc88D7LF/IaAMmONGsSVZiSP8G7TxmcUMh+zF6COHCtbAOkox1lMTLmoC23kQV
o1MwUTAdBgNVHQ4EFgQUT9j+/iSryVbFTclSCgR9+QKPADMwHwYDVR0jBBgwFoAU
T9j+/iSryVbFTclSCgR9+QKPADMwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNJADBGAiEAwRWDUAwhNdy8ppdY3v+XK2S9B3/wPOVXkFws0yp+DpYCIQC8neCP
GOoc8ulumzT8+AZorRAb8GNmq9Odg6Isy4yYfA==
-----END CERTIFICATE-----
";
