"""GraphiQL works offline: the page and every asset it loads come from Herald, the bearer header from the tab.

Before: the page loaded React and GraphiQL from a CDN, so without internet it stayed at "Loading…", and the
Authorization header had to be pasted by hand.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from graphql_schema.ide import CSP
from server.app import create_app
from tests.support import factories


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app in memory, with every outbound connection refused for the length of the test."""

    def no_network(*_args: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with TestClient(create_app(factories.test_settings(tmp_path))) as client:
        yield client


def test_the_page_and_each_asset_come_from_herald(offline: TestClient) -> None:
    page = offline.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "connect-src 'self'" in CSP
    assert "://" not in page.text  # no other origin, in any attribute or script
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert scripts == [
        "/graphql/assets/react.production.min.js",
        "/graphql/assets/react-dom.production.min.js",
        "/graphql/assets/graphiql.min.js",
        "/graphql/assets/herald-graphiql.js",
    ]
    assert styles == ["/graphql/assets/graphiql.min.css", "/graphql/assets/herald-graphiql.css"]
    sizes = {}
    for url in scripts + styles:
        asset = offline.get(url)  # no Authorization header: the assets are public, like the page
        assert asset.status_code == 200, url
        kind = "text/css" if url.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"] == f"{kind}; charset=utf-8"
        sizes[url.rsplit("/", 1)[1]] = len(asset.content)
    assert sizes["graphiql.min.js"] > 500_000 and sizes["react-dom.production.min.js"] > 100_000
    assert b"React" in offline.get("/graphql/assets/react.production.min.js").content


def test_the_bearer_header_comes_from_the_tab_storage(offline: TestClient) -> None:
    script = offline.get("/graphql/assets/herald-graphiql.js").text
    assert 'var STORAGE = "herald.apiKey";' in script and "window.sessionStorage.getItem(STORAGE)" in script
    assert '{ Authorization: "Bearer " + key }' in script and "shouldPersistHeaders: false" in script
    assert "localStorage" not in script and "location.search" not in script  # never kept longer, never in a URL


def test_only_the_listed_assets_are_served_and_queries_still_need_a_key(offline: TestClient) -> None:
    for name in ("views.py", "..%2F..%2Fserver%2Fconfig.py", "graphiql.min.js.map", "style.css"):
        assert offline.get(f"/graphql/assets/{name}").status_code == 404, name
    assert offline.post("/graphql", json={"query": "{ __typename }"}).status_code == 401
