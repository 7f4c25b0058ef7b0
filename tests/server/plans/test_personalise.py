"""Which plans need their first jobs rendered at create: only content that carries a template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.plans import personalise, service
from tests.support import factories
from tests.support.doors import doors

PLAIN = {"id": "n", "version": "1", "title": "Rates", "body": "Held steady.", "excerpt": None, "url": None}


@pytest.mark.parametrize(
    ("content", "templated"),
    [
        (PLAIN, False),
        ({**PLAIN, "media_urls": ["https://cdn.test/a.png"], "variations": [{"title": "Morning"}]}, False),
        ({**PLAIN, "body": "Hello {{ recipient.name }}"}, True),
        ({**PLAIN, "excerpt": "{# a note #}"}, True),
        ({**PLAIN, "media_urls": ["https://cdn.test/{{ target.id }}.png"]}, True),
        ({**PLAIN, "variations": [{"title": "Morning"}, {"title": "{% if true %}Hi{% endif %}"}]}, True),
        ({**PLAIN, "variations": [{"media_urls": ["https://cdn.test/{{ recipient.id }}"]}]}, True),
        ({**PLAIN, "variables": {"city": "{{ x }}"}, "metadata": {"k": "{{ y }}"}}, False),
    ],
)
def test_has_templates_looks_at_every_rendered_field_of_the_content_and_its_variations(
    content: dict[str, Any], templated: bool
) -> None:
    assert personalise.has_templates(content) is templated


@pytest.mark.anyio
async def test_content_without_a_template_is_not_rendered_at_create_but_a_dry_run_still_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with doors(tmp_path) as d:
        stub = await factories.stub_target(d)
        renders: list[int] = []  # the jobs each create or dry run rendered
        samples = service._samples

        def counting(*args: Any) -> Any:
            picked = samples(*args)
            renders.append(len(picked))
            return picked

        monkeypatch.setattr(service, "_samples", counting)
        dry = await factories.plan(d, stub, dryRun=True)
        assert renders == [1] and dry["preview"]["targets"][0]["payload"]["data"]["title"] == "Market note"
        await factories.plan(d, stub)
        assert renders == [1]
        await factories.plan(d, stub, content=factories.content(body="For {{ target.name }}"))
        assert renders == [1, 1]
