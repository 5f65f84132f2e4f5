"""Dense NumPy/SciPy reference implementation of the CLM5 and COMPAS soil-carbon models.

This module is an *independent*, deliberately literal transcription of the specification of
the authors' MATLAB code (``docs/original_code.md``; section numbers below refer to it). It
builds the full dense matrices element by element and solves them with ``numpy.linalg``;
it does not exploit any structure (block-diagonality, tridiagonality, ...). It serves

1. as the reference against which the fast structured JAX solvers are tested, and
2. as the baseline in benchmarks.

Conventions (identical for every function here):

* Everything is float64 NumPy.
* Time unit is the **year**: diffusivities in m2 yr-1, rates ``k = 1/tau`` in yr-1, inputs
  in gC m-3 yr-1, fluxes in gC m-2 yr-1. The original works in days (rates
  ``1/(365 tau)``); steady states do not depend on the time unit.
* Layers are 0-based in Python; docstrings quote the spec's 1-based ``j``.
* State vectors are pool-major: ``y[p * 20 + j]`` is pool ``p`` in layer ``j``.
* ``theta`` is a physical parameter vector in ``CLM5_PARAMETERS`` / ``COMPAS_PARAMETERS``
  order (``socmodels._tables``), i.e. position ``i`` is the authors' ``kp(i+1)``.
* ``forcing`` is a single-site :class:`socmodels.Forcing`.

Deliberate choices (differences from the original code, all documented in the report):

* Quirk Q8 (bedrock leak): by default (``fix_bedrock_leak=True``) the downward
  conductance ``dp_j`` of the bottom/bedrock branch (``j >= n_b+1``) is zero, so transport
  conserves mass for any ``nbedrock``. ``fix_bedrock_leak=False`` reproduces the original,
  in which layer ``n_b+1`` loses carbon downwards at rate ``dm_{n_b+1}`` that layer
  ``n_b+2`` never receives, *and* gains carbon from layer ``n_b+2`` at the same rate that
  layer ``n_b+2`` never loses: the column stock changes by
  ``dm_{n_b+1} (X_{n_b+2} - X_{n_b+1})`` per unit time (a leak when ``X_{n_b+1}`` is larger).
* Quirk Q1 (COMPAS enzyme turnover): ``tau_s3 = theta[10]`` (``tau4s3``), not derived from
  ``mm_const_assim``.
* Quirk Q14: COMPAS environmental scalars are the **mean over months of the monthly
  products** (like CLM5), not the product of monthly means.
* Negative steady-state pools are **not** clipped (the original clips litter/CLM5 pools to
  0); COMPAS reports infeasibility via ``feasible`` instead.
* Quirk Q9 (input-profile switch on a 12-vector) is kept.

Timing note: every function here is dominated by small dense LAPACK/BLAS calls (140x140).
On a machine with more runnable threads than cores, multi-threaded OpenBLAS can make these
~100x slower (measured: ``lu_factor`` of 160x160 0.18 ms single-threaded vs 32 ms with the
default thread pool on a loaded 2-core host). Benchmarks of this baseline should set
``OPENBLAS_NUM_THREADS=1`` (before NumPy is imported) or run on an otherwise idle machine.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.integrate

from socmodels.layers import NLEV, dz, dz_node21, zisoi21, zsoi, zsoi21

__all__ = [
    "CLM5_POOLS",
    "COMPAS_POOLS",
    "interface_diffusivity",
    "transport_operator_month",
    "transport_operator",
    "input_profile",
    "clm5_environmental_scalars",
    "clm5_system",
    "clm5_dense_steady_state",
    "clm5_respiration",
    "compas_environmental_scalars",
    "compas_litter_system",
    "compas_soil_inputs",
    "compas_soil_closed_form",
    "compas_rhs",
    "compas_jacobian",
    "compas_ode",
    "compas_dense_steady_state",
    "compas_respiration",
    "integrate_to_steady_state",
    "clm5_forward",
    "compas_forward",
]

CLM5_POOLS = ("CWD", "L1", "L2", "L3", "S1", "S2", "S3")
"""CLM5 pool order (§2.1)."""
COMPAS_POOLS = ("CWD", "L1", "L2", "L3", "DOC", "MIC", "ENZ", "SOC")
"""COMPAS pool order (§3.1, §3.6 outputs)."""

# Fixed constants of the transport code (§2.2, §2.6).
MAX_ALTDEPTH_CRYOTURBATION = 2.0  # m: cryoturbation regime if 0 < a* <= 2
MAX_DEPTH_CRYOTURB = 3.0  # m: cryoturbation tapers to 0 at min(3, zisoi(n_b+1))
DIFFUSIVITY_FLOOR = 1e-30  # |D_j| < 1e-30 -> 1e-30
ADVECTIVE_FLUX = 1e-30  # F_j (adv = 0; the code stores 1e-30)
COMPAS_EFOLDING = 0.5  # m, fixed in COMPAS v22 (§3.2)
T_REF = 298.15  # K (25 degC), §2.3


# ----------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------

def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _site(forcing: Any) -> dict[str, np.ndarray]:
    """Forcing leaves as float64 NumPy arrays, checked to be a single site."""
    names = ("tsoi", "w_scalar", "o_scalar", "fpi_vr", "altmax", "altmax_lastyear",
             "nbedrock", "input_cwd", "input_litr1", "input_litr2", "input_litr3", "cellsand")
    out = {k: _f64(getattr(forcing, k)) for k in names}
    if out["tsoi"].shape != (12, NLEV):
        raise ValueError(f"reference functions take a single-site Forcing; tsoi has shape"
                         f" {out['tsoi'].shape}, expected (12, {NLEV})")
    return out


def _theta(theta: Any, n: int, model: str) -> np.ndarray:
    t = _f64(theta)
    if t.shape != (n,):
        raise ValueError(f"{model} theta must have shape ({n},), got {t.shape}")
    return t


def _idx(p: int, j: int) -> int:
    """Row of pool ``p`` (0-based) in layer ``j`` (0-based) of a pool-major state vector."""
    return p * NLEV + j


def _power_law(pe: float) -> float:
    """Patankar power-law function A(Pe) = max(0, (1 - 0.1 |Pe|)^5) (§2.6)."""
    return max(0.0, (1.0 - 0.1 * abs(pe)) ** 5)


# ----------------------------------------------------------------------------------------
# §2.6 vertical transport
# ----------------------------------------------------------------------------------------

def interface_diffusivity(D_bio: float, D_cryo: float, altmax: float, altmax_lastyear: float,
                          nbedrock: int) -> np.ndarray:
    """Diffusivity ``D_j`` for j = 1..21 (returned 0-based, shape (21,)) of one month, §2.6.

    ``a* = max(altmax, altmax_lastyear)``; regimes: cryoturbation if ``0 < a* <= 2`` m,
    bioturbation if ``a* > 2`` m, none if ``a* <= 0``; then ``|D_j| < 1e-30 -> 1e-30``.
    In the cryoturbation taper, a 0/0 (only possible when ``zisoi(n_b+1) == a*`` exactly)
    is taken as 0, as MATLAB's ``max(NaN, 0)`` returns 0.
    """
    nb = int(round(float(nbedrock)))
    astar = max(float(altmax), float(altmax_lastyear))
    D = np.zeros(NLEV + 1)
    for j in range(1, NLEV + 2):  # 1-based interface index
        z = zisoi21[j - 1]
        if 0.0 < astar <= MAX_ALTDEPTH_CRYOTURBATION:
            if j <= nb + 1:
                if z < astar:
                    D[j - 1] = D_cryo
                else:
                    denom = min(MAX_DEPTH_CRYOTURB, zisoi21[nb + 1 - 1]) - astar
                    with np.errstate(divide="ignore", invalid="ignore"):
                        val = D_cryo * (1.0 - (z - astar) / np.float64(denom))
                    D[j - 1] = np.fmax(val, 0.0)
            else:
                D[j - 1] = 0.0
        elif astar > MAX_ALTDEPTH_CRYOTURBATION:
            D[j - 1] = D_bio if j <= nb + 1 else 0.0
        else:
            D[j - 1] = 0.0
    D[np.abs(D) < DIFFUSIVITY_FLOOR] = DIFFUSIVITY_FLOOR
    return D


def transport_operator_month(D_bio: float, D_cryo: float, altmax: float,
                             altmax_lastyear: float, nbedrock: int, *,
                             fix_bedrock_leak: bool = True) -> np.ndarray:
    """Monthly vertical-transport operator ``V = -T`` (20x20, yr-1) of one pool block, §2.6.

    ``dX/dt = ... + V X`` for a pool's 20 layer concentrations (gC m-3).

    Args:
        D_bio: bioturbation diffusivity, m2 yr-1 (CLM5 ``diffus`` / COMPAS ``bio``).
        D_cryo: cryoturbation diffusivity, m2 yr-1.
        altmax, altmax_lastyear: this month's ALTMAX and ALTMAX_LASTYEAR, m.
        nbedrock: this month's 1-based bedrock layer index ``n_b``.
        fix_bedrock_leak: if True (default) set ``dp_j = 0`` in the bottom/bedrock branch
            (``j >= n_b + 1``) so that layer ``n_b + 1`` does not leak carbon (our fix of
            quirk Q8); if False use the original ``dp_j = dm_j``.

    Literal steps: interface diffusivities (:func:`interface_diffusivity`), advective flux
    ``F_j = 1e-30`` (adv = 0), Patankar harmonic-mean conductances ``dm_j``/``dp_j`` with the
    j = 1, bedrock and interior branches, power-law ``A(Pe)``, coefficients ``a_j, b_j, c_j``,
    division by ``dz_j``, boundary overrides ``T(1,1) = -c_1/dz_1`` and
    ``T(20,20) = -a_20/dz_20``. The 1e-30 floors are applied in the units used here
    (m2 yr-1); they are negligible either way.
    """
    nb = int(round(float(nbedrock)))
    D = interface_diffusivity(float(D_bio), float(D_cryo), altmax, altmax_lastyear, nb)
    F = np.full(NLEV + 1, ADVECTIVE_FLUX)  # F_j, j = 1..21 (0-based storage)

    a = np.zeros(NLEV)
    b = np.zeros(NLEV)
    c = np.zeros(NLEV)
    for j in range(1, NLEV + 1):  # 1-based layer index
        if j == 1:
            dm = 0.0
            w_p = (zsoi21[2 - 1] - zisoi21[1 - 1]) / dz_node21[2 - 1]
            D_plus = 1.0 / ((1.0 - w_p) / D[1 - 1] + w_p / D[2 - 1])
            dp = D_plus / dz_node21[2 - 1]
            F_minus = F[1 - 1]
            F_plus = F[2 - 1]
            pe_minus = 0.0
            pe_plus = F_plus / dp
        elif j >= nb + 1:  # bottom / bedrock branch
            w_m = (zisoi21[j - 1 - 1] - zsoi21[j - 1 - 1]) / dz_node21[j - 1]
            D_minus = 1.0 / ((1.0 - w_m) / D[j - 1] + w_m / D[j - 1 - 1])
            dm = D_minus / dz_node21[j - 1]
            dp = 0.0 if fix_bedrock_leak else dm
            F_minus = F[j - 1]
            F_plus = 0.0
            pe_minus = F_minus / dm
            pe_plus = 0.0
        else:  # interior
            w_m = (zisoi21[j - 1 - 1] - zsoi21[j - 1 - 1]) / dz_node21[j - 1]
            D_minus = 1.0 / ((1.0 - w_m) / D[j - 1] + w_m / D[j - 1 - 1])
            dm = D_minus / dz_node21[j - 1]
            w_p = (zsoi21[j + 1 - 1] - zisoi21[j - 1]) / dz_node21[j + 1 - 1]
            if D[j - 1] > 0.0 and D[j + 1 - 1] > 0.0:
                D_plus = 1.0 / ((1.0 - w_p) / D[j - 1] + w_p / D[j + 1 - 1])
            else:  # arithmetic mean (never reached after the 1e-30 floor)
                D_plus = 0.5 * (D[j - 1] + D[j + 1 - 1])
            dp = D_plus / dz_node21[j + 1 - 1]
            F_minus = F[j - 1]
            F_plus = F[j + 1 - 1]
            pe_minus = F_minus / dm
            pe_plus = F_plus / dp
        a[j - 1] = -(dm * _power_law(pe_minus) + max(F_minus, 0.0))
        c[j - 1] = -(dp * _power_law(pe_plus) + max(-F_plus, 0.0))
        b[j - 1] = -a[j - 1] - c[j - 1]

    T = np.zeros((NLEV, NLEV))
    for j in range(NLEV):  # 0-based
        T[j, j] = b[j] / dz[j]
        if j < NLEV - 1:
            T[j, j + 1] = c[j] / dz[j]
        if j > 0:
            T[j, j - 1] = a[j] / dz[j]
    T[0, 0] = -c[0] / dz[0]  # no exchange with the atmosphere
    T[NLEV - 1, NLEV - 1] = -a[NLEV - 1] / dz[NLEV - 1]  # zero-flux bottom
    return -T


def transport_operator(D_bio: float, D_cryo: float, forcing: Any, *,
                       fix_bedrock_leak: bool = True) -> np.ndarray:
    """Mean over the 12 months of :func:`transport_operator_month` (20x20, yr-1), §2.6."""
    f = _site(forcing)
    ops = [transport_operator_month(D_bio, D_cryo, f["altmax"][m], f["altmax_lastyear"][m],
                                    f["nbedrock"][m], fix_bedrock_leak=fix_bedrock_leak)
           for m in range(12)]
    return np.mean(np.stack(ops), axis=0)


# ----------------------------------------------------------------------------------------
# §2.7 input profile
# ----------------------------------------------------------------------------------------

def input_profile(beta: float, altmax_lastyear: Any) -> np.ndarray:
    """Vertical input fractions ``f_j`` (20,), summing to 1, §2.7 (quirk Q9 kept).

    If **all** 12 ``altmax_lastyear`` values are > 0 (MATLAB ``if vector > 0``; a NaN month
    also fails the test): ``f_j = beta^(100 zisoi(j-1)) - beta^(100 zisoi(j))`` (depths in
    cm in the exponent, ``zisoi(0) = 0``), normalized to sum 1; otherwise ``f = (1, 0, ...)``.
    """
    alt = _f64(altmax_lastyear)
    f = np.zeros(NLEV)
    if np.all(alt > 0.0):
        for j in range(1, NLEV + 1):
            z_top = 0.0 if j == 1 else zisoi21[j - 1 - 1]
            f[j - 1] = beta ** (100.0 * z_top) - beta ** (100.0 * zisoi21[j - 1])
        f = f / np.sum(f)
    else:
        f[0] = 1.0
    return f


def _input_vector(beta: float, f: dict[str, np.ndarray], n_pools: int) -> np.ndarray:
    """``b`` with ``I(p, j) = I_p f_j / dz_j`` (gC m-3 yr-1) for CWD, L1, L2, L3; 0 elsewhere."""
    prof = input_profile(beta, f["altmax_lastyear"])
    streams = [f["input_cwd"], f["input_litr1"], f["input_litr2"], f["input_litr3"]]
    b = np.zeros(n_pools * NLEV)
    for p, I_p in enumerate(streams):
        for j in range(NLEV):
            b[_idx(p, j)] = float(I_p) * prof[j] / dz[j]
    return b


# ----------------------------------------------------------------------------------------
# §2 CLM5
# ----------------------------------------------------------------------------------------

def _monthly_xi(q10: float, w_scaling: float, f: dict[str, np.ndarray]):
    """Monthly (12, 20) xi_T, xi_W, xi_O, xi_N of §2.3."""
    xi_T = q10 ** ((f["tsoi"] - T_REF) / 10.0)
    xi_W = np.minimum(1.0, w_scaling * f["w_scalar"])
    xi_O = f["o_scalar"]
    xi_N = f["fpi_vr"]
    return xi_T, xi_W, xi_O, xi_N


def clm5_environmental_scalars(theta: Any, forcing: Any) -> tuple[np.ndarray, np.ndarray]:
    """CLM5 ``(xi, xi_with_N)``, each (20,), §2.3.

    ``xi_j = mean_m(xi_T xi_W xi_O)_j * exp(-zsoi_j/efolding)`` (CWD, S1-S3) and
    ``xi_with_N_j = mean_m(xi_T xi_W xi_O xi_N)_j * exp(-zsoi_j/efolding)`` (L1-L3):
    the mean over months of the monthly products.
    """
    t = _theta(theta, 21, "CLM5")
    f = _site(forcing)
    xi_T, xi_W, xi_O, xi_N = _monthly_xi(t[2], t[19], f)
    with np.errstate(divide="ignore"):
        depth = np.exp(-zsoi / t[3])
    xi = np.mean(xi_T * xi_W * xi_O, axis=0) * depth
    xi_n = np.mean(xi_T * xi_W * xi_O * xi_N, axis=0) * depth
    return xi, xi_n


def _clm5_rates_and_fractions(t: np.ndarray):
    """Baseline rates k_p (yr-1), respired fractions r_p, transfer list (receiver, donor, f)."""
    (bio, cryo, q10, efold, tau_cwd, tau_l1, tau_l2, tau_s1, tau_s2, tau_s3, fl1s1, fl2s1,
     fl3s2, fs1s2, fs1s3, fs2s1, fs2s3, fs3s1, fcwdl2, w_scaling, beta) = t
    tau = [tau_cwd, tau_l1, tau_l2, tau_l2, tau_s1, tau_s2, tau_s3]  # tau_L3 = tau_L2
    k = np.array([1.0 / x for x in tau])
    CWD, L1, L2, L3, S1, S2, S3 = range(7)
    transfers = [  # (receiver, donor, fraction), §2.5
        (L2, CWD, fcwdl2),
        (L3, CWD, 1.0 - fcwdl2),
        (S1, L1, fl1s1),
        (S1, L2, fl2s1),
        (S1, S2, fs2s1),
        (S1, S3, fs3s1),
        (S2, L3, fl3s2),
        (S2, S1, fs1s2),
        (S3, S1, fs1s3),
        (S3, S2, fs2s3),
    ]
    respired = np.array([0.0, 1.0 - fl1s1, 1.0 - fl2s1, 1.0 - fl3s2, 1.0 - fs1s2 - fs1s3,
                         1.0 - fs2s1 - fs2s3, 1.0 - fs3s1])
    return k, respired, transfers


def _clm5_decomposition_rates(t: np.ndarray, forcing: Any) -> np.ndarray:
    """Effective decomposition rate (7, 20) in yr-1: ``k_p xi_{p,j}`` (diag of K), §2.3-2.4."""
    k, _, _ = _clm5_rates_and_fractions(t)
    xi, xi_n = clm5_environmental_scalars(t, forcing)
    rates = np.zeros((7, NLEV))
    for p in range(7):
        rates[p] = k[p] * (xi_n if p in (1, 2, 3) else xi)
    return rates


def clm5_system(theta: Any, forcing: Any, *,
                fix_bedrock_leak: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Dense CLM5 system ``dX/dt = b + M X`` (§2.1-2.7), time unit years.

    ``M = A K + V`` (140x140): ``A`` the transfer matrix (diagonal -1, same-layer transfer
    fractions of §2.5), ``K = diag(k_p xi_{p,j})`` with ``k_p = 1/tau_p`` and the monthly-
    averaged environmental scalars (``xi_N`` on L1-L3 only), ``V`` block-diagonal with the
    12-month mean transport operator on L1..S3 and a zero CWD block. ``b`` (140,) holds
    ``I_p f_j / dz_j`` (gC m-3 yr-1) for CWD, L1, L2, L3.
    """
    t = _theta(theta, 21, "CLM5")
    f = _site(forcing)
    n = 7 * NLEV
    _, _, transfers = _clm5_rates_and_fractions(t)
    rates = _clm5_decomposition_rates(t, forcing)

    A = -np.eye(n)
    for receiver, donor, frac in transfers:
        for j in range(NLEV):
            A[_idx(receiver, j), _idx(donor, j)] = frac
    K = np.zeros((n, n))
    for p in range(7):
        for j in range(NLEV):
            K[_idx(p, j), _idx(p, j)] = rates[p, j]

    Vp = transport_operator(t[0], t[1], forcing, fix_bedrock_leak=fix_bedrock_leak)
    V = np.zeros((n, n))
    for p in range(1, 7):  # L1..S3 transported, CWD not
        V[p * NLEV:(p + 1) * NLEV, p * NLEV:(p + 1) * NLEV] = Vp

    M = A @ K + V
    b = _input_vector(t[20], f, 7)
    return M, b


