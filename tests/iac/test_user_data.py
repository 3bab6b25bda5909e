#!/usr/bin/env python3
"""Runs the real worker and master user-data scripts against stand-ins for the instance.

Instance metadata (IMDSv2), SSM, S3, systemd and the K3s installer are replaced by small
programs on PATH that answer from files and record what they were asked, so the scripts'
behaviour is checked without an instance:

worker-user-data.sh
  - joins with node name = instance id, --kubelet-arg=provider-id=aws:///<az>/<id>, the zone,
    lifecycle (spot / on-demand from instance-life-cycle) and managed labels, the pinned
    version, the installer from that release's tag, server URL and token from SSM;
  - never prints the join token; retries a failing SSM read; refuses a malformed server URL;
    does nothing on an instance whose agent already runs.
master-user-data.sh
  - waits for the manifest, fetches and verifies every file, runs the bundle's bootstrap
    with the template's settings, keeps them for k3sa-master-refresh, which works alone;
  - refuses a bundle whose file does not match the manifest, or an entry outside the bundle,
    and then leaves the previous configuration in place.

Exit 0 when every case passes (unittest).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "infra" / "scripts" / "worker-user-data.sh"
MASTER = ROOT / "infra" / "scripts" / "master-user-data.sh"
TOKEN = "K10deadbeef::node:s3cr3t-join-token-value"

STUBS = {
    # curl: IMDSv2 token and metadata from $STUB/meta/<path>; downloads (-o) of install.sh
    # get $STUB/fake-install.sh. Every call is logged.
    "curl": r"""#!/usr/bin/env bash
out="" url=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift 2 ;;
    -H|-X|--max-time|--proto|--tlsv1.2) [ "$1" = --tlsv1.2 ] && shift || shift 2 ;;
    -*) shift ;;
    *) url=$1; shift ;;
  esac
done
echo "$url" >>"$STUB/curl.log"
case "$url" in
  */api/token) printf 'imds-token' ;;
  */meta-data/*) f="$STUB/meta/${url#*/meta-data/}"; [ -f "$f" ] && cat "$f" || exit 22 ;;
  */install.sh) cp "$STUB/fake-install.sh" "$out" ;;
  *) exit 6 ;;
esac
""",
    # aws: `ssm get-parameter --name N` from $STUB/ssm/<N>; `s3 cp s3://B/K DEST` from
    # $STUB/s3/B/K. A file $STUB/ssm-fail-once makes the first SSM call fail.
    "aws": r"""#!/usr/bin/env bash
