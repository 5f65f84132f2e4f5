"""The multi-site runner on the toy model: outputs, chunking, resume, Dask, errors, analysis."""

from __future__ import annotations

import dataclasses
import json

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr

import inference
from inference.run import CHUNK_DIR, RunConfigError
from inference.sites import ProfileError
from inference.testing import synthetic_sites

SAMPLER = inference.adaptive_metropolis(num_warmup=3_000, num_samples=1_500, adapt_start=300)
# the likelihood's sigma matches the synthetic noise, so that a and b are well identified
OPTIONS = dict(num_chains=3, seed=11, num_draws=150, progress=False,
               likelihood=inference.lognormal(0.1))
N_SITES = 6


@pytest.fixture(scope="module")
def world():
    return synthetic_sites("toy", N_SITES, seed=3, noise_sd=0.05)


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    profiles, forcing, _ = world
    out = tmp_path_factory.mktemp("ref")
    return inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=out,
                               chunk_size=N_SITES, **OPTIONS)


def _posterior(output_dir, site):
    return inference.load_site(output_dir, site)["posterior"].to_dataset()


def _assert_same(dir_a, dir_b, sites):
    for s in sites:
        a, b = _posterior(dir_a, s), _posterior(dir_b, s)
        for v in a.data_vars:
            np.testing.assert_array_equal(a[v].values, b[v].values)


def test_outputs_table_and_arviz(reference, world):
    profiles, _, truth = world
    t = reference.table
    assert reference.complete
    assert t.sizes["site"] == N_SITES and t.sizes["parameter"] == 3
    for v in ("mean", "sd", "q05", "q50", "q95", "r_hat", "ess_bulk", "ess_tail", "nse",
              "acceptance_rate", "kept", "wall_time", "n_evals", "status", "lat", "lon"):
        assert v in t, v
    assert list(t["site"].values) == list(profiles["profile_id"].values)
    assert np.all(t["status"] == "ok")
    assert np.all((t["acceptance_rate"] > 0.05) & (t["acceptance_rate"] < 0.6))
    # one evaluation per iteration and chain, plus the prior draws tried for the starts
    assert np.all((t["n_evals"] >= 3 * 4_501) & (t["n_evals"] <= 3 * 4_500 + 300))
    # a and b are identified; every site fits
    assert float(t["r_hat"].sel(parameter=["a", "b"]).max()) < 1.1
    assert float(t["nse"].min()) > 0.9
    np.testing.assert_array_equal(t["kept"], inference.screen(t))
    site = inference.load_site(reference.output_dir, "site0002")
    assert set(site.children) >= {"posterior", "posterior_predictive", "log_likelihood",
                                  "observed_data", "sample_stats"}
    assert site["posterior"]["a"].dims == ("chain", "draw")
    assert site["log_likelihood"]["soc"].shape == (3, 150, 5)
    assert np.all(np.isfinite(site["log_likelihood"]["soc"].values))
    loo = azs.loo(site)  # PSIS-LOO straight from the stored ArviZ groups
    assert np.isfinite(loo.elpd)
    stored = xr.open_dataset(reference.output_dir / "site_table.nc")
    np.testing.assert_allclose(stored["mean"], t["mean"])
    stored.close()
    cfg = json.loads((reference.output_dir / "run_config.json").read_text())
    assert cfg["sampler"]["num_warmup"] == 3_000 and cfg["model"] == "toy"
    assert inference.RunConfig.from_dict(cfg) == reference.config


def test_chunk_size_and_dask_do_not_change_results(reference, world, tmp_path):
    profiles, forcing, _ = world
    sites = list(profiles["profile_id"].values)
    r2 = inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=tmp_path / "c2",
                             chunk_size=4, **OPTIONS)  # chunks of 4 and 2 (padded)
    assert len(list((tmp_path / "c2" / CHUNK_DIR).glob("chunk-*.nc"))) == 2
    _assert_same(reference.output_dir, r2.output_dir, sites)
    np.testing.assert_array_equal(reference.table["r_hat"], r2.table["r_hat"])

    from distributed import Client, LocalCluster  # noqa: I001

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        r3 = inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=tmp_path / "dask",
                                 chunk_size=4, client=client, **OPTIONS)
    assert r3.complete
    _assert_same(reference.output_dir, r3.output_dir, sites)
    r4 = inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=tmp_path / "threads",
                             chunk_size=4, workers=2, **OPTIONS)  # two chunks at once
    _assert_same(reference.output_dir, r4.output_dir, sites)


