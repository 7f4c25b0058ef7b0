"""The GraphQL door over HTTP (ASGI, in process): typed payloads, typed errors, masking."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import graphql_schema.schema
from server.app import create_app
from server.keys.service import create_key
from server.operations import BY_TOOL
from tests.support import factories
from tests.support.receiver import Receiver

CREATE_STUB = """
mutation($name: String!, $config: JSON, $dry: Boolean, $key: String) {
  createDistributionTarget(name: $name, channel: STUB, config: $config, dryRun: $dry, idempotencyKey: $key) {
    __typename
    ... on TargetPayload { dryRun replayed target { id name channel config active pausedUntil hasCredentials }
                           recommendedNextAction { tool graphql arguments reason afterSeconds } }
    ... on OperationError { code message remediation field requestId recommendedNextAction { tool graphql arguments } }
  }
}"""

GET_TARGET = """
query($id: ID!) {
  distributionTarget(id: $id) {
    __typename
    ... on TargetResult { target { id name } }
    ... on OperationError { code field message recommendedNextAction { tool graphql } }
  }
}"""

PLAN = """
mutation($content: ContentInput!, $ids: [ID!]) {
  createDistributionPlan(content: $content, targetIds: $ids, awaitDelivery: true) {
    __typename
    ... on PlanPayload { plan { status jobs { status attempts receipt { externalId } } } }
    ... on OperationError { code requestId message }
  }
}"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(factories.test_settings(tmp_path))
    with TestClient(app) as test_client:
        key = create_key(app.state.runtime, "gql")
        test_client.headers["Authorization"] = f"Bearer {key.secret}"
        yield test_client


def gql(client: TestClient, query: str, **variables: object) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_create_and_read_back(client: TestClient) -> None:
    created = gql(client, CREATE_STUB, name="a", config={"latencyMs": 1})["createDistributionTarget"]
    assert created["__typename"] == "TargetPayload"
    target = created["target"]
    assert (target["name"], target["channel"], target["config"]["latencyMs"]) == ("a", "STUB", 1.0)
    assert created["recommendedNextAction"]["tool"] == "test_distribution_target"
    assert created["recommendedNextAction"]["graphql"] == "testDistributionTarget"
    read = gql(client, GET_TARGET, id=target["id"])["distributionTarget"]
    assert read == {"__typename": "TargetResult", "target": {"id": target["id"], "name": "a"}}


def test_typed_errors_in_the_payload(client: TestClient) -> None:
    missing = gql(client, GET_TARGET, id="tgt_missing")["distributionTarget"]
    assert missing["__typename"] == "OperationError"
    assert (missing["code"], missing["field"]) == ("NOT_FOUND", "id")
    assert missing["recommendedNextAction"] == {"tool": "list_distribution_targets", "graphql": "distributionTargets"}
    wrong_kind = gql(client, GET_TARGET, id="pln_123")["distributionTarget"]
    assert wrong_kind["code"] == "VALIDATION_ERROR" and "tgt_" in wrong_kind["message"]
    bad = gql(client, CREATE_STUB, name="a", config={"failTimes": -1})["createDistributionTarget"]
    assert (bad["code"], bad["field"]) == ("VALIDATION_ERROR", "config.failTimes")
    assert bad["requestId"].startswith("req_")


