#!/usr/bin/env python3
"""docs/CONTRACTS.md, checked against infra/template.yaml.

- the Lambdas: runtime, handler, architecture parameter, memory, timeout, the pre-built
  cargo-lambda zip, and exactly the environment variables CONTRACTS.md gives each one;
- the queue and its DLQ: names, FIFO, visibility >= 6 x the scaler timeout, maxReceiveCount 5,
  SSE; the event source mapping: batch 10, ReportBatchItemFailures;
- the table: keys, TTL attribute, on-demand, PITR, SSE;
- EventBridge: the four event types, each to the FIFO queue with MessageGroupId = ClusterId;
- the worker launch template: IMDSv2 with hop limit 1, encrypted gp3, the cluster tags;
- the policy parameter renders to YAML whose every key exists in infra/policy.yaml.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_yaml import load_template  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"

COMMON = {"CLUSTER_ID", "RUST_LOG"}
KUBE = {"KUBE_API_URL_PARAMETER", "KUBE_TOKEN_PARAMETER", "KUBE_CA_PARAMETER"}
ENV = {
    "WebhookFunction": COMMON | {"QUEUE_URL", "TOKEN_PARAMETER"},
    # QUEUE_URL for the scaler too: it enqueues follow-up messages.
    "ScalerFunction": COMMON | KUBE | {"STATE_TABLE", "QUEUE_URL", "POLICY_PARAMETER", "SLACK_WEBHOOK_PARAMETER",
                                       "LAUNCH_TEMPLATE_ID", "LAUNCH_TEMPLATE_VERSION", "SUBNETS"},
    "ReconcilerFunction": COMMON | KUBE | {"STATE_TABLE", "QUEUE_URL", "POLICY_PARAMETER", "SLACK_WEBHOOK_PARAMETER"},
}
BINARY = {"WebhookFunction": "webhook", "ScalerFunction": "scaler", "ReconcilerFunction": "reconciler"}
EVENTS = {
    ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    ("aws.ec2", "EC2 Instance State-change Notification"),
    ("aws.health", "AWS Health Event"),
}


def expect(errors: list[str], cond: bool, message: str) -> None:
    if not cond:
        errors.append(message)


def keys_of(node, prefix=""):
    """Dotted key paths of a mapping (lists are leaves)."""
    out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(prefix + k)
            out |= keys_of(v, prefix + k + ".")
    return out


def main() -> int:
    t = load_template(TEMPLATE)
    res = t["Resources"]
    glob = t["Globals"]["Function"]
    errors: list[str] = []

    expect(errors, glob.get("Runtime") == "provided.al2023" and glob.get("Handler") == "bootstrap",
           "functions: provided.al2023 with handler bootstrap")
    expect(errors, glob.get("Architectures") == [{"Ref": "LambdaArchitecture"}], "functions: architecture from the parameter")
    expect(errors, glob.get("MemorySize") == 256 and glob.get("Timeout") == 60, "functions: 256 MB, 60 s")
    for name, want in ENV.items():
        props = res[name]["Properties"]
        got = set(props["Environment"]["Variables"])
        expect(errors, got == want, f"{name}: environment {sorted(got)} != {sorted(want)}")
        expect(errors, props["CodeUri"] == f"../target/lambda/{BINARY[name]}/bootstrap.zip",
               f"{name}: CodeUri must be the cargo-lambda zip of {BINARY[name]}")
        expect(errors, "ReservedConcurrentExecutions" not in props, f"{name}: no reserved concurrency (see the template)")

    q = res["AutoscalerQueue"]["Properties"]
    dlq = res["AutoscalerDeadLetterQueue"]["Properties"]
    expect(errors, q["QueueName"] == {"Fn::Sub": "${ClusterId}-autoscaler.fifo"} and q["FifoQueue"] is True,
           "queue: FIFO <ClusterId>-autoscaler.fifo")
    expect(errors, dlq["QueueName"] == {"Fn::Sub": "${ClusterId}-autoscaler-dlq.fifo"} and dlq["FifoQueue"] is True,
           "queue: DLQ FIFO <ClusterId>-autoscaler-dlq.fifo")
    expect(errors, q["VisibilityTimeout"] >= 6 * glob["Timeout"], "queue: visibility timeout >= 6 x the timeout")
    expect(errors, q["RedrivePolicy"]["maxReceiveCount"] == 5, "queue: maxReceiveCount 5")
    expect(errors, q.get("SqsManagedSseEnabled") is True and dlq.get("SqsManagedSseEnabled") is True, "queue: SSE")
    sqs_events = [e for e in res["ScalerFunction"]["Properties"]["Events"].values() if e["Type"] == "SQS"]
    expect(errors, len(sqs_events) == 1, "scaler: exactly one SQS event source")
    for e in sqs_events:
        p = e["Properties"]
        expect(errors, p["BatchSize"] == 10 and p["FunctionResponseTypes"] == ["ReportBatchItemFailures"],
               "scaler: batch 10 with ReportBatchItemFailures")

    tbl = res["StateTable"]["Properties"]
    expect(errors, [k["AttributeName"] for k in tbl["KeySchema"]] == ["cluster_id", "sk"], "table: keys cluster_id, sk")
    expect(errors, tbl["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}, "table: TTL expires_at")
    expect(errors, tbl["BillingMode"] == "PAY_PER_REQUEST", "table: on-demand")
    expect(errors, tbl["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, "table: PITR")
    expect(errors, tbl["SSESpecification"]["SSEEnabled"] is True, "table: SSE")

    seen = set()
    for name, r in res.items():
        if r["Type"] != "AWS::Events::Rule":
            continue
        pattern = r["Properties"]["EventPattern"]
        for source in pattern["source"]:
            for dt in pattern["detail-type"]:
                seen.add((source, dt))
        for target in r["Properties"]["Targets"]:
            expect(errors, target["Arn"] == {"Fn::GetAtt": ["AutoscalerQueue", "Arn"]}, f"{name}: target the FIFO queue")
            expect(errors, target.get("SqsParameters") == {"MessageGroupId": {"Ref": "ClusterId"}},
                   f"{name}: MessageGroupId = ClusterId")
    expect(errors, seen == EVENTS, f"EventBridge: events {sorted(seen)} != {sorted(EVENTS)}")

    lt = res["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    expect(errors, lt["MetadataOptions"]["HttpTokens"] == "required" and lt["MetadataOptions"]["HttpPutResponseHopLimit"] == 1,
           "workers: IMDSv2 required, hop limit 1")
    ebs = lt["BlockDeviceMappings"][0]["Ebs"]
    expect(errors, ebs["Encrypted"] is True and ebs["VolumeType"] == "gp3", "workers: encrypted gp3")
    for spec in lt["TagSpecifications"]:
        tags = {tag["Key"]: tag["Value"] for tag in spec["Tags"]}
        expect(errors, tags.get("k3s-autoscaler/cluster") == {"Ref": "ClusterId"} and tags.get("k3s-autoscaler/managed") == "true"
               and tags.get("Name") == {"Fn::Sub": "${ClusterId}-worker"}, f"workers: {spec['ResourceType']} tags")
    master_tags = {tag["Key"]: tag["Value"] for tag in res["Master"]["Properties"]["Tags"]}
    expect(errors, "k3s-autoscaler/managed" not in master_tags, "master: must not carry the managed tag")

    policy = res["PolicyParameter"]["Properties"]
    expect(errors, policy["Name"] == {"Fn::Sub": "/k3s-autoscaler/${ClusterId}/policy"}, "policy parameter name")
    text, variables = policy["Value"]["Fn::Sub"]
    params = t["Parameters"]
    sample = {k: str(params[k]["Default"]) for k in ("MinWorkers", "MaxWorkers", "DryRun")}
    sample["InstanceTypes"] = ", ".join(params["WorkerInstanceTypes"]["Default"].split(","))
    for k, v in sample.items():
        text = text.replace("${" + k + "}", v)
    rendered = yaml.safe_load(text)
    defaults = yaml.safe_load((ROOT / "infra" / "policy.yaml").read_text())
    unknown = keys_of(rendered) - keys_of(defaults)
    expect(errors, not unknown, f"policy parameter: keys unknown to infra/policy.yaml: {sorted(unknown)}")
    for key in ("min_workers", "max_workers", "dry_run"):
        expect(errors, rendered[key] == defaults[key], f"policy parameter: default {key} differs from infra/policy.yaml")
    expect(errors, rendered["worker"]["instance_types"] == defaults["worker"]["instance_types"],
           "policy parameter: default instance types differ from infra/policy.yaml")

    for e in errors:
        print(f"check_template: {e}", file=sys.stderr)
    if errors:
        return 1
    print("check_template: functions, queue, table, EventBridge, launch template and policy match docs/CONTRACTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
