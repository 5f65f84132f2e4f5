"""Site model: likelihoods, -inf for unusable states, NumPyro model == log density, profiles."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
import xarray as xr
from numpyro.infer.util import initialize_model, log_likelihood

import inference
from inference.likelihoods import DEFAULT_LOGNORMAL_SIGMA
from inference.sites import ProfileError, read_profiles, site_key, site_keys
from inference.testing import example_forcing, profiles_dataset
from tests.support import toy_model as toy

OBS = np.array([30000.0, 20000.0, 15000.0, 10000.0, 5000.0])
DEPTH = np.array([0.05, 0.15, 0.3, 0.5, 0.8])


def test_layer_weights_reference_example():
    # docs/original_code.md section 2.9
    np.testing.assert_allclose(inference.layer_weights(OBS, DEPTH),
                               [10 * np.exp(-0.5), 1, 1, 1, 10 * np.exp(-0.5)], rtol=1e-12)


def test_likelihood_formulas():
    pred = OBS * np.array([1.1, 0.8, 1.3, 0.95, 1.02])
    mask = np.array([True, True, True, True, False])
    ll = np.asarray(inference.lognormal().pointwise(pred, OBS, mask))
    ref = st.lognorm.logpdf(OBS, s=DEFAULT_LOGNORMAL_SIGMA, scale=pred)
    np.testing.assert_allclose(ll[:4], ref[:4], rtol=1e-12)
    assert ll[4] == 0.0
    ll = np.asarray(inference.gaussian_relative(0.6).pointwise(pred, OBS, mask))
    np.testing.assert_allclose(ll[:4], st.norm.logpdf(pred, OBS, 0.6 * OBS)[:4], rtol=1e-12)
    w = inference.layer_weights(OBS, DEPTH)
    lw = np.asarray(inference.gaussian_relative(0.6, layer_weights=True).pointwise(
        pred, OBS, np.ones(5, bool), w))
    cost = np.sum(w * (pred - OBS) ** 2 / (2 * (0.6 * OBS) ** 2))  # the CLM5 original J
    const = -np.sum(np.log(0.6 * OBS)) - 2.5 * np.log(2 * np.pi)
    assert lw.sum() == pytest.approx(const - cost, rel=1e-12)
    # COMPAS original: log L = -5 (1 - NSE) up to a constant
    full = np.ones(5, bool)
    lik = inference.nse_likelihood()
    diff = np.sum(lik.pointwise(pred, OBS, full)) - np.sum(lik.pointwise(OBS, OBS, full))
    nse = 1 - np.sum((pred - OBS) ** 2) / np.sum((OBS - OBS.mean()) ** 2)
    assert diff == pytest.approx(-5 * (1 - nse), rel=1e-12)
    assert inference.get_likelihood(lik.to_dict()) == lik
    assert inference.get_likelihood("gaussian_relative") == inference.gaussian_relative()


def test_predictive_sampling_matches_likelihood():
    pred = jnp.asarray(OBS * 1.1)
    mask = jnp.ones(5, bool)
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    y = jax.vmap(lambda k: inference.lognormal(0.3).sample(k, pred, OBS, mask))(keys)
    np.testing.assert_allclose(np.log(y).std(0), 0.3, rtol=0.06)  # 5 se at n = 4000
    np.testing.assert_allclose(np.log(y).mean(0), np.log(pred), atol=5 * 0.3 / np.sqrt(4000))


def _toy_site(obs=OBS, depth=DEPTH):
    return inference.make_site(obs, depth, example_forcing(1)[0], model=toy)


def test_unusable_states_give_minus_inf():
    site = _toy_site()
    # toy: a * b > 60,000 is infeasible; u = (0.9, 0.9, .) -> a = 45,100, b = 1.805
    for space in ("unit", "logit"):
        x = inference.models.from_unit(jnp.array([0.9, 0.9, 0.5]), space)
        lp, _ = inference.log_density(x, site, model=toy, space=space)
        assert lp == -jnp.inf
        x = inference.models.from_unit(jnp.array([0.3, 0.3, 0.5]), space)
        lp, aux = inference.log_density(x, site, model=toy, space=space)
        prior = 0.0 if space == "unit" else -float(jnp.sum(jax.nn.softplus(x)
                                                           + jax.nn.softplus(-x)))
        assert np.isfinite(lp)
        assert float(lp) == pytest.approx(float(aux.log_likelihood.sum()) + prior, rel=1e-12)
    # outside the unit cube
    assert inference.log_density(jnp.array([1.2, 0.3, 0.5]), site, model=toy)[0] == -jnp.inf
    # zero input -> zero prediction: infeasible for the lognormal likelihood only
    zero = example_forcing(1)[0]
    zero = jax.tree_util.tree_map(np.asarray, zero)
    import dataclasses
    zero = dataclasses.replace(zero, input_cwd=np.float64(0), input_litr1=np.float64(0),
                               input_litr2=np.float64(0), input_litr3=np.float64(0))
    s0 = inference.make_site(OBS, DEPTH, zero, model=toy)
    x = jnp.array([0.3, 0.3, 0.5])
    assert inference.log_density(x, s0, model=toy)[0] == -jnp.inf
    assert np.isfinite(inference.log_density(x, s0, model=toy,
                                             likelihood=inference.gaussian_relative())[0])


class _NaNModel:
    """A stub soil model whose steady state is NaN in one layer but claims feasibility."""

    PARAMETERS = toy.PARAMETERS
    prepare = staticmethod(toy.prepare)

    @staticmethod
    def steady_state(theta, prepared):
        ss = toy.steady_state(theta, prepared)
        return dataclasses.replace(ss, soc=ss.soc.at[3].set(jnp.nan),
                                   status=jnp.zeros((), jnp.int32))


def test_nan_prediction_gives_minus_inf():
    site = _toy_site()
    lp, _ = inference.log_density(jnp.array([0.3, 0.3, 0.5]), site, model=_NaNModel)
    assert lp == -jnp.inf


def test_compas_infeasible_minus_inf_and_finite_gradient(forcings):
    from socmodels import compas

    site = inference.make_site(OBS / 3, DEPTH, forcings["deep"], model="compas")
    P = compas.PARAMETERS
    # docs/original_code.md: at kp = 0.7 the MIC <= 10 % rule is violated; at 0.3/0.5 feasible
    feasible = jax.jit(lambda u: compas.steady_state(P.to_physical(u), site.prepared).feasible)
    assert not bool(feasible(jnp.full(len(P), 0.7)))
    f = jax.jit(lambda x, space: inference.log_density(x, site, model="compas", space=space)[0],
                static_argnums=1)
    assert f(jnp.full(len(P), 0.7), "unit") == -jnp.inf
    z = inference.models.from_unit(jnp.full(len(P), 0.3), "logit")
    lp, g = jax.jit(jax.value_and_grad(lambda x: f(x, "logit")))(z)
    assert np.isfinite(lp) and np.all(np.isfinite(g)) and np.any(g != 0)


def test_numpyro_model_matches_log_density(forcings):
    site = inference.make_site(OBS / 2, DEPTH, forcings["deep"], model="clm5")
    lik = inference.lognormal()
    info, potential_fn, postprocess, _ = initialize_model(
        jax.random.PRNGKey(0), inference.site_model, model_args=(site,),
        model_kwargs={"soil_model": "clm5", "likelihood": lik})
    z = info[0]
    from socmodels import clm5
    names = clm5.PARAMETERS.names
    assert set(z) == set(names)  # one named sample site per parameter
    x = jnp.stack([z[n] for n in names])  # NumPyro's unconstrained value is logit(u)
    lp, aux = inference.log_density(x, site, model="clm5", likelihood=lik, space="logit")
    assert float(potential_fn(z)) == pytest.approx(-float(lp), rel=1e-10)
    const = postprocess(z)
    u = jax.nn.sigmoid(x)
    theta = clm5.PARAMETERS.to_physical(u)
    ll = log_likelihood(inference.site_model, {n: theta[None, k] for k, n in enumerate(names)},
                        site, soil_model="clm5", likelihood=lik)["soc"][0]
    np.testing.assert_allclose(ll, aux.log_likelihood, rtol=1e-10)
    np.testing.assert_allclose(const["soc_pred"], aux.soc, rtol=1e-12)
    np.testing.assert_allclose(const["u"], u, rtol=1e-10)
    np.testing.assert_allclose(const["theta"], clm5.PARAMETERS.to_physical(u), rtol=1e-12)


def _profiles(obs, depth, ids=("a", "b")):
    return profiles_dataset(np.asarray(obs, float), np.asarray(depth, float),
                            np.asarray(ids))


def test_profile_validation_errors():
    obs = [[1e4, 5e3, np.nan], [np.nan, np.nan, np.nan]]
    depth = [[0.1, 0.3, 0.5], [0.1, 0.3, 0.5]]
    with pytest.raises(ProfileError, match=r"'b': 0 valid layer"):
        read_profiles(_profiles(obs, depth), inference.lognormal())
    prof, skipped = read_profiles(_profiles(obs, depth), inference.lognormal(), invalid="skip")
    assert list(prof.site_id) == ["a"] and "b" in skipped
    # depths in cm are outside the column: a hint
    with pytest.raises(ProfileError, match="cm rather than m"):
        read_profiles(_profiles([[1e4, 5e3, 2e3]] * 2, [[10, 30, 50]] * 2),
                      inference.lognormal())
    # NSE needs two layers with different values
    one = [[1e4, np.nan, np.nan], [1e4, 1e4, np.nan]]
    with pytest.raises(ProfileError, match="needs >= 2"):
        read_profiles(_profiles(one, depth), inference.nse_likelihood())
    with pytest.raises(ProfileError, match="NSE is undefined"):
        read_profiles(_profiles([[1e4, 5e3, 1], [1e4, 1e4, np.nan]], depth),
                      inference.nse_likelihood())
    with pytest.raises(ProfileError, match="duplicate"):
        read_profiles(_profiles(obs, depth, ids=("a", "a")), inference.lognormal())
    with pytest.raises(ProfileError, match="lacks variable"):
        read_profiles(xr.Dataset(), inference.lognormal())
    # zero observations are dropped, valid layers are compacted to the front
    prof, _ = read_profiles(_profiles([[0.0, 5e3, 2e3], [1e3, 2e3, 3e3]], depth),
                            inference.gaussian_relative(layer_weights=True))
    np.testing.assert_array_equal(prof.mask[0], [True, True, False])
    np.testing.assert_array_equal(prof.obs[0, :2], [5e3, 2e3])
    assert prof.weight[1].max() > 1


def test_site_keys_are_stable_and_distinct():
    k = np.asarray(site_key(3, "WoSIS-123"))
    np.testing.assert_array_equal(k, site_keys(3, ["x", "WoSIS-123"])[1])
    assert not np.array_equal(k, np.asarray(site_key(4, "WoSIS-123")))
    keys = site_keys(0, [f"p{i}" for i in range(2000)])
    assert len({tuple(r) for r in keys}) == 2000
    # int and str ids hash the same (the id's text)
    np.testing.assert_array_equal(site_key(0, 17), site_key(0, "17"))


def test_from_numpyro_names_the_parameters():
    """``az.from_numpyro`` gives one posterior variable per parameter, with no arguments."""
    import arviz as az
    from numpyro.infer import MCMC, NUTS

    forcing = example_forcing(1)[0]
    site = inference.make_site(np.array([2e4, 1e4, 4e3]), np.array([0.05, 0.3, 0.8]), forcing,
                               model=toy)
    mcmc = MCMC(NUTS(inference.site_model), num_warmup=30, num_samples=20, num_chains=1,
                progress_bar=False)
    mcmc.run(jax.random.PRNGKey(1), site, soil_model=toy, likelihood=inference.lognormal(0.1))
    post = az.from_numpyro(mcmc)["posterior"]
    for name in toy.PARAMETERS.names:
        assert post[name].dims == ("chain", "draw") and post[name].shape == (1, 20)
    for p in toy.PARAMETERS:  # physical units, inside the prior box
        assert np.all((post[p.name].values > p.lower) & (post[p.name].values < p.upper))
    np.testing.assert_allclose(post["u"].values[..., 1],
                               toy.PARAMETERS.to_unit(post["theta"].values)[..., 1], rtol=1e-12)
