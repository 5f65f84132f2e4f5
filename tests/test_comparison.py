"""Per-site model comparison (inference.comparison, inference.twin, surrogate.comparison)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import xarray as xr

from inference.comparison import (
    K_THRESHOLD,
    PointwiseLOO,
    compare_sites,
    confident_winner,
    pointwise_loo,
    pseudo_bma_weights,
    stacking_weights,
)


def _gaussian_mean_model(y, sigma, tau, n_draws, rng):
    """y_i ~ N(mu, sigma^2), mu ~ N(0, tau^2): exact posterior draws and exact LOO.

    The leave-one-out predictive is N(m_-i, sigma^2 + v_-i) with
    v_-i = 1 / (1/tau^2 + (n-1)/sigma^2) and m_-i = v_-i * sum_{j != i} y_j / sigma^2.
    """
    n = y.size
    v = 1.0 / (1.0 / tau**2 + n / sigma**2)
    m = v * y.sum() / sigma**2
    mu = m + math.sqrt(v) * rng.standard_normal(n_draws)
    ll = (-0.5 * ((y[None, :] - mu[:, None]) / sigma) ** 2 - math.log(sigma)
          - 0.5 * math.log(2 * math.pi))
    v_i = 1.0 / (1.0 / tau**2 + (n - 1) / sigma**2)
    m_i = v_i * (y.sum() - y) / sigma**2
    s2 = sigma**2 + v_i
    exact = -0.5 * (y - m_i) ** 2 / s2 - 0.5 * np.log(2 * math.pi * s2)
    return ll, exact


def _pw(ids, e, k=None, p=None, lat=None):
    n = len(ids)
    k = np.zeros_like(e) if k is None else k
    p = np.zeros_like(e) if p is None else p
    return PointwiseLOO(np.asarray(ids), e, np.where(np.isfinite(e), k, np.nan),
                        np.where(np.isfinite(e), p, np.nan),
                        np.zeros(n) if lat is None else lat, np.zeros(n), np.ones(n, bool),
                        "lognormal(sigma=0.1)")


def test_psis_loo_matches_exact_gaussian_loo():
    """PSIS-LOO of a conjugate Gaussian model equals the closed-form LOO (k small)."""
    rng = np.random.default_rng(0)
    n_sites, n_obs = 3, 12
    lls, exacts = [], []
    for _ in range(n_sites):
        y = rng.normal(1.0, 0.5, n_obs)
        ll, exact = _gaussian_mean_model(y, 0.5, 2.0, 4000, rng)
        lls.append(ll.reshape(2, 2000, n_obs))
        exacts.append(exact)
    ll = np.stack(lls)                        # (site, chain, draw, layer)
    ll[2, :, :, 9:] = np.nan                  # a shorter profile: padding layers
    elpd_i, k, p = pointwise_loo(ll)
    exact = np.stack(exacts)
    assert np.all(np.isnan(elpd_i[2, 9:])) and np.all(np.isnan(k[2, 9:]))
    assert np.nanmax(k) < 0.5
    ok = np.isfinite(elpd_i)
    np.testing.assert_allclose(elpd_i[ok], exact[ok], atol=0.02)
    # site totals against the closed form (site 2's exact LOO used all 12 layers: skip it)
    for s in (0, 1):
        assert abs(np.nansum(elpd_i[s]) - exact[s].sum()) < 0.05


def test_pointwise_loo_matches_arviz_per_site():
    """One vectorised call gives what arviz_stats.loo gives site by site (elpd, se, p, k)."""
    from arviz_stats import loo

    rng = np.random.default_rng(1)
    ll = rng.normal(-3.0, 0.4, (4, 2, 300, 6))
    ll[1, :, :, 4:] = np.nan
    e, k, p = pointwise_loo(ll)
    pw = {"a": _pw([f"s{i}" for i in range(4)], e, k, p),
          "b": _pw([f"s{i}" for i in range(4)], e + 0.1, k, p)}
    ds = compare_sites(pw)
    for s in range(4):
        n = 4 if s == 1 else 6
        tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset(
            {"soc": (("chain", "draw", "layer"), ll[s, :, :, :n])})})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = loo(tree, pointwise=True, var_name="soc", reff=1.0)
        np.testing.assert_allclose(e[s, :n], ref.elpd_i.values)
        np.testing.assert_allclose(k[s, :n], ref.pareto_k.values)
        a = ds.sel(model="a").isel(site=s)
        assert math.isclose(float(a["elpd_loo"]), ref.elpd, rel_tol=1e-10)
        assert math.isclose(float(a["elpd_loo_se"]), ref.se, rel_tol=1e-10)
        assert math.isclose(float(a["p_loo"]), ref.p, rel_tol=1e-8)
        assert int(ds["n_layers"][s]) == n


def test_elpd_diff_and_paired_se():
    e_a = np.array([[-1.0, -2.0, -1.5, -1.2, np.nan], [-1.0, -1.0, -1.0, -1.0, -1.0]])
    d = np.array([[1.0, 1.5, 1.2, 0.9, np.nan], [3.0, 3.0, 3.0, 3.0, 3.0]])
    ds = compare_sites({"a": _pw(["x", "y"], e_a), "b": _pw(["x", "y"], e_a + d)},
                       reference="a")
    dd = d[0, :4]
    assert math.isclose(float(ds["elpd_diff"].sel(model="b", site="x")), dd.sum())
    assert math.isclose(float(ds["elpd_diff_se"].sel(model="b", site="x")),
                        math.sqrt(4 * np.var(dd, ddof=1)))
    assert float(ds["elpd_diff"].sel(model="a").sum()) == 0.0
    # x: 4.6 > 2 x 0.53; y: identical differences on every layer, SE 0
    assert float(ds["elpd_diff_se"].sel(model="b", site="y")) == 0.0
    assert list(confident_winner(ds).values) == ["b", "b"]
    assert list(confident_winner(ds, min_layers=5).values) == ["", "b"]


def test_bad_pareto_k_is_flagged():
    """A layer with an extreme log-likelihood under some draws gets k > 0.7: flagged."""
    rng = np.random.default_rng(2)
    ll = rng.normal(-1.0, 0.1, (3, 1, 1000, 5))
    # site 1, layer 0: a heavy right tail of 1/p (a few draws predict the layer very badly)
    ll[1, 0, :, 0] = -1.0 - np.log1p(rng.pareto(0.8, 1000))  # 1/p ~ Pareto, k ~ 1.25
    e, k, p = pointwise_loo(ll)
    assert k[1, 0] > K_THRESHOLD
    assert np.all(k[[0, 2]] < K_THRESHOLD)
    ids = ["s0", "s1", "s2"]
    ds = compare_sites({"a": _pw(ids, e, k, p), "b": _pw(ids, e + 1.0, np.zeros_like(k), p)})
    assert ds["flagged"].values.tolist() == [0, 1, 0]
    assert float(ds["pareto_k_max"].sel(model="a", site="s1")) == pytest.approx(k[1, 0])
    assert float(ds["frac_k_gt_0_7"].sel(model="a", site="s1")) == pytest.approx(0.2)
    # b wins everywhere by 1 per layer with SE 0; a's bad k does not block b's win (the
    # loser's PSIS error is optimistic) unless strict
    assert list(confident_winner(ds, min_layers=4).values) == ["b", "b", "b"]
    assert list(confident_winner(ds, min_layers=4, strict=True).values) == ["b", "", "b"]
    # the winner with a bad k: no call
    ds2 = compare_sites({"a": _pw(ids, e + 1.0, k, p), "b": _pw(ids, e, np.zeros_like(k), p)})
    assert list(confident_winner(ds2, min_layers=4).values) == ["a", "", "a"]


def test_non_finite_draws_are_rejected():
    ll = np.full((1, 1, 50, 3), -1.0)
    ll[0, 0, 3, 1] = -np.inf
    with pytest.raises(ValueError, match="not finite"):
        pointwise_loo(ll)


def test_stacking_and_pseudo_bma_match_arviz_compare():
    from arviz_stats import compare
    from arviz_stats.utils import ELPDData

    rng = np.random.default_rng(3)
    e = np.stack([rng.normal(-2, 1, (5, 8)), rng.normal(-2.2, 1, (5, 8)),
                  rng.normal(-2.1, 1, (5, 8))], axis=1)      # (site, model, layer)
    w_st = stacking_weights(e)
    w_bma = pseudo_bma_weights(e, n_boot=4000, seed=7)
    np.testing.assert_allclose(w_st.sum(axis=1), 1.0)
    for s in range(5):
        def elpd(k, s=s):
            ei = xr.DataArray(e[s, k], dims="layer")
            return ELPDData(elpd=float(e[s, k].sum()),
                            se=float(np.sqrt(8 * e[s, k].var(ddof=1))), p=1.0,
                            good_k=0.7, n_samples=1000, n_data_points=8, warning=False,
                            scale="log", elpd_i=ei, pareto_k=ei * 0.0)
        d = {f"m{k}": elpd(k) for k in range(3)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            st = compare(d, method="stacking")["weight"]
            bb = compare(d, method="BB-pseudo-BMA")["weight"]
        # compare() rounds its weights to 0.01
        np.testing.assert_allclose(w_st[s], [st[f"m{k}"] for k in range(3)], atol=6e-3)
        np.testing.assert_allclose(w_bma[s], [bb[f"m{k}"] for k in range(3)], atol=0.03)


def test_compare_sites_rejects_mismatches():
    e = np.zeros((2, 3))
    with pytest.raises(ValueError, match="at least two"):
        compare_sites({"a": _pw(["x", "y"], e)})
    with pytest.raises(ValueError, match="different sites"):
        compare_sites({"a": _pw(["x", "y"], e), "b": _pw(["y", "x"], e)})
    b = _pw(["x", "y"], e)
    b.likelihood = "nse(factor=5.0)"
    with pytest.raises(ValueError, match="different observation models"):
        compare_sites({"a": _pw(["x", "y"], e), "b": b})
    e2 = e.copy()
    e2[0, 2] = np.nan
    with pytest.raises(ValueError, match="different layers"):
        compare_sites({"a": _pw(["x", "y"], e), "b": _pw(["x", "y"], e2)})


def test_site_a_model_could_not_fit_is_nan_not_dropped():
    e = np.zeros((2, 3))
    e_b = e.copy()
    e_b[1] = np.nan          # model b failed at site y (e.g. init_failed)
    ds = compare_sites({"a": _pw(["x", "y"], e), "b": _pw(["x", "y"], e_b)})
    assert ds.sizes["site"] == 2
    assert np.isnan(ds["elpd_loo"].sel(site="y")).all()
    assert confident_winner(ds).values.tolist() == ["", ""]


def test_selection_accuracy_on_toy_twin_worlds():
    """Sites generated by one of two toy models: confident calls pick the generator; a world
    generated by neither gets few confident calls and spread stacking weights."""
    from inference.twin import twin_pointwise

    picks, confident, max_w = {}, {}, {}
    for truth in ("exponential", "hyperbolic", "blend"):
        ds = compare_sites(twin_pointwise(truth, 30, seed=11, refit_flagged=True),
                           reference="exponential")
        w = confident_winner(ds).values
        conf = w != ""
        confident[truth] = conf.mean()
        picks[truth] = w[conf]
        max_w[truth] = float(ds["stacking_weight"].max("model").mean())
        assert int(ds["flagged"].sum()) == 0          # every bad-k layer was refit exactly
    generated = np.concatenate([picks["exponential"] == "exponential",
                                picks["hyperbolic"] == "hyperbolic"])
    assert generated.size >= 5, confident
    assert generated.mean() >= 0.9, (generated.mean(), confident)
    assert confident["blend"] < min(confident["exponential"], confident["hyperbolic"]) + 0.1
    assert confident["blend"] < 0.5 * (confident["exponential"] + confident["hyperbolic"])
    assert max_w["blend"] < 0.5 * (max_w["exponential"] + max_w["hyperbolic"])


def test_twin_psis_agrees_with_brute_force_loo_where_k_is_small():
    from inference.twin import exact_loo, grid_posterior_loglik, toy_profiles

    obs, depth = toy_profiles("hyperbolic", 6, seed=4)
    ll = grid_posterior_loglik("hyperbolic", obs, depth, n_draws=2000, seed=5)
    e, k, _ = pointwise_loo(ll)
    exact = exact_loo("hyperbolic", obs, depth)
    good = k < 0.5
    assert good.sum() > 10
    np.testing.assert_allclose(e[good], exact[good], atol=0.05)


# ----------------------------------------------------------------------------------------
# the pipeline stage on two small toy runs (real checkpoint files)
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
    """A real toy calibration of 6 sites ("toy_a") and a copy of its checkpoint files whose
    pointwise log-likelihoods are shifted per layer ("toy_b", a second model without a
    second compilation)."""
    import shutil

    import pandas as pd

    from inference import AMConfig, run_sites
    from inference.testing import synthetic_sites

    out = tmp_path_factory.mktemp("cmp")
    profiles, forcing, _ = synthetic_sites("toy", 6, seed=2,
                                           depths=(0.05, 0.15, 0.3, 0.5, 0.8, 1.2))
    run = run_sites(profiles, forcing, model="toy", sampler=AMConfig(
        num_warmup=400, num_samples=400, adapt_start=100), output_dir=out / "calibration"
        / "toy_a", num_chains=2, num_draws=100, chunk_size=4, seed=0, progress=False)
    shutil.copytree(out / "calibration" / "toy_a", out / "calibration" / "toy_b")
    rng = np.random.default_rng(0)
    for path in sorted((out / "calibration" / "toy_b" / "chunks").glob("chunk-*.nc")):
        tree = xr.open_datatree(path, engine="netcdf4").load()
        ll = tree["log_likelihood"].to_dataset()
        shift = rng.normal(0.0, 0.5, (ll.sizes["site"], 1, 1, ll.sizes["layer"]))
        tree["log_likelihood"] = xr.DataTree(ll.assign(soc=ll["soc"] + shift))
        tree.close()
        path.unlink()
        tree.to_netcdf(path, engine="netcdf4")
    tables = {"toy_a": run.table, "toy_b": run.table}
    ids = [str(s) for s in profiles["profile_id"].values]
    cov = pd.DataFrame({"BIO1": [25, 12, 2, 15, 22, 8], "BIO12": [1500, 800, 400, 100, 2000,
                                                                    600],
                        "ESA_Land_Cover": [50, 10, 70, 200, 50, 130],
                        "Abs_Depth_to_Bedrock": [300, 80, 150, 40, 500, 120]}, index=ids)

    class World:
        covariates = cov

    return out, World(), tables, profiles


def test_make_comparison_writes_site_comparison(toy_runs):
    from surrogate.comparison import make_comparison

    out, world, tables, profiles = toy_runs
    cfg = {"models": ["toy_a", "toy_b"], "seed": 0,
           "calibration": {"likelihood": "lognormal"}}
    head = make_comparison(cfg, out, world, tables, {})
    path = out / "comparison" / "site_comparison.nc"
    ds = xr.open_dataset(path)
    assert set(ds.dims) >= {"site", "model"}
    assert list(ds["model"].values) == ["toy_a", "toy_b"]
    assert ds.sizes["site"] == 6
    for v in ("elpd_loo", "elpd_loo_se", "p_loo", "pareto_k_max", "elpd_diff",
              "elpd_diff_se", "stacking_weight", "pseudo_bma_weight", "frac_k_gt_0_7"):
        assert ds[v].dims == ("site", "model"), v
        assert "units" in ds[v].attrs and "long_name" in ds[v].attrs, v
    assert ds["lat"].attrs["units"] == "degrees_north"
    assert ds["lon"].attrs["units"] == "degrees_east"
    assert ds.attrs["Conventions"] == "CF-1.10"
    assert "lat" in ds.coords and "lon" in ds.coords
    np.testing.assert_allclose(ds["lat"].values, profiles["lat"].values)
    np.testing.assert_allclose(ds["stacking_weight"].sum("model"), 1.0, atol=1e-8)
    assert np.all(ds["elpd_diff"].sel(model="toy_a").values == 0)
    assert list(ds["climate_zone"].values) == ["tropical", "temperate", "cold", "arid",
                                               "tropical", "temperate"]
    ds.close()
    # the same numbers as az.loo on one site loaded with inference.load_site
    from arviz_stats import loo

    from inference import load_site

    site = str(profiles["profile_id"].values[3])
    tree = load_site(out / "calibration" / "toy_b", site)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = loo(tree, pointwise=True, var_name="soc")
    ds = xr.open_dataset(path)
    assert float(ds["elpd_loo"].sel(site=site, model="toy_b")) == pytest.approx(ref.elpd,
                                                                                rel=1e-8)
    ds.close()
    # the same numbers with two worker processes
    from inference.comparison import run_pointwise

    one = run_pointwise(out / "calibration" / "toy_b")
    two = run_pointwise(out / "calibration" / "toy_b", workers=2)
    np.testing.assert_array_equal(one.site, two.site)
    np.testing.assert_array_equal(one.elpd_i, two.elpd_i)
    np.testing.assert_array_equal(one.pareto_k, two.pareto_k)
    summ = json.loads((out / "comparison" / "summary.json").read_text())
    assert summ["global"]["n_sites"] == 6
    assert set(summ["by_group"]) == {"climate_zone", "land_cover", "bedrock_depth",
                                     "profile_length"}
    for f in summ["figures"]:
        assert (out / f).exists(), f
    assert head["n_sites"] == 6 and np.isfinite(head["total_elpd_diff"])
    from surrogate.comparison import report_section

    lines, rhead = report_section(out)
    assert any("Total ELPD difference TOY_B − TOY_A" in ln for ln in lines)
    assert rhead["total_elpd_diff"] == pytest.approx(head["total_elpd_diff"])


def test_winner_classifier_beats_baseline_when_signal_exists():
    from surrogate.comparison import winner_classifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 1] + 0.3 * rng.normal(size=400) > 0).astype(float)
    r = winner_classifier(x, y, ["a", "b", "c"])
    assert r["heldout_accuracy"] > r["majority_baseline"] + 0.2
    assert next(iter(r["coefficients"])) == "b"
    # no signal: no better than the baseline (within noise)
    r0 = winner_classifier(x, (rng.uniform(size=400) < 0.7).astype(float), ["a", "b", "c"])
    assert r0["heldout_accuracy"] <= r0["majority_baseline"] + 0.08


def test_heldout_and_stacked_scores():
    from surrogate.comparison import heldout_scores, lognormal_log_score, stacked_scores

    rng = np.random.default_rng(1)
    sigma = 0.3
    truth = rng.uniform(1e3, 2e4, 300)
    obs = truth * np.exp(sigma * rng.standard_normal(300))
    site = np.repeat(np.arange(60), 5)
    good = truth
    bad = truth * 1.8
    # the log score of the true predictive is the lognormal density (hand-computed)
    ls = lognormal_log_score(good, obs, sigma)
    z = (np.log(obs) - np.log(good)) / sigma
    np.testing.assert_allclose(ls, -0.5 * z**2 - np.log(sigma * obs * np.sqrt(2 * np.pi)))
    a = heldout_scores(good, obs, site, sigma, n_boot=200)
    b = heldout_scores(np.stack([bad, bad * 1.1]), obs, site, sigma, n_boot=200)
    assert a["log_score"] > b["log_score"] and a["nse"] > b["nse"]
    lo, hi = a["nse_interval"]
    assert lo <= a["nse"] <= hi
    st = stacked_scores({"good": good, "bad": bad}, {"good": 0.9, "bad": 0.1}, obs, site,
                        sigma, n_boot=100)
    assert b["log_score"] < st["log_score"] <= a["log_score"] + 0.05
    assert st["weights"] == {"good": 0.9, "bad": 0.1}


def test_stuck_chains_are_flagged_not_fatal():
    """A layer whose draws are all equal (chains that never moved): k = inf, flagged."""
    rng = np.random.default_rng(5)
    ll = rng.normal(-1.0, 0.2, (2, 2, 200, 4))
    ll[1, :, :, 2] = -3.0
    e, k, p = pointwise_loo(ll)
    assert np.isinf(k[1, 2]) and e[1, 2] == pytest.approx(-3.0)
    assert np.all(np.isfinite(k[0])) and np.isfinite(k[1, [0, 1, 3]]).all()
    ds = compare_sites({"a": _pw(["x", "y"], e, k, p), "b": _pw(["x", "y"], e - 5.0)})
    assert ds["flagged"].values.tolist() == [0, 1]
    assert confident_winner(ds, min_layers=4).values.tolist() == ["a", ""]
