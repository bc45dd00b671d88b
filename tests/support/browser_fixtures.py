"""Playwright's sync API driving Debian's Chromium against a live server: the `visit` fixture. A pytest
plugin, registered once in tests/conftest.py.

Skipped with a reason when chromium is not installed, except on CI (CI set), where that is a failure.
"""

import os
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.support.waiting import wait_for

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Visit:
    """A browser tab on the live server that records every URL any page asks for."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.requested: list[str] = []
        context.on("request", lambda request: self.requested.append(request.url))
        self.page = context.new_page()

    def outside_requests(self) -> list[str]:
        return [url for url in self.requested if not url.startswith(self.base_url + "/")]


@pytest.fixture
def visit(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Visit]:
    if CHROMIUM is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser tests")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread while it runs; the test's own ORM
    # calls are still plain synchronous code. Browser and loop live only as long as this test.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.set_default_timeout(5000)
        try:
            yield Visit(context, live_server.url)
        finally:
            context.close()
            browser.close()
            # Each request thread closes its database connection as it ends; PostgreSQL refuses to
            # drop the test database while one is open.
            wait_for(request_threads_finished)
            # While Playwright's loop runs, Django keys this thread's connections by context, so the
            # test body had its own; close it here, or PostgreSQL cannot drop the test database.
            connections.close_all()


def request_threads_finished() -> bool:
    """The live server has finished every request thread."""
    return not any("process_request_thread" in t.name for t in threading.enumerate())
