"""Run until converged: the criterion, the stop/extend logic of the runner, re-batching."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import inference
from inference.convergence import Convergence, bucket_size, diagnose
from inference.run import RunConfigError
from inference.testing import synthetic_sites

SAMPLER = inference.nuts(num_warmup=150, num_samples=150)
OPTIONS = dict(num_chains=3, seed=5, num_draws=150, progress=False,
               likelihood=inference.lognormal(0.1))
CRITERION = Convergence(rhat_max=1.01, ess_bulk_min=400, ess_tail_min=400, max_segments=8)


def test_criterion_validation():
    for bad in (dict(rhat_max=0.9), dict(ess_bulk_min=-1), dict(max_segments=0),
                dict(max_segments=2.5), dict(ess_tail_min="400")):
        with pytest.raises(ValueError):
            Convergence(**bad)
    assert Convergence.from_dict(CRITERION.to_dict()) == CRITERION


def test_diagnose_separates_mixed_from_stuck_chains():
    rng = np.random.default_rng(0)
    good = rng.normal(size=(1, 4, 500, 3))
    stuck = good.copy()
    stuck[0, 0] += 3.0  # one chain elsewhere
    d = diagnose(np.concatenate([good, stuck]))
    assert d.max_r_hat[0] < 1.01 < d.max_r_hat[1]
    assert d.min_ess_bulk[0] > 1_000 and d.min_ess_tail[0] > 1_000
    met = CRITERION.met(d)
    assert met.tolist() == [True, False]
    # NaN statistics never pass (a constant chain)
    const = np.zeros((1, 4, 100, 2))
    assert not CRITERION.met(diagnose(const))[0]


def test_bucket_sizes():
    assert [bucket_size(n, 256) for n in (256, 65, 64, 17, 16, 5, 4, 1)] == \
        [256, 256, 64, 64, 16, 16, 4, 1]


def test_unreachable_ess_is_a_config_error(tmp_path):
    profiles, forcing, _ = synthetic_sites("toy", 2, seed=3, noise_sd=0.05)
    with pytest.raises(RunConfigError, match="num_draws"):
        inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=tmp_path,
                            convergence=CRITERION, **{**OPTIONS, "num_draws": 50})


@pytest.fixture(scope="module")
def world():
    return synthetic_sites("toy", 6, seed=3, noise_sd=0.05)


@pytest.fixture(scope="module")
def until_converged(world, tmp_path_factory):
    profiles, forcing, _ = world
    return inference.run_sites(profiles, forcing, "toy", SAMPLER, convergence=CRITERION,
                               output_dir=tmp_path_factory.mktemp("conv"), chunk_size=6,
                               **OPTIONS)


def test_sites_stop_when_converged(until_converged):
    t = until_converged.table
    reasons = t["stop_reason"].values.astype(str)
    assert set(reasons) <= {"converged", "budget"}
    conv = reasons == "converged"
    assert conv.sum() >= 4
    n_seg = t["n_segments"].values
    # one segment of 3 x 150 NUTS draws rarely shows an ESS of 400: sites are extended
    assert (n_seg >= 2).sum() >= 3 and (n_seg <= CRITERION.max_segments).all()
    assert len(set(n_seg)) >= 2  # sites stopped at different segments
    # a converged site meets the criterion on the statistics the table reports
    assert (t["max_r_hat"].values[conv] <= 1.01).all()
    assert (t["min_ess_bulk"].values[conv] >= 400).all()
    assert (t["min_ess_tail"].values[conv] >= 400).all()
    assert (t["kept"].values.astype(bool) <= conv).all()
    # stored draws stay at num_draws per chain however long a site ran
    post = until_converged.posterior(str(t["site"].values[0]))["posterior"]
    assert post.sizes["draw"] == OPTIONS["num_draws"]
    # the evaluations and acceptance count only the segments a site ran
    acc = t["acceptance_rate"].values
    assert ((acc > 0.3) & (acc <= 1.0)).all()


AM = inference.adaptive_metropolis(num_warmup=2_000, num_samples=1_500, adapt_start=300)


@pytest.mark.parametrize("adapt_between_segments", [False, True])
def test_batching_does_not_change_a_site(world, tmp_path, adapt_between_segments):
    """A site's draws and stopping point depend on its own key only: the same numbers
    whatever the chunk size and whichever sites it is re-batched with (AM: bit for bit,
    also when it re-adapts between segments from the pooled draws of the site's chains,
    which are evaluated one site at a time; 3 vs 6 sites differed in the last bits before;
    HMC trajectories amplify round-off, see docs/inference.md)."""
    profiles, forcing, _ = world
    am = dataclasses.replace(AM, adapt_between_segments=adapt_between_segments)
    runs = [inference.run_sites(profiles, forcing, "toy", am, convergence=CRITERION,
                                output_dir=tmp_path / str(cs), chunk_size=cs, **OPTIONS)
            for cs in (6, 4, 3)]
    a = runs[0].table
    assert len(set(a["n_segments"].values)) >= 2  # re-batching happened
    for run in runs[1:]:
        b = run.table
        np.testing.assert_array_equal(a["n_segments"].values, b["n_segments"].values)
        np.testing.assert_array_equal(a["stop_reason"].values, b["stop_reason"].values)
        for site in a["site"].values:
            pa, pb = (r.posterior(str(site))["posterior"].to_dataset() for r in (runs[0], run))
            for name in pa.data_vars:
                np.testing.assert_array_equal(pa[name].values, pb[name].values)


@pytest.mark.slow
def test_batching_does_not_change_a_compas_site_in_the_feasible_space(tmp_path):
    """COMPAS in its feasible space, re-adapting AM: every output (site table, draws,
    log-likelihood, predictions) is the same bit for bit at chunks of 3 and 2 sites (the
    pooled proposal, the criterion's unit-cube draws and the final evaluation run one site
    at a time; the map's reductions would otherwise round with the batch size)."""
    profiles, forcing, _ = synthetic_sites("compas", 3, seed=2)
    am = inference.adaptive_metropolis(num_warmup=300, num_samples=800, adapt_start=100)
    crit = Convergence(rhat_max=1.01, ess_bulk_min=400, ess_tail_min=400, max_segments=2)
    runs = [inference.run_sites(profiles, forcing, "compas", am, convergence=crit,
                                output_dir=tmp_path / str(cs), chunk_size=cs, num_chains=2,
                                seed=3, num_draws=200, progress=False, space="feasible",
                                likelihood=inference.lognormal(0.3))
            for cs in (3, 2)]
    a, b = (r.table for r in runs)
    for v in ("mean", "sd", "q05", "q95", "r_hat", "ess_bulk", "nse", "mean_unit",
              "n_segments", "acceptance_rate"):
        np.testing.assert_array_equal(np.asarray(a[v].values), np.asarray(b[v].values),
                                      err_msg=v)
    for site in a["site"].values:
        ta, tb = (r.posterior(str(site)) for r in runs)
        assert {"posterior", "log_likelihood", "posterior_predictive"} <= set(ta.children)
        for group in ta.children:
            da, db = ta[group].to_dataset(), tb[group].to_dataset()
            for name in da.data_vars:
                np.testing.assert_array_equal(da[name].values, db[name].values,
                                              err_msg=f"{group} {name}")


def test_budget_stop_and_resume_guard(world, tmp_path):
    profiles, forcing, _ = world
    never = Convergence(rhat_max=1.0, ess_bulk_min=0, ess_tail_min=0, max_segments=2)
    run = inference.run_sites(profiles[{"profile": slice(0, 2)}], forcing[:2], "toy",
                              SAMPLER, convergence=never, output_dir=tmp_path, **OPTIONS)
    t = run.table
    assert (t["stop_reason"].values.astype(str) == "budget").all()
    assert (t["n_segments"].values == 2).all()
    assert not t["kept"].values.astype(bool).any()
    with pytest.raises(RunConfigError, match="convergence"):
        inference.run_sites(profiles[{"profile": slice(0, 2)}], forcing[:2], "toy", SAMPLER,
                            convergence=CRITERION, output_dir=tmp_path, **OPTIONS)
