"""Feed documents: RSS 2.0, Atom 1.0 (RFC 4287) and JSON Feed 1.1, built with the standard library.

XML goes through ``xml.etree.ElementTree``, which escapes text and attributes (``&``, ``<``, quotes);
characters XML 1.0 cannot carry at all (most C0 controls) are dropped first. Entry bodies are text:
RSS gets them escaped in ``description``, Atom as ``content type="text"``, JSON Feed as ``content_text``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from adapters.feed import FeedConfig
from server.models import FeedEntryRow

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "Herald"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FEED_NAMESPACE = uuid.UUID("0b6f4a3e-27c1-4d5e-8f90-6a1b2c3d4e5f")

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


@dataclass(frozen=True)
class FeedDocument:
    """What one feed shows: its settings, the entries in its window (newest first) and where it lives."""

    target_id: str
    target_name: str
    config: FeedConfig
    entries: list[FeedEntryRow]
    urls: dict[str, str]
    updated: datetime

    @property
    def title(self) -> str:
        return self.config.title or self.target_name

    @property
    def home(self) -> str:
        return self.config.link or self.urls["rss"]


def _text(value: str | None) -> str:
    return _NOT_XML.sub("", value or "")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def rfc822(moment: datetime) -> str:
    return format_datetime(_aware(moment).astimezone(UTC), usegmt=True)


def _add(parent: Element, tag: str, text: str | None = None, **attributes: str) -> Element:
    element = SubElement(parent, tag, {key.rstrip("_"): value for key, value in attributes.items()})
    if text is not None:
        element.text = _text(text)
    return element


def _xml(root: Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(root, encoding="unicode").encode()


def rss(doc: FeedDocument) -> bytes:
    root = Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS})
    channel = _add(root, "channel")
    _add(channel, "title", doc.title)
    _add(channel, "link", doc.home)
    _add(channel, "description", doc.config.description or doc.title)
    if doc.config.language:
        _add(channel, "language", doc.config.language)
    _add(channel, "lastBuildDate", rfc822(doc.updated))
    _add(channel, "generator", GENERATOR)
    _add(channel, "atom:link", href=doc.urls["rss"], rel="self", type="application/rss+xml")
    if doc.config.websub_hub:
        _add(channel, "atom:link", href=doc.config.websub_hub, rel="hub")
    for entry in doc.entries:
        item = _add(channel, "item")
        _add(item, "title", entry.title)
        if entry.url:
            _add(item, "link", entry.url)
        _add(item, "description", entry.body or entry.summary or entry.title)
        _add(item, "guid", entry.id, isPermaLink="false")
        _add(item, "pubDate", rfc822(entry.published_at))
    return _xml(root)


def atom(doc: FeedDocument) -> bytes:
    root = Element("feed", {"xmlns": ATOM_NS})
    if doc.config.language:
        root.set("xml:lang", doc.config.language)
    _add(root, "id", f"urn:uuid:{uuid.uuid5(_FEED_NAMESPACE, doc.target_id)}")
    _add(root, "title", doc.title)
    if doc.config.description:
        _add(root, "subtitle", doc.config.description)
    _add(root, "updated", rfc3339(doc.updated))
    author = _add(root, "author")
    _add(author, "name", doc.config.author or GENERATOR)
    _add(root, "generator", GENERATOR)
    _add(root, "link", href=doc.urls["atom"], rel="self", type="application/atom+xml")
    if doc.config.link:
        _add(root, "link", href=doc.config.link, rel="alternate")
    if doc.config.websub_hub:
        _add(root, "link", href=doc.config.websub_hub, rel="hub")
    for entry in doc.entries:
        item = _add(root, "entry")
        _add(item, "id", entry.id)
        _add(item, "title", entry.title, type="text")
        _add(item, "updated", rfc3339(entry.updated_at))
        _add(item, "published", rfc3339(entry.published_at))
        if entry.url:
            _add(item, "link", href=entry.url, rel="alternate")
        if entry.summary:
            _add(item, "summary", entry.summary, type="text")
        _add(item, "content", entry.body, type="text")
    return _xml(root)


def json_feed(doc: FeedDocument) -> bytes:
    feed: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": doc.title,
        "home_page_url": doc.home,
        "feed_url": doc.urls["json"],
    }
    if doc.config.description:
        feed["description"] = doc.config.description
    if doc.config.language:
        feed["language"] = doc.config.language
    feed["authors"] = [{"name": doc.config.author or GENERATOR}]
    if doc.config.websub_hub:
        feed["hubs"] = [{"type": "WebSub", "url": doc.config.websub_hub}]
    items = []
    for entry in doc.entries:
        item: dict[str, object] = {"id": entry.id, "title": entry.title, "content_text": entry.body}
        if entry.url:
            item["url"] = entry.url
        if entry.summary:
            item["summary"] = entry.summary
        item["date_published"] = rfc3339(entry.published_at)
        item["date_modified"] = rfc3339(entry.updated_at)
        items.append(item)
    feed["items"] = items
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode()


RENDERERS = {"rss": rss, "atom": atom, "json": json_feed}