def test_idempotency_and_dry_run_on_graphql(client: TestClient) -> None:
    dry = gql(client, CREATE_STUB, name="d", dry=True, key="k1")["createDistributionTarget"]
    assert dry["dryRun"] is True and dry["target"]["id"] is None
    first = gql(client, CREATE_STUB, name="d", key="k1")["createDistributionTarget"]
    again = gql(client, CREATE_STUB, name="d", key="k1")["createDistributionTarget"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["target"]["id"] == first["target"]["id"]
    reused = gql(client, CREATE_STUB, name="other", key="k1")["createDistributionTarget"]
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_await_delivery_over_graphql(client: TestClient) -> None:
    target = gql(client, CREATE_STUB, name="p")["createDistributionTarget"]["target"]["id"]
    plan = gql(client, PLAN, content=factories.content(), ids=[target])["createDistributionPlan"]
    assert plan["plan"]["status"] == "SUCCEEDED"
    assert plan["plan"]["jobs"][0]["status"] == "DELIVERED"
    assert plan["plan"]["jobs"][0]["receipt"]["externalId"].startswith("stub_job_")


def test_unexpected_errors_are_masked_with_a_request_id(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setitem(
        BY_TOOL, "get_distribution_target", replace(BY_TOOL["get_distribution_target"], handler=explode)
    )
    error = gql(client, GET_TARGET, id="tgt_x")["distributionTarget"]
    assert error["code"] == "INTERNAL_ERROR"
    assert "hunter2" not in str(error)
    assert error["message"].startswith("Internal error (request id req_")


def test_a_document_that_passed_validation_is_not_validated_again(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import strawberry.schema.schema as strawberry_schema

    validated: list[str] = []
    real = strawberry_schema.validate_document
    monkeypatch.setattr(
        strawberry_schema,
        "validate_document",
        lambda schema, document, rules: validated.append("x") or real(schema, document, rules),
    )
    unique = GET_TARGET + f"\n# {uuid.uuid4().hex}"  # a text no earlier test sent
    for _ in range(3):
        assert gql(client, unique, id="tgt_missing")["distributionTarget"]["__typename"] == "OperationError"
    assert len(validated) == 1
    broken = "query { distributionTarget(id: 1) { nope } }" + f"\n# {uuid.uuid4().hex}"
    for _ in range(2):
        assert client.post("/graphql", json={"query": broken}).json()["errors"]
    assert len(validated) == 3  # an invalid document is checked every time, never remembered


def test_a_test_delivery_is_refused_over_graphql_while_deliveries_are_halted(
    client: TestClient, receiver: Receiver
) -> None:
    hook = client.post(
        "/graphql",
        json={
            "query": 'mutation($config: JSON) { createDistributionTarget(name: "h", channel: WEBHOOK, '
            "config: $config) { ... on TargetPayload { target { id } } } }",
            "variables": {"config": {"url": receiver.url + "/halted"}},
        },
    ).json()["data"]["createDistributionTarget"]["target"]["id"]
    halted = gql(client, 'mutation { haltDeliveries(reason: "incident") { __typename } }')
    assert halted["haltDeliveries"]["__typename"] == "HaltPayload"
    test = (
        f'mutation {{ testDistributionTarget(id: "{hook}") {{ __typename '
        "... on TestTargetPayload { ok } "
        "... on OperationError { code message recommendedNextAction { tool graphql } } } }"
    )
    refused = gql(client, test)["testDistributionTarget"]
    assert refused == {
        "__typename": "OperationError",
        "code": "DELIVERIES_HALTED",
        "message": "Deliveries are halted in this workspace; no request leaves it, test deliveries included.",
        "recommendedNextAction": {"tool": "resume_deliveries", "graphql": "resumeDeliveries"},
    }
    assert receiver.requests == []
    gql(client, "mutation { resumeDeliveries { __typename } }")
    assert gql(client, test)["testDistributionTarget"] == {"__typename": "TestTargetPayload", "ok": True}
    assert len(receiver.at("/halted")) == 1


LIST_TARGETS = """
query($channel: ChannelName) {
  distributionTargets(channel: $channel) { ... on TargetList { items { name channel } } }
}"""

DRY_PLAN = """
mutation($content: ContentInput!, $ids: [ID!], $policy: PolicyInput) {
  createDistributionPlan(content: $content, targetIds: $ids, policy: $policy, dryRun: true) {
    ... on PlanPayload { preview { targets { channel } } recommendedNextAction { tool arguments } }
  }
}"""


def test_enums_are_graphql_enums_in_and_out(client: TestClient) -> None:
    gql(client, CREATE_STUB, name="s")
    assert gql(client, LIST_TARGETS, channel="STUB")["distributionTargets"]["items"] == [
        {"name": "s", "channel": "STUB"}
    ]
    assert gql(client, LIST_TARGETS, channel="WEBHOOK")["distributionTargets"]["items"] == []


def test_a_hint_carries_graphql_enum_names(client: TestClient) -> None:
    target = gql(client, CREATE_STUB, name="s")["createDistributionTarget"]["target"]["id"]
    content = factories.content()
    policy = {"allowedChannels": ["STUB"]}
    plan = gql(client, DRY_PLAN, content=content, ids=[target], policy=policy)["createDistributionPlan"]
    assert plan["preview"]["targets"] == [{"channel": "STUB"}]
    action = plan["recommendedNextAction"]
    assert action["tool"] == "create_distribution_plan"
    assert action["arguments"]["policy"]["allowedChannels"] == ["STUB"]
    assert action["arguments"]["targetIds"] == [target]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('query { distributionTargets(channel: "stub") { __typename } }', {}),
        ("query { distributionTargets(channel: PIGEON) { __typename } }", {}),
        (LIST_TARGETS, {"channel": "stub"}),
    ],
    ids=["string literal", "unknown name", "variable"],
)
def test_a_bad_enum_value_is_a_validation_error_naming_the_allowed_values(
    client: TestClient, query: str, variables: dict
) -> None:
    body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    assert error["message"].endswith(
        " Allowed values: WEBHOOK, HTTP, STUB, DISCORD, TELEGRAM, WHATSAPP, SLACK, MASTODON, BLUESKY, GDRIVE, "
        "FEED, EMAIL."
    )
    assert "ChannelName" in error["message"]


LIMITED_TARGETS = "query($limit: Int) { distributionTargets(limit: $limit) { __typename } }"


@pytest.mark.parametrize("sent", ["Internal error", "Syntax Error", "more than", "aliases found"])
def test_a_bad_variable_is_a_validation_error_whatever_text_it_holds(client: TestClient, sent: str) -> None:
    body = client.post("/graphql", json={"query": LIMITED_TARGETS, "variables": {"limit": sent}}).json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_ERROR"
    assert error["message"] == f"Variable '$limit' has invalid value: Int cannot represent non-integer value: '{sent}'"


def test_an_unexpected_error_is_still_masked_as_internal(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(value: object) -> object:
        raise RuntimeError("conversion bug")

    monkeypatch.setattr(graphql_schema.schema, "to_graphql", explode)
    response = client.post("/graphql", json={"query": LIMITED_TARGETS, "variables": {"limit": 5}})
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert (error["message"], error["extensions"]["code"]) == ("Internal error.", "INTERNAL_ERROR")
    assert "conversion bug" not in response.text


UPSERT = """
mutation($recipients: [RecipientInput!]!) {
  upsertRecipients(recipients: $recipients) {
    __typename
    ... on UpsertRecipientsPayload { created updated recipients { id externalId created } }
    ... on OperationError { code field message }
  }
}"""

RECIPIENT_PLAN = """
mutation($content: ContentInput!, $ids: [ID!], $labels: [String!], $per: JSON) {
  createDistributionPlan(content: $content, targetIds: $ids, recipientLabels: $labels, recipientContent: $per,
                         awaitDelivery: true) {
    __typename
    ... on PlanPayload { plan { counts { delivered skipped } recipients { reached jobs skipped { reason count } }
                                jobs { recipientId status } } }
    ... on OperationError { code field message }
  }
}"""


def test_recipients_over_graphql(client: TestClient) -> None:
    people = [
        {"externalId": "ARN-1", "name": "Asha", "addresses": {"whatsapp": "+919812345678"}, "labels": ["advisors"]},
        {"externalId": "ARN-2", "addresses": {"whatsapp": "+919812345679"}, "labels": ["advisors"], "active": False},
    ]
    upserted = gql(client, UPSERT, recipients=people)["upsertRecipients"]
    assert (upserted["__typename"], upserted["created"], upserted["updated"]) == ("UpsertRecipientsPayload", 2, 0)
    bad = gql(client, UPSERT, recipients=[{"externalId": "x", "addresses": {"whatsapp": "12"}}])["upsertRecipients"]
    assert (bad["__typename"], bad["code"]) == ("OperationError", "VALIDATION_ERROR") and "E.164" in bad["message"]
    listed = gql(client, '{ recipients(label: "advisors") { ... on RecipientList { items { externalId } } } }')
    assert [r["externalId"] for r in listed["recipients"]["items"]] == ["ARN-1", "ARN-2"]
    target = gql(client, CREATE_STUB, name="wa", config={"addressKey": "whatsapp"})["createDistributionTarget"]
    plan = gql(
        client,
        RECIPIENT_PLAN,
        content=factories.content(),
        ids=[target["target"]["id"]],
        labels=["advisors"],
        per={"ARN-1": {"body": "Asha's approved text"}},
    )["createDistributionPlan"]["plan"]
    assert plan["counts"] == {"delivered": 1, "skipped": 1}
    assert plan["recipients"] == {"reached": 2, "jobs": 2, "skipped": [{"reason": "recipient inactive", "count": 1}]}
    assert sorted(j["status"] for j in plan["jobs"]) == ["DELIVERED", "SKIPPED"]


# The README's select example: enums by name, weights as a JSON object.
SELECT_TARGET = """mutation { createDistributionTarget(name: "sender", channel: STUB, config: {}) {
  ... on TargetPayload { target { id } } } }"""
SELECT_PEOPLE = """mutation { upsertRecipients(recipients: [
  {externalId: "ana", addresses: {stub: "ana@stub"}, labels: ["advisors", "senior"]},
  {externalId: "ben", addresses: {stub: "ben@stub"}, labels: ["advisors"]},
  {externalId: "cy", addresses: {stub: "cy@stub"}, labels: ["advisors"]}]) {
  ... on UpsertRecipientsPayload { recipients { id } } } }"""
SELECT_PLAN = """mutation {
  createDistributionPlan(content: {id: "note-7", version: "1", title: "Note", body: "…"}, targetIds: ["%s"],
    select: {of: RECIPIENTS, count: 2, labels: ["advisors"], strategy: WEIGHTED,
             weights: {senior: 3}, seed: "note-7"}) {
    ... on PlanPayload { plan { id selection { picked skipped { id reason } shortfall strategy of } }
                         recommendedNextAction { reason } }
    ... on OperationError { code field message }
  }
}"""


def test_the_readme_select_example_picks_two_advisors(client: TestClient) -> None:
    target = gql(client, SELECT_TARGET)["createDistributionTarget"]["target"]["id"]
    people = [r["id"] for r in gql(client, SELECT_PEOPLE)["upsertRecipients"]["recipients"]]
    plan = gql(client, SELECT_PLAN % target)["createDistributionPlan"]["plan"]
    selection = plan["selection"]
    assert (selection["strategy"], selection["of"], selection["shortfall"], selection["skipped"]) == (
        "WEIGHTED",
        "RECIPIENTS",
        0,
        [],
    )
    assert len(selection["picked"]) == 2 and set(selection["picked"]) <= set(people)