def clm5_respiration(theta: Any, forcing: Any, pools: np.ndarray) -> np.ndarray:
    """Heterotrophic respiration per pool and layer (7, 20), gC m-2 yr-1.

    ``r_p * k_p xi_{p,j} * X_{p,j} * dz_j`` with the respired fractions of §2.5.
    """
    t = _theta(theta, 21, "CLM5")
    _, respired, _ = _clm5_rates_and_fractions(t)
    rates = _clm5_decomposition_rates(t, forcing)
    return respired[:, None] * rates * _f64(pools) * dz[None, :]


def clm5_dense_steady_state(theta: Any, forcing: Any, *,
                            fix_bedrock_leak: bool = True) -> dict[str, Any]:
    """CLM5 steady state by a dense solve ``X* = solve(M, -b)`` (§2.8; no clipping).

    Returns a dict: ``pools`` (7, 20) gC m-3 in :data:`CLM5_POOLS` order, ``soc`` (20,) =
    S1+S2+S3, ``stock`` = sum(soc dz) gC m-2, ``respiration`` column total (gC m-2 yr-1,
    from the fluxes), ``total_input`` gC m-2 yr-1, ``M``, ``b``.
    """
    M, b = clm5_system(theta, forcing, fix_bedrock_leak=fix_bedrock_leak)
    x = np.linalg.solve(M, -b)
    pools = x.reshape(7, NLEV)
    soc = pools[4] + pools[5] + pools[6]
    f = _site(forcing)
    return {
        "pools": pools,
        "soc": soc,
        "stock": float(np.sum(soc * dz)),
        "respiration": float(np.sum(clm5_respiration(theta, forcing, pools))),
        "total_input": float(f["input_cwd"] + f["input_litr1"] + f["input_litr2"]
                             + f["input_litr3"]),
        "M": M,
        "b": b,
    }


