//! `Moto`: one moto server per test, on 127.0.0.1 and a free port, killed when dropped. Either
//! moto's own `moto_server` (`$MOTO_SERVER`) or `tests/moto/patched_moto.py` run with the same
//! venv's python (ClientToken idempotency, injected RunInstances errors and atomic request
//! handling, which moto lacks).

use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_credential_types::{Credentials, provider::SharedCredentialsProvider};

/// How long moto may take to start (its first import is slow on a busy machine).
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running moto server, killed on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    endpoint: String,
    log: tempfile::NamedTempFile,
    /// The injected-errors file written by `start_injecting`, kept while the server runs.
    _errors: Option<tempfile::NamedTempFile>,
}

impl Moto {
    /// Starts `$MOTO_SERVER` (set by `tests/run.sh`) and waits until it accepts connections.
    pub async fn start() -> Moto {
        let server = moto_server();
        Self::spawn(|port| {
            let mut c = Command::new(&server);
            c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            c
        })
        .await
    }

    /// Starts `tests/moto/patched_moto.py` (ClientToken idempotency, requests handled one at a
    /// time), injecting the RunInstances errors listed in the JSON file `errors` (see the script
    /// for the format), and waits until it accepts connections.
    pub async fn start_patched(errors: &Path) -> Moto {
        Self::start_wrapper(Some(errors)).await
    }

    /// `start_patched` with the errors given as JSON text (written to a temporary file).
    pub async fn start_injecting(errors_json: &str) -> Moto {
        let mut file = tempfile::NamedTempFile::new().expect("creating the errors file");
        std::io::Write::write_all(&mut file, errors_json.as_bytes()).expect("writing the errors file");
        let mut moto = Self::start_wrapper(Some(file.path())).await;
        moto._errors = Some(file);
        moto
    }

    /// Starts the patched wrapper without injected errors: every request is handled alone, so
    /// racing conditional writes behave as in DynamoDB (moto's threads can let both pass).
    pub async fn start_atomic() -> Moto {
        Self::start_wrapper(None).await
    }

    async fn start_wrapper(errors: Option<&Path>) -> Moto {
        let python = moto_server().with_file_name("python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../moto/patched_moto.py");
        assert!(script.is_file(), "{} is missing", script.display());
        let errors = errors.map(Path::to_owned);
        Self::spawn(move |port| {
            let mut c = Command::new(&python);
            c.arg(&script);
            if let Some(errors) = &errors {
                c.arg("--errors").arg(errors);
            }
            c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            c
        })
        .await
    }

    /// The server's URL (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration pointed at this server: region us-east-1, dummy credentials, a few
    /// quick retries and timeouts generous enough for a busy test machine.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(30)).build())
            .build()
    }

    /// Starts the command made for a free port and waits for it; retries on another port if
    /// the server exits at once (another process took the port between probe and bind).
    async fn spawn(command: impl Fn(u16) -> Command) -> Moto {
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().expect("creating moto's log file");
            let out = log.reopen().expect("opening moto's log file");
            let err = out.try_clone().expect("opening moto's log file");
            let mut cmd = command(port);
            cmd.stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err));
            let child = cmd.spawn().unwrap_or_else(|e| panic!("starting moto ({cmd:?}): {e}"));
            let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}"), log, _errors: None };
            match moto.wait_ready(port).await {
                Ok(()) => return moto,
                Err(log) => last_log = log,
            }
        }
        panic!("moto server did not start; its output:\n{last_log}");
    }

    /// Polls until the port accepts connections; `Err(log)` if the server exited or the deadline passed.
    async fn wait_ready(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited with {status})\n{}", self.output()));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("(not listening after {START_DEADLINE:?})\n{}", self.output()))
    }

    /// What the server printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$MOTO_SERVER`, or a panic saying how to run the tests.
fn moto_server() -> PathBuf {
    let path = std::env::var_os("MOTO_SERVER").unwrap_or_else(|| {
        panic!(
            "MOTO_SERVER is not set: run the integration tests through tests/run.sh (it installs moto \
             in a venv and exports MOTO_SERVER=<venv>/bin/moto_server)"
        )
    });
    let path = PathBuf::from(path);
    assert!(File::open(&path).is_ok(), "MOTO_SERVER={} does not exist: run tests/run.sh", path.display());
    path
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("binding 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
