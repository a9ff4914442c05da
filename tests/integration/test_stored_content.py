"""Stored content can never make reading fail: attributes of the wrong type from a Yjs client.

An editor's y-websocket client writes a heading level "abc", a list start that is a list,
unknown nodes and marks, bytes and NaN; every read of the phase still answers.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pycrdt import XmlElement, XmlText

from collab.protocol import ywire
from server.exports.render import JSON_SCHEMA
from tests.support import Account, RunningServer, bearer, eventually, make_account
from tests.yclient import YClient, yclient


def _element(tag: str, attrs: dict[str, Any], text: str) -> XmlElement:
    return XmlElement(tag, attrs, [XmlText(text)])  # yrs takes any value, typed str or not


async def _write_hostile_content(c: YClient) -> None:
    before = c.doc.get_state()
    content = c.content
    with c.doc.transaction():
        for tag, attrs, text in [
            ("heading", {"level": "abc"}, "Bad level"),
            ("heading", {"level": [1, 2]}, "List level"),
            ("codeBlock", {"language": {"x": math.nan}}, "print(1)"),
            ("image", {"src": b"\x00\xff", "width": math.inf}, "image text"),
        ]:
            content.children.append(_element(tag, attrs, text))
        ordered = content.children.append(XmlElement("orderedList"))
        ordered.attributes["start"] = "x"
        item = ordered.children.append(XmlElement("listItem"))
        paragraph = item.children.append(XmlElement("paragraph"))
        paragraph.children.append(XmlText("first item"))
        marked = content.children.append(XmlElement("paragraph"))
        run = marked.children.append(XmlText())
        run.insert(0, "odd marks", {"link": {"href": [1]}, "bold": 5, "comment": {"id": [1]}})
    await c.send(ywire.Update(c.doc.get_update(before)))


async def _wait_done(client: httpx.AsyncClient, owner: Account, export_id: str) -> dict[str, Any]:
    info: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal info
        info = (await client.get(f"/api/exports/{export_id}", headers=bearer(owner))).json()
        return info["status"] in ("done", "failed")

    await eventually(finished, 90)
    assert info["status"] == "done", info
    return info


async def test_every_read_answers_despite_bad_attributes(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    owner = await make_account(client)
    r = await client.post("/api/projects", json={"name": "Hostile"}, headers=bearer(owner))
    pid = r.json()["id"]
    name = f"projects/{pid}/phases/1"
    async with yclient(server.ws_url, name, owner.access_token) as c:
        await _write_hostile_content(c)
        rooms = server.app.state.services.rooms

        async def stored() -> bool:
            room = rooms.loaded(name)
            return room is not None and room.doc.get_state() == c.doc.get_state()

        await eventually(stored)

    base = f"/api/projects/{pid}/phases/1"
    r = await client.get(base, headers=bearer(owner))
    assert r.status_code == 200, r.text
    content = r.json()["content"]
    assert content["markdown"].startswith("# Bad level\n\n# List level")
    for text in ("image text", "first item", "odd marks", "print(1)"):
        assert text in content["markdown"] and text in content["html"]
    assert content["prosemirror"]["content"][0]["attrs"] == {"level": 1}

    r = await client.post(f"{base}/versions", json={"label": "hostile"}, headers=bearer(owner))
    assert r.status_code == 201, r.text
    version_id = r.json()["id"]
    r = await client.get(f"{base}/versions/{version_id}", headers=bearer(owner))
    assert r.status_code == 200 and "<h1>Bad level</h1>" in r.json()["html"]
    r = await client.post(f"{base}/complete", headers=bearer(owner))
    assert r.status_code == 200, r.text
    r = await client.post(f"{base}/versions/{version_id}/restore", headers=bearer(owner))
    assert r.status_code == 200, r.text

    files: dict[str, bytes] = {}
    for fmt in ("json", "docx", "pdf"):
        r = await client.post(
            f"/api/projects/{pid}/exports",
            json={"format": fmt, "phases": [1]},
            headers=bearer(owner),
        )
        assert r.status_code == 202, r.text
        info = await _wait_done(client, owner, r.json()["id"])
        files[fmt] = (await client.get(info["download_url"], headers=bearer(owner))).content
    exported = json.loads(files["json"])
    Draft202012Validator(JSON_SCHEMA).validate(exported)
    assert "image text" in json.dumps(exported["phases"][0]["content"])
    assert files["docx"][:2] == b"PK" and files["pdf"][:5] == b"%PDF-"
