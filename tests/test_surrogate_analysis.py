"""Map-level analyses: areas, stocks, totals, correlation, NSE, system components."""

import jax
import numpy as np
import pytest
import xarray as xr

import socmodels  # noqa: F401
from socmodels import Forcing, compas, layers
from socmodels._tables import CLM5_PARAMETERS as CLM5
from socmodels._tables import COMPAS_PARAMETERS as COMPAS
from surrogate import analysis as A

R = A.EARTH_RADIUS
SPHERE = 4 * np.pi * R ** 2


def make_forcing(*, tsoi=288.15, w=0.6, altmax=3.0, nbedrock=20, altmax_lastyear=None):
    aly = np.full(12, altmax) if altmax_lastyear is None else np.asarray(altmax_lastyear)
    return Forcing.create(
        tsoi=np.full((12, 20), tsoi), w_scalar=np.full((12, 20), w),
        o_scalar=np.full((12, 20), 0.9), fpi_vr=np.full((12, 20), 0.7),
        altmax=np.full(12, altmax), altmax_lastyear=aly, nbedrock=np.full(12, nbedrock),
        input_cwd=50.0, input_litr1=150.0, input_litr2=250.0, input_litr3=100.0)


def with_values(table, base, **values):
    theta = np.array(base, dtype=np.float64)
    for name, v in values.items():
        theta[table.index(name)] = v
    return theta


# ---------------------------------------------------------------------------- areas

@pytest.mark.parametrize("dlat,dlon", [(0.5, 0.5), (2.0, 2.5), (180 / 384, 0.625)])
def test_cell_areas_sum_to_sphere(dlat, dlon):
    lat = 90 - dlat / 2 - dlat * np.arange(round(180 / dlat))
    lon = -180 + dlon / 2 + dlon * np.arange(round(360 / dlon))
    trap = A.cell_area(lat, lon)
    assert trap.dims == ("lat", "lon") and trap.attrs["units"] == "m2"
    assert float(trap.sum()) == pytest.approx(SPHERE, rel=dlat ** 2 * 1e-4)
    assert float(A.cell_area(lat, lon, method="exact").sum()) == pytest.approx(SPHERE,
                                                                               rel=1e-12)


def test_cell_area_matches_original_half_degree_formula():
    lat = np.arange(-89.75, 90, 0.5)
    lon = np.arange(-179.75, 180, 0.5)
    la = 45.25
    l_top = 2 * np.pi * R * np.cos(np.deg2rad(abs(la + 0.25))) / 360 * 0.5
    l_bot = 2 * np.pi * R * np.cos(np.deg2rad(abs(la - 0.25))) / 360 * 0.5
    h = np.pi * R / 180 * 0.5
    area = A.cell_area(lat, lon)
    assert float(area.sel(lat=la, lon=10.25)) == pytest.approx((l_top + l_bot) * h / 2,
                                                               rel=1e-12)


# ---------------------------------------------------------------------------- stocks

def test_soc_stock_partial_layers_and_coarse_fragments():
    s = np.arange(1.0, 21.0)  # gC m-3, layer j has concentration j
    # 0-30 cm: layers 1-4 complete (to 0.20 m) and 0.10 of the 0.12 m layer 5
    by_hand = float(np.sum(s[:4] * layers.dz[:4]) + 5 * 0.10)
    assert A.soc_stock(s, depth=0.3) == pytest.approx(by_hand)
    # coarse fragments: 0-30 cm x (1 - 0.1), 30-100 cm x (1 - 0.2)
    top = by_hand
    full = float(A.soc_stock(s, depth=1.0))
    got = A.soc_stock(s, depth=1.0, coarse_fragments=[10.0, 20.0, 50.0])
    assert got == pytest.approx(0.9 * top + 0.8 * (full - top))
    da = xr.DataArray(np.tile(s, (2, 3, 1)), dims=("lat", "lon", "layer"))
    cf = [xr.DataArray(np.full((2, 3), v), dims=("lat", "lon")) for v in (10.0, 20.0, 50.0)]
    out = A.soc_stock(da, depth=1.0, coarse_fragments=cf)
    assert out.dims == ("lat", "lon")
    np.testing.assert_allclose(out, got)
    assert A.soc_stock(np.full(20, 1.0), depth=8.6) == pytest.approx(8.6)


