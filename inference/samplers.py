"""Samplers for :func:`inference.run_sites`: one registry of configs and functional cores.

The contract
------------
A sampler is a frozen config dataclass (fields include ``num_warmup`` and ``num_samples``;
``to_dict()`` with ``"kind"``; ``from_dict``) and a :class:`SamplerCore`, three pure JAX
functions for ONE site and ALL its chains at once (so that ensemble methods can interact)::

    init(config, logdensity_fn, positions (C, d), key) -> state
    warmup(config, logdensity_fn, state, key) -> (state, tuning)
    run_segment(config, logdensity_fn, state, tuning, key, num_steps, thin)
        -> (state, draws (C, num_steps // thin, d), info)

``logdensity_fn(x: (d,)) -> scalar`` is the log density in the sampler's space (the logit
space of the unit cube unless the config has ``space = "unit"``); gradients by
``jax.grad``. All adaptation happens in ``warmup``; ``tuning`` is a pytree frozen
afterwards. ``info`` is a dict of ``(C,)`` arrays summed over the segment; the runner reads
``"accepted"`` (accepted proposals, or summed acceptance probabilities), ``"n_evals"``
(log-density evaluations, gradients included) and ``"divergent"``, and stores an optional
``info["per_draw"]`` dict of ``(C, num_steps // thin)`` arrays (``"diverging"``,
``"n_steps"``) in ``sample_stats``. A ``tuning`` dict may hold ``"n_evals"`` ((C,), the
warm-up's evaluations; default ``num_warmup`` per chain). ``num_steps`` and ``thin`` are
static. The runner's ``logdensity_fn`` also has ``with_status(x) -> (logdensity,
status)``, ``status`` an int32 bit mask of why a point is rejected
(:data:`inference.models.REJECTION_BITS`); a sampler that evaluates proposals may report
``info["rejected_<reason>"]`` (and the same in a ``tuning`` dict for the warm-up): the
number of proposals rejected for that reason, which the site table turns into
``rejected_fraction``. Keys: the runner passes the site's key to ``init`` (chain ``c``'s
starting point was drawn with ``split(fold_in(key, c))[0]``; a sampler should use
``split(fold_in(key, c))[1]`` for chain ``c``) and fresh keys to ``warmup`` and each
``run_segment``.

The runner ``vmap``s the core over the sites of a chunk and ``jit``-compiles it; it never
looks at a config's class. A new sampler is one file: a config, a core, and::

    register_sampler("my_kind", MyConfig, SamplerCore(init, warmup, run_segment))

Named presets
-------------
:func:`get_sampler` takes a name, a ``to_dict()`` dict, a dict ``{"kind": name,
"num_warmup": ..., "num_samples": ..., **options}`` or a config. The presets (one set of
defaults, used by the library, the pipeline and the CLI):

==================  ==================================================================
``"am"``            Haario AM, s = 2.38^2/d, eps = 1e-8, adaptation from iteration
                    ``min(1000, num_warmup // 4)``, frozen after warm-up, logit space;
                    35,000 + 35,000 iterations by default (the paper's 70,000 budget).
``"am_two_phase"``  as ``"am"``, the first ``num_warmup // 3`` iterations being PRODA's
                    uniform +-0.1 test steps (:func:`two_phase` gives the paper's exact
                    20,000 + 50,000 unit-cube schedule).
``"proda_compat"``  replication aid, **not a valid sampler**: two-phase, annealed
                    acceptance exp(-dJ ln(n + 2)), s = 2.4/d, eps = 0, covariance
                    recomputed every iteration, never frozen, unit cube.
``"nuts"``          NumPyro's NUTS (diagonal mass matrix, windowed adaptation) in the logit
                    space, 1,000 + 1,000 iterations.
==================  ==================================================================
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax, random

from inference import am
from inference.models import SITE_FREE_SPACES
from inference.sequential import one_at_a_time
from inference.welford import (
    WelfordState,
    welford_covariance,
    welford_init,
    welford_merge,
    welford_of,
)

__all__ = ["AMConfig", "NUTSConfig", "SamplerCore", "adaptive_metropolis", "two_phase",
           "proda_compat", "nuts", "get_sampler", "sampler_core", "register_sampler",
           "register_preset", "sampler_from_budget", "SAMPLERS", "chain_keys",
           "DensityWithStatus"]


class SamplerCore(NamedTuple):
    """The functional core of a sampler (see the module docstring for the signatures)."""

    init: Callable
    warmup: Callable
    run_segment: Callable


_KINDS: dict[str, tuple[type, SamplerCore]] = {}
"""kind -> (config type, core)."""

SAMPLERS: dict[str, Callable[..., Any]] = {}
"""Preset name -> factory ``(num_warmup=..., num_samples=..., **options) -> config``."""


def register_sampler(kind: str, config_type: type, core: SamplerCore) -> None:
    """Register a sampler core under ``kind`` (``config_type.kind`` must equal it).

    The config type also becomes the preset of that name unless one is registered.
    """
    if getattr(config_type, "kind", None) != kind:
        raise ValueError(f"{config_type.__name__}.kind must be {kind!r}")
    if not isinstance(core, SamplerCore):
        core = SamplerCore(*core)
    _KINDS[kind] = (config_type, core)
    SAMPLERS.setdefault(kind, config_type)


def register_preset(name: str, factory: Callable[..., Any]) -> None:
    """Register a named preset ``factory(num_warmup=..., num_samples=..., **options)``."""
    SAMPLERS[name] = factory


def _config_types() -> tuple[type, ...]:
    return tuple(t for t, _ in _KINDS.values())


def get_sampler(spec) -> Any:
    """A sampler config from a config, a preset name, or a dict.

    Args:
        spec: a registered config (returned as is); a preset name (``"am"``,
            ``"am_two_phase"``, ``"proda_compat"``, ``"nuts"``, ...); or a dict whose
            ``"kind"`` is a preset name or a registered kind and whose other entries are
            the preset's options (``num_warmup``, ``num_samples``, ...) -- the output of
            ``to_dict()`` round-trips.

    Raises:
        ValueError: unknown name; TypeError: a value that is no sampler specification.
    """
    if isinstance(spec, _config_types()):
        return spec
    if isinstance(spec, str):
        spec = {"kind": spec}
    if isinstance(spec, dict):
        spec = dict(spec)
        if "kind" not in spec:
            raise ValueError(f"sampler specification {spec} has no 'kind'")
        name = spec.pop("kind")
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}")
        return SAMPLERS[name](**spec)
    raise TypeError(f"cannot make a sampler from {type(spec).__name__}")


def sampler_from_budget(name: str, num_warmup: int, num_samples: int, **options) -> Any:
    """The preset ``name`` with an iteration budget (what the pipeline's config gives)."""
    return get_sampler({"kind": name, "num_warmup": num_warmup, "num_samples": num_samples,
                        **options})


def sampler_core(config) -> SamplerCore:
    """The registered core of a config (looked up by ``config.kind``)."""
    kind = getattr(config, "kind", None)
    if kind not in _KINDS:
        raise ValueError(f"no sampler core registered for kind {kind!r}")
    return _KINDS[kind][1]


class DensityWithStatus:
    """A log density ``x -> scalar`` that can also say why a point is rejected.

    Args:
        fn: ``x -> (logdensity, status)`` (status: int32 bit mask, 0 = usable).
    """

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)[0]

    def with_status(self, x):
        """``(logdensity, status)`` at ``x``."""
        return self.fn(x)


