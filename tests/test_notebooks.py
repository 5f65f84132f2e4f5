"""The tutorial notebooks in ``notebooks/`` execute without error and are stored clean.

Each notebook is run top to bottom with ``nbclient`` in a ``python3`` kernel of *this*
interpreter (the venv's ipykernel), with ``SOCMC_NOTEBOOK_SMALL=1`` (tiny settings: few
sites, a few hundred iterations, a tiny network; outputs go to temporary folders) and
``JAX_PLATFORMS=cpu``. A failing cell fails the test with the cell's traceback.

Compiled XLA programs are cached on disk in pytest's cache folder
(``.pytest_cache/d/socmc-jax-cache``; ``pytest --cache-clear`` empties it), so programs
shared between notebooks or repeated inside one are compiled once, and later runs of the
suite are faster. The numbers computed do not depend on the cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = ("01_one_site.ipynb", "02_many_sites.ipynb", "03_proda.ipynb",
            "04_method_comparison.ipynb", "05_bring_your_own_data.ipynb",
            "06_model_comparison.ipynb")
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell


@pytest.fixture
def kernel_env(monkeypatch, request, tmp_path):
    """Environment inherited by the kernel: small settings, CPU, this venv's kernelspec."""
    monkeypatch.setenv("SOCMC_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    # small mode writes to tempfile.mkdtemp(): keep those folders under pytest's tmp_path
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    # A user-level "python3" kernelspec (~/.local/share/jupyter) may point at another
    # Python; prefer the one of this environment (sys.prefix/share/jupyter).
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    if cache is not None:
        monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache.mkdir("socmc-jax-cache")))
        monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def _execute(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, startup_timeout=180,
                            kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError (with the traceback) on any failing cell
    return nb


def test_expected_notebooks_present():
    assert set(EXPECTED) <= set(NOTEBOOKS), f"missing: {set(EXPECTED) - set(NOTEBOOKS)}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{name}: cells {dirty} have stored outputs or execution counts; clear"
                       " them (e.g. `jupyter nbconvert --clear-output --inplace`)")
    assert "widgets" not in nb.metadata, f"{name}: stored widget state"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_layout(name):
    """A markdown introduction, then the parameters cell with the small-mode switch."""
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    params = nb.cells[1]
    assert params.cell_type == "code"
    assert 'SMALL = os.environ.get("SOCMC_NOTEBOOK_SMALL", "0") == "1"' in params.source


def test_kernel_is_this_interpreter(kernel_env):
    """nbclient's "python3" kernel runs this venv's Python (where socmc is installed)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys\nprint(sys.prefix)\nprint(os.environ['SOCMC_NOTEBOOK_SMALL'])")])
    out = _execute(nb).cells[0].outputs[0]["text"].split()
    assert out == [sys.prefix, "1"], (out, sys.prefix)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, kernel_env):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    _execute(nb)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert os.environ["SOCMC_NOTEBOOK_SMALL"] == "1"
