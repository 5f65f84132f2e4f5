"""Training, ensembles, reproducibility and parameter maps of the PRODA network.

Small networks and few epochs keep this file fast; one configuration (and therefore one
compiled program) is shared by all training tests.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from flax import nnx

import socmodels  # noqa: F401  (x64 on globally; the network must stay float32)
import surrogate as sg
from socmodels._tables import CLM5_PARAMETERS
from socmodels.parameters import ParameterTable
from surrogate import train as train_module

N_SITES, N_COV, N_PAR = 240, 6, 3
CONFIG = sg.TrainConfig(hidden=(32, 32), dropout=0.05, loss="product", max_epochs=150,
                        patience=40, epochs_per_call=25)


def synthetic(n=N_SITES, seed=0):
    """Covariates in [0, 1] and a smooth covariate -> unit-parameter relation."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, N_COV))
    w = np.array([[2.0, -1.0, 0.5], [-1.5, 1.0, 1.0], [1.0, 2.0, -1.0],
                  [0.0, -2.0, 0.5], [0.5, 0.0, -2.0], [-1.0, 0.5, 1.5]])
    y = 0.1 + 0.8 / (1.0 + np.exp(-(x - 0.5) @ w * 2.0))
    return x, y


@pytest.fixture(scope="module")
def data():
    x, y = synthetic()
    mask = np.ones(N_SITES, bool)
    mask[:10] = False  # "unscreened" sites
    hold = sg.heldout_indices(N_SITES, fraction=0.2, seed=3, mask=mask)
    return x, y, mask, hold


@pytest.fixture(scope="module")
def ensemble(data):
    x, y, mask, hold = data
    return sg.best_guess_ensemble(x, y, n_members=3, mask=mask, exclude=hold, config=CONFIG,
                                  seed=11, progress=False)


def test_mlp_is_float32_and_dropout_needs_a_key():
    model = sg.MLP(N_COV, N_PAR, hidden=(8, 8), dropout=0.5, rngs=nnx.Rngs(0))
    x = jnp.ones((4, N_COV), jnp.float64)
    y = model(x)
    assert y.shape == (4, N_PAR) and y.dtype == jnp.float32
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
    np.testing.assert_array_equal(model(x), y)  # deterministic without a key
    assert not np.allclose(model(x, key=jax.random.key(1)), y)
    default = nnx.eval_shape(lambda: sg.MLP(60, 21, rngs=nnx.Rngs(0)))
    assert [layer.out_features for layer in default.layers] == [256, 512, 512, 256, 21]
    assert default.dropout.rate == 0.2


def test_splits_are_deterministic_and_disjoint(data):
    _, _, mask, hold = data
    np.testing.assert_array_equal(hold, sg.heldout_indices(N_SITES, fraction=0.2, seed=3,
                                                           mask=mask))
    assert not np.isin(hold, np.flatnonzero(~mask)).any()
    elig = np.setdiff1d(np.flatnonzero(mask), hold)
    tr, va = sg.split_indices(elig, seed=5, member=2)
    assert np.intersect1d(tr, va).size == 0 and tr.size + va.size == elig.size
    assert va.size == round(0.1 * elig.size)
    btr, bva = sg.bootstrap_indices(elig, seed=5, member=2)
    assert np.intersect1d(btr, bva).size == 0
    assert btr.size == elig.size - bva.size and np.unique(btr).size < btr.size  # repeats
    b2 = sg.bootstrap_indices(elig, seed=5, member=2)
    np.testing.assert_array_equal(btr, b2[0])


def test_training_recovers_synthetic_relation(data, ensemble):
    x, y, mask, hold = data
    assert len(ensemble) == 3 and ensemble.kind == "best_guess"
    used = np.union1d(ensemble.train_idx.ravel(), ensemble.val_idx.ravel())
    assert not np.isin(used, hold).any() and mask[used].all()
    pred = np.median(ensemble.predict(x[hold]), axis=0)
    r2 = 1 - ((pred - y[hold]) ** 2).sum(0) / ((y[hold] - y[hold].mean(0)) ** 2).sum(0)
    assert np.all(r2 > 0.85), r2
    # best-validation checkpoint: the kept loss is the minimum of the history
    h = ensemble.history["val_loss"]
    np.testing.assert_allclose(ensemble.best_val_loss, np.nanmin(h, axis=1), rtol=1e-6)
    np.testing.assert_array_equal(ensemble.best_epoch, np.nanargmin(h, axis=1))


