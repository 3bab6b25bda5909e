#!/usr/bin/env python3
"""Check that the IAM policies in infra/template.yaml and infra/iam/*.json agree, and audit them.

infra/iam/<role>.json is the reviewable copy of each role's inline policy, with ARNs written
with the template's ${...} placeholders (${AWS::Region}, ${ClusterId}, ${StateTable.Arn} for
a GetAtt, ${WorkerLaunchTemplate} for a Ref). This script

1. loads the template with a loader that understands !Ref/!Sub/!GetAtt/... (cfn_yaml.py),
   turns every intrinsic into that placeholder form, and compares each role's statements
   (Sid, Effect, actions, resources, conditions) with the JSON file, both ways;
2. checks each role's trust policy and managed policies against the expected ones;
3. rejects wildcard actions and "Resource": "*" on anything but the actions that support
   no resource-level permissions;
4. runs parliament (offline IAM linter) on each JSON policy, with the placeholders replaced
   by sample values, and fails on any finding: unknown actions, condition keys that do not
   apply to an action, resources that match none of an action's resource types.

Exit 0 when all agree; prints one line per problem otherwise.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_yaml import load_template  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
IAM_DIR = ROOT / "infra" / "iam"

# Role logical id -> (policy file, trusted service, managed policies, extra trust condition)
SSM_CORE = "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
ROLES = {
    "WebhookRole": ("webhook.json", "lambda.amazonaws.com", []),
    "ScalerRole": ("scaler.json", "lambda.amazonaws.com", []),
    "ReconcilerRole": ("reconciler.json", "lambda.amazonaws.com", []),
    "SchedulerRole": ("scheduler.json", "scheduler.amazonaws.com", []),
    "MasterRole": ("master.json", "ec2.amazonaws.com", [SSM_CORE]),
    "WorkerRole": ("worker.json", "ec2.amazonaws.com", [SSM_CORE]),
    "NatInstanceRole": ("nat.json", "ec2.amazonaws.com", [SSM_CORE]),
}

# Actions that support no resource-level permissions: the only ones allowed on "*".
STAR_ALLOWED = {
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
}

# Sample values for parliament, which needs real-looking ARNs.
SAMPLE = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "ClusterId": "prod",
    "SlackWebhookParameter": "/k3s-autoscaler/prod/slack-webhook",
    "StateTable.Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/prod-autoscaler-state",
    "AutoscalerQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:prod-autoscaler.fifo",
    "EventsDeadLetterQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:prod-autoscaler-events-dlq",
    "WorkerRole.Arn": "arn:aws:iam::123456789012:role/prod-WorkerRole-ABC",
    "ReconcilerFunction.Arn": "arn:aws:lambda:us-east-1:123456789012:function:prod-autoscaler-reconciler",
    "NodeConfigBucket.Arn": "arn:aws:s3:::prod-nodeconfigbucket-abc",
    "WebhookLogGroup.Arn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/prod-autoscaler-webhook:*",
    "ScalerLogGroup.Arn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/prod-autoscaler-scaler:*",
    "ReconcilerLogGroup.Arn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/prod-autoscaler-reconciler:*",
    "WorkerLaunchTemplate": "lt-0123456789abcdef0",
    "PublicSubnetA": "subnet-0123456789abcdef0",
    "PublicSubnetB": "subnet-0123456789abcdef1",
    "PrivateSubnetA": "subnet-0123456789abcdef2",
    "PrivateSubnetB": "subnet-0123456789abcdef3",
    "WorkerSecurityGroup": "sg-0123456789abcdef0",
    "LambdaSecurityGroup": "sg-0123456789abcdef1",
    "Vpc": "vpc-0123456789abcdef0",
}


def normalise(node):
    """Intrinsics -> strings with ${...} placeholders, recursively."""
    if isinstance(node, dict):
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return "${" + value + "}"
            if key == "Fn::GetAtt":
                return "${" + ".".join(value) + "}"
            if key == "Fn::Sub":
                if isinstance(value, str):
                    return value
                text, variables = value
                for name, var in variables.items():
                    rendered = normalise(var)
                    if isinstance(rendered, str) and "${" not in rendered:
                        text = text.replace("${" + name + "}", rendered)
                return text
        return {k: normalise(v) for k, v in node.items()}
    if isinstance(node, list):
        return [normalise(v) for v in node]
    return node


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def canonical_statement(st: dict) -> dict:
    out = {"Sid": st.get("Sid"), "Effect": st.get("Effect")}
    for key in ("Action", "NotAction", "Resource", "NotResource", "Principal"):
        if key in st:
            out[key] = sorted(as_list(st[key])) if key != "Principal" else st[key]
    if "Condition" in st:
        out["Condition"] = {op: {k: sorted(as_list(v)) for k, v in body.items()}
                            for op, body in st["Condition"].items()}
    unknown = set(st) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
    if unknown:
        out["_unknown"] = sorted(unknown)
    return out


def statements_by_sid(doc: dict, where: str, errors: list[str]) -> dict[str, dict]:
    out = {}
    for st in as_list(doc.get("Statement", [])):
        sid = st.get("Sid")
        if not sid:
            errors.append(f"{where}: every statement needs a Sid")
            continue
        if sid in out:
            errors.append(f"{where}: duplicate Sid {sid}")
        out[sid] = canonical_statement(st)
    return out


def substitute(text: str) -> str:
    def repl(m):
        name = m.group(1)
        if name not in SAMPLE:
            raise KeyError(f"no sample value for ${{{name}}}")
        return SAMPLE[name]
    return re.sub(r"\$\{([^}]+)\}", repl, text)


def parliament_findings(doc: dict) -> list[str]:
    """parliament's findings, with one known false positive handled.

    parliament wants each statement to cover every resource type an action requires. For
    ec2:RunInstances that is wrong on purpose: the request-tag condition must sit on the
    instance/volume statement only (image, subnet and security group carry no request tags,
    so the condition would deny them), as AWS's own examples do. So RunInstances'
    RESOURCE_MISMATCH is ignored per statement and checked instead on the union of its
    statements' resources, which must cover every required type."""
    from parliament import analyze_policy_string

    def analyse(d: dict):
        return analyze_policy_string(substitute(json.dumps(d)), include_community_auditors=False).findings

    out = []
    for f in analyse(doc):
        detail = f.detail if isinstance(f.detail, list) else []
        if f.issue == "RESOURCE_MISMATCH" and detail and \
                all(isinstance(d, dict) and d.get("action") == "ec2:RunInstances" for d in detail):
            continue
        out.append(f"{f.issue}: {f.detail}")
    run = [st for st in as_list(doc["Statement"])
           if st["Effect"] == "Allow" and as_list(st.get("Action", [])) == ["ec2:RunInstances"]]
    if run:
        union = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ec2:RunInstances",
            "Resource": sorted({r for st in run for r in as_list(st["Resource"])})}]}
        out += [f"{f.issue} (ec2:RunInstances statements together): {f.detail}" for f in analyse(union)]
    return out