def _rejection_counts(status) -> dict:
    """``{"rejected_<reason>": (C,) 0/1}`` from proposal statuses (C,)."""
    from inference.models import REJECTION_BITS

    return {f"rejected_{name}": ((status & bit) != 0).astype(jnp.float64)
            for name, bit in REJECTION_BITS.items()}


def chain_keys(key, num_chains: int):
    """Chain ``c``'s sampling key ``split(fold_in(key, c))[1]`` (C, 2) (see the contract)."""
    return jax.vmap(lambda c: random.split(random.fold_in(key, c), 2)[1])(
        jnp.arange(num_chains))


# ----------------------------------------------------------------------------------------
# configurations
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AMConfig:
    """Adaptive-Metropolis run settings (see :func:`inference.am.build_kernel`).

    ``num_warmup`` includes ``num_test_steps``; adaptation stops at ``num_warmup`` when
    ``freeze_after_warmup``. ``space`` is the sampler space: ``"logit"`` (default;
    NumPyro's unconstrained space, the same as NUTS) or ``"unit"`` (the unit cube, as PRODA).
    Posteriors piled against a prior bound are common in PRODA; in the logit space the
    random walk follows them without rejections at the wall, which gave ~5-10x the ESS per
    iteration of the unit cube on COMPAS test sites (``docs/inference.md``).

    ``adapt_between_segments``: when a run goes on in segments (run until converged), each
    segment after the first starts with one proposal for all chains of the site,
    ``s_d (Sigma_pooled + eps I)``, ``Sigma_pooled`` the covariance of every stored draw
    of all its chains so far; within a segment the proposal is fixed, so each segment is a
    Metropolis chain that leaves the posterior invariant. This is adaptation at a finite
    number of times (at most ``max_segments``), with changes that shrink as draws
    accumulate (diminishing adaptation, Roberts & Rosenthal 2007); the warm-up's
    per-chain estimate comes from its ~100 effective draws per chain and misses the
    posterior's shape (``docs/inference.md`` section 3).
    """

    num_warmup: int = 35_000
    num_samples: int = 35_000
    num_test_steps: int = 0
    test_step_size: float = 0.1
    scaling: Any = "haario"
    regularization: float = 1e-8
    adapt_start: int = 1_000
    adapt_every: int = 100
    freeze_after_warmup: bool = True
    acceptance: str = "metropolis"
    target_acceptance: float | None = None
    initial_step_size: float = 0.1
    space: str = "logit"
    adapt_between_segments: bool = False
    name: str = "am"

    kind = "am"

    def __post_init__(self) -> None:
        if self.space not in SITE_FREE_SPACES:
            raise ValueError(f"space must be one of {SITE_FREE_SPACES} (the sampler's own"
                             " geometry; the 'feasible' space is a run option:"
                             " run_sites(..., space='feasible'))")
        if self.num_samples < 1 or self.num_warmup < 0:
            raise ValueError("num_samples must be >= 1 and num_warmup >= 0")
        if self.num_test_steps and self.num_test_steps >= self.num_warmup:
            raise ValueError("num_test_steps must be smaller than num_warmup")
        if self.adapt_between_segments and (not self.freeze_after_warmup
                                            or self.acceptance != "metropolis"):
            raise ValueError("adapt_between_segments needs freeze_after_warmup=True and"
                             " acceptance='metropolis' (a fixed Metropolis kernel per segment)")
        from inference.am import build_kernel

        build_kernel(**self.kernel_options())  # validates the options

    def kernel_options(self) -> dict:
        return dict(scaling=self.scaling, regularization=self.regularization,
                    adapt_start=self.adapt_start, adapt_every=self.adapt_every,
                    adapt_until=self.num_warmup if self.freeze_after_warmup else None,
                    num_test_steps=self.num_test_steps, test_step_size=self.test_step_size,
                    acceptance=self.acceptance, target_acceptance=self.target_acceptance)

    def to_dict(self) -> dict:
        """JSON-able settings, with ``"kind"`` (the registry key of the core)."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict):
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d.pop("kind", None)
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class NUTSConfig:
    """NumPyro NUTS settings (logit space; windowed step-size and mass-matrix adaptation)."""

    num_warmup: int = 1_000
    num_samples: int = 1_000
    target_accept_prob: float = 0.8
    max_tree_depth: int = 8
    dense_mass: bool = False
    name: str = "nuts"

    kind = "nuts"
    space = "logit"

    def __post_init__(self) -> None:
        if self.num_samples < 1 or self.num_warmup < 1:
            raise ValueError("num_samples and num_warmup must be >= 1")
        if not 0 < self.target_accept_prob < 1:
            raise ValueError("target_accept_prob must be in (0, 1)")

    def to_dict(self) -> dict:
        """JSON-able settings, with ``"kind"`` (the registry key of the core)."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict):
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d.pop("kind", None)
        return cls(**d)


