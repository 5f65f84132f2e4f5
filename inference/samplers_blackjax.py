"""BlackJAX samplers behind the sampler contract (one site, all its chains at once).

Each sampler is a frozen config dataclass plus a functional core
``init / warmup / run_segment`` (``docs/inference.md``, interface 4):

=============  ============================================================================
``chees``      jittered HMC (``blackjax.dynamic_hmc``) tuned across all chains by ChEES
               (Hoffman, Radul & Sountsov 2021): step size by dual averaging of the
               harmonic-mean acceptance, trajectory length by the ChEES criterion, diagonal
               mass matrix from the ensemble (``chees_adaptation``); frozen afterwards.
``mams``       Metropolis-adjusted microcanonical HMC (``blackjax.adjusted_mclmc_dynamic``,
               Robnik et al. 2025) with random trajectory lengths; step size, length and a
               diagonal preconditioner tuned per chain, then averaged over the chains.
``nuts_bj``    BlackJAX NUTS with Stan's window adaptation (dense mass matrix), each chain
               adapted on its own (the NUTS baseline under the same contract).
=============  ============================================================================

All work in the sampler's space (logit of the unit cube), draw ``logdensity_fn`` gradients
with ``jax.grad`` and count model evaluations as gradient evaluations (leapfrog steps).
Adaptation happens only in ``warmup``; the returned ``tuning`` is frozen, so the kept draws
form a time-homogeneous Markov chain with the target as stationary distribution.

References:
    Hoffman, M., Radul, A. & Sountsov, P. (2021). An adaptive MCMC scheme for setting
    trajectory lengths in Hamiltonian Monte Carlo. AISTATS, PMLR 130, 3907-3915.
    Robnik, J., Cohn-Gordon, R. & Seljak, U. (2025). Metropolis adjusted microcanonical
    Hamiltonian Monte Carlo. arXiv:2503.01707.
    Hoffman, M. & Gelman, A. (2014). The No-U-Turn Sampler. JMLR 15, 1593-1623.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import blackjax
import jax
import jax.numpy as jnp
import optax
from blackjax.mcmc import adjusted_mclmc_dynamic, dynamic_hmc

from inference.samplers import SamplerCore  # the one contract type

__all__ = ["ChEESConfig", "MAMSConfig", "NUTSBlackJAXConfig", "SamplerCore", "CORES",
           "register_all", "get_core"]


class _Config:
    kind = ""

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict):
        d = dict(d)
        kind = d.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ValueError(f"{cls.__name__}.from_dict: kind {kind!r} is not {cls.kind!r}")
        return cls(**d)

    def _check(self) -> None:
        if self.num_samples < 1 or self.num_warmup < 1:
            raise ValueError(f"{type(self).__name__}: num_warmup and num_samples must be >= 1")


@dataclasses.dataclass(frozen=True)
class ChEESConfig(_Config):
    """ChEES-adapted jittered HMC.

    Attributes:
        num_warmup, num_samples: iterations per chain.
        learning_rate: Adam learning rate of the trajectory-length optimisation.
        target_acceptance: dual-averaging target for the harmonic-mean acceptance.
        initial_step_size: step size at the start of adaptation.
        max_leapfrog_steps: cap on leapfrog steps per iteration (bounds the cost).
        diagonal_mass: estimate a diagonal mass matrix from the ensemble.
    """

    num_warmup: int = 400
    num_samples: int = 400
    learning_rate: float = 0.025
    target_acceptance: float = 0.651
    initial_step_size: float = 0.1
    max_leapfrog_steps: int = 64
    diagonal_mass: bool = True
    name: str = "chees"

    kind = "chees"

    def __post_init__(self) -> None:
        self._check()
        if not 0 < self.target_acceptance < 1 or self.max_leapfrog_steps < 1:
            raise ValueError("ChEESConfig: target_acceptance in (0, 1), max_leapfrog_steps >= 1")


@dataclasses.dataclass(frozen=True)
class MAMSConfig(_Config):
    """Metropolis-adjusted microcanonical Langevin/HMC (MAMS; Robnik et al. 2025).

    Each chain tunes step size, trajectory length and a diagonal preconditioner with
    ``blackjax.adjusted_mclmc_find_L_and_step_size`` during warm-up; the chains' values are
    then averaged (one frozen kernel per site).

    Attributes:
        num_warmup, num_samples: iterations per chain.
        target_acceptance: dual-averaging target acceptance (0.9 as recommended for MAMS).
        diagonal_preconditioning: tune a diagonal preconditioner.
    """

    num_warmup: int = 1_000
    num_samples: int = 1_000
    target_acceptance: float = 0.9
    diagonal_preconditioning: bool = True
    name: str = "mams"

    kind = "mams"

    def __post_init__(self) -> None:
        self._check()
        if not 0 < self.target_acceptance < 1:
            raise ValueError("MAMSConfig: target_acceptance must be in (0, 1)")


@dataclasses.dataclass(frozen=True)
class NUTSBlackJAXConfig(_Config):
    """BlackJAX NUTS with window adaptation (per chain; dense mass matrix by default)."""

    num_warmup: int = 1_000
    num_samples: int = 1_000
    target_acceptance: float = 0.8
    dense_mass: bool = True
    max_num_doublings: int = 8
    name: str = "nuts_bj"

    kind = "nuts_bj"

    def __post_init__(self) -> None:
        self._check()


def _finite_logdensity(logdensity_fn):
    """NaN/+inf -> -inf, so that such a proposal is rejected (a divergence)."""
    def f(x):
        lp = logdensity_fn(x)
        return jnp.where(jnp.isfinite(lp), lp, -jnp.inf)
    return f


def _segment(step, state, key, num_steps: int, thin: int):
    """Scan ``step(key, state) -> (state, (accepted, divergent, n_evals))`` (all chains)."""
    if num_steps % thin:
        raise ValueError(f"num_steps ({num_steps}) must be a multiple of thin ({thin})")

    def inner(carry, k):
        state, acc = carry
        state, stats = step(k, state)
        return (state, jax.tree_util.tree_map(jnp.add, acc, stats)), None

    def outer(carry, k):
        carry, _ = jax.lax.scan(inner, carry, jax.random.split(k, thin))
        return carry, carry[0].position

    n_chains = state.position.shape[0]
    zero = {"accepted": jnp.zeros(n_chains), "divergent": jnp.zeros(n_chains, jnp.int32),
            "n_evals": jnp.zeros(n_chains, jnp.int32)}
    (state, info), draws = jax.lax.scan(outer, (state, zero),
                                        jax.random.split(key, num_steps // thin))
    return state, jnp.swapaxes(draws, 0, 1), info


def _stats(info, n_evals):
    n = jnp.shape(info.is_divergent)[0]
    return {"accepted": jnp.asarray(info.acceptance_rate, float).reshape(n),
            "divergent": jnp.asarray(info.is_divergent, jnp.int32).reshape(n),
            "n_evals": jnp.broadcast_to(jnp.asarray(n_evals, jnp.int32), (n,))}


# -- ChEES -------------------------------------------------------------------------------

def _chees_steps(key, num_leapfrog):
    """Jittered number of leapfrog steps: ceil(U(0, 1] * L) (ChEES' jitter_amount = 1)."""
    return jnp.maximum(jnp.ceil(jax.random.uniform(key) * num_leapfrog), 1).astype(int)


def chees_init(config: ChEESConfig, logdensity_fn, positions, key):
    f = _finite_logdensity(logdensity_fn)
    keys = jax.random.split(key, positions.shape[0])
    return jax.vmap(lambda p, k: dynamic_hmc.init(p, f, k))(positions, keys)


def chees_warmup(config: ChEESConfig, logdensity_fn, state, key):
    f = _finite_logdensity(logdensity_fn)
    n_chains = state.position.shape[0]
    adapt = blackjax.chees_adaptation(
        f, n_chains, jitter_generator=jax.random.uniform,
        target_acceptance_rate=config.target_acceptance,
        max_leapfrog_steps=config.max_leapfrog_steps,
        adaptation_info_fn=lambda s, i, a: i.num_integration_steps,
        mass_matrix_estimation="diagonal" if config.diagonal_mass else None)
    (last, params), steps = adapt.run(key, state.position, config.initial_step_size,
                                      optax.adam(config.learning_rate), config.num_warmup)
    num_leapfrog = jnp.clip(params["integration_steps_params"][0], 1.0,
                            config.max_leapfrog_steps)
    tuning = {"step_size": params["step_size"],
              "inverse_mass_matrix": params["inverse_mass_matrix"],
              "num_leapfrog": num_leapfrog,
              # this BlackJAX wraps the info in a plain object (not a pytree): unwrap it
              "warmup_evals": jnp.sum(getattr(steps, "_wrapped_info", steps),
                                      axis=0).astype(jnp.int32)}
    keys = jax.random.split(jax.random.fold_in(key, 1), n_chains)
    state = dynamic_hmc.DynamicHMCState(last.position, last.logdensity, last.logdensity_grad,
                                        keys)
    return state, tuning


def chees_run_segment(config: ChEESConfig, logdensity_fn, state, tuning, key, num_steps: int,
                      thin: int = 1):
    f = _finite_logdensity(logdensity_fn)
    kernel = dynamic_hmc.build_kernel(next_random_arg_fn=lambda k: jax.random.split(k)[1],
                                      integration_steps_fn=_chees_steps)

    def one(k, s):
        return kernel(k, s, f, tuning["step_size"], tuning["inverse_mass_matrix"],
                      (tuning["num_leapfrog"],))

    def step(k, states):
        new, info = jax.vmap(one)(jax.random.split(k, states.position.shape[0]), states)
        return new, _stats(info, info.num_integration_steps)

    return _segment(step, state, key, num_steps, thin)


# -- MAMS --------------------------------------------------------------------------------

def _mams_kernel():
    kernel = adjusted_mclmc_dynamic.build_kernel(
        integration_steps_fn=adjusted_mclmc_dynamic.make_random_trajectory_length_fn(True),
        next_random_arg_fn=lambda k: jax.random.split(k)[1])

    def mclmc_kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix,
                     integration_steps_params):
        return kernel(rng_key, state, logdensity_fn, step_size,
                      inverse_mass_matrix=inverse_mass_matrix,
                      integration_steps_params=integration_steps_params)
    return mclmc_kernel


