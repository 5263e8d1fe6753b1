"""``.. results-table::``: show a table of a committed results file, not a retyped copy.

::

    .. results-table:: ../benchmarks/li2022/results/spike_slab_claims.md
       :table: 2
       :columns: 1, 2, 4

The argument is a markdown results file written by a script in ``benchmarks/``
(relative to the page). ``:table:`` picks its N-th pipe table (1-based, default 1),
``:columns:`` a subset of its columns (1-based), ``:rows:`` a subset of its body rows
(1-based). The table is rendered at build time, so the page always shows the figures
of the committed file, and ``tests/test_provenance.py`` counts the file as the
source of the figures.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList


def _index_list(text: str) -> list[int]:
    return [int(v) - 1 for v in text.replace(",", " ").split()]


def pipe_tables(text: str) -> list[list[list[str]]]:
    """The pipe tables of a markdown text, as lists of rows of cells (separators dropped)."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _cell(text: str) -> str:
    # Markdown's `code` is rst's ``code``; an empty cell needs a placeholder.
    out = []
    for i, part in enumerate(text.split("`")):
        out.append(f"``{part}``" if i % 2 and part else part)
    text = "".join(out) or "\\-"
    # A cell that reads as a list marker ("-", "* x", "1. x") would become a list.
    if re.match(r"(?:[-*+•]|\(?(?:\d+|#)[.)])(?:\s|$)", text):
        text = "\\" + text
    return text


class ResultsTable(Directive):
    required_arguments = 1
    option_spec = {"table": directives.positive_int, "columns": directives.unchanged,
                   "rows": directives.unchanged, "caption": directives.unchanged}
    has_content = False

    def run(self):
        env = self.state.document.settings.env
        page_dir = Path(env.doc2path(env.docname)).parent
        path = (page_dir / self.arguments[0]).resolve()
        env.note_dependency(str(path))
        if not path.exists():
            raise self.error(f"results-table: {path} does not exist")
        tables = pipe_tables(path.read_text())
        index = self.options.get("table", 1) - 1
        if index >= len(tables):
            raise self.error(f"results-table: {path.name} has {len(tables)} tables")
        header, *body = tables[index]
        if "rows" in self.options:
            body = [body[i] for i in _index_list(self.options["rows"])]
        cols = (_index_list(self.options["columns"]) if "columns" in self.options
                else list(range(len(header))))
        caption = self.options.get("caption", f"From ``{Path(self.arguments[0]).name}``")
        lines = [f".. list-table:: {caption}", "   :header-rows: 1", ""]
        for row in [header, *body]:
            for j, c in enumerate(cols):
                lines.append(("   * - " if j == 0 else "     - ") + _cell(row[c]))
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source=str(path)), self.content_offset, node)
        return node.children


def setup(app):
    app.add_directive("results-table", ResultsTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
