"""Self-consistency checks of the dense NumPy reference (``socmodels.reference``).

These tests check the reference against physics (mass conservation, mass balance), against
itself (closed form vs. ODE right-hand side, dense solve vs. forward time integration) and
against numbers quoted in ``docs/original_code.md`` (Q8 leak magnitude). They do not use the
fast JAX solvers.
"""

from __future__ import annotations

import numpy as np
import pytest

import socmodels  # noqa: F401  (enables float64 in JAX)
from socmodels import Forcing
from socmodels import reference as R
from socmodels._tables import CLM5_PARAMETERS, COMPAS_PARAMETERS
from socmodels.layers import dz, dz_node21, zsoi

# ----------------------------------------------------------------------------------------
# synthetic forcings and parameters
# ----------------------------------------------------------------------------------------


def make_forcing(altmax: float = 8.6, nbedrock: int = 20) -> Forcing:
    """T = 10 degC +- 10 K seasonal cycle damped with depth, W 0.6, O 1, FPI 0.7."""
    month = np.arange(12)
    tsoi = 283.15 + 10.0 * np.cos(2 * np.pi * (month - 6) / 12)[:, None] \
        * np.exp(-zsoi / 1.0)[None, :]
    return Forcing.create(
        tsoi=tsoi,
        w_scalar=np.full((12, 20), 0.6),
        o_scalar=np.ones((12, 20)),
        fpi_vr=np.full((12, 20), 0.7),
        altmax=np.full(12, altmax),
        altmax_lastyear=np.full(12, altmax),
        nbedrock=np.full(12, nbedrock),
        input_cwd=50.0, input_litr1=150.0, input_litr2=250.0, input_litr3=100.0,
    )


FORCINGS = {
    "deep": make_forcing(8.6, 20),
    "permafrost": make_forcing(1.2, 20),
    "bedrock8": make_forcing(8.6, 8),
}


def clm5_theta(u) -> np.ndarray:
    return np.asarray(CLM5_PARAMETERS.to_physical(np.asarray(u, dtype=float)))


def compas_theta(tau4s3: float) -> np.ndarray:
    """Prior mid-point of every COMPAS parameter, with tau4s3 (yr) set explicitly."""
    theta = np.array(COMPAS_PARAMETERS.to_physical(np.full(23, 0.5)))
    theta[COMPAS_PARAMETERS.index("tau4s3")] = tau4s3
    return theta


def compas_theta_feasible() -> np.ndarray:
    """Mid-point parameters with tau4s3 = 10^(3*0.5-3) = 0.0316 yr: feasible.

    0.0316 yr is the enzyme turnover time the original code uses at kp = 0.5 (Q1). With
    tau4s3 = 0.5 yr the enzyme pool is larger, SOC smaller and MIC exceeds 10 % of soil C
    (infeasible; see :func:`test_compas_feasibility_rule`).
    """
    return compas_theta(10 ** (3 * 0.5 - 3))


# ----------------------------------------------------------------------------------------
# (a) transport operator
# ----------------------------------------------------------------------------------------

TRANSPORT_CASES = [  # (D_bio, D_cryo, altmax, altmax_lastyear, nbedrock)
    (3e-4, 5e-4, 3.0, 3.0, 20),      # bioturbation
    (1e-4, 1.6e-3, 1.2, 0.9, 20),    # cryoturbation, taper to 3 m
    (1e-4, 5e-4, 0.0, 0.0, 20),      # frozen: no transport (1e-30 floors)
    (5e-4, 5e-4, 8.6, 8.6, 20),
]


@pytest.mark.parametrize("case", TRANSPORT_CASES)
def test_transport_conserves_mass_no_bedrock(case):
    V = R.transport_operator_month(*case)
    col = dz @ V  # dz-weighted column sums: d(stock)/dt per unit concentration
    assert np.abs(col).max() < 1e-15 * max(np.abs(V).max(), 1.0)
    assert np.all(np.diag(V) <= 0.0)
    off = V - np.diag(np.diag(V))
    assert np.all(off >= 0.0)
    assert np.allclose(np.triu(V, 2), 0.0) and np.allclose(np.tril(V, -2), 0.0)