def mams_init(config: MAMSConfig, logdensity_fn, positions, key):
    f = _finite_logdensity(logdensity_fn)
    keys = jax.random.split(key, positions.shape[0])
    return jax.vmap(lambda p, k: adjusted_mclmc_dynamic.init(p, f, k))(positions, keys)


def mams_warmup(config: MAMSConfig, logdensity_fn, state, key):
    f = _finite_logdensity(logdensity_fn)
    frac1, frac2 = 0.5, 0.5  # the tuner runs (frac1 + frac2) * num_steps steps

    def one(k, s):
        s, params, n_steps = blackjax.adjusted_mclmc_find_L_and_step_size(
            mclmc_kernel=_mams_kernel(), logdensity_fn=f, num_steps=config.num_warmup,
            state=s, rng_key=k, target=config.target_acceptance, frac_tune1=frac1,
            frac_tune2=frac2, diagonal_preconditioning=config.diagonal_preconditioning)
        return s, params, n_steps

    keys = jax.random.split(key, state.position.shape[0])
    last, params, n_steps = jax.vmap(one)(keys, state)
    tuning = {"step_size": jnp.mean(params.step_size),
              "num_steps": jnp.mean(params.L / params.step_size),
              "inverse_mass_matrix": jnp.mean(params.inverse_mass_matrix, axis=0),
              "warmup_evals": jnp.asarray(n_steps, jnp.int32)}
    return last, tuning


