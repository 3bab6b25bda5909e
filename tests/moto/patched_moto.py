"""moto server with three behaviours of real AWS that moto lacks.

Why this exists: moto ignores RunInstances' ClientToken (a retried launch creates new
instances), never answers with capacity errors, and handles concurrent requests on threads
without making a conditional write atomic (two racing DynamoDB UpdateItems can both pass their
condition). So neither the idempotency of a retried launch, nor the autoscaler's zone /
instance type / Spot fallback, nor a race for the DynamoDB lease could be tested against it.
This wrapper starts moto's own server in-process after patching it so that:

  (a) a repeated ClientToken returns the reservation of the first call, as EC2 does;
  (b) errors listed in a JSON file are answered as EC2 XML errors, for example
        [{"code": "InsufficientInstanceCapacity", "zone": "us-east-1a",
          "instance_type": "t3.small", "market": "spot", "times": 1}]
      "zone" is the availability zone of the request's subnet, "market" is "spot" or
      "on-demand"; an omitted field matches anything, an omitted "times" means always;
  (c) requests are handled one at a time, so each write is atomic as in DynamoDB.

Usage: python patched_moto.py [--errors FILE] [moto_server options, e.g. -H 127.0.0.1 -p PORT]
Started by tests/testkit (Moto::start_patched) with the moto venv's python.
"""

import argparse
import json
import threading

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.instances import InstanceResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main as moto_server

_original_run_instances = InstanceResponse.run_instances
_original_dispatch = DomainDispatcherApplication.__call__
_one_request_at_a_time = threading.Lock()
_first_result_by_token = {}
_error_rules = []


def _request_pool(response):
    """The zone, instance type and market a RunInstances request asks for."""
    subnet_id = response._get_param("SubnetId")
    if subnet_id:
        zone = response.ec2_backend.get_subnet(subnet_id).availability_zone
    else:
        zone = response._get_param("Placement.AvailabilityZone")
    spot = response._get_param("InstanceMarketOptions.MarketType") == "spot"
    return {
        "zone": zone,
        "instance_type": response._get_param("InstanceType"),
        "market": "spot" if spot else "on-demand",
    }


def _injected_error(pool):
    """The first rule matching the pool that has uses left, consumed; None if there is none."""
    for rule in _error_rules:
        matches = all(rule.get(field) in (None, value) for field, value in pool.items())
        if matches and rule.get("times", 1) != 0:
            if "times" in rule:
                rule["times"] -= 1
            message = rule.get("message") or f"Injected {rule['code']} for {pool}"
            return EC2ClientError(rule["code"], message)
    return None


def run_instances(self):
    token = self._get_param("ClientToken")
    key = (self.current_account, self.region, token)
    if token and key in _first_result_by_token:
        return ActionResult(_first_result_by_token[key])
    error = _injected_error(_request_pool(self))
    if error is not None:
        raise error
    result = _original_run_instances(self)
    if token:
        _first_result_by_token[key] = result.result
    return result


def dispatch_serially(self, environ, start_response):
    with _one_request_at_a_time:
        # The body is produced inside the lock too.
        return list(_original_dispatch(self, environ, start_response))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", help="JSON file of RunInstances errors to inject")
    args, moto_args = parser.parse_known_args()
    if args.errors:
        with open(args.errors, encoding="utf-8") as f:
            _error_rules.extend(json.load(f))
    InstanceResponse.run_instances = run_instances
    DomainDispatcherApplication.__call__ = dispatch_serially
    # moto's main() reads sys.argv when given an empty list, which holds --errors.
    moto_server(moto_args or ["-H", "127.0.0.1"])


if __name__ == "__main__":
    main()
