"""Twin sites with known truth: kinds, realism of climates and horizons, exact observations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import inference
import inference.testing as testing
from inference.testing import TWIN_KINDS, twin_sites
from socmodels import get_model, layers
from socmodels.processes import transport_shapes

N = 18          # three sites of each kind


@pytest.fixture(scope="module")
def clm5_twins():
    return twin_sites("clm5", N, seed=3)


def _valid_layers(tw):
    return np.asarray(tw.profiles["layer_mask"].values).sum(axis=1)


def test_shapes_kinds_and_runner_format(clm5_twins):
    tw = clm5_twins
    d = len(get_model("clm5").PARAMETERS)
    assert tw.truth_unit.shape == tw.truth.shape == (N, d) and len(tw.forcing) == N
    assert [str(k) for k in tw.kind] == [TWIN_KINDS[i % 6] for i in range(N)]
    assert np.all((tw.truth_unit > 0) & (tw.truth_unit < 1))
    params = get_model("clm5").PARAMETERS
    assert np.allclose(tw.truth, np.asarray(params.to_physical(jnp.asarray(tw.truth_unit))))
    assert np.all(tw.tries >= 1) and np.all(tw.tries <= testing.TWIN_MAX_TRIES)
    prof, skipped = inference.read_profiles(tw.profiles, inference.lognormal())
    assert not skipped and len(prof) == N
    assert len(set(map(str, tw.profiles["profile_id"].values))) == N
    n_layers = _valid_layers(tw)
    long = tw.kind == "long_profile"
    assert np.all(n_layers[long] >= 15)
    assert np.all((n_layers[~long] >= 4) & (n_layers[~long] <= 8))
    depth = np.where(tw.profiles["layer_mask"], tw.profiles["node_depth"], np.nan)
    assert np.all(np.diff(depth, axis=1)[~np.isnan(np.diff(depth, axis=1))] > 0)
    assert np.nanmax(depth[long], axis=1).min() > 1.7
    # each site has its own climate
    assert len(np.unique(np.round(tw.profiles["mat"].values, 6))) == N


def test_climates_match_their_kind(clm5_twins):
    tw = clm5_twins
    p = tw.profiles
    mat = p["mat"].values
    kind = tw.kind
    cold = kind == "cold"
    assert np.all(mat[cold] < 0) and np.all(mat[~cold] > 0)
    alt = np.asarray(tw.forcing.altmax_lastyear)[:, 0]
    assert np.all(alt[cold] < 1.3) and np.all(alt[~cold] > 8.6)     # permafrost only there
    assert np.allclose(alt[cold], p["active_layer_depth"].values[cold], atol=0.05)
    assert np.all(p["map"].values[kind == "arid"] < p["map"].values[kind == "tropical"].min())
    assert np.all(mat[kind == "tropical"] > 20)


def test_shallow_bedrock_has_a_shallower_active_column(clm5_twins):
    tw = clm5_twins
    nb = np.asarray(tw.forcing.nbedrock)[:, 0]
    shallow = tw.kind == "shallow_bedrock"
    assert np.all(nb[shallow] <= 7) and np.all(nb[~shallow] == layers.NLEV)
    rock = tw.profiles["bedrock_depth"].values[shallow]
    assert np.all((rock >= 0.3) & (rock <= 0.6))
    depth = np.where(tw.profiles["layer_mask"], tw.profiles["node_depth"], np.nan)[shallow]
    assert np.all(np.nanmax(depth, axis=1) < rock)
    # vertical mixing stops at the bedrock: no conductance below layer nbedrock + 1
    active = []
    for i in range(N):
        g_bio, g_cryo = transport_shapes(tw.forcing[i])
        g = np.asarray(g_bio + g_cryo)
        active.append(np.flatnonzero(g > 0).max() + 1)
        if shallow[i]:
            assert np.all(g[int(nb[i]):] == 0.0) and np.all(g[:int(nb[i])] > 0.0)
    active = np.array(active)
    assert active[shallow].max() < active[tw.kind == "temperate"].min()


def test_observations_are_draws_of_the_fitting_likelihood():
    lik = inference.lognormal(0.3)
    tw = twin_sites("clm5", 36, seed=11, likelihood=lik, kinds=["long_profile", "temperate"])
    mask = np.asarray(tw.profiles["layer_mask"].values)
    obs = np.asarray(tw.profiles["soc_density"].values)
    z = np.log(obs[mask] / tw.prediction[mask])
    n = z.size
    # sum z^2 / sigma^2 ~ chi2(n); mean ~ N(0, sigma^2 / n)
    q = float(np.sum(z**2) / 0.3**2)
    assert stats.chi2.ppf(0.0005, n) < q < stats.chi2.ppf(0.9995, n), (n, q)
    assert abs(z.mean()) < 4 * 0.3 / np.sqrt(n)
    # exactly the likelihood's sampler with the site's key
    i = 5
    key = jax.random.fold_in(jax.random.PRNGKey(11), i)
    safe = jnp.asarray(np.where(mask[i], tw.prediction[i], 1.0))
    again = np.asarray(lik.sample(key, safe, safe, jnp.asarray(mask[i])))
    assert np.allclose(again[mask[i]], obs[i][mask[i]], rtol=1e-12)


def test_deterministic_prefix_stable_and_seeded(clm5_twins):
    a = twin_sites("clm5", 8, seed=3)
    b = clm5_twins
    assert np.array_equal(a.truth, b.truth[:8]) and np.array_equal(a.tries, b.tries[:8])
    # (the same sites; a different batch shape may change the last bits of the model)
    assert np.allclose(a.profiles["soc_density"].values,
                       b.profiles["soc_density"].values[:8, :a.profiles.sizes["layer"]],
                       rtol=1e-9, equal_nan=True)
    c = twin_sites("clm5", 8, seed=4)
    assert not np.allclose(c.truth, a.truth)
    # given truths reproduce the same observations
    d = twin_sites("clm5", 8, seed=3, truth=a.truth_unit)
    assert np.array_equal(d.profiles["soc_density"].values, a.profiles["soc_density"].values,
                          equal_nan=True)


def test_compas_truths_are_feasible():
    tw = twin_sites("compas", 6, seed=0)
    model = get_model("compas")
    prof, _ = inference.read_profiles(tw.profiles, inference.lognormal())
    for i in range(6):
        site = inference.make_site(prof.obs[i][prof.mask[i]], prof.depth[i][prof.mask[i]],
                                   tw.forcing[i], model=model)
        lp, _ = inference.log_density(jnp.asarray(tw.truth_unit[i]), site, model=model,
                                      space="unit")
        assert np.isfinite(float(lp)), (i, tw.kind[i])
    assert set(tw.kind) == set(TWIN_KINDS)


def test_bad_arguments_and_exhausted_search(monkeypatch):
    with pytest.raises(ValueError, match="kinds.*desert"):
        twin_sites("clm5", 2, kinds=["temperate", "desert"])
    with pytest.raises(ValueError, match="truth"):
        twin_sites("clm5", 2, truth="posterior")
    with pytest.raises(ValueError, match="n must"):
        twin_sites("clm5", 0)
    with pytest.raises(ValueError, match="shape"):
        twin_sites("clm5", 2, truth=np.full((3, 2), 0.5))

    def never(module, likelihood):
        def search(u, forcing, depth, mask):
            n, b, _ = u.shape
            return jnp.ones((n, b, depth.shape[1])), jnp.zeros((n, b), bool)
        return search

    monkeypatch.setattr(testing, "_truth_search_fn", never)
    with pytest.raises(RuntimeError, match=r"site 0 \(kind 'arid'\) in 2000"):
        twin_sites("clm5", 2, kinds=["arid"])


def test_extreme_kinds_are_opt_in_and_as_described():
    """Deep permafrost (MAT -17 to -10 degC), 28-38 and 18-29 horizons: the real-profile cases."""
    kinds = testing.EXTREME_TWIN_KINDS
    tw = twin_sites("clm5", 6, seed=5, kinds=kinds)
    assert [str(k) for k in tw.kind] == [kinds[i % 3] for i in range(6)]
    n_layers, mat = _valid_layers(tw), np.asarray(tw.profiles["mat"].values)
    deep, very_long, cold_long = (tw.kind == k for k in kinds)
    assert np.all((mat[deep] >= -17) & (mat[deep] <= -10)) and np.all(mat[cold_long] < 0)
    assert np.all((n_layers[very_long] >= 28) & (n_layers[very_long] <= 38))
    assert np.all((n_layers[cold_long] >= 18) & (n_layers[cold_long] <= 29))
    prof, skipped = inference.read_profiles(tw.profiles, inference.lognormal())
    assert not skipped and len(prof) == 6
    assert not set(kinds) & set(TWIN_KINDS)  # the default set is unchanged
