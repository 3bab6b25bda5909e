#!/usr/bin/env python3
"""The alarms and the dashboard of infra/template.yaml, checked against the code and the docs.

1. infra/dashboard.json is embedded verbatim in the template after its `# embed-json:` marker
   (`--write` rewrites the copy from the file), and renders to valid JSON with and without the
   NAT instance; every `${...}` in it is a parameter, a pseudo parameter, a resource (or one of
   its attributes) or a variable of its Fn::Sub;
2. every K3sAutoscaler metric an alarm or a widget reads is one the code emits, with exactly
   the dimension set the code writes (EMF declares one dimension set per metric, and CloudWatch
   only matches a query naming that exact set), or one listed below as planned;
3. every AWS/Lambda and AWS/SQS metric names a function or queue of this template, and every
   widget's region and cluster are the stack's;
4. the dashboard's lines for thresholds equal infra/policy.yaml's values and the stack's bounds,
   its widgets fit the 24-column grid without overlapping, and its alarm widget lists every alarm;
5. every alarm is named `${ClusterId}-autoscaler-<what>` (AlarmTopicPolicy admits only those),
   notifies the alarm topic on ALARM and OK, and its description ends with
   `Runbook: docs/RUNBOOKS.md#<what>`, a section that exists;
6. docs/OBSERVABILITY.md documents every metric the code declares or this file plans, and
   every alarm;
7. the scaler log queries (dashboard and docs) match the scaler's log shape: event fields nested
   under `fields.` unless services/scaler/src/main.rs flattens them;
8. every relative link in the operator docs (ARCHITECTURE, RUNBOOKS, TESTING, OBSERVABILITY)
   names a file that exists and, with `#anchor`, a heading of that file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_yaml import load_template  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
METRIC_RS = ROOT / "shared" / "core" / "src" / "metric.rs"
RUNBOOKS = ROOT / "docs" / "RUNBOOKS.md"
OBSERVABILITY = ROOT / "docs" / "OBSERVABILITY.md"
POLICY = ROOT / "infra" / "policy.yaml"
NAMESPACE = "K3sAutoscaler"
MARKER = re.compile(r"^(?P<indent>\s*)# embed-json: (?P<path>\S+)\s*$")
BLOCK_START = re.compile(r"^(?P<indent>\s*)- \|\s*$")

# Metrics the alarms and the dashboard may read before any code emits them, with the dimension
# set they are to be written with (to be documented in docs/OBSERVABILITY.md). None today.
PLANNED: dict[str, tuple[str, ...]] = {}


# ---------------------------------------------------------------------------- embedding
def find_block(lines: list[str]):
    """(path, start, end, indent) of the one embed-json block: lines[start:end] are its content."""
    found = []
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        if i + 1 >= len(lines) or not BLOCK_START.match(lines[i + 1]):
            raise SystemExit(f"{TEMPLATE}:{i + 2}: '- |' expected after the embed-json marker")
        indent = len(BLOCK_START.match(lines[i + 1]).group("indent")) + 2
        start = end = i + 2
        while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip(" ")) >= indent):
            end += 1
        while end > start and not lines[end - 1].strip():
            end -= 1
        found.append((m.group("path"), start, end, indent))
    if len(found) != 1:
        raise SystemExit(f"{TEMPLATE}: expected exactly one '# embed-json:' marker, found {len(found)}")
    return found[0]


def embedded_text(lines, start, end, indent) -> str:
    return "".join(line[indent:] if line.strip() else "\n" for line in lines[start:end])


def rendered_block(text: str, indent: int) -> list[str]:
    if "\t" in text:
        raise SystemExit("tabs cannot be embedded in a YAML block; use spaces")
    pad = " " * indent
    return [(pad + line if line.strip() else "\n") for line in text.splitlines(keepends=True)]


def check_embedding(write: bool, errors: list[str]) -> None:
    lines = TEMPLATE.read_text().splitlines(keepends=True)
    path, start, end, indent = find_block(lines)
    text = (ROOT / path).read_text()
    if write:
        lines[start:end] = rendered_block(text, indent)
        TEMPLATE.write_text("".join(lines))
        lines = TEMPLATE.read_text().splitlines(keepends=True)
        path, start, end, indent = find_block(lines)
    if embedded_text(lines, start, end, indent) != text:
        errors.append(f"{TEMPLATE.name}:{start + 1}: the copy of {path} differs from the file "
                      "(run tests/iac/check_monitoring.py --write)")


# ------------------------------------------------------------------- rendering Fn::Sub
class Renderer:
    """Renders the dashboard's Fn::Sub with recognisable tokens: `ref:<name>` for a Ref,
    `att:<resource>.<attribute>` for a GetAtt, the default of Number parameters (so the JSON
    keeps numbers where numbers are), and the chosen branch of each Fn::If."""

    def __init__(self, template: dict, conditions_true: bool):
        self.params = template["Parameters"]
        self.resources = template["Resources"]
        self.conditions_true = conditions_true
        self.unknown: list[str] = []

    def name(self, ref: str) -> str:
        if ref.startswith("AWS::"):
            return f"ref:{ref}"
        if ref in self.params:
            p = self.params[ref]
            return str(p["Default"]) if p.get("Type") == "Number" else f"ref:{ref}"
        if ref in self.resources:
            return f"ref:{ref}"
        if "." in ref and ref.split(".", 1)[0] in self.resources:
            return f"att:{ref}"
        self.unknown.append(ref)
        return f"unknown:{ref}"

    def value(self, node):
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                return self.name(arg)
            if fn == "Fn::GetAtt":
                return self.name(".".join(arg))
            if fn == "Fn::Join":
                return arg[0].join(self.value(v) for v in arg[1])
            if fn == "Fn::If":
                return self.value(arg[1] if self.conditions_true else arg[2])
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self.sub(text, variables)
        raise SystemExit(f"check_monitoring: cannot render {node!r}")

    def sub(self, text: str, variables: dict) -> str:
        values = {k: self.value(v) for k, v in variables.items()}

        def one(m: re.Match) -> str:
            key = m.group(1)
            return values[key] if key in values else self.name(key)

        return re.sub(r"\$\{([^}!]+)\}", one, text)


def dashboard_bodies(template: dict, errors: list[str]):
    """The dashboard body rendered with the NAT instance and without, parsed."""
    dashboards = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    if len(dashboards) != 1:
        errors.append(f"template: expected one AWS::CloudWatch::Dashboard, found {len(dashboards)}")
        return []
    body = dashboards[0]["Properties"]["DashboardBody"]
    out = []
    for conditions_true in (True, False):
        r = Renderer(template, conditions_true)
        text = r.value(body)
        for u in sorted(set(r.unknown)):
            errors.append(f"dashboard: ${{{u}}} is no parameter, resource or Fn::Sub variable")
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError as e:
            which = "with" if conditions_true else "without"
            errors.append(f"dashboard: the body {which} the NAT instance is not valid JSON: {e}")
    return out


# ------------------------------------------------------------------------ the code side
def declared_metrics() -> dict[str, str]:
    """metric.rs: constant name -> metric name."""
    text = METRIC_RS.read_text()
    return dict(re.findall(r'pub const ([A-Z_]+): &str = "([A-Za-z]+)";', text))


def production_sources():
    for base in ("shared", "services"):
        for path in sorted((ROOT / base).rglob("*.rs")):
            parts = set(path.relative_to(ROOT).parts)
            if "tests" in parts or path.name in ("tests.rs", "crash.rs") or "target" in parts:
                continue
            text = path.read_text()
            # An inline test module ends the production code (`#[cfg(test)] mod tests;` does not).
            inline = re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)
            yield path, text if inline is None else text[:inline.start()]


def emitted_metrics(consts: dict[str, str]) -> dict[str, set[tuple[str, ...]]]:
    """Metric name -> the dimension sets the production code writes it with: `cluster` (every
    `Metric::count/seconds` constructor) plus each `.with("key", …)` of the same statement."""
    out: dict[str, set[tuple[str, ...]]] = {}
    for _path, text in production_sources():
        for m in re.finditer(r"Metric::(?:count|seconds)\(\s*(?:crate::metric::)?names::([A-Z_]+)", text):
            end = text.find(";", m.end())
            statement = text[m.start(): end if end >= 0 else len(text)]
            dims = ("cluster",) + tuple(re.findall(r'\.with\(\s*"([a-z_]+)"', statement))
            name = consts.get(m.group(1))
            if name:
                out.setdefault(name, set()).add(dims)
    return out


# ------------------------------------------------------------------- metric references
def dashboard_references(body: dict) -> list[tuple[str, str, dict, str]]:
    """(namespace, metric, {dimension: value}, where) of every metric a widget reads."""
    refs = []
    for i, w in enumerate(body.get("widgets", [])):
        where = f"widget {i} ({w.get('properties', {}).get('title', w['type'])})"
        for row in w.get("properties", {}).get("metrics", []) if w["type"] == "metric" else []:
            items = [x for x in row if not isinstance(x, dict)]
            for expr in (x.get("expression") for x in row if isinstance(x, dict) and "expression" in x):
                refs.extend((ns, name, dims, where) for ns, name, dims in search_references(expr, where))
            if items:
                if len(items) % 2 != 0 or "." in items:
                    raise SystemExit(f"check_monitoring: {where}: write every metric in full: {row}")
                ns, name, *pairs = items
                refs.append((ns, name, dict(zip(pairs[::2], pairs[1::2])), where))
    return refs


def search_references(expr: str, where: str):
    m = re.fullmatch(r"""SEARCH\('\{([^}]*)\} MetricName="([A-Za-z]+)"((?: [a-z_]+="[^"]*")*)', '[A-Za-z0-9]+', \d+\)""", expr)
    if not m:
        raise SystemExit(f"check_monitoring: {where}: unexpected expression {expr!r}")
    ns, *keys = [k.strip() for k in m.group(1).split(",")]
    values = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(3)))
    yield ns, m.group(2), {k: values.get(k, "*") for k in keys}


def alarm_references(name: str, props: dict) -> list[tuple[str, str, dict, str]]:
    where = f"alarm {name}"
    if "MetricName" in props:
        dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        return [(props["Namespace"], props["MetricName"], dims, where)]
    refs = []
    for q in props.get("Metrics", []):
        expr = q.get("Expression")
        if isinstance(expr, dict):
            expr = expr["Fn::Sub"]
        m = re.fullmatch(r"SELECT SUM\(([A-Za-z]+)\) FROM SCHEMA\(([^)]*)\) WHERE cluster = '\$\{ClusterId\}'", expr or "")
        if not m:
            raise SystemExit(f"check_monitoring: {where}: unexpected query {expr!r}")
        ns, *keys = [k.strip() for k in m.group(2).split(",")]
        refs.append((ns, m.group(1), {k: ({"Ref": "ClusterId"} if k == "cluster" else "*") for k in keys}, where))
    return refs


def check_references(refs, template: dict, emitted, errors: list[str]) -> None:
    res = template["Resources"]
    functions = {n for n, r in res.items() if r["Type"] == "AWS::Serverless::Function"}
    queues = {n for n, r in res.items() if r["Type"] == "AWS::SQS::Queue"}
    cluster_values = ({"Ref": "ClusterId"}, "ref:ClusterId")
    for ns, name, dims, where in refs:
        if ns == NAMESPACE:
            keys = tuple(dims)
            if name in emitted:
                if set(emitted[name]) != {keys}:
                    errors.append(f"{where}: {name} with dimensions {list(keys)}, but the code writes "
                                  f"{sorted(list(d) for d in emitted[name])}")
            elif name in PLANNED:
                if keys != PLANNED[name]:
                    errors.append(f"{where}: planned metric {name} is to have dimensions {list(PLANNED[name])}")
            else:
                errors.append(f"{where}: {NAMESPACE} {name} is neither emitted by the code nor planned")
            if dims.get("cluster") not in cluster_values:
                errors.append(f"{where}: {name} must be read for cluster = the stack's ClusterId")
        elif ns == "AWS/Lambda":
            fn = dims.get("FunctionName")
            ok = [f"ref:{f}" for f in functions] + [{"Ref": f} for f in functions]
            if list(dims) != ["FunctionName"] or fn not in ok:
                errors.append(f"{where}: {name} must be read by FunctionName of one of {sorted(functions)}")
        elif ns == "AWS/SQS":
            q = dims.get("QueueName")
            ok = [f"att:{n}.QueueName" for n in queues] + [{"Fn::GetAtt": [n, "QueueName"]} for n in queues]
            if list(dims) != ["QueueName"] or q not in ok:
                errors.append(f"{where}: {name} must be read by QueueName of one of {sorted(queues)}")
        elif ns != "AWS/EC2":
            errors.append(f"{where}: unexpected namespace {ns}")


# ------------------------------------------------------------------------- the dashboard
def seconds(text: str) -> int:
    total = 0
    for amount, unit in re.findall(r"(\d+)\s*([smh])", text):
        total += int(amount) * {"s": 1, "m": 60, "h": 3600}[unit]
    return total


def check_dashboard(body: dict, template: dict, errors: list[str]) -> None:
    widgets = body.get("widgets", [])
    cells: dict[tuple[int, int], int] = {}
    for i, w in enumerate(widgets):
        x, y, wd, ht = w["x"], w["y"], w["width"], w["height"]
        if x < 0 or wd < 1 or x + wd > 24:
            errors.append(f"dashboard: widget {i} does not fit the 24-column grid")
        for cx in range(x, x + wd):
            for cy in range(y, y + ht):
                if (cx, cy) in cells:
                    errors.append(f"dashboard: widgets {cells[(cx, cy)]} and {i} overlap at ({cx}, {cy})")
                    break
                cells[(cx, cy)] = i
        props = w.get("properties", {})
        if w["type"] in ("metric", "log") and props.get("region") != "ref:AWS::Region":
            errors.append(f"dashboard: widget {i} must use the stack's region")

    def lines_of(title_part: str) -> dict[str, float]:
        for w in widgets:
            if title_part in w.get("properties", {}).get("title", ""):
                return {a["label"]: a["value"] for a in w["properties"].get("annotations", {}).get("horizontal", [])}
        errors.append(f"dashboard: no widget titled '...{title_part}...'")
        return {}

    policy = yaml.safe_load(POLICY.read_text())
    params = template["Parameters"]
    want = {
        "Workers": {"max_workers": params["MaxWorkers"]["Default"], "min_workers": params["MinWorkers"]["Default"]},
        "CpuPercent": {"scale_up.cpu_percent": policy["scale_up"]["cpu_percent"],
                       "target_utilization_percent": policy["target_utilization_percent"],
                       "scale_down.cpu_percent": policy["scale_down"]["cpu_percent"]},
        "NodeJoinSeconds": {"worker.ready_timeout": seconds(policy["worker"]["ready_timeout"])},
        "DrainSeconds": {"drain.timeout": seconds(policy["drain"]["timeout"])},
    }
    for title, expected in want.items():
        got = lines_of(title)
        if got != expected:
            errors.append(f"dashboard: the {title} widget's lines {got} differ from {expected} (policy, stack bounds)")

    alarms = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    listed = set()
    for w in widgets:
        if w["type"] == "alarm":
            for arn in w["properties"]["alarms"]:
                listed.add(arn.removeprefix("att:").removesuffix(".Arn"))
    conditional = {n for n in alarms if "Condition" in template["Resources"][n]}
    missing = alarms - listed
    if missing - conditional:
        errors.append(f"dashboard: the alarm widget misses {sorted(missing - conditional)}")
    if listed - alarms:
        errors.append(f"dashboard: the alarm widget lists unknown alarms {sorted(listed - alarms)}")


def check_conditional_alarms_listed(bodies: list[dict], template: dict, errors: list[str]) -> None:
    """A conditional alarm must be in the widget when its condition holds (the first body)."""
    if not bodies:
        return
    listed = {a for w in bodies[0]["widgets"] if w["type"] == "alarm" for a in w["properties"]["alarms"]}
    for n, r in template["Resources"].items():
        if r["Type"] == "AWS::CloudWatch::Alarm" and "Condition" in r and f"att:{n}.Arn" not in listed:
            errors.append(f"dashboard: the alarm widget misses {n} when its condition holds")


# ----------------------------------------------------------------------------- alarms
def github_anchors(markdown: str) -> set[str]:
    anchors, seen = set(), {}
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def check_alarms(template: dict, errors: list[str]) -> list[str]:
    anchors = github_anchors(RUNBOOKS.read_text()) if RUNBOOKS.exists() else set()
    if not anchors:
        errors.append(f"{RUNBOOKS.relative_to(ROOT)} is missing or has no sections")
    whats = []
    for n, r in template["Resources"].items():
        if r["Type"] != "AWS::CloudWatch::Alarm":
            continue
        p = r["Properties"]
        name = p.get("AlarmName", {})
        m = re.fullmatch(r"\$\{ClusterId\}-autoscaler-([a-z0-9-]+)", name.get("Fn::Sub", "") if isinstance(name, dict) else "")
        if not m:
            errors.append(f"alarm {n}: AlarmName must be !Sub \"${{ClusterId}}-autoscaler-<what>\"")
            continue
        what = m.group(1)
        whats.append(what)
        for key in ("AlarmActions", "OKActions"):
            if {"Ref": "AlarmTopic"} not in p.get(key, []):
                errors.append(f"alarm {n}: {key} must include the alarm topic")
        desc = p.get("AlarmDescription", "")
        if not isinstance(desc, str) or not desc.rstrip().endswith(f"Runbook: docs/RUNBOOKS.md#{what}"):
            errors.append(f"alarm {n}: the description must end with 'Runbook: docs/RUNBOOKS.md#{what}'")
        elif len(desc) > 1024:
            errors.append(f"alarm {n}: the description is {len(desc)} characters (CloudWatch allows 1024)")
        if what not in anchors:
            errors.append(f"alarm {n}: docs/RUNBOOKS.md has no section #{what}")
        if p.get("TreatMissingData") not in ("breaching", "notBreaching", "ignore", "missing"):
            errors.append(f"alarm {n}: set TreatMissingData explicitly")
    return whats


def check_docs(consts: dict[str, str], alarms: list[str], errors: list[str]) -> None:
    if not OBSERVABILITY.exists():
        errors.append(f"{OBSERVABILITY.relative_to(ROOT)} is missing")
        return
    text = OBSERVABILITY.read_text()
    for name in sorted(set(consts.values()) | set(PLANNED)):
        if f"`{name}`" not in text:
            errors.append(f"docs/OBSERVABILITY.md does not document the metric `{name}`")
    for what in alarms:
        if f"autoscaler-{what}`" not in text:
            errors.append(f"docs/OBSERVABILITY.md does not list the alarm `<cluster>-autoscaler-{what}`")


def check_log_shape(errors: list[str]) -> None:
    """tracing-subscriber's JSON puts event fields under `fields` unless `flatten_event(true)`."""
    main_rs = (ROOT / "services" / "scaler" / "src" / "main.rs").read_text()
    flattened = re.search(r"flatten_event\(\s*true\s*\)", main_rs) is not None
    dashboard = (ROOT / "infra" / "dashboard.json").read_text()
    docs = OBSERVABILITY.read_text() if OBSERVABILITY.exists() else ""
    nested = re.findall(r"\bfields\.[a-z_]+", dashboard + docs)
    if flattened and nested:
        errors.append(f"the scaler now flattens its log fields: drop `fields.` from the queries in "
                      f"infra/dashboard.json and docs/OBSERVABILITY.md ({len(nested)} uses)")
    if not flattened and "fields.outcome" not in dashboard:
        errors.append("the scaler nests its log fields under `fields`: the dashboard's query must read fields.outcome")


