"""``AdaptiveMetropolis``: the functional AM core (:mod:`inference.am`) as a NumPyro kernel.

Use it exactly like ``NUTS``::

    from numpyro.infer import MCMC
    from inference import AdaptiveMetropolis, site_model

    kernel = AdaptiveMetropolis(site_model)
    mcmc = MCMC(kernel, num_warmup=20_000, num_samples=20_000, num_chains=3,
                chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.key(0), site, soil_model="clm5")

The kernel works on NumPyro's unconstrained space (a ``Uniform(0, 1)`` prior is sampled as
its logit), so it sees the same potential as NUTS. Adaptation stops after ``num_warmup``
(unless ``freeze_after_warmup=False``), so the kept draws are a valid Markov chain.

As NumPyro's SA and BarkerMH docstrings advise for cheap kernels, pass
``progress_bar=False``: per-step Python dispatch dominates otherwise. For many sites use
:func:`inference.run_sites`, which runs the same functional core batched in one program.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import random
from jax.flatten_util import ravel_pytree
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import initialize_model
from numpyro.util import identity, is_prng_key

from inference import am

__all__ = ["AdaptiveMetropolis", "AMSamplerState"]


class AMSamplerState(NamedTuple):
    """State of :class:`AdaptiveMetropolis` (NumPyro-facing).

    Attributes:
        i (Array, () int): Iteration index (0-based, counting warm-up).
        z (pytree): Current unconstrained sample (the ``sample_field``).
        potential_energy (Array, ()): Negative log density at ``z``.
        accept_prob (Array, ()): Acceptance probability of the last proposal.
        mean_accept_prob (Array, ()):
            Mean acceptance probability (restarted after warm-up, as NumPyro's HMC does).
        am_state (AMState): The functional core's state on the flattened ``z``.
        rng_key: Array
    """

    i: jnp.ndarray
    z: Any
    potential_energy: jnp.ndarray
    accept_prob: jnp.ndarray
    mean_accept_prob: jnp.ndarray
    am_state: am.AMState
    rng_key: jnp.ndarray


class AdaptiveMetropolis(MCMCKernel):
    """Adaptive Metropolis (Haario et al. 2001) for ``numpyro.infer.MCMC``.

    Args:
        model (callable, optional):
            A NumPyro model. Exactly one of ``model`` / ``potential_fn`` must be given.
        potential_fn (callable, optional):
            Negative log density of the (pytree) parameters; ``init_params`` must then be
            passed to ``MCMC.run``.
        scaling ({"haario", "proda"} or float):
            Proposal scale s_d: 2.38^2/d (default), 2.4/d (PRODA) or a number.
        regularization (float): Haario's epsilon added to the covariance diagonal.
        adapt_start (int): Gaussian-phase iterations before the covariance estimate is used.
        adapt_every (int): Proposal Cholesky refreshed every this many iterations.
        num_test_steps, test_step_size (int, float):
            Optional uniform-step test phase (PRODA's "Part 1"); counts as warm-up.
        acceptance ({"metropolis", "annealed"}):
            ``"annealed"`` is PRODA's exp(-dJ ln(n + 2)) rule (replication only, not valid).
        target_acceptance (float or None):
            Also adapt a global scale toward this acceptance rate during warm-up (Andrieu &
            Thoms 2008); None (default) is Haario's AM.
        freeze_after_warmup (bool):
            Stop adapting after ``num_warmup`` (default). ``False`` replicates PRODA.
        initial_step_size (float): Size of the initial proposal (``C_0 = step^2/d I``).
        init_strategy (callable):
            NumPyro init strategy (``init_to_uniform`` draws each chain's start from a box in
            the unconstrained space, so chains start dispersed).

    Note:
        Batched keys (``chain_method="vectorized"``) make :meth:`init` and :meth:`sample` vmap
        the functional core over chains.
    """

    def __init__(self, model=None, potential_fn=None, *, scaling: str | float = "haario",
                 regularization: float = 1e-8, adapt_start: int = 500, adapt_every: int = 1,
                 num_test_steps: int = 0, test_step_size: float = 0.1,
                 acceptance: str = "metropolis", target_acceptance: float | None = None,
                 freeze_after_warmup: bool = True,
                 initial_step_size: float = 0.1, init_strategy=init_to_uniform):
        if not (model is None) ^ (potential_fn is None):
            raise ValueError("Only one of `model` or `potential_fn` must be specified.")
        self._model = model
        self._potential_fn = potential_fn
        self._options = dict(scaling=scaling, regularization=regularization,
                             adapt_start=adapt_start, adapt_every=adapt_every,
                             num_test_steps=num_test_steps, test_step_size=test_step_size,
                             acceptance=acceptance, target_acceptance=target_acceptance)
        am.build_kernel(**self._options)  # validate options now, not at first sample
        self._freeze = freeze_after_warmup
        self._initial_step_size = initial_step_size
        self._init_strategy = init_strategy
        self._postprocess_fn = None
        self._potential_fn_gen = None
        self._sample_fn = None
        self._num_warmup = None

    # -- NumPyro protocol ---------------------------------------------------------------
    @property
    def model(self):
        return self._model

    @property
    def sample_field(self):
        return "z"

    @property
    def default_fields(self):
        return ("z", "accept_prob")

    def get_diagnostics_str(self, state):
        return "acc. prob={:.2f}".format(state.mean_accept_prob)

    def postprocess_fn(self, args, kwargs):
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*args, **kwargs)

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None):
        model_kwargs = {} if model_kwargs is None else model_kwargs
        if num_warmup <= self._options["num_test_steps"]:
            raise ValueError(f"num_warmup ({num_warmup}) must exceed num_test_steps"
                             f" ({self._options['num_test_steps']})")
        self._num_warmup = num_warmup
        vectorized = not is_prng_key(rng_key)
        if vectorized:
            rng_key, key_init = jnp.swapaxes(jax.vmap(random.split)(rng_key), 0, 1)
            num_chains = rng_key.shape[0]
        else:
            rng_key, key_init = random.split(rng_key)
            num_chains = None
        if self._model is not None:
            params_info, potential_fn_gen, postprocess_fn, _ = initialize_model(
                key_init, self._model, dynamic_args=True, init_strategy=self._init_strategy,
                model_args=model_args, model_kwargs=model_kwargs, validate_grad=False)
            if init_params is None:
                init_params = params_info[0]
            self._potential_fn_gen = potential_fn_gen
            if self._postprocess_fn is None:
                self._postprocess_fn = postprocess_fn
        elif init_params is None:
            raise ValueError("Valid value of `init_params` must be provided with `potential_fn`.")

        adapt_until = num_warmup if self._freeze else None
        kernel = am.build_kernel(adapt_until=adapt_until, **self._options)

        def potential(args, kwargs):
            if self._potential_fn is not None:
                return self._potential_fn
            return self._potential_fn_gen(*args, **kwargs)

        def init_one(z, key):
            flat, unravel = ravel_pytree(z)
            pe_fn = potential(model_args, model_kwargs)
            state = am.init(flat, lambda x: -pe_fn(unravel(x)),
                            initial_step_size=self._initial_step_size)
            return AMSamplerState(jnp.zeros((), jnp.int32), z, -state.logdensity,
                                  jnp.zeros(()), jnp.zeros(()), state, key)

        def sample_one(state: AMSamplerState, args, kwargs) -> AMSamplerState:
            _, unravel = ravel_pytree(state.z)
            pe_fn = potential(args, kwargs)
            key, key_step = random.split(state.rng_key)
            new, info = kernel(key_step, state.am_state, lambda x: -pe_fn(unravel(x)), state.i)
            itr = state.i + 1
            n = jnp.where(state.i < num_warmup, itr, itr - num_warmup)
            mean_acc = state.mean_accept_prob + (info.acceptance_probability
                                                 - state.mean_accept_prob) / n
            return AMSamplerState(itr, unravel(new.position), -new.logdensity,
                                  info.acceptance_probability, mean_acc, new, key)

        if vectorized:
            init_state = jax.vmap(init_one)(init_params, rng_key)
            self._sample_fn = jax.vmap(sample_one, in_axes=(0, None, None))
            if init_state.i.shape[0] != num_chains:
                raise ValueError("init_params and rng_key disagree on the number of chains")
        else:
            init_state = init_one(init_params, rng_key)
            self._sample_fn = sample_one
        return init_state

    def sample(self, state, model_args, model_kwargs):
        """One AM step from ``state`` (an :class:`AMSamplerState`)."""
        return self._sample_fn(state, model_args, model_kwargs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = None
        return state
