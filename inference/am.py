"""Adaptive Metropolis (Haario, Saksman & Tamminen 2001) as pure functions.

A BlackJAX-style functional core: :func:`init` builds an :class:`AMState` for one chain,
:func:`build_kernel` captures the static choices (scaling rule, regularisation, adaptation
window, two-phase schedule, acceptance rule) in a closure and returns

``kernel(rng_key, state, logdensity_fn, iteration) -> (AMState, AMInfo)``

for a single chain and a single step. Everything is written so that ``jax.vmap`` over
chains (and sites) and ``jax.lax.scan`` over iterations work inside one ``jit``: the
schedule is a function of the step index ``iteration`` (0-based), which the caller passes
explicitly. When ``iteration`` is not batched (the runner passes one index for the whole
batch) every schedule branch is a real ``lax.cond``, so the Cholesky refresh is paid only
when it happens.

The proposal
------------
Gaussian random walk ``x' = x + L z``, ``z ~ N(0, I)``, with ``L L^T = C_t``:

.. math::

    C_t = \\begin{cases} C_0 & t < t_0 \\\\
          s_d\\,\\widehat{\\Sigma}_t + s_d\\,\\varepsilon\\, I_d & t \\ge t_0 \\end{cases}
    \\qquad s_d = 2.38^2 / d,

where :math:`\\widehat{\\Sigma}_t` is the covariance of the chain's own history (Welford,
updated every iteration, including repeated states), :math:`t_0` is ``adapt_start`` and
:math:`\\varepsilon > 0` (``regularization``) keeps :math:`C_t` positive definite. The
factor :math:`2.38^2/d` is optimal for Gaussian targets (Gelman, Roberts & Gilks 1996) and
is the value Haario et al. recommend; the authors' PRODA code uses :math:`2.4/d`
(``PRODA_SCALING``), a covariance about 2.4 times smaller for d = 21
(``docs/original_code.md`` section 5, Q4). ``L`` is refreshed every ``adapt_every`` iterations
from the current estimate; the statistics themselves are updated every iteration.

Adaptation stops at ``adapt_until`` (the end of warm-up): from then on the proposal is
fixed and the kept draws form a time-homogeneous, reversible Markov chain with the target
as its stationary distribution. (Adaptation that never stops is still ergodic for Haario's
scheme, but its kept draws are not a Markov chain and standard R-hat/ESS theory does not
apply; PRODA never stopped it.)

Two-phase schedule
------------------
With ``num_test_steps > 0`` the first ``num_test_steps`` iterations use independent
uniform steps ``x' = x + U(-h, h)^d`` (``h = test_step_size``; PRODA's "test run" used
h = 0.1 in the unit cube). At iteration ``num_test_steps`` the proposal becomes Gaussian
with ``C_0 = s_d cov(test-run states) + s_d eps I`` and the statistics restart, so later
covariances come from the formal run only, as in PRODA.

Acceptance
----------
``acceptance="metropolis"``: accept with probability ``min(1, pi(x')/pi(x))``; proposals
with a non-finite log density are never accepted. ``acceptance="annealed"`` reproduces
PRODA's rule ``min(1, exp(ln(n + 2) * (log pi(x') - log pi(x))))`` with ``n`` the 1-based
iteration number within the current phase: a target that sharpens with ``n``. It is a
replication aid only; the chain then does not have ``pi`` as its stationary distribution.

References:
    Haario, H., Saksman, E. & Tamminen, J. (2001). An adaptive Metropolis algorithm.
    Bernoulli 7(2), 223-242. https://doi.org/10.2307/3318737

    Andrieu, C. & Thoms, J. (2008). A tutorial on adaptive MCMC. Statistics and Computing 18,
    343-373. https://doi.org/10.1007/s11222-008-9110-y

    Gelman, A., Roberts, G. O. & Gilks, W. R. (1996). Efficient Metropolis jumping rules.
    Bayesian Statistics 5, 599-607.

    Tao, F. et al. (2024). Convergence in simulating global soil organic carbon by structurally
    different models after data assimilation. Global Change Biology 30, e17297.
    https://doi.org/10.1111/gcb.17297
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random

from inference.welford import WelfordState, welford_covariance, welford_init, welford_update

__all__ = ["AMState", "AMInfo", "SamplingAlgorithm", "HAARIO_SCALING", "PRODA_SCALING",
           "scaling_factor", "init", "proposal_cholesky", "build_kernel", "as_top_level_api",
           "symmetric_normal"]

HAARIO_SCALING = 2.38**2
"""Numerator of Haario's s_d = 2.38^2 / d (Gelman, Roberts & Gilks 1996)."""

