"""Fail the build on a link to an anchor that does not exist in the built site.

Sphinx checks that every cross-reference has a target, but not that the
``#anchor`` part of the resulting URL exists in the page it points to (a
module declared in one place and indexed from another, a hand-written
``page.html#id``). After an HTML build this extension reads every page, collects
its ``id`` attributes, and warns (an error under ``-W``) for each local link
whose page or anchor is missing.
"""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sphinx.util import logging

logger = logging.getLogger(__name__)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            elif name == "href" and value and tag == "a":
                self.links.append(value)


def _check(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    pages = {}
    for path in out.rglob("*.html"):
        rel = path.relative_to(out).as_posix()
        if rel.startswith(("_modules/", "_static/", "_sources/")):
            continue
        parser = _Page()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        pages[rel] = parser
    broken = 0
    for rel, page in sorted(pages.items()):
        for href in page.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.fragment:
                continue
            target = rel if not parts.path else posixpath.normpath(
                posixpath.join(posixpath.dirname(rel), unquote(parts.path)))
            if not re.search(r"\.html$", target) or target.startswith("_modules/"):
                continue
            frag = unquote(parts.fragment)
            if target not in pages:
                if (out / target).exists():
                    continue
                logger.warning("%s: link to a missing page %s", rel, href)
                broken += 1
            elif frag not in pages[target].ids:
                logger.warning("%s: link to a missing anchor %s", rel, href)
                broken += 1
    logger.info("check_anchors: %d pages, %d broken links", len(pages), broken)


def setup(app):
    app.connect("build-finished", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
