"""The README's select example over GraphQL over HTTP: enums by name, weights as a JSON object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.keys.service import create_key
from tests.support import factories

TARGET = """mutation { createDistributionTarget(name: "sender", channel: STUB, config: {}) {
  ... on TargetPayload { target { id } } } }"""
PEOPLE = """mutation { upsertRecipients(recipients: [
  {externalId: "ana", addresses: {stub: "ana@stub"}, labels: ["advisors", "senior"]},
  {externalId: "ben", addresses: {stub: "ben@stub"}, labels: ["advisors"]},
  {externalId: "cy", addresses: {stub: "cy@stub"}, labels: ["advisors"]}]) {
  ... on UpsertRecipientsPayload { recipients { id } } } }"""
SELECT = """mutation {
  createDistributionPlan(content: {id: "note-7", version: "1", title: "Note", body: "…"}, targetIds: ["%s"],
    select: {of: RECIPIENTS, count: 2, labels: ["advisors"], strategy: WEIGHTED,
             weights: {senior: 3}, seed: "note-7"}) {
    ... on PlanPayload { plan { id selection { picked skipped { id reason } shortfall strategy of } }
                         recommendedNextAction { reason } }
    ... on OperationError { code field message }
  }
}"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(factories.test_settings(tmp_path))
    with TestClient(app) as test_client:
        key = create_key(app.state.runtime, "gql")
        test_client.headers["Authorization"] = f"Bearer {key.secret}"
        yield test_client


def gql(client: TestClient, query: str) -> dict:
    body = client.post("/graphql", json={"query": query}).json()
    assert "errors" not in body, body
    return body["data"]


def test_the_readme_select_example_picks_two_advisors(client: TestClient) -> None:
    target = gql(client, TARGET)["createDistributionTarget"]["target"]["id"]
    people = [r["id"] for r in gql(client, PEOPLE)["upsertRecipients"]["recipients"]]
    plan = gql(client, SELECT % target)["createDistributionPlan"]["plan"]
    selection = plan["selection"]
    assert (selection["strategy"], selection["of"], selection["shortfall"], selection["skipped"]) == (
        "WEIGHTED",
        "RECIPIENTS",
        0,
        [],
    )
    assert len(selection["picked"]) == 2 and set(selection["picked"]) <= set(people)
