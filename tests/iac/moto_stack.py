"""Deploys the plain-CloudFormation part of infra/template.yaml that moto supports (the state
table, the FIFO queue and its DLQs, their policies and the EventBridge rules) to a moto server,
and prints the physical names as JSON. Used by shared/adapters/tests/template_moto.rs, so the
services' integration test runs against the names and attributes the template really creates.

Usage: moto_stack.py ENDPOINT CLUSTER_ID
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from cfn_yaml import load_template  # noqa: E402

# The resources deployed: everything the services address by name.
KEEP_TYPES = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "AWS::Events::Rule"}


def subset(template: dict) -> dict:
    resources = {
        name: {k: v for k, v in res.items() if k in ("Type", "Properties", "DependsOn")}
        for name, res in template["Resources"].items()
        if res["Type"] in KEEP_TYPES and "Condition" not in res
    }
    # A policy or rule that names a resource outside the subset cannot be deployed here.
    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "Ref":
                    yield v
                elif k == "Fn::GetAtt":
                    yield v[0]
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    params = set(template.get("Parameters", {}))
    pseudo = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix"}
    changed = True
    while changed:
        changed = False
        for name in list(resources):
            missing = [r for r in refs(resources[name]) if r not in resources and r not in params and r not in pseudo]
            if missing:
                del resources[name]
                changed = True
    used = {r for res in resources.values() for r in refs(res) if r in params}
    parameters = {p: template["Parameters"][p] for p in used}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": parameters, "Resources": resources}


def main() -> int:
    endpoint, cluster = sys.argv[1], sys.argv[2]
    root = Path(__file__).resolve().parents[2]
    body = subset(load_template(root / "infra" / "template.yaml"))
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
    params = [{"ParameterKey": p, "ParameterValue": cluster if p == "ClusterId" else str(v.get("Default", ""))}
              for p, v in body["Parameters"].items()]
    stack = f"{cluster}-autoscaler"
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(body), Parameters=params)
    deadline = time.time() + 60
    while True:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if status.endswith("FAILED") or status.startswith("ROLLBACK") or time.time() > deadline:
            print(f"stack {stack}: {status}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    # moto's DescribeStackResources omits LogicalResourceId; ListStackResources has both.
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]}
    print(json.dumps({"resources": sorted(body["Resources"]), "physical": physical}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