def test_global_total_and_valid_cells():
    lat = np.arange(-89.75, 90, 0.5)
    lon = np.arange(-179.75, 180, 0.5)
    area = A.cell_area(lat, lon, method="exact")
    stock = xr.full_like(area, 1.0e4)  # 10 kgC m-2 everywhere
    assert float(A.global_total(stock, area)) == pytest.approx(1e4 * SPHERE / 1e15)
    bad = stock.copy()
    bad[:10] = -5.0  # invalid (<= 0) rows are skipped
    bad[10:20] = 2e6  # >= 1e6 gC m-2 skipped
    expected = float((stock * area)[20:].sum()) / 1e15
    assert float(A.global_total(bad, area)) == pytest.approx(expected)
    assert A.global_total(bad, area).attrs["units"] == "Pg C"
    shifted = stock.assign_coords(lat=stock.lat + 0.01)
    with pytest.raises(ValueError, match="different lat/lon"):
        A.global_total(shifted, area)


# ---------------------------------------------------------------------------- skill

def test_log_correlation():
    rng = np.random.default_rng(0)
    a = rng.lognormal(size=(20, 30))
    res = A.log_correlation(a, a ** 2)
    assert float(res.r) == pytest.approx(1.0) and int(res.n) == 600
    b = rng.lognormal(size=(20, 30))
    b[0, :5] = 0.0  # excluded (log undefined)
    ok = b > 0
    r = np.corrcoef(np.log(a[ok]), np.log(b[ok]))[0, 1]
    res = A.log_correlation(a, b)
    assert float(res.r) == pytest.approx(r) and int(res.df) == ok.sum() - 2


def test_pooled_nse():
    obs = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    assert float(A.pooled_nse(obs, obs)) == 1.0
    assert float(A.pooled_nse(np.full(5, obs.mean()), obs)) == pytest.approx(0.0)
    pred = obs + np.array([0.5, -0.5, 0.0, 1.0, -1.0])
    by_hand = 1 - 2.5 / np.sum((obs - obs.mean()) ** 2)
    assert float(A.pooled_nse(pred, obs)) == pytest.approx(by_hand)
    pred_neg = np.append(pred, -3.0)  # negative model values are dropped
    assert float(A.pooled_nse(pred_neg, np.append(obs, 100.0))) == pytest.approx(by_hand)
    boot = A.nse_bootstrap(obs, obs, groups=[1, 1, 2, 2, 3], n_boot=50)
    assert float(boot.nse) == 1.0 and float(boot.nse_lower) == 1.0 and float(boot.nse_upper) == 1.0
    rng = np.random.default_rng(1)
    o = rng.lognormal(size=200)
    m = o + rng.normal(scale=0.3, size=200)
    b = A.nse_bootstrap(m, o, groups=np.repeat(np.arange(40), 5), n_boot=200, seed=2)
    assert float(b.nse_lower) < float(b.nse) < float(b.nse_upper)
    ens = A.ensemble_nse(np.stack([o, m, o]), o)
    np.testing.assert_allclose(ens.nse, [1.0, float(A.pooled_nse(m, o)), 1.0])
    assert float(ens.nse_median) == 1.0


# ---------------------------------------------------------------------------- helpers

def test_transport_rate_by_hand():
    # V with all SOC in one layer is that layer's mixing loss rate (reference §2.6):
    # uniform diffusivity D (a* > 2 m, no bedrock): v_j = D (1/dz_node_j + 1/dz_node_j+1) / dz_j
    theta = with_values(CLM5, CLM5.defaults_clipped(), diffus=2e-4, cryo=1e-3)
    dzn, dz = layers.dz_node21, layers.dz
    for j, expect in ((0, 2e-4 / dzn[1] / dz[0]), (5, 2e-4 * (1 / dzn[5] + 1 / dzn[6]) / dz[5]),
                      (19, 2e-4 / dzn[19] / dz[19])):
        pools = np.zeros((7, 20))
        pools[5, j] = 100.0
        v = A.components_clm5(theta, make_forcing(altmax=3.0), pools).v
        assert float(v) == pytest.approx(expect, rel=1e-10)
    # cryoturbation (a* = 1 m): interfaces above 1 m mix at the cryoturbation rate
    pools = np.zeros((7, 20))
    pools[5, 2] = 100.0
    v = A.components_clm5(theta, make_forcing(altmax=1.0), pools).v
    assert float(v) == pytest.approx(1e-3 * (1 / dzn[2] + 1 / dzn[3]) / dz[2], rel=1e-10)
    frozen = make_forcing(altmax=0.0, altmax_lastyear=np.zeros(12))
    assert float(A.components_clm5(theta, frozen, pools).v) == 0.0


