"""Render the parameter tables of ``socmodels`` into ``docs/models.md`` (between markers).

Run ``python docs/render_parameter_tables.py`` after changing ``socmodels/_tables.py``;
``tests/test_docs.py`` fails while the document and the tables disagree.
"""

from __future__ import annotations

import pathlib
import re

from socmodels import clm5, compas

DOC = pathlib.Path(__file__).with_name("models.md")


def render(text: str) -> str:
    for mod in (clm5, compas):
        tag = mod.NAME.lower()
        block = (f"<!-- {tag}-parameters:start -->\n{mod.PARAMETERS.as_markdown()}\n"
                 f"<!-- {tag}-parameters:end -->")
        text = re.sub(rf"<!-- {tag}-parameters:start -->.*?<!-- {tag}-parameters:end -->",
                      lambda _m, b=block: b, text, flags=re.S)
    return text


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text()))
    print(f"updated {DOC}")