def adaptive_metropolis(**options) -> AMConfig:
    """Haario AM (frozen after warm-up); keyword options as in :class:`AMConfig`."""
    return AMConfig(**options)


def two_phase(num_test: int = 20_000, num_formal: int = 50_000, burn_in: float = 0.5,
              **options) -> AMConfig:
    """The paper's two-phase schedule with a valid AM.

    ``num_test`` uniform +-``test_step_size`` steps (default 0.1, unit cube), then
    ``num_formal`` adaptive Gaussian steps; the first ``burn_in`` fraction of the formal
    run is warm-up (adaptation on, from iteration 4,000 of the formal run as in PRODA), the
    rest is kept with adaptation frozen.
    """
    if not 0 <= burn_in < 1:
        raise ValueError("burn_in must be in [0, 1)")
    n_burn = int(round(burn_in * num_formal))
    opts = dict(adapt_start=4_000, name="am_two_phase", space="unit")
    opts.update(options)
    return AMConfig(num_warmup=num_test + n_burn, num_samples=num_formal - n_burn,
                    num_test_steps=num_test, **opts)


def proda_compat(num_test: int = 20_000, num_formal: int = 50_000,
                 burn_in: float = 0.5, **options) -> AMConfig:
    """PRODA's original sampler, for replication only (**not a valid MCMC**).

    Annealed acceptance ``exp(-dJ ln(n + 2))``, s = 2.4/d, eps = 0, covariance recomputed
    every iteration after 4,000 formal iterations and never frozen, two-phase schedule.
    Proposals outside the unit cube are rejected rather than re-drawn, non-finite or
    infeasible states are never accepted, and the acceptance-rate-triggered reruns of the
    original are not reproduced (see ``docs/inference.md``).
    """
    opts = dict(scaling="proda", regularization=0.0, adapt_every=1, acceptance="annealed",
                freeze_after_warmup=False, name="proda_compat")
    opts.update(options)
    return two_phase(num_test, num_formal, burn_in, **opts)


