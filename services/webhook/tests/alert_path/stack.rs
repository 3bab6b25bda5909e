//! The real Prometheus and Alertmanager of the alert-path test: their configurations derived
//! from the committed files (short intervals, local addresses), started on 127.0.0.1 and free
//! ports with their own temporary directories, and killed when dropped.

use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_norway::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The path of `name` on `PATH`; fails the test, saying how to install it, if it is missing.
pub fn binary(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on PATH. Run tests/run.sh, which installs the Debian packages \
                 prometheus and prometheus-alertmanager (or `apt-get install prometheus prometheus-alertmanager`)."
            )
        })
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The committed rule file with every group evaluated each second and every `for:` shortened to
/// `for_`; expressions, labels and annotations are untouched.
pub fn fast_rules(committed: &str, for_: &str) -> String {
    let mut doc: Value = serde_norway::from_str(committed).expect("the committed rule file is YAML");
    for group in doc["groups"].as_sequence_mut().expect("rule groups") {
        group["interval"] = Value::from("1s");
        for rule in group["rules"].as_sequence_mut().expect("rules") {
            if let Some(f) = rule.get_mut("for") {
                *f = Value::from(for_);
            }
        }
    }
    serde_norway::to_string(&doc).unwrap()
}

/// The committed alertmanager.yml as the master bootstrap renders it (`${K3SA_WEBHOOK_URL}`
/// replaced literally), with the token file moved to `token_file` and the grouping timers
/// shortened throughout the routing tree.
pub fn fast_alertmanager(committed: &str, webhook_url: &str, token_file: &Path) -> String {
    assert!(committed.contains("${K3SA_WEBHOOK_URL}"), "alertmanager.yml lost its webhook placeholder");
    let mut doc: Value = serde_norway::from_str(&committed.replace("${K3SA_WEBHOOK_URL}", webhook_url)).unwrap();
    shorten_timers(&mut doc["route"]);
    let mut files = 0;
    for receiver in doc["receivers"].as_sequence_mut().expect("receivers") {
        for hook in receiver.get_mut("webhook_configs").and_then(Value::as_sequence_mut).into_iter().flatten() {
            let auth = &mut hook["http_config"]["authorization"];
            assert_eq!(auth["type"].as_str(), Some("Bearer"), "the webhook must be called with a bearer token");
            auth["credentials_file"] = Value::from(token_file.to_str().unwrap());
            files += 1;
        }
    }
    assert!(files > 0, "alertmanager.yml has no webhook receiver");
    serde_norway::to_string(&doc).unwrap()
}

fn shorten_timers(route: &mut Value) {
    for (key, value) in [("group_wait", "1s"), ("group_interval", "2s"), ("repeat_interval", "1m")] {
        if let Some(v) = route.get_mut(key) {
            *v = Value::from(value);
        }
    }
    for child in route.get_mut("routes").and_then(Value::as_sequence_mut).into_iter().flatten() {
        shorten_timers(child);
    }
}

/// A child process, killed on drop; its output goes to a log file.
#[derive(Debug)]
pub struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program args...`, logging to `log`.
    pub fn spawn(name: &'static str, program: &Path, args: &[String], log: PathBuf) -> Self {
        let out = File::create(&log).unwrap();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({}): {e}", program.display()));
        Self { name, child, log }
    }

    /// Fails the test with the process's output if it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}); its output:\n{}", self.name, self.output());
        }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET url` answers 200, failing with the process's output after `within`.
    pub async fn wait_ready(&mut self, url: &str, within: Duration) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            self.assert_running();
            if let Ok(r) = client.get(url.parse().unwrap()).await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} not ready at {url} after {within:?}; its output:\n{}", self.name, self.output());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_configs_keep_expressions_and_shorten_only_timing() {
        let committed = std::fs::read_to_string(repo().join("alertmanager/rules/autoscaler.rules.yml")).unwrap();
        let fast: Value = serde_norway::from_str(&fast_rules(&committed, "3s")).unwrap();
        let real: Value = serde_norway::from_str(&committed).unwrap();
        let high = |doc: &Value| {
            doc["groups"][0]["rules"].as_sequence().unwrap().iter().find(|r| r["alert"] == "HighCPU").unwrap().clone()
        };
        assert_eq!(high(&fast)["expr"], high(&real)["expr"]);
        assert_eq!(high(&fast)["annotations"], high(&real)["annotations"]);
        assert_eq!(high(&fast)["for"], "3s");

        let am = std::fs::read_to_string(repo().join("alertmanager/alertmanager.yml")).unwrap();
        let fast: Value =
            serde_norway::from_str(&fast_alertmanager(&am, "http://127.0.0.1:1/alertmanager", Path::new("/t")))
                .unwrap();
        let hook = &fast["receivers"][0]["webhook_configs"][0];
        assert_eq!(
            (hook["url"].as_str(), hook["http_config"]["authorization"]["credentials_file"].as_str()),
            (Some("http://127.0.0.1:1/alertmanager"), Some("/t"))
        );
        assert_eq!(fast["route"]["group_wait"], "1s");
    }
}
