"""Parameter recovery (paper section 2.6, Figure S3) for both models. Slow: run with -m slow."""

from __future__ import annotations

import types

import numpy as np
import pytest

import inference
from inference.testing import synthetic_sites


@pytest.mark.slow
@pytest.mark.parametrize("model", ["clm5", "compas"])
def test_recovery_experiment(model, tmp_path):
    profiles, forcing, truth = synthetic_sites(model, 12, seed=9, noise_sd=0.1)
    world = types.SimpleNamespace(profiles=profiles, forcing=forcing, truth=truth)
    rec = inference.recovery_experiment(world, model, "am", output_dir=tmp_path,
                                        num_draws=500, progress=False,
                                        likelihood=inference.lognormal(0.1))
    n_par = 21 if model == "clm5" else 23
    assert rec.sizes["parameter"] == n_par and rec.attrs["n_sites"] == 12
    # A calibrated posterior covers the truth ~90 % of the time: over 12 sites x d
    # parameters the pooled coverage is within 4 binomial sd of 0.9 (ignoring correlation
    # between parameters, so the band is generous rather than tight).
    pooled = float(rec["coverage90"].mean())
    assert abs(pooled - 0.9) < 4 * np.sqrt(0.09 / (12 * n_par)) + 0.05, pooled
    # some parameters are identified by five layers, many are not (the paper's finding)
    assert 0 < int(rec["identifiable"].sum()) < n_par
    assert np.all(rec["sd_ratio"] > 0)