def check_role(name: str, res: dict, errors: list[str]) -> None:
    file, service, managed = ROLES[name]
    props = normalise(res.get("Properties", {}))
    where = f"{name} ({TEMPLATE.name})"

    trust = as_list(props["AssumeRolePolicyDocument"]["Statement"])
    if len(trust) != 1 or trust[0].get("Principal") != {"Service": service} \
            or trust[0].get("Action") != "sts:AssumeRole" or trust[0].get("Effect") != "Allow":
        errors.append(f"{where}: trust policy must allow exactly {service} to sts:AssumeRole")
    if service == "scheduler.amazonaws.com" and \
            trust[0].get("Condition") != {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}}:
        errors.append(f"{where}: the Scheduler trust needs an aws:SourceAccount condition")
    if sorted(props.get("ManagedPolicyArns", [])) != sorted(managed):
        errors.append(f"{where}: managed policies {props.get('ManagedPolicyArns', [])} != {managed}")

    policies = props.get("Policies", [])
    if len(policies) != 1:
        errors.append(f"{where}: exactly one inline policy expected, found {len(policies)}")
        return
    template_doc = policies[0]["PolicyDocument"]
    path = IAM_DIR / file
    if not path.exists():
        errors.append(f"{where}: {path.relative_to(ROOT)} is missing")
        return
    json_doc = json.loads(path.read_text())
    jwhere = str(path.relative_to(ROOT))
    if json_doc.get("Version") != "2012-10-17" or template_doc.get("Version") != "2012-10-17":
        errors.append(f"{where}: policy Version must be 2012-10-17 in both")

    t = statements_by_sid(template_doc, where, errors)
    j = statements_by_sid(json_doc, jwhere, errors)
    for sid in sorted(set(t) | set(j)):
        if sid not in j:
            errors.append(f"{jwhere}: statement {sid} is in the template only")
        elif sid not in t:
            errors.append(f"{where}: statement {sid} is in {jwhere} only")
        elif t[sid] != j[sid]:
            for key in sorted(set(t[sid]) | set(j[sid])):
                if t[sid].get(key) != j[sid].get(key):
                    errors.append(f"{name}/{sid}: {key} differs: template {t[sid].get(key)} "
                                  f"vs {jwhere} {j[sid].get(key)}")

    for sid, st in j.items():
        actions = st.get("Action", [])
        if st.get("NotAction") or any("*" in a for a in actions):
            errors.append(f"{jwhere}/{sid}: wildcard or NotAction actions are not allowed")
        if st["Effect"] == "Allow" and "*" in st.get("Resource", []):
            loose = sorted(set(actions) - STAR_ALLOWED)
            if loose:
                errors.append(f"{jwhere}/{sid}: {loose} on Resource \"*\" (scope them)")
        if st["Effect"] == "Allow" and "NotResource" in st:
            errors.append(f"{jwhere}/{sid}: Allow with NotResource")

    try:
        for finding in parliament_findings(json_doc):
            errors.append(f"{jwhere}: parliament: {finding}")
    except KeyError as e:
        errors.append(f"{jwhere}: {e.args[0]}")


def main() -> int:
    errors: list[str] = []
    resources = load_template(TEMPLATE)["Resources"]
    roles = {n: r for n, r in resources.items() if r.get("Type") == "AWS::IAM::Role"}
    for name in sorted(set(roles) - set(ROLES)):
        errors.append(f"{name}: a role not known to {Path(__file__).name} (add it with its infra/iam file)")
    for name in sorted(set(ROLES) - set(roles)):
        errors.append(f"{name}: expected in the template")
    for name in sorted(set(roles) & set(ROLES)):
        check_role(name, roles[name], errors)
    # Functions must use these roles, never SAM's generated ones (Policies on a function).
    for name, res in resources.items():
        if res.get("Type") == "AWS::Serverless::Function":
            props = res.get("Properties", {})
            if "Policies" in props or "Role" not in props:
                errors.append(f"{name}: must name its role (Role:), not SAM Policies")
    known = {f for f, *_ in ROLES.values()}
    for path in sorted(IAM_DIR.glob("*.json")):
        if path.name not in known:
            errors.append(f"{path.relative_to(ROOT)}: no role in the template uses it")

    for e in errors:
        print(f"check_iam: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_iam: {len(ROLES)} roles match infra/iam/*.json; parliament: no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