# ----------------------------------------------------------------------------------------
# §3 COMPAS
# ----------------------------------------------------------------------------------------

def compas_environmental_scalars(theta: Any, forcing: Any) -> tuple[np.ndarray, np.ndarray]:
    """COMPAS ``(xi, xi_with_N)``, each (20,), §3.3 with our deliberate Q14 choice.

    ``xi_j = mean_m(xi_T xi_W xi_O)_j * exp(-zsoi_j/0.5)`` (CWD and all soil pools, and
    inside the Michaelis constants) and ``xi_with_N_j = mean_m(xi_T xi_W xi_O xi_N)_j *
    exp(-zsoi_j/0.5)`` (litter L1-L3): means over months of monthly products.
    """
    t = _theta(theta, 23, "COMPAS")
    f = _site(forcing)
    xi_T, xi_W, xi_O, xi_N = _monthly_xi(t[2], t[3], f)
    depth = np.exp(-zsoi / COMPAS_EFOLDING)
    xi = np.mean(xi_T * xi_W * xi_O, axis=0) * depth
    xi_n = np.mean(xi_T * xi_W * xi_O * xi_N, axis=0) * depth
    return xi, xi_n


def _compas_named(t: np.ndarray) -> dict[str, float]:
    names = ("bio", "cryo", "q10", "w_scaling", "tau4cwd", "tau4l1", "tau4l2", "tau4s1",
             "tau4s2_death", "tau4s2_enz", "tau4s3", "tau4s4", "mm_const_assim",
             "mm_const_decom", "fcwdl2", "pl1s1", "pl2s1", "pl3s4", "l1_cue", "l2l3_cue",
             "mic_cue", "pdeath2soc", "beta")
    return {k: float(v) for k, v in zip(names, t, strict=True)}