@pytest.mark.parametrize("nb", [1, 3, 8, 12, 19])
@pytest.mark.parametrize("alt", [3.0, 1.5, 0.5])
def test_transport_conserves_mass_with_bedrock_fix(nb, alt):
    V = R.transport_operator_month(3e-4, 5e-4, alt, alt, nb, fix_bedrock_leak=True)
    assert np.abs(dz @ V).max() < 1e-15


def test_transport_bedrock_leak_original():
    """Quirk Q8: with the original bedrock branch (dp_j = dm_j), mass is not conserved.

    n_b = 8, bio = 3e-4 m2 yr-1, a* = 3 m. The downward conductance of layer n_b+1 = 9
    is dm_9 = bio/dz_node(9) = 3e-4/0.26 = 1.154e-3 yr-1 (3.16e-6 day-1, the spec quotes
    ~3e-6 day-1), but layer 10 sees only the 1e-30 floor: layer 9 loses carbon at rate
    dm_9 (dz-weighted column sum of column 9 = -dm_9) and *gains* carbon from layer 10 at
    rate dm_9 that layer 10 never loses (column 10 sum = +dm_9). The net change of the
    column stock is dm_9 (X_10 - X_9): a leak when X_9 > X_10 (the usual case).
    """
    V = R.transport_operator_month(3e-4, 5e-4, 3.0, 3.0, 8, fix_bedrock_leak=False)
    col = dz @ V
    expected = 3e-4 / dz_node21[8]
    assert col[8] == pytest.approx(-expected, rel=1e-12)
    assert col[9] == pytest.approx(+expected, rel=1e-12)
    assert col[8] / 365.0 == pytest.approx(-3.16e-6, rel=1e-2)
    others = np.delete(col, [8, 9])
    assert np.abs(others).max() < 1e-15
    # the fix only changes the bedrock-branch rows (j >= n_b+1), and materially only the
    # entries (9, 9) and (9, 10) (1-based); for n_b = 20 it changes nothing
    V_fix = R.transport_operator_month(3e-4, 5e-4, 3.0, 3.0, 8, fix_bedrock_leak=True)
    diff = np.abs(V - V_fix)
    assert {tuple(d) for d in np.argwhere(diff > 1e-20)} == {(8, 8), (8, 9)}
    assert np.all(np.argwhere(diff > 0)[:, 0] >= 8)
    assert np.array_equal(
        R.transport_operator_month(3e-4, 5e-4, 3.0, 3.0, 20, fix_bedrock_leak=False),
        R.transport_operator_month(3e-4, 5e-4, 3.0, 3.0, 20))


def test_transport_regimes():
    # bioturbation: top-layer exchange rate = D_b / dz_node(2) / dz_1 (harmonic mean of equal D)
    V = R.transport_operator_month(3e-4, 5e-4, 3.0, 3.0, 20)
    assert V[0, 1] == pytest.approx(3e-4 / dz_node21[1] / dz[0], rel=1e-12)
    # cryoturbation uses D_c above a*, tapering below; zero (1e-30) below 3 m
    V = R.transport_operator_month(3e-4, 5e-4, 1.2, 1.2, 20)
    assert V[0, 1] == pytest.approx(5e-4 / dz_node21[1] / dz[0], rel=1e-12)
    assert np.abs(V[14:, 14:]).max() < 1e-20
    # completely frozen: no exchange
    V = R.transport_operator_month(3e-4, 5e-4, 0.0, 0.0, 20)
    assert np.abs(V).max() < 1e-20
    # monthly mean is the mean of monthly operators
    f = FORCINGS["deep"]
    Vm = R.transport_operator(3e-4, 5e-4, f)
    assert np.allclose(Vm, R.transport_operator_month(3e-4, 5e-4, 8.6, 8.6, 20), rtol=1e-14)