def test_xi_bulk_and_model_modifier(clm5_case):
    f = make_forcing(tsoi=298.15, w=0.5)
    xi = np.asarray(A.xi_bulk(2.0, 1.0, 0.4, f))
    np.testing.assert_allclose(xi, 0.5 * np.exp(-layers.zsoi / 0.4))
    f2 = make_forcing(tsoi=288.15, w=0.5)
    xi2 = np.asarray(A.xi_bulk(2.0, 4.0, 0.4, f2))
    np.testing.assert_allclose(xi2, 0.5 * 1.0 * np.exp(-layers.zsoi / 0.4))  # Q10^-1, W cap 1
    # Xi_system: "code" uses xi_bulk (T, W), "paper" the model modifier (also O = 0.9)
    theta, _, pools = clm5_case
    theta = with_values(CLM5, theta, q10=2.0, w_scaling=1.0, efolding=0.4)
    soc_only_top = np.zeros((7, 20))
    soc_only_top[4, 0] = 10.0
    code = A.components_clm5(theta, f, soc_only_top, variant="code")
    paper = A.components_clm5(theta, f, soc_only_top, variant="paper")
    assert float(code.xi) == pytest.approx(0.5 * np.exp(-0.01 / 0.4))
    assert float(paper.xi) == pytest.approx(0.9 * 0.5 * np.exp(-0.01 / 0.4))


# ---------------------------------------------------------------------------- CLM5

CLM5_FRACTIONS = ("fl1s1", "fl2s1", "fl3s2", "fs1s2", "fs1s3", "fs2s1", "fs2s3", "fs3s1")


@pytest.fixture
def clm5_case():
    rng = np.random.default_rng(0)
    return CLM5.defaults_clipped(), make_forcing(), rng.uniform(100, 1000, size=(7, 20))


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_clm5_cte_limits(clm5_case, variant):
    theta, f, pools = clm5_case
    none = with_values(CLM5, theta, **{n: 0.0 for n in CLM5_FRACTIONS})
    assert float(A.components_clm5(none, f, pools, variant=variant).cte) == 0.0
    full = with_values(CLM5, theta, fl1s1=1, fl2s1=1, fl3s2=1, fs1s2=1, fs1s3=0, fs2s1=1,
                       fs2s3=0, fs3s1=1)
    assert float(A.components_clm5(full, f, pools, variant=variant).cte) == pytest.approx(1.0)
    only_s1 = np.zeros((7, 20))
    only_s1[4] = 500.0
    c = A.components_clm5(theta, f, only_s1, variant=variant)
    p = dict(zip(CLM5.names, theta, strict=True))
    assert float(c.cte) == pytest.approx(p["fs1s2"] + p["fs1s3"])


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_clm5_k_xi_v_b(clm5_case, variant):
    theta, f, pools = clm5_case
    p = dict(zip(CLM5.names, theta, strict=True))
    only_s2 = np.zeros((7, 20))
    only_s2[5, :8] = 300.0
    c = A.components_clm5(theta, f, only_s2, variant=variant, xi_layer=np.full(20, 0.3),
                          v_layer=np.full(20, 0.7))
    assert float(c.k) == pytest.approx(1 / p["tau4s2"])
    assert float(c.xi) == pytest.approx(0.3)
    assert float(c.v) == pytest.approx(0.7)
    assert float(c.carbon_input) == 550.0
    # xi weighted by SOC stock: two layers with equal stocks average their modifiers
    two = np.zeros((7, 20))
    two[4, 0] = 1.0 / layers.dz[0]
    two[6, 3] = 1.0 / layers.dz[3]
    xi = np.linspace(0.1, 1.0, 20)
    c2 = A.components_clm5(theta, f, two, variant=variant, xi_layer=xi)
    assert float(c2.xi) == pytest.approx((xi[0] + xi[3]) / 2)
    beta = with_values(CLM5, theta, beta=0.9)
    cb = A.components_clm5(beta, f, pools, variant=variant)
    if variant == "paper":  # Eq. 14: (1 - Y_z)^(1/D_z) = beta for the Jackson profile
        assert float(cb.i) == pytest.approx(0.9, rel=1e-9)
        assert float(cb.b) == pytest.approx(0.9 ** 5, rel=1e-8)
    else:  # node-depth exponent of fun_bulk_process biases I low
        assert 0.8 < float(cb.i) < 0.9
    frozen = make_forcing(altmax_lastyear=np.r_[0.0, np.ones(11)])
    cf = A.components_clm5(theta, frozen, pools, variant=variant)
    assert (float(cf.b) == 0.0) if variant == "paper" else np.isnan(float(cf.b))


