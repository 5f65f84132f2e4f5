"""What the network stage takes from a calibration: targets and covariates per kept site."""

from __future__ import annotations

import numpy as np

__all__ = ["unit_means", "site_covariates"]


def unit_means(table) -> np.ndarray:
    """Site posterior means in the unit cube, ``E[u]`` (the network's targets, as PRODA).

    Not ``to_unit(E[theta])``: the two differ for log-uniform parameters (COMPAS ``tau4s3``).

    Raises:
        ValueError: The site table predates ``mean_unit`` (re-run the calibration).
    """
    if "mean_unit" not in table:
        raise ValueError("the site table has no 'mean_unit' (posterior mean in the unit cube);"
                         " it was written by an older socmc: re-run the calibration")
    return np.asarray(table["mean_unit"].values, float)


def site_covariates(world, table):
    """Covariate rows aligned with the site table (by profile id)."""
    ids = [str(s) for s in np.asarray(table["site"].values)]
    cov = world.covariates.copy()
    cov.index = cov.index.astype(str)
    return cov.loc[ids]
