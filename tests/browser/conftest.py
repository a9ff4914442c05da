"""One Chromium for the whole browser suite, launched through Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.browser.tabs import bundle_problem, chromium_executable, page_server


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    problem = bundle_problem()
    if problem is not None:
        pytest.fail(problem)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_executable())
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="session")
def page_origin() -> Iterator[str]:
    """Where the editor page is served (loopback, like the server it talks to)."""
    with page_server() as origin:
        yield origin
