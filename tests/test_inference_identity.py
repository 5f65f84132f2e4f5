"""Seeded runner outputs equal recorded ones: a guard for refactorings.

``tests/fixtures/runner_identity.npz`` was first written by ``tests/fixtures/
record_runner_identity.py`` on the runner as it was before the split into modules and the
sampler registry; the same call must give the same numbers (AM: bit for bit; NUTS draws bit
for bit, its acceptance rate up to round-off: it is now a sum over steps divided by their
number instead of NumPyro's running mean). Re-recorded once, on purpose, when AM's
increments became ``am.symmetric_normal`` draws (other random numbers) and the final
evaluation ran one site at a time (NUTS: the same draws, ``lp`` within 7e-16). R-hat and
ESS are compared to 1e-12 since they come from ``inference.batched_stats`` (ArviZ's
formulas vectorized; the autocorrelation sums are added in another order).

The fixture was recorded on an AVX-512 CPU; on an AVX2-only CPU XLA's vectorized
transcendental functions round differently in the last bit (measured: draws of ``c`` off by
up to 1e-15 relative, every accept/reject decision the same). So the draws and the summaries
computed from them are compared to ``FLOAT_RTOL`` (any change to the algorithm or the random
numbers moves them by many orders more); what counts decisions (acceptance rates,
evaluations, divergences) is compared exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import inference
from inference.testing import synthetic_sites

FIXTURE = Path(__file__).parent / "fixtures" / "runner_identity.npz"
FLOAT_RTOL = 1e-12
SAMPLERS = {
    "am": lambda: inference.adaptive_metropolis(num_warmup=400, num_samples=200,
                                                adapt_start=100),
    "two_phase": lambda: inference.two_phase(num_test=150, num_formal=400, adapt_start=50),
    "proda": lambda: inference.proda_compat(num_test=150, num_formal=400, adapt_start=50),
    "nuts": lambda: inference.nuts(num_warmup=60, num_samples=40),
}


@pytest.fixture(scope="module")
def world():
    profiles, forcing, _ = synthetic_sites("toy", 3, seed=3, noise_sd=0.05)
    return profiles, forcing


@pytest.mark.parametrize("key", list(SAMPLERS))
def test_same_numbers_as_before_the_refactoring(world, key, tmp_path):
    ref = np.load(FIXTURE)
    profiles, forcing = world
    run = inference.run_sites(profiles, forcing, "toy", SAMPLERS[key](), output_dir=tmp_path,
                              num_chains=2, seed=5, num_draws=40, chunk_size=2,
                              progress=False, likelihood=inference.lognormal(0.1))
    t = run.table
    for s in ("site0000", "site0002"):
        tree = inference.load_site(tmp_path, s)
        for p in ("a", "b", "c"):
            np.testing.assert_allclose(tree["posterior"][p].values, ref[f"{key}/{s}/{p}"],
                                       rtol=FLOAT_RTOL, atol=0, err_msg=f"{key} {s} {p}")
        np.testing.assert_allclose(tree["sample_stats"]["lp"].values, ref[f"{key}/{s}/lp"],
                                   rtol=FLOAT_RTOL, atol=0)
    for v in ("mean", "sd", "q05", "q50", "q95", "nse", "r_hat", "ess_bulk"):
        np.testing.assert_allclose(t[v].values, ref[f"{key}/{v}"], rtol=FLOAT_RTOL, atol=0,
                                   err_msg=v)
    exact = ["n_evals"]
    if key != "nuts":
        exact += ["acceptance_rate", "n_divergent"]
    else:
        np.testing.assert_allclose(t["acceptance_rate"].values, ref[f"{key}/acceptance_rate"],
                                   rtol=1e-12)
    for v in exact:
        np.testing.assert_array_equal(np.asarray(t[v].values), ref[f"{key}/{v}"], err_msg=v)
