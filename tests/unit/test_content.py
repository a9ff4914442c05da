"""collab.content: y-prosemirror fragments, ProseMirror JSON, markdown, HTML, text."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from collab.content import (
    InvalidContent,
    empty_doc,
    fragment_to_prosemirror,
    markdown_to_prosemirror,
    plain_text,
    prosemirror_to_html,
    prosemirror_to_markdown,
    prosemirror_to_text,
    write_prosemirror,
)

Node = dict[str, Any]


def text(value: str, *marks: str, href: str | None = None) -> Node:
    node: Node = {"type": "text", "text": value}
    mark_list: list[Node] = [{"type": m} for m in marks]
    if href is not None:
        mark_list.insert(0, {"type": "link", "attrs": {"href": href}})
    if mark_list:
        node["marks"] = mark_list
    return node


def para(*content: Node) -> Node:
    return {"type": "paragraph", "content": list(content)} if content else {"type": "paragraph"}


def item(*content: Node) -> Node:
    return {"type": "listItem", "content": list(content)}


def doc(*content: Node) -> Node:
    return {"type": "doc", "content": list(content)}


def new_fragment() -> tuple[Doc[Any], XmlFragment]:
    ydoc: Doc[Any] = Doc()
    return ydoc, ydoc.get("content", type=XmlFragment)


def through_fragment(pm: Node) -> Node:
    ydoc, fragment = new_fragment()
    with ydoc.transaction():
        write_prosemirror(fragment, pm, replace=True)
    return fragment_to_prosemirror(fragment)


# Every node and mark kind. Marks never start or end on whitespace, so markdown keeps the
# exact text node boundaries.
EVERY_KIND = doc(
    {"type": "heading", "attrs": {"level": 2}, "content": [text("Title")]},
    para(
        text("plain "),
        text("bold", "bold"),
        text(" and "),
        text("both", "bold", "italic"),
        {"type": "hardBreak"},
        text("site", href="https://x.org/?a=1&b=2"),
        text(", "),
        text("x < y", "code"),
        text(" "),
        text("gone", "strike"),
    ),
    {
        "type": "bulletList",
        "content": [
            item(
                para(text("one")),
                {
                    "type": "orderedList",
                    "attrs": {"start": 3, "type": None},
                    "content": [item(para(text("three")))],
                },
            ),
            item(para(text("two"))),
        ],
    },
    {
        "type": "orderedList",
        "attrs": {"start": 1, "type": None},
        "content": [item(para(text("first")))],
    },
    {"type": "blockquote", "content": [para(text("quoted"))]},
    {"type": "codeBlock", "attrs": {"language": "python"}, "content": [text("x = 1\nprint(x)")]},
    {"type": "horizontalRule"},
)

EXPECTED_MARKDOWN = """\
## Title

