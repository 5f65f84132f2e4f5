"""Documentation stays in sync with the code."""

import pathlib

from socmodels import clm5, compas

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_models_md_tables_are_rendered_from_parameters():
    text = (ROOT / "docs" / "models.md").read_text()
    for mod in (clm5, compas):
        assert mod.PARAMETERS.as_markdown() in text, (
            "docs/models.md is out of date: run python docs/render_parameter_tables.py")


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    assert "bash tools/run.sh" in readme and "bash tools/test.sh" in readme
    assert "bash tools/test.sh" in (ROOT / ".ci" / "run").read_text()