def nuts(**options) -> NUTSConfig:
    """NumPyro NUTS; keyword options as in :class:`NUTSConfig`."""
    return NUTSConfig(**options)


def _am_preset(num_warmup: int = 35_000, num_samples: int = 35_000, **options) -> AMConfig:
    # adapt_between_segments: chosen by measurement (benchmarks/results/sampling_portfolio.json)
    opts = dict(adapt_start=min(1_000, num_warmup // 4), adapt_between_segments=True,
                name="am")
    opts.update(options)
    return AMConfig(num_warmup=num_warmup, num_samples=num_samples, **opts)


def _am_two_phase_preset(num_warmup: int = 35_000, num_samples: int = 35_000,
                         **options) -> AMConfig:
    opts = dict(num_test_steps=num_warmup // 3, name="am_two_phase")
    opts.update(options)
    return _am_preset(num_warmup, num_samples, **opts)


def _proda_compat_preset(num_warmup: int = 35_000, num_samples: int = 35_000,
                         **options) -> AMConfig:
    opts = dict(scaling="proda", regularization=0.0, adapt_every=1, acceptance="annealed",
                freeze_after_warmup=False, space="unit", adapt_between_segments=False,
                name="proda_compat")
    opts.update(options)
    return _am_two_phase_preset(num_warmup, num_samples, **opts)


# ----------------------------------------------------------------------------------------
# adaptive Metropolis (inference.am) behind the contract
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AMChains:
    """All chains of one site.

    Attributes:
        chains: per-chain :class:`inference.am.AMState` (leading axis C).
        keys: (C, 2) per-chain keys; step ``i`` of chain ``c`` uses ``fold_in(keys[c], i)``,
            so results do not depend on how the run is cut into segments.
        iteration: the 0-based index of the next step while the proposal adapts, a Python
            int (pytree metadata, not an array): it stays unbatched when the runner vmaps
            over sites, so the adaptation schedule compiles to real control flow
            (``lax.cond``) instead of both branches every step. Once adaptation is frozen
            the schedule no longer depends on the index: ``iteration`` stays at
            ``num_warmup`` and every later segment reuses one compiled program.
        step: () int32, the 0-based index of the next step (an array: it only feeds the
            keys).
        pooled: statistics of the stored draws of all chains since warm-up (the proposal
            of ``adapt_between_segments``).
    """

    chains: am.AMState
    keys: jnp.ndarray
    step: jnp.ndarray
    pooled: WelfordState
    iteration: int = 0


jax.tree_util.register_dataclass(AMChains, data_fields=["chains", "keys", "step", "pooled"],
                                 meta_fields=["iteration"])

BLOCKED_WARMUP = True
"""Run AM's adapting loops in blocks of ``adapt_every`` steps with the proposal refreshed
between blocks (the same chain as the per-step schedule, bit for bit, at about half the
cost per warm-up step on CPU). ``False`` restores the per-step schedule, for
``benchmarks/cost.py --part warmup``; read when the programs are traced."""

MIN_POOLED_DRAWS_PER_DIM = 10
"""``adapt_between_segments`` waits for this many stored draws per dimension (all chains)."""


def _am_density(logdensity_fn):
    """(function for the kernel, has_aux): the status travels as AM's auxiliary output."""
    if hasattr(logdensity_fn, "with_status"):
        return logdensity_fn.with_status, True
    return logdensity_fn, False


def _am_init(config: AMConfig, logdensity_fn, positions, key) -> AMChains:
    fn, has_aux = _am_density(logdensity_fn)
    chains = jax.vmap(lambda x: am.init(x, fn, initial_step_size=config.initial_step_size,
                                        has_aux=has_aux))(positions)
    d = positions.shape[-1]
    return AMChains(chains, chain_keys(key, positions.shape[0]), jnp.zeros((), jnp.int32),
                    welford_init(d, positions.dtype), 0)


def _am_steps(config: AMConfig, logdensity_fn, state: AMChains, num_steps: int, thin: int):
    """``num_steps`` AM iterations: (state, positions every ``thin``, per-chain counts)."""
    fn, has_aux = _am_density(logdensity_fn)
    kernel = am.build_kernel(**config.kernel_options(), has_aux=has_aux)

    start = state.iteration
    # Frozen adaptation (and no annealed acceptance): the kernel's schedule is the same at
    # every index >= num_warmup, so it gets the constant num_warmup and the step index
    # (data) only feeds the keys: one compiled program for every later segment.
    frozen = (config.freeze_after_warmup and config.acceptance != "annealed"
              and start >= config.num_warmup)

    every = config.adapt_every
    # An adapting loop whose blocks of `every` steps end where a refresh can fall due runs
    # the steps without the kernel's conditional refresh and refreshes after each block
    # (am.build_kernel: the same chain; the conditional in every step doubled a warm-up
    # step's cost on CPU). Two-phase runs keep the per-step schedule.
    blocked = (BLOCKED_WARMUP and not frozen and not config.num_test_steps
               and start % every == 0 and thin % every == 0)

    def step(chains, i, refresh_here=True):
        sched = config.num_warmup if frozen else i
        chains, info = jax.vmap(
            lambda k, st: kernel(random.fold_in(k, i), st, fn, sched,
                                 refresh_here=refresh_here))(state.keys, chains)
        counts = {"accepted": info.is_accepted.astype(jnp.float64)}
        if has_aux:
            counts.update(_rejection_counts(info.proposal_aux))
        return chains, counts

    def adapt_block(chains, idx):  # `every` steps, then the refresh due after the last
        chains, counts = lax.scan(lambda c, i: step(c, i, refresh_here=False), chains, idx)
        chains = jax.vmap(lambda st: kernel.refresh_proposal(st, idx[-1]))(chains)
        return chains, jax.tree_util.tree_map(lambda a: a.sum(0), counts)

    def block(chains, idx):
        if blocked:
            chains, counts = lax.scan(adapt_block, chains, idx.reshape(-1, every))
        else:
            chains, counts = lax.scan(step, chains, idx)
        return chains, (chains.position, jax.tree_util.tree_map(lambda a: a.sum(0), counts))

    n_blocks = num_steps // thin
    # adapting: step indices are constants (unbatched under vmap), real lax.cond in the
    # schedule; frozen: they start at the state's step (data)
    first = state.step if frozen else start
    idx = first + jnp.arange(n_blocks * thin, dtype=jnp.int32).reshape(n_blocks, thin)
    chains, (draws, counts) = lax.scan(block, state.chains, idx)
    counts = jax.tree_util.tree_map(lambda a: a.sum(0), counts)
    if num_steps - n_blocks * thin:  # iterations after the last stored draw
        chains, rest = lax.scan(step, chains, first + jnp.arange(n_blocks * thin, num_steps,
                                                                 dtype=jnp.int32))
        counts = jax.tree_util.tree_map(lambda a, b: a + b.sum(0), counts, rest)
    new = AMChains(chains, state.keys, state.step + num_steps, state.pooled,
                   start if frozen else start + num_steps)
    return new, jnp.swapaxes(draws, 0, 1), counts


def _am_warmup(config: AMConfig, logdensity_fn, state: AMChains, key):
    del key  # AM's keys live in its state
    n = config.num_warmup
    c = state.keys.shape[0]
    counts = {}
    if n:
        state, _, counts = _am_steps(config, logdensity_fn, state, n, n)
        counts.pop("accepted")
    tuning = {"proposal_cholesky": state.chains.proposal_cholesky,
              "log_scale": state.chains.log_scale,
              "n_evals": jnp.full((c,), float(n)), **counts}
    return state, tuning


def _pooled_proposal(config: AMConfig, state: AMChains) -> AMChains:
    """Every chain's proposal from the pooled statistics (unchanged until there are
    ``MIN_POOLED_DRAWS_PER_DIM * d`` draws, or if the factorisation fails).

    Evaluated one site at a time under the runner's ``vmap`` over sites (as is the merge
    of the statistics), so that a site's proposal, and with it its chains, does not depend
    on the size of the batch it runs in (``inference.sequential``).
    """
    chains = state.chains
    d = chains.position.shape[-1]
    chol = one_at_a_time(lambda pooled: am.proposal_cholesky(
        welford_covariance(pooled), scale=am.scaling_factor(config.scaling, d),
        regularization=config.regularization))(state.pooled)
    use = (state.pooled.count >= MIN_POOLED_DRAWS_PER_DIM * d) & jnp.all(jnp.isfinite(chol))
    new = jnp.where(use, jnp.broadcast_to(chol, chains.proposal_cholesky.shape),
                    chains.proposal_cholesky)
    return dataclasses.replace(state, chains=chains._replace(proposal_cholesky=new))


def _am_run_segment(config: AMConfig, logdensity_fn, state: AMChains, tuning, key,
                    num_steps: int, thin: int):
    # The kernel freezes its own adaptation at num_warmup (tuning is informative only);
    # proda_compat (freeze_after_warmup=False) keeps adapting, as PRODA did.
    del tuning, key
    if config.adapt_between_segments:
        state = _pooled_proposal(config, state)
    state, draws, counts = _am_steps(config, logdensity_fn, state, num_steps, thin)
    c = draws.shape[0]
    if config.adapt_between_segments:
        pooled = one_at_a_time(lambda p, x: welford_merge(p, welford_of(
            x.reshape(-1, x.shape[-1]))))(state.pooled, draws)
        state = dataclasses.replace(state, pooled=pooled)
    info = {"n_evals": jnp.full((c,), float(num_steps)),
            "divergent": jnp.zeros((c,), jnp.float64), **counts}
    return state, draws, info


# ----------------------------------------------------------------------------------------
# NumPyro's NUTS behind the contract
# ----------------------------------------------------------------------------------------

def _nuts_kernels(config: NUTSConfig, logdensity_fn, position):
    """NumPyro's (init_kernel, sample_kernel) for ``logdensity_fn``.

    NumPyro's ``sample_kernel`` reads settings that ``init_kernel`` stores in its closure,
    so ``init_kernel`` is traced here too; its unused outputs are removed by XLA.
    """
    from numpyro.infer.hmc import hmc

    init_kernel, sample_kernel = hmc(potential_fn=lambda z: -logdensity_fn(z), algo="NUTS")

    def init(x, key):
        return init_kernel(x, config.num_warmup, dense_mass=config.dense_mass,
                           target_accept_prob=config.target_accept_prob,
                           max_tree_depth=config.max_tree_depth, rng_key=key)

    if position is not None:
        init(position, random.PRNGKey(0))
    return init, sample_kernel


def _nuts_init(config: NUTSConfig, logdensity_fn, positions, key):
    init, _ = _nuts_kernels(config, logdensity_fn, None)
    return jax.vmap(init)(positions, chain_keys(key, positions.shape[0]))


def _nuts_scan(config, logdensity_fn, state, num_steps: int, thin: int):
    _, sample_kernel = _nuts_kernels(config, logdensity_fn, state.z[0])

    def step(st, _):
        st = jax.vmap(sample_kernel)(st)
        return st, (st.num_steps, st.diverging, st.accept_prob)

    def block(st, _):
        st, (steps, div, acc) = lax.scan(step, st, None, length=thin)
        return st, (st.z, steps.sum(0), div.any(0), div.sum(0), acc.sum(0))

    n_blocks = num_steps // thin
    state, (z, steps, div_any, div, acc) = lax.scan(block, state, None, length=n_blocks)
    totals = [steps.sum(0), div.sum(0), acc.sum(0)]
    if num_steps - n_blocks * thin:
        state, (s2, d2, a2) = lax.scan(step, state, None, length=num_steps - n_blocks * thin)
        totals = [totals[0] + s2.sum(0), totals[1] + d2.sum(0), totals[2] + a2.sum(0)]
    per_draw = {"diverging": jnp.swapaxes(div_any, 0, 1),
                "n_steps": jnp.swapaxes(steps, 0, 1).astype(jnp.float64)}
    return state, jnp.swapaxes(z, 0, 1), totals, per_draw


def _nuts_warmup(config: NUTSConfig, logdensity_fn, state, key):
    del key  # NumPyro's keys live in its state
    state, _, (steps, _, _), _ = _nuts_scan(config, logdensity_fn, state, config.num_warmup,
                                             config.num_warmup)
    tuning = {"step_size": state.adapt_state.step_size,
              "inverse_mass_matrix": state.adapt_state.inverse_mass_matrix,
              "n_evals": steps.astype(jnp.float64) + 1.0}  # + the gradient at the start
    return state, tuning


def _nuts_run_segment(config: NUTSConfig, logdensity_fn, state, tuning, key, num_steps: int,
                      thin: int):
    del tuning, key  # adaptation ends at num_warmup inside NumPyro's kernel
    state, draws, (steps, div, acc), per_draw = _nuts_scan(config, logdensity_fn, state,
                                                           num_steps, thin)
    info = {"accepted": acc, "n_evals": steps.astype(jnp.float64),
            "divergent": div.astype(jnp.float64), "per_draw": per_draw}
    return state, draws, info


register_sampler("am", AMConfig, SamplerCore(_am_init, _am_warmup, _am_run_segment))
register_sampler("nuts", NUTSConfig, SamplerCore(_nuts_init, _nuts_warmup, _nuts_run_segment))
register_preset("am", _am_preset)
register_preset("am_two_phase", _am_two_phase_preset)
register_preset("proda_compat", _proda_compat_preset)
register_preset("nuts", NUTSConfig)