PRODA_SCALING = 2.4
"""Numerator the authors' code uses (``sd_controling_factor = 2.4``, s = 2.4 / d)."""

ACCEPTANCE_RULES = ("metropolis", "annealed")


class AMState(NamedTuple):
    """State of one adaptive-Metropolis chain (what the next step needs).

    Attributes:
        position (Array, (d,)): Current point in the sampler's space.
        logdensity (Array, ()): Log target density at ``position`` (finite).
        aux (pytree):
            Auxiliary output of ``logdensity_fn`` at ``position`` (``()`` unless ``has_aux``);
            lets a caller store predictions without re-evaluating the model.
        proposal_cholesky (Array, (d, d)):
            Lower Cholesky factor of the current Gaussian proposal covariance.
        statistics (WelfordState):
            Running mean/covariance of the chain's history since the last reset.
        num_accepted (Array, () int): Number of accepted proposals so far.
        log_scale (Array, ()):
            Log of the global proposal scale factor lambda (0 unless ``target_acceptance``
            is set): the Gaussian step is ``exp(log_scale) * L z``.
    """

    position: jnp.ndarray
    logdensity: jnp.ndarray
    aux: Any
    proposal_cholesky: jnp.ndarray
    statistics: WelfordState
    num_accepted: jnp.ndarray
    log_scale: jnp.ndarray


class AMInfo(NamedTuple):
    """Diagnostics of one step (not needed by the next step).

    Attributes:
        acceptance_probability (Array, ()): ``min(1, exp(log acceptance ratio))`` of the proposal.
        is_accepted: Array, () bool
        proposal_logdensity (Array, ()):
            Log density at the proposal (``-inf`` if non-finite or infeasible).
        proposal_aux (pytree):
            Auxiliary output of ``logdensity_fn`` at the proposal (``()`` unless ``has_aux``).
    """

    acceptance_probability: jnp.ndarray
    is_accepted: jnp.ndarray
    proposal_logdensity: jnp.ndarray
    proposal_aux: Any = ()


class SamplingAlgorithm(NamedTuple):
    """An ``(init, step)`` pair, as returned by :func:`as_top_level_api`."""

    init: Callable[..., AMState]
    step: Callable[..., tuple[AMState, AMInfo]]


def scaling_factor(scaling: str | float, dim: int) -> float:
    """The proposal scale s_d for ``dim`` dimensions.

    ``"haario"``: 2.38^2/d; ``"proda"``: 2.4/d (the authors' code); a float: used as is.
    """
    if isinstance(scaling, str):
        if scaling == "haario":
            return HAARIO_SCALING / dim
        if scaling == "proda":
            return PRODA_SCALING / dim
        raise ValueError(f"unknown scaling '{scaling}'; use 'haario', 'proda' or a number")
    value = float(scaling)
    if not value > 0:
        raise ValueError(f"scaling must be positive, got {scaling}")
    return value


def symmetric_normal(key, d: int, dtype=jnp.float64) -> jnp.ndarray:
    """(d,) standard normal draws for the random-walk increment, exactly symmetric.

    Each coordinate takes one 32-bit word: 23 bits give a uniform on the midpoints
    ``(m + 1/2) 2^-23`` of (0, 1), mapped to ``|z| = sqrt(2) erfinv(u)`` in float32, and the
    top bit its sign. So ``z`` and ``-z`` are exactly equally likely (the Metropolis ratio
    needs ``q(y | x) = q(x | y)``; ``random.normal`` is symmetric only up to the rounding of
    its uniform grid), and the float32 ``erfinv`` costs about 0.6x float64's: random-number
    generation is most of the kernel's own time (``benchmarks/cost.py --part share``).
    The increments are normal to float32 resolution with tails cut at 5.3 sd per
    coordinate (``tests/test_inference_am.py`` checks the distribution); any symmetric increment
    gives a valid random-walk Metropolis chain.
    """
    bits = random.bits(key, (d,), jnp.uint32)
    u = ((bits & 0x7FFFFF).astype(jnp.float32) + 0.5) * jnp.float32(2.0 ** -23)
    half = (jnp.float32(np.sqrt(2.0)) * lax.erf_inv(u)).astype(dtype)
    return jnp.where((bits >> 31) == 1, -half, half)