def mams_run_segment(config: MAMSConfig, logdensity_fn, state, tuning, key, num_steps: int,
                     thin: int = 1):
    f = _finite_logdensity(logdensity_fn)
    kernel = _mams_kernel()

    def one(k, s):
        return kernel(k, s, f, tuning["step_size"], tuning["inverse_mass_matrix"],
                      (tuning["num_steps"],))

    def step(k, states):
        new, info = jax.vmap(one)(jax.random.split(k, states.position.shape[0]), states)
        return new, _stats(info, info.num_integration_steps)

    return _segment(step, state, key, num_steps, thin)


# -- NUTS (BlackJAX) ---------------------------------------------------------------------

def nuts_init(config: NUTSBlackJAXConfig, logdensity_fn, positions, key):
    f = _finite_logdensity(logdensity_fn)
    return jax.vmap(lambda p: blackjax.nuts.init(p, f))(positions)


def nuts_warmup(config: NUTSBlackJAXConfig, logdensity_fn, state, key):
    f = _finite_logdensity(logdensity_fn)
    adapt = blackjax.window_adaptation(
        blackjax.nuts, f, is_mass_matrix_diagonal=not config.dense_mass,
        target_acceptance_rate=config.target_acceptance,
        adaptation_info_fn=lambda s, i, a: i.num_integration_steps,
        max_num_doublings=config.max_num_doublings)

    def one(p, k):
        (last, params), steps = adapt.run(k, p, num_steps=config.num_warmup)
        return last, params["step_size"], params["inverse_mass_matrix"], jnp.sum(steps)

    keys = jax.random.split(key, state.position.shape[0])
    last, step, imm, evals = jax.vmap(one)(state.position, keys)
    return last, {"step_size": step, "inverse_mass_matrix": imm,
                  "warmup_evals": evals.astype(jnp.int32)}