def _compas_litter_rates(t: np.ndarray, forcing: Any) -> np.ndarray:
    """Litter decomposition rates K_l (4, 20) yr-1 for CWD, L1, L2, L3 (§3.4)."""
    P = _compas_named(t)
    xi, xi_n = compas_environmental_scalars(t, forcing)
    return np.stack([
        xi / P["tau4cwd"],
        xi_n / P["tau4l1"],
        xi_n / P["tau4l2"],
        xi_n / P["tau4l2"],  # tau4l3 = tau4l2
    ])


def compas_litter_system(theta: Any, forcing: Any, *,
                         fix_bedrock_leak: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Dense COMPAS litter system ``dL/dt = b + M L`` (80x80, yr-1), §3.4.

    ``M = A_lit K_lit + V``: ``A_lit = -I`` plus (L2 <- CWD) = fcwdl2, (L3 <- CWD) =
    1 - fcwdl2 in every layer; ``K_lit`` the litter rates (``xi_N`` on L1-L3); ``V`` the
    12-month mean transport operator (diffusivities ``bio``, ``cryo``) on L1, L2, L3 only.
    ``b`` = ``I_p f_j / dz_j`` for the four streams.
    """
    t = _theta(theta, 23, "COMPAS")
    P = _compas_named(t)
    f = _site(forcing)
    n = 4 * NLEV
    rates = _compas_litter_rates(t, forcing)
    A = -np.eye(n)
    for j in range(NLEV):
        A[_idx(2, j), _idx(0, j)] = P["fcwdl2"]
        A[_idx(3, j), _idx(0, j)] = 1.0 - P["fcwdl2"]
    K = np.zeros((n, n))
    for p in range(4):
        for j in range(NLEV):
            K[_idx(p, j), _idx(p, j)] = rates[p, j]
    Vp = transport_operator(P["bio"], P["cryo"], forcing, fix_bedrock_leak=fix_bedrock_leak)
    V = np.zeros((n, n))
    for p in range(1, 4):
        V[p * NLEV:(p + 1) * NLEV, p * NLEV:(p + 1) * NLEV] = Vp
    M = A @ K + V
    b = _input_vector(P["beta"], f, 4)
    return M, b


def compas_soil_inputs(theta: Any, forcing: Any, litter: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Litter-derived inputs to the soil pools, (I_DOC, I_MIC, I_SOC) each (20,), §3.5.

    gC m-3 yr-1, from litter concentrations ``litter`` (4, 20) = [CWD, L1, L2, L3].
    """
    t = _theta(theta, 23, "COMPAS")
    return _soil_inputs_from_rates(t, _compas_litter_rates(t, forcing), _f64(litter))


def _compas_soil_rates(t: np.ndarray) -> dict[str, float]:
    """Soil-pool baseline rates (yr-1) and constants, §3.6 with the Q1 fix."""
    P = _compas_named(t)
    return {
        "k_up": 1.0 / P["tau4s1"],
        "k_dth": 1.0 / P["tau4s2_death"],
        "k_enz": 1.0 / P["tau4s2_enz"],
        "k_e": 1.0 / P["tau4s3"],  # Q1 fix: tau_s3 = theta[10]
        "k_dec": 1.0 / P["tau4s4"],
        "cue": P["mic_cue"],
        "p": P["pdeath2soc"],
        "K_a": P["mm_const_assim"],
        "K_d": P["mm_const_decom"],
    }


def compas_soil_closed_form(theta: Any, xi: np.ndarray, I_DOC: np.ndarray,
                            I_MIC: np.ndarray, I_SOC: np.ndarray) -> np.ndarray:
    """Closed-form soil steady state (4, 20) = [DOC, MIC, ENZ, SOC], derived from §3.6.

    Derivation (per layer, ``kk = (k_dth + k_enz) xi``):

    * Summing the four soil ODEs: ``I_DOC + I_MIC + I_SOC = (1 - CUE) F_up``, so
      ``F_up = I_tot / (1 - CUE)``.
    * MIC equation: ``kk MIC = I_MIC + CUE F_up``.
    * ENZ equation: ``ENZ = k_enz MIC / k_e``.
    * SOC equation: ``F_dec = I_SOC + p k_dth xi MIC =: R``; inverting the Michaelis-Menten
      form ``k_dec xi ENZ SOC / (K_d xi + SOC) = R`` gives
      ``SOC = R K_d xi / (k_dec xi ENZ - R)``.
    * Uptake: ``k_up xi MIC DOC / (K_a xi + DOC) = F_up`` gives
      ``DOC = F_up K_a xi / (k_up xi MIC - F_up)``.

    No clipping: infeasible layers give negative/infinite values.
    """
    t = _theta(theta, 23, "COMPAS")
    r = _compas_soil_rates(t)
    xi = _f64(xi)
    I_tot = I_DOC + I_MIC + I_SOC
    F_up = I_tot / (1.0 - r["cue"])
    with np.errstate(divide="ignore", invalid="ignore"):
        MIC = (I_MIC + r["cue"] * F_up) / ((r["k_dth"] + r["k_enz"]) * xi)
        ENZ = r["k_enz"] * MIC / r["k_e"]
        R = I_SOC + r["p"] * r["k_dth"] * xi * MIC
        SOC = R * r["K_d"] * xi / (r["k_dec"] * xi * ENZ - R)
        DOC = F_up * r["K_a"] * xi / (r["k_up"] * xi * MIC - F_up)
    return np.stack([DOC, MIC, ENZ, SOC])


def _compas_soil_fluxes(r: dict[str, float], xi: np.ndarray, DOC, MIC, ENZ, SOC):
    F_up = r["k_up"] * xi * MIC * DOC / (r["K_a"] * xi + DOC)
    F_dec = r["k_dec"] * xi * ENZ * SOC / (r["K_d"] * xi + SOC)
    return F_up, F_dec


def compas_rhs(t_: float, y: np.ndarray, theta: Any, forcing: Any, *,
               fix_bedrock_leak: bool = True, _cache: dict | None = None) -> np.ndarray:
    """Full nonlinear COMPAS right-hand side dy/dt (160,), gC m-3 yr-1, §3.4-3.6.

    ``y`` pool-major over [CWD, L1, L2, L3, DOC, MIC, ENZ, SOC]. Litter: ``b + M L``
    (:func:`compas_litter_system`). Soil (per layer, no transport)::

        F_up  = k_up xi MIC DOC / (K_a xi + DOC)
        F_dec = k_dec xi ENZ SOC / (K_d xi + SOC)
        dDOC = I_DOC + (1-p) k_dth xi MIC + k_e xi ENZ + F_dec - F_up
        dMIC = I_MIC + CUE F_up - (k_dth + k_enz) xi MIC
        dENZ = k_enz xi MIC - k_e xi ENZ
        dSOC = I_SOC + p k_dth xi MIC - F_dec

    with ``I_*`` from the current litter state (:func:`compas_soil_inputs`). ``t_`` is
    unused (autonomous system; present for ``solve_ivp``). ``_cache`` (internal) may hold
    precomputed ``M``, ``b``, ``xi`` for speed in time integration.
    """
    th = _theta(theta, 23, "COMPAS")
    if _cache is None:
        _cache = _compas_precompute(th, forcing, fix_bedrock_leak)
    M, b, xi, r = _cache["M"], _cache["b"], _cache["xi"], _cache["r"]
    y = _f64(y)
    L = y[:4 * NLEV]
    DOC, MIC, ENZ, SOC = y[4 * NLEV:].reshape(4, NLEV)
    dL = b + M @ L
    I_DOC, I_MIC, I_SOC = _soil_inputs_from_rates(th, _cache["K_l"], L)
    F_up, F_dec = _compas_soil_fluxes(r, xi, DOC, MIC, ENZ, SOC)
    dDOC = I_DOC + (1.0 - r["p"]) * r["k_dth"] * xi * MIC + r["k_e"] * xi * ENZ + F_dec - F_up
    dMIC = I_MIC + r["cue"] * F_up - (r["k_dth"] + r["k_enz"]) * xi * MIC
    dENZ = r["k_enz"] * xi * MIC - r["k_e"] * xi * ENZ
    dSOC = I_SOC + r["p"] * r["k_dth"] * xi * MIC - F_dec
    return np.concatenate([dL, dDOC, dMIC, dENZ, dSOC])


def _soil_inputs_from_rates(t: np.ndarray, K_l: np.ndarray, L: np.ndarray):
    """§3.5 with precomputed litter rates ``K_l`` (4, 20); ``L`` litter (80,) or (4, 20)."""
    P = _compas_named(t)
    flux = K_l * L.reshape(4, NLEV)  # litter decomposition fluxes, gC m-3 yr-1
    l3_cue = P["l2l3_cue"]  # l3_cue = l2_cue
    I_SOC = flux[3] * P["pl3s4"]
    I_DOC = flux[1] * P["pl1s1"] + flux[2] * P["pl2s1"]
    I_MIC = (flux[1] * (1.0 - P["pl1s1"]) * P["l1_cue"]
             + flux[2] * (1.0 - P["pl2s1"]) * P["l2l3_cue"]
             + flux[3] * (1.0 - P["pl3s4"]) * l3_cue)
    return I_DOC, I_MIC, I_SOC


def _compas_precompute(t: np.ndarray, forcing: Any, fix_bedrock_leak: bool) -> dict:
    M, b = compas_litter_system(t, forcing, fix_bedrock_leak=fix_bedrock_leak)
    xi, _ = compas_environmental_scalars(t, forcing)
    return {"M": M, "b": b, "xi": xi, "r": _compas_soil_rates(t),
            "K_l": _compas_litter_rates(t, forcing)}


def compas_jacobian(t_: float, y: np.ndarray, theta: Any, forcing: Any, *,
                    fix_bedrock_leak: bool = True, _cache: dict | None = None) -> np.ndarray:
    """Analytic Jacobian d(compas_rhs)/dy (160x160), dense.

    Litter block = ``M``; soil rows depend on the litter of the same layer through
    ``I_DOC, I_MIC, I_SOC`` (linear) and on the same layer's soil pools through the
    Michaelis-Menten fluxes.
    """
    th = _theta(theta, 23, "COMPAS")
    if _cache is None:
        _cache = _compas_precompute(th, forcing, fix_bedrock_leak)
    P = _compas_named(th)
    M, xi, r, K_l = _cache["M"], _cache["xi"], _cache["r"], _cache["K_l"]
    y = _f64(y)
    DOC, MIC, ENZ, SOC = y[4 * NLEV:].reshape(4, NLEV)
    n = 8 * NLEV
    J = np.zeros((n, n))
    J[:4 * NLEV, :4 * NLEV] = M
    iDOC, iMIC, iENZ, iSOC = 4, 5, 6, 7
    # d I_* / d L_p (per layer): coefficients times K_l[p, j]
    dI_DOC = np.stack([np.zeros(NLEV), P["pl1s1"] * K_l[1], P["pl2s1"] * K_l[2],
                       np.zeros(NLEV)])
    dI_MIC = np.stack([np.zeros(NLEV), (1 - P["pl1s1"]) * P["l1_cue"] * K_l[1],
                       (1 - P["pl2s1"]) * P["l2l3_cue"] * K_l[2],
                       (1 - P["pl3s4"]) * P["l2l3_cue"] * K_l[3]])
    dI_SOC = np.stack([np.zeros(NLEV), np.zeros(NLEV), np.zeros(NLEV), P["pl3s4"] * K_l[3]])
    Ka, Kd = r["K_a"] * xi, r["K_d"] * xi
    dFup_dDOC = r["k_up"] * xi * MIC * Ka / (Ka + DOC) ** 2
    dFup_dMIC = r["k_up"] * xi * DOC / (Ka + DOC)
    dFdec_dSOC = r["k_dec"] * xi * ENZ * Kd / (Kd + SOC) ** 2
    dFdec_dENZ = r["k_dec"] * xi * SOC / (Kd + SOC)
    kk = (r["k_dth"] + r["k_enz"]) * xi
    for j in range(NLEV):
        d, m, e, s = (_idx(iDOC, j), _idx(iMIC, j), _idx(iENZ, j), _idx(iSOC, j))
        for p in range(4):
            J[d, _idx(p, j)] += dI_DOC[p, j]
            J[m, _idx(p, j)] += dI_MIC[p, j]
            J[s, _idx(p, j)] += dI_SOC[p, j]
        # dDOC
        J[d, d] += -dFup_dDOC[j]
        J[d, m] += (1 - r["p"]) * r["k_dth"] * xi[j] - dFup_dMIC[j]
        J[d, e] += r["k_e"] * xi[j] + dFdec_dENZ[j]
        J[d, s] += dFdec_dSOC[j]
        # dMIC
        J[m, d] += r["cue"] * dFup_dDOC[j]
        J[m, m] += r["cue"] * dFup_dMIC[j] - kk[j]
        # dENZ
        J[e, m] += r["k_enz"] * xi[j]
        J[e, e] += -r["k_e"] * xi[j]
        # dSOC
        J[s, m] += r["p"] * r["k_dth"] * xi[j]
        J[s, e] += -dFdec_dENZ[j]
        J[s, s] += -dFdec_dSOC[j]
    return J


def compas_ode(theta: Any, forcing: Any, *, fix_bedrock_leak: bool = True
               ) -> tuple[Callable[[float, np.ndarray], np.ndarray],
                          Callable[[float, np.ndarray], np.ndarray]]:
    """``(rhs, jac)`` closures ``f(t, y)`` of :func:`compas_rhs` / :func:`compas_jacobian`.

    The litter matrix, inputs and scalars are built once, so repeated evaluations (time
    integration, finite differences) are cheap.
    """
    th = _theta(theta, 23, "COMPAS")
    cache = _compas_precompute(th, forcing, fix_bedrock_leak)

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        return compas_rhs(t, y, th, forcing, _cache=cache)

    def jac(t: float, y: np.ndarray) -> np.ndarray:
        return compas_jacobian(t, y, th, forcing, _cache=cache)

    return rhs, jac


def compas_respiration(theta: Any, forcing: Any, pools: np.ndarray) -> dict[str, np.ndarray]:
    """COMPAS respiration per layer (gC m-2 yr-1), from the fluxes, §3.2, §3.5, §3.6.

    Returns ``{"litter": (20,), "soil": (20,)}``: litter->MIC paths respire
    ``K_l L (1-p)(1-cue)`` (L1: pl1s1, l1_cue; L2: pl2s1, l2l3_cue; L3: pl3s4, l2l3_cue; CWD
    does not respire), DOC uptake respires ``(1 - CUE) F_up``; both times ``dz``.
    """
    t = _theta(theta, 23, "COMPAS")
    P = _compas_named(t)
    r = _compas_soil_rates(t)
    xi, _ = compas_environmental_scalars(t, forcing)
    K_l = _compas_litter_rates(t, forcing)
    X = _f64(pools).reshape(8, NLEV)
    flux = K_l * X[:4]
    litter = (flux[1] * (1 - P["pl1s1"]) * (1 - P["l1_cue"])
              + flux[2] * (1 - P["pl2s1"]) * (1 - P["l2l3_cue"])
              + flux[3] * (1 - P["pl3s4"]) * (1 - P["l2l3_cue"])) * dz
    F_up, _ = _compas_soil_fluxes(r, xi, X[4], X[5], X[6], X[7])
    soil = (1 - r["cue"]) * F_up * dz
    return {"litter": litter, "soil": soil}


def compas_dense_steady_state(theta: Any, forcing: Any, *,
                              fix_bedrock_leak: bool = True) -> dict[str, Any]:
    """COMPAS steady state: dense litter solve + closed-form soil pools (§3.4-3.7).

    Returns a dict: ``pools`` (8, 20) gC m-3 in :data:`COMPAS_POOLS` order (litter not
    clipped), ``soc`` (20,) = DOC+MIC+ENZ+SOC, ``stock`` = sum(soc dz) gC m-2,
    ``stock_pools`` (4,) per-soil-pool stocks, ``respiration`` column total
    (gC m-2 yr-1, from the fluxes), ``respiration_litter``, ``respiration_soil``,
    ``total_input``, ``feasible`` (all 160 pools finite and >= 0 and total soil C stock /
    MIC stock >= 10, the §3.7 rule), ``M``, ``b`` (litter system).
    """
    t = _theta(theta, 23, "COMPAS")
    f = _site(forcing)
    M, b = compas_litter_system(t, forcing, fix_bedrock_leak=fix_bedrock_leak)
    litter = np.linalg.solve(M, -b).reshape(4, NLEV)
    xi, _ = compas_environmental_scalars(t, forcing)
    I_DOC, I_MIC, I_SOC = compas_soil_inputs(t, forcing, litter)
    soil = compas_soil_closed_form(t, xi, I_DOC, I_MIC, I_SOC)
    pools = np.concatenate([litter, soil])
    soc = soil.sum(axis=0)
    stock_pools = soil @ dz
    stock = float(np.sum(soc * dz))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = stock / stock_pools[1]
    feasible = bool(np.all(np.isfinite(pools)) and np.all(pools >= 0.0)
                    and np.isfinite(ratio) and ratio >= 10.0)
    with np.errstate(invalid="ignore", over="ignore"):
        resp = compas_respiration(t, forcing, pools)
    return {
        "pools": pools,
        "soc": soc,
        "stock": stock,
        "stock_pools": stock_pools,
        "respiration": float(np.sum(resp["litter"]) + np.sum(resp["soil"])),
        "respiration_litter": float(np.sum(resp["litter"])),
        "respiration_soil": float(np.sum(resp["soil"])),
        "total_input": float(f["input_cwd"] + f["input_litr1"] + f["input_litr2"]
                             + f["input_litr3"]),
        "feasible": feasible,
        "M": M,
        "b": b,
    }


# ----------------------------------------------------------------------------------------
# forward integration
# ----------------------------------------------------------------------------------------

def integrate_to_steady_state(rhs: Callable[[float, np.ndarray], np.ndarray], y0: Any,
                              t_end_years: float, *, jac: Any = None, method: str = "BDF",
                              rtol: float = 1e-8, atol: float | np.ndarray = 1e-10,
                              first_step: float | None = None, **kwargs: Any) -> np.ndarray:
    """Integrate ``dy/dt = rhs(t, y)`` from ``t = 0`` to ``t_end_years``; return ``y(t_end)``.

    A thin wrapper of :func:`scipy.integrate.solve_ivp` (stiff ``BDF`` by default, tight
    tolerances). ``rtol`` much below 1e-8 is counter-productive: near steady state ``rhs``
    is a cancellation of terms ~1e7 times larger than its value, and BDF then rejects steps
    on round-off noise (e.g. 6 s instead of 0.2 s for a CLM5 permafrost column).
    ``jac`` is passed through (a matrix for linear systems or a callable).
    Raises ``RuntimeError`` if the integrator fails. Extra keyword arguments go to
    ``solve_ivp``.
    """
    y0 = _f64(y0)
    opts = dict(method=method, rtol=rtol, atol=atol, dense_output=False)
    if jac is not None and method in ("BDF", "Radau", "LSODA"):
        opts["jac"] = jac
    if first_step is not None:
        opts["first_step"] = first_step
    opts.update(kwargs)
    sol = scipy.integrate.solve_ivp(rhs, (0.0, float(t_end_years)), y0, t_eval=None, **opts)
    if not sol.success:
        raise RuntimeError(f"forward integration failed: {sol.message}")
    return sol.y[:, -1].copy()


def clm5_forward(theta: Any, forcing: Any, years: float, y0: Any = None, *,
                 fix_bedrock_leak: bool = True, rtol: float = 1e-8,
                 atol: float = 1e-10) -> np.ndarray:
    """Integrate CLM5 (``dX/dt = b + M X``) for ``years`` from ``y0`` (default zero).

    Uses BDF with the exact Jacobian ``M``. Returns the final pools (7, 20), gC m-3.
    Slow modes (S3 and transport in deep layers with a small depth scalar) need very long
    times (1e6-1e9 yr) to equilibrate; BDF step sizes grow accordingly, so this is cheap.
    """
    M, b = clm5_system(theta, forcing, fix_bedrock_leak=fix_bedrock_leak)
    y0 = np.zeros(7 * NLEV) if y0 is None else _f64(y0).reshape(-1)
    y = integrate_to_steady_state(lambda t, x: b + M @ x, y0, years, jac=M, rtol=rtol,
                                  atol=atol)
    return y.reshape(7, NLEV)


def compas_forward(theta: Any, forcing: Any, years: float, y0: Any = None, *,
                   fix_bedrock_leak: bool = True, rtol: float = 1e-8,
                   atol: float | np.ndarray = 1e-10) -> np.ndarray:
    """Integrate the full nonlinear COMPAS ODE (:func:`compas_rhs`) for ``years``.

    ``y0`` (160,) or (8, 20); default: zero litter and soil pools at 1 gC m-3 (a positive
    start, since uptake and decomposition are proportional to MIC and ENZ). Uses BDF with
    the analytic :func:`compas_jacobian`. Returns the final pools (8, 20), gC m-3.

    Caveat: below ~1 m the enzyme pool is tiny (its input decays with the litter profile),
    so SOC relaxes there on time scales > 1e12 yr; only the upper layers can be expected to
    reach the closed-form steady state by forward integration. Pass a per-component
    ``atol`` (e.g. ``1e-8 * |y_ref|``) to resolve pools far below 1e-10 gC m-3.
    """
    rhs, jac = compas_ode(theta, forcing, fix_bedrock_leak=fix_bedrock_leak)
    if y0 is None:
        y0 = np.concatenate([np.zeros(4 * NLEV), np.ones(4 * NLEV)])
    y0 = _f64(y0).reshape(-1)
    y = integrate_to_steady_state(rhs, y0, years, jac=jac, rtol=rtol, atol=atol)
    return y.reshape(8, NLEV)
