"""AM and NUTS agree on a real CLM5 site posterior (21 parameters), through compare_methods."""

from __future__ import annotations

import numpy as np

import inference
from inference.testing import synthetic_sites


def test_am_and_nuts_agree_on_a_clm5_site(tmp_path):
    profiles, forcing, _ = synthetic_sites("clm5", 1, seed=5, noise_sd=0.1)
    cmp = inference.compare_methods(
        profiles, forcing, "clm5",
        [inference.nuts(num_warmup=200, num_samples=200),
         inference.adaptive_metropolis(num_warmup=20_000, num_samples=20_000)],
        output_dir=tmp_path, num_chains=3, seed=1, num_draws=400, progress=False,
        likelihood=inference.lognormal(0.1))
    am = inference.load_site_table(tmp_path / "am")
    nuts = inference.load_site_table(tmp_path / "nuts")
    assert float(nuts["max_r_hat"].max()) < 1.05 and float(am["max_r_hat"].max()) < 1.2
    # Means agree within 4.5 combined MCSE for each of the 21 parameters (the MCSEs come
    # from ArviZ; 4.5 keeps the family-wise false-alarm rate < 1e-3 over 21 comparisons).
    z = (am["mean"] - nuts["mean"]) / np.hypot(am["mcse_mean"], nuts["mcse_mean"])
    assert float(np.abs(z).max()) < 4.5, z.values
    # ... and within 0.5 posterior sd; the posterior sds agree within sampling error
    assert float(cmp["max_abs_z"].sel(sampler="am").max()) < 0.5
    ratio = (am["sd"] / nuts["sd"]).values
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
    # NUTS reports gradient evaluations and divergences; AM one evaluation per iteration
    assert float(cmp["n_evals"].sel(sampler="am").squeeze()) >= 3 * 40_000
    assert "n_divergent" in nuts and float(nuts["acceptance_rate"].squeeze()) > 0.6
