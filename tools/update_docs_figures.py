"""Copy a run's figures into ``docs/figures/`` (so readers see them without running anything).

Usage (after ``bash tools/run.sh``)::

    python tools/update_docs_figures.py                # from socmc_output/figures
    python tools/update_docs_figures.py --run DIR

Every PNG of ``<run>/figures`` is copied as ``docs/figures/run_<name>.png``; a figure over
``--max-kb`` (default 200) is an error (draw it smaller: ``surrogate.plots.DPI``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_figures(run: str | Path, dest: str | Path = ROOT / "docs" / "figures", *,
                 max_kb: float = 200.0) -> list[Path]:
    """Copy ``<run>/figures/*.png`` to ``dest/run_<name>.png``; returns the written paths.

    Raises:
        FileNotFoundError: the run has no figures.
        ValueError: a figure is larger than ``max_kb``.
    """
    src = sorted((Path(run) / "figures").glob("*.png"))
    if not src:
        raise FileNotFoundError(f"no figures in {Path(run) / 'figures'}")
    big = [f"{p.name} ({p.stat().st_size / 1024:.0f} KB)" for p in src
           if p.stat().st_size > max_kb * 1024]
    if big:
        raise ValueError(f"figures over {max_kb:g} KB: {', '.join(big)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in src:
        target = dest / f"run_{p.name}"
        shutil.copyfile(p, target)
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(ROOT / "socmc_output"))
    ap.add_argument("--max-kb", type=float, default=200.0)
    a = ap.parse_args(argv)
    for p in copy_figures(a.run, max_kb=a.max_kb):
        print(p.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