def test_resume_after_crash(reference, world, tmp_path):
    profiles, forcing, _ = world
    out = tmp_path / "crash"

    def crash(report):
        raise KeyboardInterrupt("simulated kill after the first checkpoint")

    with pytest.raises(KeyboardInterrupt):
        inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=out, chunk_size=4,
                            on_chunk_done=crash, **OPTIONS)
    assert len(inference.completed_sites(out)) == 4
    assert not (out / "site_table.nc").exists()
    first = {p.name: p.stat().st_mtime_ns for p in (out / CHUNK_DIR).glob("chunk-*.nc")}
    done = []
    run = inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=out, chunk_size=4,
                              on_chunk_done=done.append, **OPTIONS)
    assert run.complete and [r["n_sites"] for r in done] == [2]  # only the missing sites
    for name, mtime in first.items():  # finished chunks were not rewritten
        assert (out / CHUNK_DIR / name).stat().st_mtime_ns == mtime
    _assert_same(reference.output_dir, out, list(profiles["profile_id"].values))
    # max_chunks: time-sliced jobs
    part = inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=tmp_path / "sliced",
                               chunk_size=4, max_chunks=1, **OPTIONS)
    assert not part.complete and part.table is None
    with pytest.raises(RunConfigError, match="seed"):
        inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=out, chunk_size=4,
                            **dict(OPTIONS, seed=12))


def test_invalid_and_infeasible_sites(world, tmp_path):
    profiles, forcing, _ = world
    bad = profiles.copy(deep=True)
    bad["soc_density"][1, :] = np.nan
    with pytest.raises(ProfileError, match="site0001"):
        inference.run_sites(bad, forcing, "toy", SAMPLER, output_dir=tmp_path / "x", **OPTIONS)
    with pytest.raises(ValueError, match="aligned"):
        inference.run_sites(profiles, forcing[:3], "toy", SAMPLER, output_dir=tmp_path / "y",
                            **OPTIONS)
    # site 2 gets no input: zero prediction, infeasible for the lognormal at every draw
    zero = {k: np.array(getattr(forcing, k)) for k in ("input_cwd", "input_litr1",
                                                       "input_litr2", "input_litr3")}
    for v in zero.values():
        v[2] = 0.0
    f2 = dataclasses.replace(forcing, **zero)
    run = inference.run_sites(bad, f2, "toy", SAMPLER, output_dir=tmp_path / "z",
                              invalid="skip", chunk_size=4, **OPTIONS)
    t = run.table
    assert list(t["site"].values) == list(profiles["profile_id"].values)
    assert t["status"].values.tolist() == ["ok", "skipped", "init_failed", "ok", "ok", "ok"]
    assert not bool(t["kept"][1]) and not bool(t["kept"][2])
    assert np.isnan(float(t["mean"][2, 0]))
    assert "valid layer" in str(t["skip_reason"].values[1])
    skipped = json.loads((run.output_dir / "skipped_sites.json").read_text())
    assert list(skipped) == ["site0001"]


