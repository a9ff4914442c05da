"""Chromium tabs running the stock Tiptap editor page (`page/` bundled into `dist/`).

Each tab gets its own browser context (its own user, network and storage), loads
`http://127.0.0.1:PORT/index.html?ws=…&doc=…&token=…` from `page_server()` and exposes the
editor, the provider and its counters on `window.ua`. The page is served from loopback, as a
dev server would: Chromium's Local Network Access checks block a public origin's sockets to
127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page

BROWSER_DIR = Path(__file__).resolve().parent
BUNDLE = BROWSER_DIR / "dist" / "editor.js"
INDEX = BROWSER_DIR / "page" / "index.html"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

# One step of what a user does with the keyboard: ("type", text) or ("press", key chord).
Step = tuple[str, str]


def chromium_executable() -> str | None:
    """`CHROMIUM_PATH`, else the first Chromium-family browser on PATH, else None."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def bundle_problem() -> str | None:
    """Why the editor page cannot be served, or None."""
    if not BUNDLE.is_file():
        return f"{BUNDLE} is missing: run `make browser-deps` (make test does)"
    return None


PAGE_FILES: Final = {"/index.html": (INDEX, "text/html"), "/editor.js": (BUNDLE, "text/javascript")}


class _PageFiles(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = PAGE_FILES.get(self.path.split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        path, content_type = found
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("content-type", f"{content_type}; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def page_server() -> Iterator[str]:
    """Serve the page and its bundle on a loopback port; yields the origin."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _PageFiles)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass
class Tab:
    """One page with the editor; every wait is an in-page condition with a deadline."""

    context: BrowserContext
    page: Page
    url: str
    console: list[str] = field(default_factory=list)

    async def js(self, expression: str, arg: Any = None) -> Any:
        return await self.page.evaluate(expression, arg)

    async def until(self, predicate: str, arg: Any = None, timeout: float = 10) -> Any:
        """Wait until the JS function `predicate` returns something truthy; return it."""
        try:
            handle = await self.page.wait_for_function(
                predicate, arg=arg, timeout=timeout * 1000, polling=50
            )
        except Exception as exc:
            state = await self.state()
            raise AssertionError(
                f"{predicate} did not hold within {timeout} s; state={state}; "
                f"console={self.console[-20:]}"
            ) from exc
        return await handle.json_value()

    async def doc(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.js("() => ua.editor.getJSON()")
        return result

    async def html(self) -> str:
        return str(await self.js("() => ua.editor.getHTML()"))

    async def text(self) -> str:
        return str(await self.js("() => ua.editor.getText()"))

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.js("() => window.ua ? ua.state : null") or {}
        return result

    async def synced(self, timeout: float = 15) -> None:
        """Connected, authenticated, first sync done."""
        await self.until(
            "() => window.ua && ua.state.status === 'connected' && ua.state.scope"
            " && ua.provider.isSynced",
            timeout=timeout,
        )

    async def saved(self, timeout: float = 15) -> None:
        """Synced and every local change acknowledged by the server ("saved")."""
        await self.synced(timeout)
        await self.until("() => ua.provider.unsyncedChanges === 0", timeout=timeout)

    async def focus(self, where: str | int = "end") -> None:
        """Put the caret at `where`; wait for the DOM focus (Tiptap focuses on a frame)."""
        await self.js("(where) => ua.editor.commands.focus(where)", where)
        await self.until("() => ua.editor.view.hasFocus()")

    async def focus_after(self, start: str) -> None:
        """Put the caret at the end of the first textblock whose text starts with `start`."""
        found = await self.js(
            """(start) => {
                let at = null;
                ua.editor.state.doc.descendants((node, pos) => {
                    if (at === null && node.isTextblock && node.textContent.startsWith(start)) {
                        at = pos + node.nodeSize - 1;
                    }
                    return at === null;
                });
                return at;
            }""",
            start,
        )
        assert found is not None, f"no textblock starts with {start!r}"
        await self.focus(found)

    async def keys(self, steps: Sequence[Step]) -> None:
        keyboard = self.page.keyboard
        for kind, value in steps:
            if kind == "type":
                await keyboard.type(value)
            else:
                await keyboard.press(value)

    async def reload(self) -> None:
        await self.page.reload()
        await self.synced()

    async def close(self) -> None:
        await self.context.close()


async def open_tab(
    browser: Browser, origin: str, ws_url: str, document: str, token: str, name: str
) -> Tab:
    """A new context and page (served from `origin`) on `document` at `ws_url/collab`, synced."""
    context = await browser.new_context()
    page = await context.new_page()
    query = urlencode({"ws": f"{ws_url}/collab", "doc": document, "token": token, "name": name})
    tab = Tab(context, page, f"{origin}/index.html?{query}")

    def log(message: ConsoleMessage) -> None:
        tab.console.append(f"{message.type}: {message.text}")

    page.on("console", log)
    page.on("pageerror", lambda error: tab.console.append(f"pageerror: {error}"))
    await page.goto(tab.url)
    await tab.synced()
    return tab