def _evaluate(logdensity_fn: Callable, x: jnp.ndarray, has_aux: bool):
    out = logdensity_fn(x)
    lp, aux = out if has_aux else (out, ())
    lp = jnp.asarray(lp)
    # NaN, +inf (a bug in the density) and -inf are all "never accept".
    lp = jnp.where(jnp.isfinite(lp), lp, -jnp.inf)
    return lp, aux


def proposal_cholesky(covariance: jnp.ndarray, *, scale: float,
                      regularization: float) -> jnp.ndarray:
    """Cholesky factor of ``scale * (covariance + regularization * I)``.

    Contains NaN if the matrix is not positive definite (e.g. ``regularization = 0`` and a
    chain that never moved); :func:`build_kernel` then keeps the previous factor.
    """
    d = covariance.shape[-1]
    c = scale * (covariance + regularization * jnp.eye(d, dtype=covariance.dtype))
    return jnp.linalg.cholesky(c)


def init(position, logdensity_fn: Callable, *, initial_covariance=None,
         initial_step_size: float = 0.1, has_aux: bool = False) -> AMState:
    """Initial state of one chain at ``position`` (d,).

    Args:
        position (array (d,)):
            Starting point; its log density must be finite for the chain to move sensibly
            (the runner re-draws starting points until it is).
        logdensity_fn (callable): ``x -> log density`` (or ``(log density, aux)`` with ``has_aux``).
        initial_covariance (array (d, d), optional):
            Proposal covariance ``C_0`` used before adaptation starts. Default
            ``(initial_step_size**2 / d) * I``: a jump of length about ``initial_step_size``.
        initial_step_size (float): See ``initial_covariance``.
        has_aux (bool): Whether ``logdensity_fn`` returns ``(logdensity, aux)``.
    """
    x = jnp.asarray(position)
    if x.ndim != 1:
        raise ValueError(f"position must be a flat vector (d,), got shape {x.shape}")
    d = x.shape[0]
    if initial_covariance is None:
        chol = jnp.eye(d, dtype=x.dtype) * (initial_step_size / jnp.sqrt(d))
    else:
        chol = jnp.linalg.cholesky(jnp.asarray(initial_covariance, dtype=x.dtype))
    lp, aux = _evaluate(logdensity_fn, x, has_aux)
    return AMState(x, lp, aux, chol, welford_init(d, x.dtype), jnp.zeros((), jnp.int32),
                   jnp.zeros((), x.dtype))