plain **bold** and ***both***\\
[site](https://x.org/?a=1&b=2), `x < y` ~~gone~~

- one

  3. three
- two

1. first

> quoted

```python
x = 1
print(x)
```

---"""

EXPECTED_HTML = (
    "<h2>Title</h2>"
    "<p>plain <strong>bold</strong> and <strong><em>both</em></strong><br>"
    '<a href="https://x.org/?a=1&amp;b=2">site</a>, <code>x &lt; y</code> <s>gone</s></p>'
    '<ul><li><p>one</p><ol start="3"><li><p>three</p></li></ol></li><li><p>two</p></li></ul>'
    "<ol><li><p>first</p></li></ol>"
    "<blockquote><p>quoted</p></blockquote>"
    '<pre><code class="language-python">x = 1\nprint(x)</code></pre>'
    "<hr>"
)


def test_every_kind_to_markdown() -> None:
    assert prosemirror_to_markdown(EVERY_KIND) == EXPECTED_MARKDOWN


def test_every_kind_to_html() -> None:
    assert prosemirror_to_html(EVERY_KIND) == EXPECTED_HTML


def test_every_kind_to_text() -> None:
    assert prosemirror_to_text(EVERY_KIND) == (
        "Title\n\nplain bold and both\nsite, x < y gone\n\none\n\nthree\n\ntwo\n\nfirst"
        "\n\nquoted\n\nx = 1\nprint(x)"
    )


def test_every_kind_survives_markdown_and_fragment() -> None:
    assert markdown_to_prosemirror(EXPECTED_MARKDOWN) == EVERY_KIND
    assert through_fragment(EVERY_KIND) == EVERY_KIND


SAMPLE_MARKDOWN = """\
# Goals

Some *emphasis*, **strong**, `code`, ~~strike~~ and a [link](https://example.com).
Soft line, then a hard<2sp>
break.

1. first
2. second
   - nested *bullet*
     - deeper
3. third

> a quote
>
> - with a list

    indented code

~~~js
const a = 1;
~~~

***

###### Small
""".replace("<2sp>", "  ")  # a two-space hard break


def test_markdown_round_trip_through_fragment() -> None:
    pm = markdown_to_prosemirror(SAMPLE_MARKDOWN)
    assert through_fragment(pm) == pm
    # and markdown out parses back to the same document
    assert markdown_to_prosemirror(prosemirror_to_markdown(pm)) == pm


def test_markdown_parse_shapes() -> None:
    pm = markdown_to_prosemirror(SAMPLE_MARKDOWN)
    kinds = [node["type"] for node in pm["content"]]
    assert kinds == [
        "heading", "paragraph", "orderedList", "blockquote", "codeBlock", "codeBlock",
        "horizontalRule", "heading",
    ]  # fmt: skip
    assert pm["content"][0]["attrs"] == {"level": 1}
    assert pm["content"][-1]["attrs"] == {"level": 6}
    assert pm["content"][4] == {
        "type": "codeBlock",
        "attrs": {"language": None},
        "content": [text("indented code")],
    }
    assert pm["content"][5]["attrs"] == {"language": "js"}
    paragraph = pm["content"][1]["content"]
    assert text("link", href="https://example.com") in paragraph
    assert {"type": "hardBreak"} in paragraph
    nested = pm["content"][2]["content"][1]["content"][1]
    assert nested["type"] == "bulletList"
    assert nested["content"][0]["content"][1]["type"] == "bulletList"


def test_unknown_constructs_degrade_to_text() -> None:
    pm = markdown_to_prosemirror("<div>raw</div>\n\n| a | b |\n|---|---|\n\n![alt](pic.png)")
    assert pm == doc(
        para(text("<div>raw</div>")),
        para(text("| a | b | |---|---|")),
        para(text("alt", href="pic.png")),
    )


def test_empty_inputs() -> None:
    assert markdown_to_prosemirror("") == empty_doc()
    _, fragment = new_fragment()
    assert fragment_to_prosemirror(fragment) == empty_doc()
    assert plain_text(fragment) == ""
    assert markdown_to_prosemirror("-\n\n>") == doc(
        {"type": "bulletList", "content": [item(para())]},
        {"type": "blockquote", "content": [para()]},
    )


NASTY = "a <b> & c &amp; *d* _e_ [f](g) `h` ~~i~~ \\ j"


def test_html_escapes_text_and_attributes() -> None:
    pm = doc(para(text(NASTY), text("q", href='https://x.org/"><script>')))
    assert prosemirror_to_html(pm) == (
        "<p>a &lt;b&gt; &amp; c &amp;amp; *d* _e_ [f](g) `h` ~~i~~ \\ j"
        '<a href="https://x.org/&quot;&gt;&lt;script&gt;">q</a></p>'
    )


def test_html_drops_script_links() -> None:
    pm = doc(para(text("x", href="javascript:alert(1)")))
    assert prosemirror_to_html(pm) == "<p>x</p>"


def test_markdown_escapes_special_characters() -> None:
    pm = doc(para(text(NASTY)))
    md = prosemirror_to_markdown(pm)
    assert md == "a \\<b\\> & c \\&amp; \\*d\\* \\_e\\_ \\[f\\](g) \\`h\\` \\~\\~i\\~\\~ \\\\ j"
    assert markdown_to_prosemirror(md) == pm


@pytest.mark.parametrize(
    "line",
    ["# not a heading", "- not a list", "1. not a list", "> not a quote", "+ plus", "==="],
)
def test_markdown_escapes_line_starts(line: str) -> None:
    pm = doc(
        para(text("before")), para(text(line)), para(text("x"), {"type": "hardBreak"}, text(line))
    )
    assert markdown_to_prosemirror(prosemirror_to_markdown(pm)) == pm


@pytest.mark.parametrize(
    "inline",
    [
        [text("a", "italic"), text("b", "bold", "italic")],
        [text("a", "bold"), text("b", "italic")],
        [text("x", "bold", "code"), text("y", "code")],
        [text("a", "italic", "strike"), text("b", "strike")],
        [text("a", href="u"), text("b", "bold", href="u"), text("c", "bold")],
        [text("foo"), text("bar", "italic"), text("baz")],
        [text("3.14 and 1.")],
    ],
)
def test_markdown_nests_adjacent_marks(inline: list[Node]) -> None:
    pm = doc(para(*inline))
    assert markdown_to_prosemirror(prosemirror_to_markdown(pm)) == pm


def test_markdown_code_with_backticks_and_adjacent_lists() -> None:
    bullets = {"type": "bulletList", "content": [item(para(text("a")))]}
    numbers = {
        "type": "orderedList",
        "attrs": {"start": 1, "type": None},
        "content": [item(para(text("b")))],
    }
    pm = doc(
        para(text("a `tick` here", "code")),
        {"type": "codeBlock", "attrs": {"language": None}, "content": [text("```\nfence")]},
        bullets, bullets, numbers, numbers,
    )  # fmt: skip
    assert markdown_to_prosemirror(prosemirror_to_markdown(pm)) == pm


def test_append_and_replace() -> None:
    ydoc, fragment = new_fragment()
    first, second = doc(para(text("one"))), doc(para(text("two")), para(text("three")))
    with ydoc.transaction():
        write_prosemirror(fragment, first, replace=False)
    with ydoc.transaction():
        write_prosemirror(fragment, second, replace=False)
    assert fragment_to_prosemirror(fragment) == doc(
        para(text("one")), para(text("two")), para(text("three"))
    )
    with ydoc.transaction():
        write_prosemirror(fragment, first, replace=True)
    assert fragment_to_prosemirror(fragment) == first
    assert len(fragment.children) == 1


def test_writes_reach_a_peer_as_one_update() -> None:
    ydoc, fragment = new_fragment()
    updates: list[bytes] = []
    ydoc.observe(lambda event: updates.append(event.update))
    with ydoc.transaction(origin="ai"):
        write_prosemirror(fragment, EVERY_KIND, replace=True)
    assert len(updates) == 1
    peer, peer_fragment = new_fragment()
    peer.apply_update(updates[0])
    assert fragment_to_prosemirror(peer_fragment) == EVERY_KIND


def test_invalid_content_writes_nothing() -> None:
    ydoc, fragment = new_fragment()
    with ydoc.transaction():
        write_prosemirror(fragment, doc(para(text("keep"))), replace=True)
    bad_docs: list[Any] = [
        {"type": "paragraph"},
        doc(para(text("ok")), {"type": "image"}),
        doc(para({"type": "text", "text": "x", "marks": [{"type": "superscript"}]})),
        doc(para({"type": "text", "text": 3})),
        doc({"type": "heading", "attrs": {"level": [1]}}),
    ]
    for bad in bad_docs:
        with pytest.raises(InvalidContent), ydoc.transaction():
            write_prosemirror(fragment, bad, replace=True)
    deep: Node = para(text("deep"))
    for _ in range(100):
        deep = {"type": "blockquote", "content": [deep]}
    with pytest.raises(InvalidContent):
        write_prosemirror(fragment, doc(deep), replace=True)
    assert plain_text(fragment) == "keep"


def test_reads_a_fragment_built_like_y_prosemirror() -> None:
    ydoc, fragment = new_fragment()
    with ydoc.transaction():
        level: dict[str, Any] = {"level": 3}  # pycrdt types attributes as str; yrs takes any
        heading = fragment.children.append(XmlElement("heading", level))
        heading.children.append(XmlText("Plan"))
        paragraph = fragment.children.append(XmlElement("paragraph"))
        run = paragraph.children.append(XmlText())
        run.insert(0, "go ", {})
        run.insert(3, "now", {"bold": {}})
        paragraph.children.append(XmlElement("hardBreak"))
        tail = paragraph.children.append(XmlText())
        tail.insert(0, "see", {"link": {"href": "https://a.b", "target": "_blank"}})
        tail.insert(3, "!", {"italic--AbCd1234": {}})  # overlapping-mark key with its hash
        fragment.children.append(XmlElement("paragraph"))
        fragment.children.append(XmlElement("codeBlock"))
    assert fragment_to_prosemirror(fragment) == doc(
        {"type": "heading", "attrs": {"level": 3}, "content": [text("Plan")]},
        para(
            text("go "),
            text("now", "bold"),
            {"type": "hardBreak"},
            {
                "type": "text",
                "text": "see",
                "marks": [{"type": "link", "attrs": {"href": "https://a.b", "target": "_blank"}}],
            },
            text("!", "italic"),
        ),
        para(),
        {"type": "codeBlock", "attrs": {"language": None}},
    )
    assert plain_text(fragment) == "Plan\n\ngo now\nsee!"


# Y.encodeStateAsUpdate of a Y.Doc made by y-prosemirror 1.3.7 (yjs 13.6.33) with
# prosemirrorJSONToYDoc(schema, JS_DOC, "content"), schema shaped like Tiptap's StarterKit + Link.
JS_UPDATE = bytes.fromhex(
    "013889c79bfb0900070107636f6e74656e74030768656164696e67070089c79bfb090006040089c79bfb0901"
    "0d5469746c6520c3bc20f09f9880280089c79bfb0900056c6576656c017d028789c79bfb0900030970617261"
    "6772617068070089c79bfb090d06040089c79bfb090e06706c61696e208689c79bfb091404626f6c64027b7d"
    "8489c79bfb091504626f6c648689c79bfb091904626f6c64046e756c6c8689c79bfb091a04626f6c64027b7d"
    "8689c79bfb091b066974616c6963027b7d8489c79bfb091c0520626f74688689c79bfb092104626f6c64046e"
    "756c6c8689c79bfb0922066974616c6963046e756c6c8789c79bfb090e030968617264427265616b8789c79b"
    "fb092406060089c79bfb0925046c696e6b217b2268726566223a2268747470733a2f2f782e6f72672f3f613d"
    "3126623d32227d8489c79bfb0926046c696e6b8689c79bfb092a046c696e6b046e756c6c8489c79bfb092b01"
    "208689c79bfb092c04636f6465027b7d8489c79bfb092d04636f64658689c79bfb093104636f6465046e756c"
    "6c8489c79bfb093201208689c79bfb093306737472696b65027b7d8489c79bfb093404676f6e658689c79bfb"
    "093806737472696b65046e756c6c8789c79bfb090d03097061726167726170688789c79bfb093a030a62756c"
    "6c65744c697374070089c79bfb093b03086c6973744974656d070089c79bfb093c0309706172616772617068"
    "070089c79bfb093d06040089c79bfb093e036f6e658789c79bfb093d030b6f7264657265644c697374070089"
    "c79bfb094203086c6973744974656d070089c79bfb09430309706172616772617068070089c79bfb09440604"
    "0089c79bfb0945057468726565280089c79bfb0942057374617274017d038789c79bfb093c03086c69737449"
    "74656d070089c79bfb094c0309706172616772617068070089c79bfb094d06040089c79bfb094e0374776f87"
    "89c79bfb093b030a626c6f636b71756f7465070089c79bfb09520309706172616772617068070089c79bfb09"
    "5306040089c79bfb09540671756f7465648789c79bfb09520309636f6465426c6f636b070089c79bfb095b06"
    "040089c79bfb095c0e78203d20310a7072696e74287829280089c79bfb095b086c616e677561676501770670"
    "7974686f6e8789c79bfb095b0309636f6465426c6f636b070089c79bfb096c06040089c79bfb096d0a706c61"
    "696e20636f64658789c79bfb096c030e686f72697a6f6e74616c52756c6500"
)
# ...and what ProseMirror's Node.toJSON() (Tiptap's getJSON()) gave for it in Node.
JS_DOC = doc(
    {"type": "heading", "attrs": {"level": 2}, "content": [text("Title ü 😀")]},
    para(
        text("plain "),
        text("bold", "bold"),
        text(" both", "bold", "italic"),
        {"type": "hardBreak"},
        text("link", href="https://x.org/?a=1&b=2"),
        text(" "),
        text("code", "code"),
        text(" "),
        text("gone", "strike"),
    ),
    para(),
    {
        "type": "bulletList",
        "content": [
            item(
                para(text("one")),
                {
                    "type": "orderedList",
                    "attrs": {"start": 3, "type": None},
                    "content": [item(para(text("three")))],
                },
            ),
            item(para(text("two"))),
        ],
    },
    {"type": "blockquote", "content": [para(text("quoted"))]},
    {"type": "codeBlock", "attrs": {"language": "python"}, "content": [text("x = 1\nprint(x)")]},
    {"type": "codeBlock", "attrs": {"language": None}, "content": [text("plain code")]},
    {"type": "horizontalRule"},
)


def test_reads_bytes_written_by_y_prosemirror() -> None:
    ydoc, fragment = new_fragment()
    ydoc.apply_update(JS_UPDATE)
    assert fragment_to_prosemirror(fragment) == JS_DOC
    assert through_fragment(JS_DOC) == JS_DOC


def test_thousand_paragraphs_convert_quickly() -> None:
    big = doc(*(para(text(f"Paragraph {i} "), text("bold", "bold")) for i in range(1000)))
    started = time.perf_counter()
    md = prosemirror_to_markdown(big)
    assert markdown_to_prosemirror(md) == big
    assert through_fragment(big) == big
    assert prosemirror_to_html(big).count("<p>") == 1000
    assert len(prosemirror_to_text(big).split("\n\n")) == 1000
    assert time.perf_counter() - started < 5.0


def test_html_nests_marks_as_prosemirror_does() -> None:
    # A link starting inside a bold italic run: ProseMirror closes the run, opens the link
    # outermost (schema order), then reopens bold and italic inside it; so do we.
    html = prosemirror_to_html(
        doc(
            para(
                text("see ", "bold", "italic"),
                text("https://", "bold", "italic", href="https://example.com"),
                text("example.com", "bold", "italic"),
            )
        )
    )
    assert html == (
        "<p><strong><em>see </em></strong>"
        '<a href="https://example.com"><strong><em>https://</em></strong></a>'
        "<strong><em>example.com</em></strong></p>"
    )
