"""Flags for implausible headline numbers of a run (shown at the top of ``report.md``)."""

from __future__ import annotations

import numpy as np

__all__ = ["GLOBAL_STOCK_RANGE_PGC", "MIN_FEASIBLE_FRACTION", "plausibility_flags"]

# ---------------------------------------------------------------------------------------

GLOBAL_STOCK_RANGE_PGC = (500.0, 5000.0)
"""Plausible global SOC stock 0-1 m [Pg C]. Observation-based estimates span about
1,000-3,000 Pg C (e.g. Batjes 1996: 1,462-1,548; SoilGrids and the PRODA paper are in that
span); the range allows a factor of about 2 either side for a coarse or virtual grid."""

MIN_FEASIBLE_FRACTION = 0.9
"""Flag a model whose steady state is infeasible in more than 10 % of the land cells."""


def plausibility_flags(analyses: dict) -> list[str]:
    """Headline numbers that are implausible and must be checked before use.

    Args:
        analyses: The ``analyses.json`` mapping (per model: ``total_PgC_proda``,
            ``total_PgC_customary``, ``feasible_cells_fraction``, ``heldout``).

    Returns:
        One readable sentence per flag (empty when nothing is implausible).
    """
    lo, hi = GLOBAL_STOCK_RANGE_PGC
    flags = []
    for m, r in analyses.get("models", {}).items():
        for key, label in (("total_PgC_proda", "PRODA"), ("total_PgC_customary", "customary")):
            v = r.get(key)
            if v is None:
                continue
            if not np.isfinite(v) or not lo <= v <= hi:
                flags.append(f"{m.upper()} global SOC 0-1 m with {label} parameters is {v:,.0f}"
                             f" Pg C, outside the plausible {lo:,.0f}-{hi:,.0f} Pg C")
        for key, where in (("feasible_cells_fraction", "land cells (PRODA maps)"),):
            f = r.get(key)
            if f is not None and not f >= MIN_FEASIBLE_FRACTION:
                flags.append(f"{m.upper()}: the steady state is infeasible in"
                             f" {100 * (1 - f):.0f} % of the {where}")
        f = r.get("heldout", {}).get("feasible_fraction")
        if f is not None and not f >= MIN_FEASIBLE_FRACTION:
            flags.append(f"{m.upper()}: the steady state is infeasible at {100 * (1 - f):.0f} %"
                         " of the held-out profiles")
    return flags