def test_clm5_litter_to_soil_and_batching(clm5_case):
    theta, f, pools = clm5_case
    none = with_values(CLM5, theta, fl1s1=0.0, fl2s1=0.0, fl3s2=0.0)
    assert float(A.components_clm5(none, f, pools).litter_to_soil) == 0.0
    fb = Forcing.stack([f, make_forcing(altmax=1.0, nbedrock=8)])
    th = np.stack([theta, theta])
    pb = np.stack([pools, pools * 2])
    batched = jax.jit(jax.vmap(A.components_clm5))(th, fb, pb)
    broadcast = A.components_clm5(th, fb, pb)
    for k in range(2):
        single = A.components_clm5(th[k], fb[k], pb[k])
        for name in ("cte", "k", "xi", "v", "b"):
            assert float(getattr(batched, name)[k]) == pytest.approx(
                float(getattr(single, name)), rel=1e-10)
            assert float(getattr(broadcast, name)[k]) == pytest.approx(
                float(getattr(single, name)), rel=1e-10)
    ds = A.components_to_dataset(broadcast, dims=("site",))
    assert ds["k"].attrs["units"] == "yr-1" and ds.sizes["site"] == 2


# ---------------------------------------------------------------------------- COMPAS

@pytest.fixture
def compas_case():
    rng = np.random.default_rng(1)
    return COMPAS.defaults_clipped(), make_forcing(), rng.uniform(10, 1000, size=(8, 20))


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_compas_cte_e_limits(compas_case, variant):
    theta, f, pools = compas_case
    zero = with_values(COMPAS, theta, l1_cue=0.0, l2l3_cue=0.0, mic_cue=0.0)
    assert float(A.components_compas(zero, f, pools, variant=variant).cte) == 0.0
    one = with_values(COMPAS, theta, pl1s1=0.0, pl2s1=0.0, pl3s4=0.0, l1_cue=1.0,
                      l2l3_cue=1.0, mic_cue=1.0, pdeath2soc=0.0)
    c = A.components_compas(one, f, pools, variant=variant)
    assert float(c.cte) == pytest.approx(1.0)
    assert float(c.e) == 0.0
    all_e = with_values(COMPAS, theta, pl1s1=1.0, pl2s1=1.0, pl3s4=1.0, pdeath2soc=1.0)
    assert float(A.components_compas(all_e, f, pools, variant=variant).e) == pytest.approx(1)


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_compas_k_xi_v(compas_case, variant):
    theta, f, _ = compas_case
    p = dict(zip(COMPAS.names, theta, strict=True))
    only_enz = np.zeros((8, 20))
    only_enz[6] = 5.0
    only_enz[1] = 0.0
    c = A.components_compas(theta, f, only_enz, variant=variant, xi_layer=np.full(20, 0.25))
    assert float(c.k) == pytest.approx(1 / p["tau4s3"])
    assert float(c.xi) == pytest.approx(0.25)
    only_mic = np.zeros((8, 20))
    only_mic[5, :3] = 7.0
    only_mic[2, :5] = 40.0  # litter L2 sets the V weights
    c = A.components_compas(theta, f, only_mic, variant=variant, v_layer=np.full(20, 0.05))
    k_mic = 1 / p["tau4s2_death"] + 1 / p["tau4s2_enz"]
    k_l2 = 1 / p["tau4l2"] * (p["pl2s1"] if variant == "code" else 1.0)
    stock_mic, stock_l2 = 7.0 * layers.dz[:3].sum(), 40.0 * layers.dz[:5].sum()
    expect = (k_mic * stock_mic + k_l2 * stock_l2) / (stock_mic + stock_l2)
    assert float(c.k) == pytest.approx(expect)
    assert float(c.v) == pytest.approx(0.05)