def test_input_profile():
    prof = R.input_profile(0.9, np.full(12, 1.0))
    assert prof.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.all(np.diff(prof[4:]) < 0)
    # Jackson profile: cumulative fraction to 6 cm = (1 - beta^6)/(1 - beta^860)
    assert prof[:2].sum() == pytest.approx((1 - 0.9 ** 6) / (1 - 0.9 ** 860), rel=1e-12)
    # quirk Q9: any month with altmax_lastyear <= 0 sends all input to layer 1
    alt = np.full(12, 1.0)
    alt[5] = 0.0
    assert np.array_equal(R.input_profile(0.9, alt), np.eye(20)[0])


# ----------------------------------------------------------------------------------------
# (b) COMPAS closed form is a root of the full ODE
# ----------------------------------------------------------------------------------------


def _compas_outflows(theta, forcing, pools):
    """Gross outflow of every state (160,), gC m-3 yr-1: the flux scale of each equation."""
    P = dict(zip(COMPAS_PARAMETERS.names, theta, strict=True))
    xi, xi_n = R.compas_environmental_scalars(theta, forcing)
    CWD, L1, L2, L3, DOC, MIC, ENZ, SOC = pools
    out = [
        CWD * xi / P["tau4cwd"],
        L1 * xi_n / P["tau4l1"],
        L2 * xi_n / P["tau4l2"],
        L3 * xi_n / P["tau4l2"],
        xi / P["tau4s1"] * MIC * DOC / (P["mm_const_assim"] * xi + DOC),
        (1 / P["tau4s2_death"] + 1 / P["tau4s2_enz"]) * xi * MIC,
        xi / P["tau4s3"] * ENZ,
        xi / P["tau4s4"] * ENZ * SOC / (P["mm_const_decom"] * xi + SOC),
    ]
    return np.concatenate(out)


@pytest.mark.parametrize("name", list(FORCINGS))
def test_compas_closed_form_is_root_of_rhs(name):
    f = FORCINGS[name]
    theta = compas_theta_feasible()
    ss = R.compas_dense_steady_state(theta, f)
    assert ss["feasible"]
    assert np.all(ss["pools"] > 0)
    y = ss["pools"].reshape(-1)
    res = R.compas_rhs(0.0, y, theta, f)
    rhs, jac = R.compas_ode(theta, f)
    assert np.array_equal(rhs(0.0, y), res)
    scale = _compas_outflows(theta, f, ss["pools"])
    assert np.all(np.abs(res) <= 1e-10 * scale + 1e-12 * scale.max())
    # COMPAS mass balance: input = litter->MIC respiration + (1 - CUE) F_up
    assert ss["respiration"] == pytest.approx(ss["total_input"], rel=1e-10)
    # the analytic Jacobian matches central finite differences
    J = jac(0.0, y)
    Jfd = np.empty_like(J)
    for i in range(y.size):
        h = 1e-6 * max(abs(y[i]), 1e-3)
        e = np.zeros_like(y)
        e[i] = h
        Jfd[:, i] = (rhs(0.0, y + e) - rhs(0.0, y - e)) / (2 * h)
    assert np.abs(J - Jfd).max() <= 1e-8 * np.abs(J).max()


def test_compas_feasibility_rule():
    """Mid-point parameters with tau4s3 = 0.5 yr violate MIC <= 10 % of soil C."""
    f = FORCINGS["deep"]
    ss = R.compas_dense_steady_state(compas_theta(0.5), f)
    assert np.all(ss["pools"] >= 0)
    assert ss["stock"] / ss["stock_pools"][1] < 10
    assert not ss["feasible"]


