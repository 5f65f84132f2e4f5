"""Documentation stays in sync with the code: every Python block of the docs runs."""

import os
import pathlib
import re

import pytest

from socmodels import clm5, compas

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)


def python_blocks(path: pathlib.Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, not_run_reason)`` of every ```python block of a Markdown file.

    A block is skipped when the last non-blank line before it is
    ``<!-- not-run: reason -->``; the reason may not be empty.
    """
    text = path.read_text()
    out = []
    for m in FENCE.finditer(text):
        before = [ln for ln in text[: m.start()].splitlines() if ln.strip()]
        reason = None
        if before:
            hit = NOT_RUN.search(before[-1])
            if hit:
                reason = hit.group(1)
        out.append((text[: m.start()].count("\n") + 1, m.group(1), reason))
    return out


def test_models_md_tables_are_rendered_from_parameters():
    text = (ROOT / "docs" / "models.md").read_text()
    for mod in (clm5, compas):
        assert mod.PARAMETERS.as_markdown() in text, (
            "docs/models.md is out of date: run python docs/render_parameter_tables.py")


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    assert "bash tools/run.sh" in readme and "bash tools/test.sh" in readme
    assert "bash tools/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_readme_has_the_generated_numbers_block():
    readme = (ROOT / "README.md").read_text()
    assert readme.count("<!-- numbers:start -->") == 1
    assert readme.count("<!-- numbers:end -->") == 1
    assert readme.index("<!-- numbers:start -->") < readme.index("<!-- numbers:end -->")


def test_every_not_run_marker_gives_a_reason():
    for path in DOCS:
        for line, _, reason in python_blocks(path):
            assert reason is None or reason.strip(), f"{path.name}:{line}: not-run without reason"
        text = path.read_text()
        for m in re.finditer(r"<!--\s*not-run\b(.*?)-->", text):
            assert re.match(r":\s*\S", m.group(1)), (
                f"{path.name}: '<!-- not-run ... -->' needs ': reason'")


RUNNABLE = [p for p in DOCS if any(reason is None for _, _, reason in python_blocks(p))]


def test_docs_have_runnable_examples():
    assert {"README.md", "models.md", "data.md"} <= {p.name for p in RUNNABLE}


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_python_blocks_run(path, tmp_path, monkeypatch):
    """The blocks of one file run in order, in one namespace, in a scratch folder."""
    import matplotlib

    matplotlib.use("Agg")
    blocks = [(line, code) for line, code, reason in python_blocks(path) if reason is None]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{path.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{path.relative_to(ROOT)} block at line {line} failed:"
                                 f" {type(exc).__name__}: {exc}") from exc
    assert os.getcwd() == str(tmp_path)
