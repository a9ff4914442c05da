"""WordprocessingML pieces python-docx has no API for: fields, hyperlinks, rules, numbering."""

from __future__ import annotations

import re
from typing import Any, Final

from docx.document import Document
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run

LINK_COLOR: Final = RGBColor(0x1A, 0x4F, 0x9C)
# Characters XML 1.0 cannot hold; lxml refuses them, so they are dropped.
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    return _XML_INVALID.sub("", text)


def add_field(paragraph: Paragraph, instruction: str) -> Run:
    """A complex field (`PAGE`, `TOC ...`); returns the run holding its cached result."""
    _field_char(paragraph.add_run(), "begin")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    paragraph.add_run()._r.append(instr)
    _field_char(paragraph.add_run(), "separate")
    result = paragraph.add_run()
    _field_char(paragraph.add_run(), "end")
    return result


def _field_char(run: Run, kind: str) -> None:
    char = OxmlElement("w:fldChar")
    char.set(qn("w:fldCharType"), kind)
    run._r.append(char)


def add_hyperlink(paragraph: Paragraph, run: Run, url: str) -> None:
    """Move `run` (already formatted) into an external hyperlink to `url`."""
    rel_id = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel_id)
    run.font.color.rgb = LINK_COLOR
    run.font.underline = True
    link.append(run._r)
    paragraph._p.append(link)


def bottom_border(paragraph: Paragraph) -> None:
    """A horizontal rule: the paragraph's bottom border."""
    borders = OxmlElement("w:pBdr")
    borders.append(_element("w:bottom", val="single", sz="6", space="1", color="999999"))
    paragraph._p.get_or_add_pPr().append(borders)


def update_fields_on_open(document: Document) -> None:
    """Ask Word to refresh fields (the table of contents) when the file opens."""
    settings = document.settings.element
    flag = OxmlElement("w:updateFields")
    flag.set(qn("w:val"), "true")
    compat = settings.find(qn("w:compat"))
    if compat is not None:
        compat.addprevious(flag)  # CT_Settings order: updateFields precedes compat
    else:
        settings.append(flag)


def restart_numbering(document: Document, style_name: str, start: int) -> int:
    """A new numbering instance for `style_name`'s list, counting from `start`; its numId.

    Every paragraph of one style shares one numbering, so without this the second ordered
    list of a document would continue from the first.
    """
    numbering = document.part.numbering_part.element
    style_num = document.styles[style_name].element.xpath("./w:pPr/w:numPr/w:numId/@w:val")
    abstract = numbering.xpath(f'./w:num[@w:numId="{style_num[0]}"]/w:abstractNumId/@w:val')
    num_id = max((int(n) for n in numbering.xpath("./w:num/@w:numId")), default=0) + 1
    num = _element("w:num", numId=str(num_id))
    num.append(_element("w:abstractNumId", val=str(abstract[0])))
    override = _element("w:lvlOverride", ilvl="0")
    override.append(_element("w:startOverride", val=str(max(start, 0))))
    num.append(override)
    numbering.append(num)
    return num_id


def _element(tag: str, **attributes: str) -> Any:
    element = OxmlElement(tag)
    for name, value in attributes.items():
        element.set(qn(f"w:{name}"), value)
    return element


def set_numbering(paragraph: Paragraph, num_id: int) -> None:
    num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    num_pr.get_or_add_ilvl().val = 0
    num_pr.get_or_add_numId().val = num_id