def test_compas_forward_returns_to_closed_form():
    """Perturbed start (litter x1.3, soil x0.7) relaxes back; checked where relaxation is fast.

    Below ~1 m the enzyme pool is so small that SOC relaxes on > 1e12-yr time scales, so only
    the top 8 layers (0-0.92 m) are compared after 1e12 years.
    """
    f = FORCINGS["deep"]
    theta = compas_theta_feasible()
    P = R.compas_dense_steady_state(theta, f)["pools"]
    y0 = P.copy()
    y0[:4] *= 1.3
    y0[4:] *= 0.7
    y = R.compas_forward(theta, f, 1e12, y0=y0, rtol=1e-8, atol=(1e-8 * np.abs(P)).reshape(-1))
    assert np.abs(y[:, :8] / P[:, :8] - 1).max() < 1e-6
    assert np.abs(y[:4] / P[:4] - 1).max() < 1e-6  # litter (linear) everywhere


# ----------------------------------------------------------------------------------------
# (c) CLM5 mass balance, (d) forward integration
# ----------------------------------------------------------------------------------------

CLM5_US = [np.full(21, 0.5), np.full(21, 0.2), np.full(21, 0.8),
           np.random.default_rng(0).uniform(0.05, 0.95, 21)]


@pytest.mark.parametrize("name", list(FORCINGS))
@pytest.mark.parametrize("iu", range(len(CLM5_US)))
def test_clm5_mass_balance(name, iu):
    f = FORCINGS[name]
    theta = clm5_theta(CLM5_US[iu])
    ss = R.clm5_dense_steady_state(theta, f)
    assert ss["total_input"] == pytest.approx(550.0)
    assert ss["respiration"] == pytest.approx(ss["total_input"], rel=1e-8)
    x = ss["pools"].reshape(-1)
    assert np.abs(ss["M"] @ x + ss["b"]).max() <= 1e-9 * np.abs(ss["b"]).max()
    assert ss["stock"] == pytest.approx(np.sum((ss["pools"][4:] * dz).sum()), rel=1e-14)
    # the input vector carries the annual totals: sum_j b_pj dz_j = I_p
    b = ss["b"].reshape(7, 20)
    assert np.allclose(b @ dz, [50, 150, 250, 100, 0, 0, 0], rtol=1e-13)


def test_clm5_bedrock_leak_breaks_mass_balance():
    """Without the Q8 fix, carbon leaks at layer n_b+1: respiration < input by the leak flux."""
    f = FORCINGS["bedrock8"]
    theta = clm5_theta(np.full(21, 0.5))
    ss = R.clm5_dense_steady_state(theta, f, fix_bedrock_leak=False)
    V = R.transport_operator(theta[0], theta[1], f, fix_bedrock_leak=False)
    X = ss["pools"][1:]  # transported pools L1..S3
    leak = -np.sum((dz @ V) @ X.T)  # = dm_9 * sum_p (X_p,9 - X_p,10), see the test above
    assert leak > 0
    assert ss["total_input"] - ss["respiration"] == pytest.approx(leak, rel=1e-6)


@pytest.mark.parametrize("name", list(FORCINGS))
def test_clm5_forward_approaches_dense_steady_state(name):
    """BDF with the exact Jacobian from zero for 1e12 yr reproduces solve(M, -b).

    The slowest modes (deep layers, where exp(-zsoi/efolding) ~ 1e-7, and transport) have
    rates down to ~1e-11 yr-1, so 2e4 yr is far from enough; 1e12 yr costs ~0.2 s with BDF.
    """
    f = FORCINGS[name]
    theta = clm5_theta(np.full(21, 0.5))
    ss = R.clm5_dense_steady_state(theta, f)
    y = R.clm5_forward(theta, f, 1e12)
    P = ss["pools"]
    sig = np.abs(P) > 1e-8 * np.abs(P).max(axis=1, keepdims=True)
    assert np.abs(y[sig] / P[sig] - 1).max() < 1e-6
    assert np.abs(y - P).max() < 1e-8 * np.abs(P).max()
    assert np.sum(y[4:].sum(0) * dz) == pytest.approx(ss["stock"], rel=1e-8)
    # and 2e4 yr is clearly not yet at steady state for the slow pools
    y_short = R.clm5_forward(theta, f, 2e4)
    assert np.sum(y_short[4:].sum(0) * dz) < 0.99 * ss["stock"]