def test_same_seed_same_predictions_and_member_independence(data, ensemble):
    x, y, mask, hold = data
    again = sg.best_guess_ensemble(x, y, n_members=3, mask=mask, exclude=hold,
                                   config=CONFIG, seed=11, progress=False)
    np.testing.assert_array_equal(again.predict(x), ensemble.predict(x))
    # the whole ensemble trains in one compiled program, reused by the second run
    run_chunk = train_module._build(CONFIG, N_COV, N_PAR)[2]
    assert run_chunk._cache_size() == 1
    other = sg.best_guess_ensemble(x, y, n_members=3, mask=mask, exclude=hold,
                                   config=CONFIG, seed=12, progress=False)
    assert not np.allclose(other.predict(x), ensemble.predict(x))
    # member 1 trained in groups of one gives the same network (up to float reassociation)
    alone = sg.best_guess_ensemble(x, y, n_members=3, mask=mask, exclude=hold,
                                   config=dataclasses.replace(CONFIG, members_per_call=1),
                                   seed=11, progress=False)
    np.testing.assert_allclose(alone.predict(x), ensemble.predict(x), atol=2e-4)
    np.testing.assert_array_equal(alone.best_epoch, ensemble.best_epoch)


def test_bootstrap_ensemble_and_early_stopping(data):
    x, y, mask, hold = data
    cfg = dataclasses.replace(CONFIG, patience=3)
    boot = sg.bootstrap_ensemble(x, y, n_members=3, mask=mask, exclude=hold, config=cfg,
                                 seed=0, progress=False)
    assert boot.kind == "bootstrap" and boot.train_idx.shape[0] == 3
    for tr, va in zip(boot.train_idx, boot.val_idx, strict=True):
        assert np.intersect1d(tr, va).size == 0
    h = boot.history["val_loss"]
    stopped = np.isnan(h).any(axis=1)
    assert stopped.any()  # patience 3 stops early
    for k in np.flatnonzero(stopped):
        last = np.flatnonzero(~np.isnan(h[k]))[-1]
        assert last == boot.best_epoch[k] + cfg.patience


def test_save_load_round_trip(tmp_path, ensemble, data):
    x = data[0]
    path = tmp_path / "ens.npz"
    sg.save_ensemble(ensemble, path)
    back = sg.load_ensemble(path)
    np.testing.assert_array_equal(back.predict(x), ensemble.predict(x))
    assert back.config == ensemble.config


def test_parameter_maps(ensemble, data):
    x, y, _, _ = data
    # a 4 x 5 grid whose covariates are sites 0..19 (raw units = scaled * 10 + 1)
    scaler = sg.MinMaxScaler.fit(np.stack([np.ones(N_COV), np.full(N_COV, 11.0)]),
                                 names=[f"c{i}" for i in range(N_COV)])
    raw = scaler.inverse_transform(x[:20]).reshape(4, 5, N_COV)
    raw[0, 0, 2] = np.nan
    grid = xr.Dataset({f"c{i}": (("lat", "lon"), raw[..., i]) for i in range(N_COV)},
                      coords={"lat": [-1.5, -0.5, 0.5, 1.5], "lon": np.arange(5.0)})
    table = ParameterTable("toy", list(CLM5_PARAMETERS)[:N_PAR])
    maps = sg.predict_maps(ensemble, grid, table=table, scaler=scaler)
    from socmodels.netcdf import cf_problems
    assert cf_problems(maps) == []  # CF-1.10 as returned (issue 12)
    for name in table.names:
        for suffix in ("", "_std", "_p14", "_p86"):
            assert maps[name + suffix].dims == ("lat", "lon")
        assert np.isnan(maps[name][0, 0]) and np.isfinite(maps[name][1:]).all()
    members = sg.predict_members(ensemble, grid, table=table, scaler=scaler, space="unit")
    u = members[table.names[0]]
    assert u.dims == ("member", "lat", "lon") and u.sizes["member"] == 3
    assert float(u.min()) >= 1e-4 and float(u.max()) <= 1.0
    phys = sg.predict_members(ensemble, grid, table=table, scaler=scaler)
    lo, hi = table.lower[0], table.upper[0]
    np.testing.assert_allclose(phys[table.names[0]], lo + u * (hi - lo), rtol=1e-6)
    med = np.median(np.asarray(phys[table.names[1]]), axis=0)
    np.testing.assert_allclose(maps[table.names[1]], med, rtol=1e-6)
    assert (maps[table.names[1] + "_p86"] >= maps[table.names[1] + "_p14"]).sum() == 19
    # clipping of raw network outputs
    np.testing.assert_array_equal(sg.clip_unit(np.array([-0.3, 0.0, 0.5, 1.7])),
                                  [1e-4, 1e-4, 0.5, 1.0])
