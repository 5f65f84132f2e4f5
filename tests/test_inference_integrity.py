"""Run integrity: validated settings, fingerprinted resume, corrupt checkpoints, file handling,
the site-table schema, and the small runner bugs (one regression test each)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import inference
from inference.checkpoints import CHUNK_DIR, CorruptCheckpointWarning
from inference.config import RunConfigError
from inference.schema import SITE_TABLE, validate_site_table
from inference.testing import synthetic_sites

SAMPLER = inference.adaptive_metropolis(num_warmup=300, num_samples=150, adapt_start=60)
OPTIONS = dict(num_chains=2, seed=4, num_draws=50, chunk_size=2, progress=False,
               likelihood=inference.lognormal(0.1))


@pytest.fixture(scope="module")
def world():
    return synthetic_sites("toy", 4, seed=8, noise_sd=0.05)


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    profiles, forcing, _ = world
    out = tmp_path_factory.mktemp("ref") / "run"
    return inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=out, **OPTIONS)


def _copy(reference, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(reference.output_dir, out)
    return out


def _posteriors(output_dir, sites):
    return {s: inference.load_site(output_dir, s)["posterior"].to_dataset() for s in sites}


@pytest.mark.parametrize("bad, match", [
    (dict(num_chains=0), "num_chains must be an integer >= 1, got 0"),
    (dict(num_chains=2.5), "num_chains must be an integer"),
    (dict(chunk_size=0), "chunk_size must be an integer >= 1, got 0"),
    (dict(chunk_size=-5), "chunk_size must be an integer >= 1, got -5"),
    (dict(num_draws="lots"), "num_draws must be an integer >= 1, got 'lots'"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(invalid="drop"), "invalid must be"),
])
def test_settings_are_validated_before_any_work(world, tmp_path, bad, match):
    profiles, forcing, _ = world
    out = tmp_path / "never"
    with pytest.raises(RunConfigError, match=match):
        inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=out,
                            **dict(OPTIONS, **bad))
    assert not out.exists()  # nothing was written
    with pytest.raises(ValueError, match="num_samples"):
        inference.get_sampler({"kind": "am", "num_warmup": 10, "num_samples": 0})


def test_changed_data_is_recomputed_not_resumed(reference, world, tmp_path):
    profiles, forcing, _ = world
    out = _copy(reference, tmp_path)
    tripled = profiles.copy(deep=True)
    tripled["soc_density"] = tripled["soc_density"] * 3
    with pytest.warns(UserWarning, match="computed from other inputs"):
        run = inference.run_sites(tripled, forcing, "toy", SAMPLER, output_dir=out, **OPTIONS)
    sites = [str(s) for s in profiles["profile_id"].values]
    old, new = _posteriors(reference.output_dir, sites), _posteriors(out, sites)
    for s in sites:
        assert not np.allclose(old[s]["a"].values, new[s]["a"].values)
        # a scales the profile: the posterior follows the data (about x3)
        ratio = float(new[s]["a"].median() / old[s]["a"].median())
        assert 2.0 < ratio < 4.5, (s, ratio)
    assert not np.allclose(run.table["mean"].values, reference.table["mean"].values)
    # only one checkpoint per site remains
    assert len(list((out / CHUNK_DIR).glob("chunk-*.nc"))) == 2
    # same inputs again: resumed (nothing recomputed)
    done = []
    inference.run_sites(tripled, forcing, "toy", SAMPLER, output_dir=out, on_chunk_done=done.append,
                        **OPTIONS)
    assert done == []


def test_changed_forcing_is_recomputed(reference, world, tmp_path):
    profiles, forcing, _ = world
    out = _copy(reference, tmp_path)
    import dataclasses

    more = dataclasses.replace(forcing, input_cwd=np.asarray(forcing.input_cwd) * 1.5)
    done = []
    with pytest.warns(UserWarning, match="computed from other inputs"):
        inference.run_sites(profiles, more, "toy", SAMPLER, output_dir=out,
                            on_chunk_done=done.append, **OPTIONS)
    assert sum(r["n_sites"] for r in done) == 4


def test_truncated_checkpoint_is_reported_and_redone(reference, world, tmp_path):
    profiles, forcing, _ = world
    out = _copy(reference, tmp_path)
    victim = sorted((out / CHUNK_DIR).glob("chunk-*.nc"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])
    done = []
    with pytest.warns(CorruptCheckpointWarning, match=victim.name):
        run = inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=out,
                                  on_chunk_done=done.append, **OPTIONS)
    assert run.complete and [r["n_sites"] for r in done] == [2]
    np.testing.assert_array_equal(run.table["mean"].values, reference.table["mean"].values)
    assert list((out / CHUNK_DIR).glob(victim.name + ".corrupt-*"))  # kept for inspection
    (out / "site_table.nc").write_bytes(b"not netCDF")
    with pytest.warns(CorruptCheckpointWarning, match="site_table.nc"):
        table = inference.load_site_table(out)
    np.testing.assert_array_equal(table["mean"].sel(site=reference.table["site"]).values,
                                  reference.table["mean"].values)


def test_lazy_open_then_load_and_resume_does_not_crash(reference, world, tmp_path):
    """Used to end in a segmentation fault (xarray's file cache + open/close per call)."""
    out = _copy(reference, tmp_path)
    script = textwrap.dedent(f"""
        import glob
        import numpy as np, xarray as xr
        import socmodels
        import inference
        from inference.testing import synthetic_sites
        from tests.support import toy_model
        socmodels.register_model(toy_model)
        profiles, forcing, _ = synthetic_sites("toy", 4, seed=8, noise_sd=0.05)
        smp = inference.adaptive_metropolis(num_warmup=300, num_samples=150, adapt_start=60)
        out = {str(out)!r}
        lazy = [xr.open_datatree(f) for f in sorted(glob.glob(out + "/chunks/chunk-*.nc"))]
        lazy_table = xr.open_dataset(out + "/site_table.nc")
        for _ in range(3):
            inference.load_site(out, "site0000")
            inference.run_sites(profiles, forcing, "toy", smp, output_dir=out, num_chains=2,
                                seed=4, num_draws=50, chunk_size=2, progress=False,
                                likelihood=inference.lognormal(0.1))
            inference.load_site_table(out)
        print("alive", float(lazy[0]["posterior"]["a"].mean()), lazy_table.sizes["site"])
    """)
    root = str(Path(__file__).resolve().parents[1])  # `tests.support` importable
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "alive" in proc.stdout


def test_site_table_schema_on_disk(reference, world):
    profiles, _, _ = world
    t = inference.load_site_table(reference.output_dir)
    validate_site_table(t)
    assert t.attrs["Conventions"] == "CF-1.10"
    for name in t.variables:
        assert {"units", "long_name"} <= set(t[name].attrs), name
    assert {"lat", "lon"} <= set(t.coords)
    for name, v in SITE_TABLE.items():
        if v.required:
            assert t[name].dims == v.dims, name
    # mean_unit is the posterior mean of u, not to_unit(E[theta])
    site = inference.load_site(reference.output_dir, "site0001")["posterior"]
    from tests.support import toy_model as toy

    u = toy.PARAMETERS.to_unit(np.stack([site[n].values for n in toy.PARAMETERS.names], -1))
    np.testing.assert_allclose(t["mean_unit"].sel(site="site0001").values,
                               u.reshape(-1, 3).mean(0), rtol=1e-10)
    assert set(np.asarray(t["stop_reason"].values).astype(str)) == {"budget"}
    assert np.all(t["compile_time"] >= 0) and np.all(t["wall_time"] > 0)
    raw = xr.open_dataset(reference.output_dir / "site_table.nc")  # CF on the file itself
    assert raw.attrs["Conventions"] == "CF-1.10" and raw["mean"].attrs["long_name"]
    raw.close()


def test_skipped_status_is_stored_in_full(world, tmp_path):
    profiles, forcing, _ = world
    bad = profiles.copy(deep=True)
    bad["soc_density"][1, :] = np.nan
    run = inference.run_sites(bad, forcing, "toy", SAMPLER, output_dir=tmp_path / "s",
                              invalid="skip", **OPTIONS)
    stored = inference.load_site_table(run.output_dir)
    assert [str(s) for s in stored["status"].values] == ["ok", "skipped", "ok", "ok"]
    assert str(stored["stop_reason"].values[1]) == "skipped"
    assert "valid layer" in str(stored["skip_reason"].values[1])


def test_wall_time_with_threads_is_per_chunk(world, tmp_path, capsys):
    profiles, forcing, _ = world
    run = inference.run_sites(profiles, forcing, "toy", SAMPLER, output_dir=tmp_path / "w",
                              workers=2, **dict(OPTIONS, chunk_size=1, progress=True))
    t = run.table
    assert np.all(t["wall_time"] > 0) and np.all(np.isfinite(t["wall_time"]))
    # both workers start at once: the first chunk compiles the programs while the chunk of
    # the other worker waits for them (its wait is counted as compile time); the chunks
    # after those reuse them
    compile_time = t["compile_time"].values
    assert compile_time[0] > 0 and np.count_nonzero(compile_time) <= 2
    assert np.count_nonzero(compile_time == 0) >= len(compile_time) - 2
    err = capsys.readouterr().err
    assert "4/4" in err and "site" in err  # the bar counts whole sites and ends with the stage


def test_rejection_reasons_per_site(world, tmp_path):
    """Site 2 gets no input: every proposal's prediction is 0, unusable for the lognormal."""
    import dataclasses

    profiles, forcing, _ = world
    zero = {k: np.array(getattr(forcing, k)) for k in ("input_cwd", "input_litr1",
                                                       "input_litr2", "input_litr3")}
    for v in zero.values():
        v[2] = 0.0
    # wide prior box of the toy: a * b > 60,000 is infeasible (no reason given by the model)
    run = inference.run_sites(profiles, dataclasses.replace(forcing, **zero), "toy",
                              SAMPLER, output_dir=tmp_path / "r", **OPTIONS)
    rf = run.table["rejected_fraction"]
    assert rf.dims == ("site", "reason")
    ok = run.table["status"].values == "ok"
    assert str(run.table["status"].values[2]) == "init_failed"
    assert np.all(rf.sel(reason="prediction").values[ok] == 0)
    assert np.all((rf.values[ok] >= 0) & (rf.values[ok] <= 1))
    assert float(rf.sel(reason="nonfinite").max()) == 0
    # the sampler walks into a * b > 60,000 now and then in the logit space
    other = rf.sel(reason="infeasible_other").values[ok]
    assert np.all(other < 0.5)
    # and the counts agree with the acceptance: rejected <= 1 - accepted
    acc = run.table["acceptance_rate"].values[ok]
    assert np.all(rf.sum("reason").values[ok] <= 1 - acc * 150 / 450 + 1e-12)
    nuts = inference.run_sites(profiles, forcing, "toy", inference.nuts(num_warmup=30,
                                                                         num_samples=20),
                               output_dir=tmp_path / "n", **OPTIONS)
    assert np.all(np.isnan(nuts.table["rejected_fraction"].values))


def test_docs_show_the_schema():
    """docs/runner.md carries the schema table generated from inference.schema."""
    from inference.schema import schema_table

    text = (Path(__file__).resolve().parents[1] / "docs" / "runner.md").read_text()
    assert schema_table() in text, "docs/runner.md is out of date with inference/schema.py"
