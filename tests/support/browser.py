"""Headless Chromium for browser tests: the distribution's ``chromium`` driven by Playwright (no browser download).

Locally a missing Chromium skips those tests; under CI=true it fails the run (`.ci/run` installs it).
Setting ``HERALD_CONSOLE_SCREENSHOTS`` to a folder makes ``screenshot`` save PNGs there (for the README).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

SYSTEM_CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("HERALD_CONSOLE_SCREENSHOTS")


def chromium_path() -> str:
    found = SYSTEM_CHROMIUM if os.access(SYSTEM_CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found is None:
        message = "Chromium is not installed (apt-get install -y chromium); the browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: failing instead of skipping)")
        pytest.skip(message)
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> None:
    """Save ``name``.png of the whole page when HERALD_CONSOLE_SCREENSHOTS names a folder; else nothing."""
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
