"""HTML to plain text for indexing, with the standard library's parser.

Headings become Markdown-style lines (``## Setup``) so that heading-based chunking treats HTML
and Markdown alike; block elements end lines; scripts, styles and other non-content elements
are dropped. Malformed HTML degrades to its text, it never raises.

Example:
    >>> html_to_text("<title>T</title><h1>Intro</h1><p>Hello <b>world</b></p><script>x()</script>")
    ('T', '# Intro\\nHello world')
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = {"script", "style", "noscript", "template", "svg", "head"}
_BLOCK = {
    "p", "div", "section", "article", "br", "li", "ul", "ol", "tr", "table", "pre",
    "blockquote", "header", "footer", "main", "nav", "aside", "dd", "dt", "figcaption",
}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skip_depth = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in _SKIP:
            self.skip_depth += 1
        elif tag in _HEADINGS:
            self.parts.append("\n" + "#" * _HEADINGS[tag] + " ")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _HEADINGS or tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """The ``<title>`` and the visible text of an HTML document.

    Returns:
        ``(title, text)``; the title is empty when the page has none.
    """
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = []
    for line in "".join(collector.parts).splitlines():
        squeezed = re.sub(r"[ \t\r\f\v]+", " ", line).strip()
        if squeezed and squeezed.strip("#").strip():
            lines.append(squeezed)
    title = re.sub(r"\s+", " ", "".join(collector.title)).strip()
    return title, "\n".join(lines)