def build_kernel(*, scaling: str | float = "haario", regularization: float = 1e-8,
                 adapt_start: int = 500, adapt_every: int = 1, adapt_until: int | None = None,
                 num_test_steps: int = 0, test_step_size: float = 0.1,
                 acceptance: str = "metropolis", target_acceptance: float | None = None,
                 has_aux: bool = False) -> Callable:
    """Build the one-step adaptive-Metropolis kernel.

    Args:
        scaling ({"haario", "proda"} or float): Proposal scale s_d (see :func:`scaling_factor`).
        regularization (float):
            Haario's epsilon, added to the diagonal of the estimated covariance [space units^2].
            Use 0 only to replicate PRODA.
        adapt_start (int):
            t_0: number of Gaussian-phase iterations before the covariance estimate replaces
            ``C_0``.
        adapt_every (int):
            Refresh the proposal Cholesky factor every this many iterations (1 = Haario's
            every-iteration update; larger values save an O(d^3) factorisation per step).
        adapt_until (int or None):
            Global iteration index at which adaptation stops (the end of warm-up). ``None``
            adapts forever (PRODA; not a valid MCMC for the kept draws).
        num_test_steps (int): Length of the uniform-step test phase (0 = plain AM).
        test_step_size (float): Half-width h of the uniform test-phase steps.
        acceptance ({"metropolis", "annealed"}):
            Acceptance rule; ``"annealed"`` is PRODA's exp(-dJ ln(n + 2)).
        target_acceptance (float or None):
            If set (e.g. 0.234), also adapt a global scale factor lambda during warm-up by
            Robbins-Monro, ``log lambda += n^-0.6 (alpha_n - target)`` (Andrieu & Thoms 2008,
            Algorithm 4), so the step size follows the target's geometry when the Gaussian
            optimum 2.38^2/d does not fit (bounded, curved posteriors). Frozen with the
            covariance. ``None`` (default) is Haario's AM.
        has_aux (bool): Whether ``logdensity_fn`` returns ``(logdensity, aux)``.

    Returns:
        kernel (callable):
            ``kernel(rng_key, state, logdensity_fn, iteration, *, refresh_here=True) ->
            (AMState, AMInfo)``, where ``iteration`` is the 0-based global index of this
            step. With ``refresh_here=False`` (static) the step leaves the proposal's
            Cholesky factor alone and the caller applies
            ``kernel.refresh_proposal(state, iteration)`` after the steps at which a
            refresh can fall due (every ``adapt_every``-th): the same chain, but the
            conditional refresh is no longer part of every step's loop body. On CPU that
            conditional made an adapting step cost about twice a frozen one
            (``docs/inference.md`` section 6); ``inference.samplers`` runs the warm-up in
            blocks of ``adapt_every`` steps this way.
    """
    if acceptance not in ACCEPTANCE_RULES:
        raise ValueError(f"unknown acceptance rule '{acceptance}'; use one of {ACCEPTANCE_RULES}")
    if regularization < 0:
        raise ValueError("regularization must be >= 0")
    if adapt_every < 1 or adapt_start < 0 or num_test_steps < 0:
        raise ValueError("adapt_every must be >= 1, adapt_start and num_test_steps >= 0")
    if num_test_steps > 0 and not test_step_size > 0:
        raise ValueError("test_step_size must be positive")
    if target_acceptance is not None and not 0 < target_acceptance < 1:
        raise ValueError("target_acceptance must be in (0, 1)")

    def refresh(stats: WelfordState, chol: jnp.ndarray, scale: float) -> jnp.ndarray:
        new = proposal_cholesky(welford_covariance(stats), scale=scale,
                                regularization=regularization)
        return jnp.where(jnp.all(jnp.isfinite(new)), new, chol)

    def begin_formal(state: AMState, scale: float) -> AMState:
        chol = refresh(state.statistics, state.proposal_cholesky, scale)
        d = state.position.shape[0]
        return AMState(state.position, state.logdensity, state.aux, chol,
                       welford_init(d, state.position.dtype), state.num_accepted,
                       state.log_scale)

    def refresh_due(iteration, adapting, in_test):
        formal_n = iteration - num_test_steps + 1
        return (adapting & (~in_test) & (formal_n >= max(adapt_start, 1))
                & (formal_n % adapt_every == 0))

    def refresh_proposal(state: AMState, iteration) -> AMState:
        """``state`` with the proposal refreshed if it is due after step ``iteration``: what
        a step called with ``refresh_here=False`` left out (the caller calls this after every
        such step at which a refresh can fall due, e.g. once per block of ``adapt_every``
        steps)."""
        iteration = jnp.asarray(iteration)
        scale = scaling_factor(scaling, state.position.shape[0])
        adapting = jnp.asarray(True) if adapt_until is None else iteration < adapt_until
        in_test = iteration < num_test_steps
        chol = lax.cond(refresh_due(iteration, adapting, in_test),
                        lambda: refresh(state.statistics, state.proposal_cholesky, scale),
                        lambda: state.proposal_cholesky)
        return state._replace(proposal_cholesky=chol)

    def kernel(rng_key, state: AMState, logdensity_fn: Callable, iteration, *,
               refresh_here: bool = True) -> tuple[AMState, AMInfo]:
        d = state.position.shape[0]
        scale = scaling_factor(scaling, d)
        iteration = jnp.asarray(iteration)
        key_proposal, key_accept = random.split(rng_key)

        def gaussian(key):
            return state.position + jnp.exp(state.log_scale) * (
                state.proposal_cholesky @ symmetric_normal(key, d, state.position.dtype))

        def uniform(key):
            return state.position + random.uniform(
                key, (d,), state.position.dtype, -test_step_size, test_step_size)

        if num_test_steps > 0:
            state = lax.cond(iteration == num_test_steps,
                             lambda s: begin_formal(s, scale), lambda s: s, state)
            in_test = iteration < num_test_steps
            proposal = lax.cond(in_test, uniform, gaussian, key_proposal)
        else:
            in_test = jnp.asarray(False)
            proposal = gaussian(key_proposal)

        lp_new, aux_new = _evaluate(logdensity_fn, proposal, has_aux)
        log_ratio = lp_new - state.logdensity
        if acceptance == "annealed":
            n = jnp.where(in_test, iteration + 1, iteration - num_test_steps + 1)
            log_ratio = jnp.log(n + 2.0) * log_ratio
        log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        log_u = jnp.log(random.uniform(key_accept, (), state.position.dtype))
        accepted = log_u < log_ratio
        position = jnp.where(accepted, proposal, state.position)
        logdensity = jnp.where(accepted, lp_new, state.logdensity)
        aux = jax.tree_util.tree_map(lambda new, old: jnp.where(accepted, new, old),
                                     aux_new, state.aux)

        adapting = jnp.asarray(True) if adapt_until is None else iteration < adapt_until
        stats = lax.cond(adapting, welford_update, lambda s, _: s, state.statistics, position)
        formal_n = iteration - num_test_steps + 1
        if refresh_here:
            chol = lax.cond(refresh_due(iteration, adapting, in_test),
                            lambda: refresh(stats, state.proposal_cholesky, scale),
                            lambda: state.proposal_cholesky)
        else:  # the caller refreshes between blocks (``kernel.refresh_proposal``)
            chol = state.proposal_cholesky
        alpha = jnp.minimum(1.0, jnp.exp(log_ratio))
        log_scale = state.log_scale
        if target_acceptance is not None:
            gain = jnp.maximum(formal_n, 1).astype(alpha.dtype) ** -0.6
            log_scale = jnp.where(adapting & ~in_test,
                                  log_scale + gain * (alpha - target_acceptance), log_scale)
        new_state = AMState(position, logdensity, aux, chol, stats,
                            state.num_accepted + accepted.astype(state.num_accepted.dtype),
                            log_scale)
        info = AMInfo(alpha, accepted, lp_new, aux_new)
        return new_state, info

    kernel.refresh_proposal = refresh_proposal
    return kernel