DOCS = [ROOT / "docs" / n for n in ("ARCHITECTURE.md", "RUNBOOKS.md", "TESTING.md", "OBSERVABILITY.md")]


def check_links(errors: list[str]) -> None:
    for doc in DOCS:
        if not doc.exists():
            errors.append(f"{doc.relative_to(ROOT)} is missing")
            continue
        text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                errors.append(f"{doc.name}: link to {target}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in github_anchors(file.read_text()):
                errors.append(f"{doc.name}: link to {target}: no such section")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the embedded dashboard from infra/dashboard.json")
    args = parser.parse_args()

    errors: list[str] = []
    check_embedding(args.write, errors)
    template = load_template(TEMPLATE)
    consts = declared_metrics()
    emitted = emitted_metrics(consts)
    bodies = dashboard_bodies(template, errors)
    refs = []
    for body in bodies[:1]:
        refs += dashboard_references(body)
        check_dashboard(body, template, errors)
    check_conditional_alarms_listed(bodies, template, errors)
    for n, r in template["Resources"].items():
        if r["Type"] == "AWS::CloudWatch::Alarm":
            refs += alarm_references(n, r["Properties"])
    check_references(refs, template, emitted, errors)
    alarms = check_alarms(template, errors)
    check_docs(consts, alarms, errors)
    check_log_shape(errors)
    check_links(errors)

    unknown_planned = sorted(set(PLANNED) & set(emitted))
    for e in errors:
        print(f"check_monitoring: {e}", file=sys.stderr)
    if errors:
        return 1
    for name in unknown_planned:
        print(f"check_monitoring: note: {name} is emitted now; remove it from PLANNED", file=sys.stderr)
    used = {name for ns, name, _, _ in refs if ns == NAMESPACE}
    planned_used = sorted(used & set(PLANNED) - set(emitted))
    print(f"check_monitoring: {len(alarms)} alarms with runbooks, {len(bodies[0]['widgets'])} widgets, "
          f"{len(used)} {NAMESPACE} metrics match the code"
          + (f" ({len(planned_used)} planned: {', '.join(planned_used)})" if planned_used else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