def nuts_run_segment(config: NUTSBlackJAXConfig, logdensity_fn, state, tuning, key,
                     num_steps: int, thin: int = 1):
    f = _finite_logdensity(logdensity_fn)
    kernel = blackjax.nuts.build_kernel()

    def step(k, states):
        keys = jax.random.split(k, states.position.shape[0])
        new, info = jax.vmap(lambda kk, s, e, m: kernel(kk, s, f, e, m, config.max_num_doublings))(
            keys, states, tuning["step_size"], tuning["inverse_mass_matrix"])
        return new, _stats(info, info.num_integration_steps)

    return _segment(step, state, key, num_steps, thin)


CORES: dict[str, tuple[type, SamplerCore]] = {
    "chees": (ChEESConfig, SamplerCore(chees_init, chees_warmup, chees_run_segment)),
    "mams": (MAMSConfig, SamplerCore(mams_init, mams_warmup, mams_run_segment)),
    "nuts_bj": (NUTSBlackJAXConfig, SamplerCore(nuts_init, nuts_warmup, nuts_run_segment)),
}


def get_core(kind: str) -> tuple[type, SamplerCore]:
    """``(config type, core)`` of a sampler in :data:`CORES`."""
    if kind not in CORES:
        raise ValueError(f"unknown BlackJAX sampler {kind!r}; choose one of {sorted(CORES)}")
    return CORES[kind]


def register_all(register: Callable | None = None) -> None:
    """Register every sampler of this module with the runner's registry.

    Args:
        register: ``register_sampler(kind, config_type, core)``; default
            ``inference.samplers.register_sampler`` (the runner's registry).
    """
    if register is None:
        from inference.samplers import register_sampler as register
    for kind, (cfg, core) in CORES.items():
        register(kind, cfg, core)