def test_dashboard_recovery_and_comparison(reference, world, tmp_path):
    profiles, forcing, truth = world
    fig = inference.dashboard(reference.table, path=tmp_path / "dash.png")
    assert (tmp_path / "dash.png").stat().st_size > 10_000
    assert len(fig.axes) >= 8
    rec = inference.recovery(reference.table, truth, model="toy")
    assert bool(rec["identifiable"].sel(parameter="a")) and bool(
        rec["identifiable"].sel(parameter="b"))
    assert not bool(rec["identifiable"].sel(parameter="c"))  # c does not enter the profile
    assert float(rec["sd_ratio"].sel(parameter="c")) > 0.8
    assert float(rec["r2"].sel(parameter="b")) > 0.8
    assert 0.0 <= float(rec["coverage90"].min()) <= 1.0
    cmp = inference.compare_methods(
        profiles, forcing, "toy", [inference.nuts(num_warmup=200, num_samples=150), SAMPLER],
        output_dir=tmp_path / "cmp", chunk_size=N_SITES, **OPTIONS)
    assert list(cmp["sampler"].values) == ["nuts", "am"]
    assert cmp.attrs["reference"] == "nuts"
    for v in ("evals_per_ess", "seconds_per_ess", "max_abs_z", "median_evals_per_ess"):
        assert v in cmp
    assert np.all(cmp["n_evals"].sel(sampler="am") >= 3 * 4_501)
    # the two samplers agree on the identified parameters (z in posterior sds)
    assert float(np.abs(cmp["z_vs_reference"].sel(sampler="am",
                                                  parameter=["a", "b"])).max()) < 1.0


def test_programs_compile_once_across_threads():
    """Threads that meet an uncompiled program wait for one compilation (no duplicate);
    a compiled program is a plain call (no compile time)."""
    import threading

    import jax
    import jax.numpy as jnp

    from inference.programs import Programs

    traced = []

    def f(x):
        traced.append(1)  # runs once per lowering
        return jnp.cumsum(x) * 2.0

    progs = Programs({"f": jax.jit(f)})
    x = jnp.arange(5.0)
    results, barrier = [], threading.Barrier(3)

    def call():
        barrier.wait()
        results.append(progs.call("f", x))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(traced) == 1 and len(results) == 3
    for out, _ in results:
        np.testing.assert_array_equal(out, np.cumsum(np.arange(5.0)) * 2.0)
    assert max(s for _, s in results) > 0.0  # the thread that compiled reports it
    assert progs.call("f", x)[1] == 0.0  # compiled: no compile time
    progs.call("f", jnp.arange(6.0))  # a new shape is a new program
    assert len(traced) == 2


def test_programs_trace_the_log_density_once(monkeypatch):
    """init, warm-up, segment and finish share one jitted log density: the model is traced
    once per process and shape, not once per program (lowering is most of a second
    process's start-up)."""
    import jax.numpy as jnp

    import inference.programs as programs_module
    from inference.config import RunConfig
    from inference.models import resolve_model
    from inference.programs import Chunk, _segment_keys, prepare_sites, programs
    from inference.sites import read_profiles, site_keys

    traced = []
    original = programs_module.log_density

    def counting(*args, **kwargs):
        traced.append(1)  # runs once per trace
        return original(*args, **kwargs)

    monkeypatch.setattr(programs_module, "log_density", counting)
    lik = inference.lognormal(0.05)
    smp = inference.adaptive_metropolis(num_warmup=20, num_samples=10)
    cfg = RunConfig(model="toy", sampler=smp, likelihood=lik, num_chains=2, seed=12345,
                    num_draws=5)  # a seed of its own: programs() is cached per config
    profiles, forcing, _ = synthetic_sites("toy", 3, seed=1)
    prof, _ = read_profiles(profiles, lik, invalid="raise")
    progs = programs(cfg)
    sites, ids = prepare_sites(Chunk(prof, forcing, pad_to=3), resolve_model("toy"))
    key = jnp.asarray(site_keys(0, ids))
    (state, _, _), _ = progs.call("init", sites, key)
    (state, tuning), _ = progs.call("warmup", sites, state, _segment_keys(key, 0))
    (_, draws, _), _ = progs.call("segment", sites, state, tuning, _segment_keys(key, 1),
                                  num_steps=cfg.n_keep * cfg.thin, thin=cfg.thin)
    progs.call("finish", sites, jnp.asarray(draws), key)
    assert len(traced) == 1