def test_michaelis_ratios(compas_case):
    theta, f, pools = compas_case
    p = dict(zip(COMPAS.names, theta, strict=True))
    bare = A.michaelis_ratios(theta, f, pools, include_xi=False)
    np.testing.assert_allclose(bare.assim, p["mm_const_assim"] / pools[4])
    np.testing.assert_allclose(bare.decom, p["mm_const_decom"] / pools[7])
    xi = np.asarray(compas.rates(theta, compas.prepare(f)).xi)
    with_xi = A.michaelis_ratios(theta, f, pools)
    np.testing.assert_allclose(with_xi.decom, p["mm_const_decom"] * xi / pools[7])
    assert A.first_order_fraction(np.array([50.0, 150.0, np.nan, 1e4])) == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------- zonal

def test_zonal_profile():
    lat = np.arange(-89.5, 90, 1.0)
    lon = np.arange(0.5, 360, 1.0)
    values = np.tile(lat[:, None], (1, lon.size)) + np.arange(lon.size)[None, :] % 3
    da = xr.DataArray(values, dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    da[0, :] = np.nan
    med = A.zonal_profile(da)
    assert med.dims == ("lat",) and np.isnan(med[0])
    np.testing.assert_allclose(med[1:], lat[1:] + 1.0)
    band = xr.DataArray(np.repeat(np.arange(18.0), 10)[:, None] * np.ones(lon.size),
                        dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    mean = A.zonal_profile(band, stat="mean", bin_width=10.0)
    np.testing.assert_allclose(mean.lat, np.arange(-85.0, 90, 10.0))
    np.testing.assert_allclose(mean, np.arange(18.0))
    np.testing.assert_allclose(A.zonal_profile(band, bin_width=10.0), np.arange(18.0))


# ---------------------------------------------------------------------------- with models

@pytest.mark.parametrize("model", ["clm5", "compas"])
def test_components_of_model_steady_states(model):
    """Pools from socmodels steady states: litter mass balance and sane ranges."""
    mod = socmodels.get_model(model)
    f = make_forcing()
    theta = np.asarray(mod.PARAMETERS.to_physical(np.full(len(mod.PARAMETERS), 0.4)))
    ss = mod.steady_state(theta, f)
    assert bool(ss.feasible)
    for variant in ("paper", "code"):
        c = A.components(model, theta, f, ss.pools, variant=variant)
        for name in ("cte", "xi", "b", "litter_to_soil"):
            assert 0.0 < float(getattr(c, name)) < 1.0, (variant, name)
        assert float(c.k) > 0 and float(c.v) > 0
    # at steady state all litter input is decomposed: what is not passed to the mineral
    # soil is respired by the litter pools
    r = mod.rates(theta, mod.prepare(f))
    x = np.asarray(ss.pools)
    p = dict(zip(mod.PARAMETERS.names, theta, strict=True))
    if model == "clm5":
        resp = ((1 - p["fl1s1"]) * r.l1 * x[1] + (1 - p["fl2s1"]) * r.l23 * x[2]
                + (1 - p["fl3s2"]) * r.l23 * x[3])
    else:
        resp = mod.soil_fluxes(theta, r, x[:4])[3]
    litter_resp = float(np.sum(np.asarray(resp) * layers.dz))
    assert float(c.litter_to_soil) * 550.0 + litter_resp == pytest.approx(550.0, rel=1e-8)