def as_top_level_api(logdensity_fn: Callable, *, initial_covariance=None,
                     initial_step_size: float = 0.1, **kernel_options) -> SamplingAlgorithm:
    """``(init, step)`` for ``logdensity_fn``; options as in :func:`build_kernel`.

    ``init(position) -> AMState`` and ``step(rng_key, state, iteration) -> (AMState, AMInfo)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> algo = as_top_level_api(lambda x: -0.5 * jnp.sum(x**2), adapt_until=500)
        >>> state = algo.init(jnp.zeros(3))
        >>> def body(s, i):
        ...     s, info = algo.step(jax.random.fold_in(jax.random.key(0), i), s, i)
        ...     return s, s.position
        >>> _, xs = jax.lax.scan(body, state, jnp.arange(1000))
        >>> xs.shape
        (1000, 3)
    """
    kernel = build_kernel(**kernel_options)
    has_aux = kernel_options.get("has_aux", False)

    def init_fn(position) -> AMState:
        return init(position, logdensity_fn, initial_covariance=initial_covariance,
                    initial_step_size=initial_step_size, has_aux=has_aux)

    def step_fn(rng_key, state: AMState, iteration) -> tuple[AMState, AMInfo]:
        return kernel(rng_key, state, logdensity_fn, iteration)

    return SamplingAlgorithm(init_fn, step_fn)