echo "aws $*" >>"$STUB/aws.log"
if [ "$1" = ssm ] && [ "$2" = get-parameter ]; then
  if [ -f "$STUB/ssm-fail-once" ]; then rm -f "$STUB/ssm-fail-once"; echo "ThrottlingException" >&2; exit 255; fi
  while [ $# -gt 0 ]; do [ "$1" = --name ] && name=$2; shift; done
  f="$STUB/ssm$name"; [ -f "$f" ] && cat "$f" && exit 0
  echo "ParameterNotFound" >&2; exit 254
fi
if [ "$1" = s3 ] && [ "$2" = cp ]; then
  shift 2; [ "$1" = --only-show-errors ] && shift
  src=${1#s3://}; f="$STUB/s3/$src"; [ -f "$f" ] || { echo "404 $1" >&2; exit 1; }
  cp "$f" "$2"; exit 0
fi
echo "unexpected aws call" >&2; exit 2
""",
    "systemctl": r"""#!/usr/bin/env bash
echo "systemctl $*" >>"$STUB/systemctl.log"
[ "$1" = is-active ] && { [ -f "$STUB/agent-active" ]; exit $?; }
exit 0
""",
    "logger": "#!/usr/bin/env bash\ncat >/dev/null\n",
    "sleep": "#!/usr/bin/env bash\nexit 0\n",
}

FAKE_INSTALL = r"""#!/bin/sh
# Stands in for K3s' install.sh: records its arguments and environment.
python3 - "$@" <<'PY'
import json, os, sys
keys = ["K3S_URL", "K3S_TOKEN", "INSTALL_K3S_VERSION", "INSTALL_K3S_SKIP_SELINUX_RPM"]
rec = {"args": sys.argv[1:], "env": {k: os.environ.get(k) for k in keys}}
open(os.environ["STUB"] + "/install.json", "w").write(json.dumps(rec))
PY
touch "$STUB/agent-active"
"""

FAKE_BOOTSTRAP = r"""#!/usr/bin/env bash
python3 - <<'PY'
import json, os
keys = ["K3SA_CLUSTER_ID", "K3SA_K3S_VERSION", "K3SA_PARAMETER_PREFIX", "K3SA_WEBHOOK_URL",
        "K3SA_CONFIG_DIR", "AWS_REGION", "K3SA_BUCKET"]
with open(os.environ["STUB"] + "/bootstrap.jsonl", "a") as f:
    f.write(json.dumps({k: os.environ.get(k) for k in keys}) + "\n")
PY
"""


class Harness:
    def __init__(self, tmp: Path):
        self.stub = tmp / "stub"
        self.bin = tmp / "bin"
        for d in (self.stub, self.bin, self.stub / "meta" / "placement"):
            d.mkdir(parents=True, exist_ok=True)
        for name, body in STUBS.items():
            p = self.bin / name
            p.write_text(body)
            p.chmod(p.stat().st_mode | stat.S_IXUSR)
        (self.stub / "fake-install.sh").write_text(FAKE_INSTALL)

    def meta(self, **values):
        for key, value in values.items():
            p = self.stub / "meta" / key
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(value)

    def ssm(self, name: str, value: str):
        p = self.stub / ("ssm" + name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(value)

    def env(self, **extra):
        env = {"PATH": f"{self.bin}:{os.environ['PATH']}", "STUB": str(self.stub), "HOME": str(self.stub)}
        env.update(extra)
        return env

    def run(self, script: Path, env: dict) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                              timeout=120, check=False)


class WorkerUserData(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.h = Harness(self.tmp)
        self.h.meta(**{"instance-id": "i-0abc123", "placement/availability-zone": "us-east-1b",
                       "placement/region": "us-east-1", "local-ipv4": "10.20.17.5",
                       "instance-type": "t3.small", "instance-life-cycle": "spot"})
        self.h.ssm("/k3s-autoscaler/prod/server-url", "https://10.20.3.4:6443")
        self.h.ssm("/k3s-autoscaler/prod/join-token", TOKEN)
        self.env = self.h.env(K3SA_CLUSTER_ID="prod", K3SA_K3S_VERSION="v1.31.4+k3s1",
                              K3SA_PARAMETER_PREFIX="/k3s-autoscaler/prod",
                              K3SA_STATE_DIR=str(self.tmp / "state"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def install_record(self):
        return json.loads((self.h.stub / "install.json").read_text())

    def test_joins_with_the_contract_identity(self):
        r = self.h.run(WORKER, self.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rec = self.install_record()
        args = rec["args"]
        self.assertEqual(args[0], "agent")
        self.assertIn("--node-name", args)
        self.assertEqual(args[args.index("--node-name") + 1], "i-0abc123")
        self.assertEqual(args[args.index("--node-ip") + 1], "10.20.17.5")
        self.assertIn("--kubelet-arg=provider-id=aws:///us-east-1b/i-0abc123", args)
        labels = [args[i + 1] for i, a in enumerate(args) if a == "--node-label"]
        self.assertEqual(sorted(labels), sorted([
            "topology.kubernetes.io/zone=us-east-1b", "node.kubernetes.io/instance-type=t3.small",
            "k3s-autoscaler/lifecycle=spot", "k3s-autoscaler/managed=true"]))
        self.assertEqual(rec["env"], {"K3S_URL": "https://10.20.3.4:6443", "K3S_TOKEN": TOKEN,
                                      "INSTALL_K3S_VERSION": "v1.31.4+k3s1",
                                      "INSTALL_K3S_SKIP_SELINUX_RPM": "true"})
        curls = (self.h.stub / "curl.log").read_text()
        self.assertIn("https://raw.githubusercontent.com/k3s-io/k3s/v1.31.4%2Bk3s1/install.sh", curls)
        self.assertNotIn("s3cr3t", r.stdout + r.stderr, "the join token was printed")
        self.assertNotIn("s3cr3t", (self.h.stub / "aws.log").read_text(), "the token was on a command line")

    def test_on_demand_lifecycle(self):
        self.h.meta(**{"instance-life-cycle": "on-demand"})
        r = self.h.run(WORKER, self.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("k3s-autoscaler/lifecycle=on-demand", self.install_record()["args"])

    def test_retries_a_failing_ssm_read(self):
        (self.h.stub / "ssm-fail-once").touch()
        r = self.h.run(WORKER, self.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("retrying", r.stdout + r.stderr)
        self.assertEqual(self.install_record()["env"]["K3S_URL"], "https://10.20.3.4:6443")

    def test_refuses_a_malformed_server_url(self):
        self.h.ssm("/k3s-autoscaler/prod/server-url", "http://evil.example:80")
        r = self.h.run(WORKER, self.env)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse((self.h.stub / "install.json").exists())

    def test_nothing_to_do_when_the_agent_runs(self):
        (self.h.stub / "agent-active").touch()
        r = self.h.run(WORKER, self.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse((self.h.stub / "install.json").exists())


class MasterUserData(unittest.TestCase):
    BUCKET = "prod-nodeconfig"

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.h = Harness(self.tmp)
        self.h.meta(**{"placement/region": "us-east-1"})
        self.root = self.tmp / "root"
        self.settings = dict(K3SA_CLUSTER_ID="prod", K3SA_K3S_VERSION="v1.31.4+k3s1",
                             K3SA_PARAMETER_PREFIX="/k3s-autoscaler/prod", K3SA_BUCKET=self.BUCKET,
                             K3SA_CONFIG_PREFIX="node-config",
                             K3SA_WEBHOOK_URL="https://abc.lambda-url.us-east-1.on.aws/alertmanager")
        self.publish({"scripts/master-bootstrap.sh": FAKE_BOOTSTRAP,
                      "k8s/rbac.yaml": (ROOT / "infra/k8s/rbac.yaml").read_text()})

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def publish(self, files: dict[str, str], manifest_extra: str = ""):
        base = self.h.stub / "s3" / self.BUCKET / "node-config"
        shutil.rmtree(base, ignore_errors=True)
        lines = []
        for path, text in sorted(files.items()):
            p = base / path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            lines.append(f"{hashlib.sha256(text.encode()).hexdigest()}  {path}\n")
        (base / "manifest.sha256").write_text("".join(lines) + manifest_extra)
        return base

    def runs(self):
        p = self.h.stub / "bootstrap.jsonl"
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []

    def test_fetches_verifies_and_runs_the_bootstrap(self):
        r = self.h.run(MASTER, self.h.env(K3SA_ROOT=str(self.root), **self.settings))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        config = self.root / "opt/k3s-autoscaler/node-config"
        self.assertEqual(self.runs(), [{**{k: v for k, v in self.settings.items()
                                           if k not in ("K3SA_CONFIG_PREFIX",)},
                                        "K3SA_CONFIG_DIR": str(config), "AWS_REGION": "us-east-1"}])
        self.assertEqual((config / "k8s/rbac.yaml").read_text(), (ROOT / "infra/k8s/rbac.yaml").read_text())
        env_file = self.root / "etc/k3s-autoscaler/master.env"
        self.assertEqual(stat.S_IMODE(env_file.stat().st_mode), 0o600)

        # k3sa-master-refresh alone (as SSM Run Command runs it): the kept settings are used.
        refresh = self.root / "usr/local/sbin/k3sa-master-refresh"
        self.assertTrue(os.access(refresh, os.X_OK))
        r = subprocess.run(["bash", str(refresh)], env=self.h.env(K3SA_ROOT=str(self.root)),
                           capture_output=True, text=True, timeout=120, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(self.runs()), 2)
        self.assertEqual(self.runs()[1]["K3SA_WEBHOOK_URL"], self.settings["K3SA_WEBHOOK_URL"])

    def test_refuses_a_tampered_file_and_keeps_the_previous_configuration(self):
        env = self.h.env(K3SA_ROOT=str(self.root), **self.settings)
        self.assertEqual(self.h.run(MASTER, env).returncode, 0)
        base = self.h.stub / "s3" / self.BUCKET / "node-config"
        (base / "k8s/rbac.yaml").write_text("kind: ClusterRole  # tampered\n")
        r = self.h.run(MASTER, env)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(len(self.runs()), 1, "the bootstrap ran on a bundle that does not verify")
        kept = self.root / "opt/k3s-autoscaler/node-config/k8s/rbac.yaml"
        self.assertEqual(kept.read_text(), (ROOT / "infra/k8s/rbac.yaml").read_text())

    def test_refuses_an_entry_outside_the_bundle(self):
        self.publish({"scripts/master-bootstrap.sh": FAKE_BOOTSTRAP},
                     manifest_extra=f"{'0' * 64}  ../../etc/passwd\n")
        r = self.h.run(MASTER, self.h.env(K3SA_ROOT=str(self.root), **self.settings))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("refusing manifest entry", r.stdout + r.stderr)
        self.assertEqual(self.runs(), [])


if __name__ == "__main__":
    unittest.main(verbosity=1)
