"""A frontend's view of Herald: plain GraphQL over HTTP, no SDK.

    HERALD_URL=http://127.0.0.1:8000 HERALD_API_KEY=hk_... python agent_examples/graphql_client.py

Creates a stub target, previews a plan, delivers it with awaitDelivery and prints the receipts.
Every field returns either its payload or an OperationError with a recommendedNextAction.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any

import httpx

CREATE_TARGET = """
mutation CreateTarget($name: String!, $key: String!) {
  createDistributionTarget(name: $name, channel: STUB, config: {latencyMs: 20}, idempotencyKey: $key) {
    ... on TargetPayload { target { id name channel } }
    ... on OperationError { code message recommendedNextAction { tool graphql arguments reason } }
  }
}"""

CREATE_PLAN = """
mutation Distribute($content: ContentInput!, $targetIds: [ID!], $dryRun: Boolean, $key: String) {
  createDistributionPlan(content: $content, targetIds: $targetIds, dryRun: $dryRun, idempotencyKey: $key,
                         awaitDelivery: true) {
    ... on PlanPayload {
      dryRun timedOut
      preview { targets { targetName verdict payload } }
      plan { id status counts { delivered total } jobs { targetName status attempts receipt { externalId } } }
      recommendedNextAction { tool graphql arguments reason afterSeconds }
    }
    ... on OperationError { code message remediation recommendedNextAction { graphql arguments reason } }
  }
}"""


def call(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise SystemExit(json.dumps(body["errors"], indent=2))
    return next(iter(body["data"].values()))


def main() -> int:
    base = os.environ.get("HERALD_URL", "http://127.0.0.1:8000")
    headers = {"Authorization": f"Bearer {os.environ['HERALD_API_KEY']}"}
    run = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        target = call(client, CREATE_TARGET, name=f"frontend-{run}", key=f"frontend-{run}")
        if "code" in target:
            raise SystemExit(f"{target['code']}: {target['message']}")
        ids = [target["target"]["id"]]
        content = {"id": f"post-{run}", "version": "1", "title": "Release 1.2", "body": "What changed in 1.2."}
        preview = call(client, CREATE_PLAN, content=content, targetIds=ids, dryRun=True)
        for item in preview["preview"]["targets"]:
            print(f"{item['targetName']}: {item['verdict']} {json.dumps(item['payload'])[:80]}")
        result = call(client, CREATE_PLAN, content=content, targetIds=ids, key=f"post-{run}")
    plan = result["plan"]
    for job in plan["jobs"]:
        print(f"{job['targetName']}: {job['status']} after {job['attempts']} attempt(s), receipt {job['receipt']}")
    print(f"plan {plan['id']}: {plan['status']}; next: {result['recommendedNextAction']['reason']}")
    return 0 if plan["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
