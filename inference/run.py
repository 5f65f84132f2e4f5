"""Many sites x chains in one compiled program, chunked, checkpointed, resumable, Dask-able.

:func:`run_sites` splits the sites into chunks; each chunk is a pure function
``(Chunk, RunConfig) -> checkpoint file`` (:func:`run_chunk_to_file`). Inside a chunk, all
sites x chains run as one ``jit``-compiled program: ``vmap`` over sites (each with its own
data) of ``vmap`` over chains of the functional AM kernel (or NumPyro's NUTS kernel),
``lax.scan`` over iterations. The iteration index is shared by the whole batch, so the
adaptation schedule is real control flow, not a masked select.

Reproducibility: a site's random key is ``fold_in(fold_in(PRNGKey(seed), h1), h2)`` with
``(h1, h2)`` a hash of its id (:func:`inference.sites.site_key`); chain ``c`` uses
``fold_in(site_key, c)`` and iteration ``i`` uses ``fold_in(chain_run_key, i)``. Nothing
depends on a site's position, on the chunk size, on the order chunks run in, or on whether
they run locally or on Dask workers.

On disk (``output_dir``)::

    run_config.json        the resolved configuration (checked on resume)
    chunks/chunk-<h>.nc    one ArviZ DataTree per finished chunk (groups posterior,
                           posterior_predictive, log_likelihood, observed_data,
                           constant_data, sample_stats, summary), written atomically
    skipped_sites.json     sites dropped by ``invalid="skip"`` and why
    site_table.nc          the site table (site x parameter), written when all chunks are done

Memory is bounded by the chunk: draws are thinned to ``num_draws`` per chain, each chunk is
written and dropped before the next, and the site table holds only summaries.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax import lax, random

from inference import am
from inference.diagnostics import DEFAULT_NSE_MIN, DEFAULT_RHAT_MAX, screen, summarize
from inference.likelihoods import Likelihood, get_likelihood
from inference.models import from_unit, log_density, resolve_model, to_unit
from inference.samplers import AMConfig, NUTSConfig, get_sampler
from inference.sites import Profiles, SiteData, read_profiles, site_keys
from inference.welford import welford_init

__all__ = ["RunConfig", "Chunk", "SiteRun", "RunConfigError", "run_sites", "run_chunk",
           "run_chunk_to_file", "load_site_table", "load_site", "completed_sites",
           "chunk_path", "model_name"]

CONFIG_FILE = "run_config.json"
TABLE_FILE = "site_table.nc"
SKIPPED_FILE = "skipped_sites.json"
CHUNK_DIR = "chunks"
SEGMENT_ITERATIONS = 5_000
"""Iterations per compiled call (progress is reported between calls)."""


_IO_LOCK = threading.RLock()
"""The netCDF/HDF5 C libraries are not thread-safe: all file I/O of this module holds it."""


class RunConfigError(ValueError):
    """``output_dir`` holds a run with a different configuration."""


def model_name(model) -> str:
    """The name a model is stored under (``"clm5"``, ``"compas"``, ``"toy"``)."""
    if isinstance(model, str):
        return model.lower()
    return getattr(model, "NAME", model.__name__.rsplit(".", 1)[-1]).lower()


def _resolve(name: str):
    return resolve_model(name)  # the socmodels registry (tests register their toy model)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers (hashable; saved as JSON).

    Attributes
    ----------
    model : str
        ``"clm5"``, ``"compas"`` or ``"toy"``.
    sampler : AMConfig or NUTSConfig
    likelihood : Likelihood
    num_chains : int
    seed : int
    num_draws : int
        Draws stored per chain (the kept iterations are thinned to this many).
    max_init_tries : int
        Prior draws tried per chain for a feasible starting point.
    n_layers : int
        Padded layer count of the profiles.
    """

    model: str
    sampler: AMConfig | NUTSConfig
    likelihood: Likelihood
    num_chains: int = 3
    seed: int = 0
    num_draws: int = 1_000
    max_init_tries: int = 100
    n_layers: int = 0

    @property
    def thin(self) -> int:
        return max(1, self.sampler.num_samples // max(1, self.num_draws))

    @property
    def n_keep(self) -> int:
        return self.sampler.num_samples // self.thin

    def to_dict(self) -> dict:
        return {"model": self.model, "sampler": self.sampler.to_dict(),
                "likelihood": self.likelihood.to_dict(), "num_chains": self.num_chains,
                "seed": self.seed, "num_draws": self.num_draws,
                "max_init_tries": self.max_init_tries, "n_layers": self.n_layers}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        d["sampler"] = get_sampler(d["sampler"])
        d["likelihood"] = get_likelihood(d["likelihood"])
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """The sites of one chunk: validated profiles and their forcing (NumPy leaves)."""

    profiles: Profiles
    forcing: Any
    pad_to: int = 0
    """Pad the batch to this many sites (copies of the last site, results discarded), so
    that a short last chunk reuses the compiled program of the full ones."""

    def __len__(self) -> int:
        return len(self.profiles)

    @property
    def name(self) -> str:
        h = hashlib.blake2b("\x1f".join(str(s) for s in self.profiles.site_id).encode(),
                            digest_size=8).hexdigest()
        return f"chunk-{h}"


# ----------------------------------------------------------------------------------------
# compiled programs (one set per configuration, cached per process)
# ----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _batched_prepare(module):
    return jax.jit(jax.vmap(module.prepare))


def _prepare_sites(chunk: Chunk, module) -> tuple[SiteData, np.ndarray]:
    """Batched SiteData (padded to ``chunk.pad_to``) and the padded site ids."""
    n = len(chunk)
    idx = np.concatenate([np.arange(n), np.full(max(0, chunk.pad_to - n), n - 1)])
    forcing = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a)[idx]), chunk.forcing)
    prepared = _batched_prepare(module)(forcing)
    p = chunk.profiles.take(idx)
    return SiteData(jnp.asarray(p.obs), jnp.asarray(p.depth), jnp.asarray(p.mask),
                    jnp.asarray(p.weight), prepared), p.site_id


def _chain_keys(config: RunConfig, site_ids) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Per-chain (init, run) keys (S, C, 2) and per-site predictive keys (S, 2)."""
    keys = jnp.asarray(site_keys(config.seed, site_ids))
    chains = jnp.arange(config.num_chains)
    chain = jax.vmap(lambda k: jax.vmap(lambda c: random.fold_in(k, c))(chains))(keys)
    split = jax.vmap(jax.vmap(lambda k: random.split(k, 2)))(chain)
    pred_keys = jax.vmap(lambda k: random.fold_in(k, 2**31 - 1))(keys)
    return split[:, :, 0], split[:, :, 1], pred_keys


@functools.lru_cache(maxsize=16)
def _programs(config: RunConfig) -> dict[str, Callable]:
    module = _resolve(config.model)
    lik = config.likelihood
    space = config.sampler.space
    d = len(module.PARAMETERS)

    def logdensity(site, x):
        return log_density(x, site, model=module, likelihood=lik, space=space)

    def find_start(site, key):
        """Prior draws until the log density is finite (bounded tries)."""
        def draw(t):
            u = random.uniform(random.fold_in(key, t), (d,), minval=1e-6, maxval=1 - 1e-6)
            return from_unit(u, space)

        def cond(c):
            t, _, lp = c
            return (t < config.max_init_tries) & ~jnp.isfinite(lp)

        def body(c):
            t, _, _ = c
            x = draw(t)
            return t + 1, x, logdensity(site, x)[0]

        carry = (jnp.zeros((), jnp.int32), jnp.zeros((d,)), jnp.asarray(-jnp.inf))
        t, x, lp = lax.while_loop(cond, body, carry)
        return x, lp, t

    programs: dict[str, Callable] = {}
    starts = jax.vmap(jax.vmap(find_start, in_axes=(None, 0)))

    def evaluate(sites, positions):
        """Log density and predictions at stored positions (S, C, D, d) -> (S, C, D, ...).

        ``lax.map`` over draws in batches bounds the memory of the model's intermediates.
        """
        def per_draw(x):  # x: (S, C, d)
            per_site = lambda site, xc: jax.vmap(lambda y: logdensity(site, y))(xc)  # noqa: E731
            return jax.vmap(per_site)(sites, x)

        xs = jnp.moveaxis(positions, 2, 0)
        n = xs.shape[0]
        batch = max(k for k in range(1, min(n, 16) + 1) if n % k == 0)  # no remainder pass
        out = lax.map(per_draw, xs, batch_size=batch)
        return jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, 2), out)


    def predictive(keys, pred, obs, mask):
        def per_site(key, p, o, m):
            c, n = p.shape[:2]
            ks = random.split(key, c * n).reshape(c, n, -1)
            return jax.vmap(jax.vmap(lambda k, q: lik.sample(k, q, o, m)))(ks, p)
        return jax.vmap(per_site)(keys, pred, obs, mask)

    def finish(sites, positions, pred_keys):
        lp, info = evaluate(sites, positions)
        y_rep = predictive(pred_keys, info.soc, sites.obs, sites.mask)
        return lp, info, y_rep

    programs["finish"] = jax.jit(finish)

    if isinstance(config.sampler, AMConfig):
        s = config.sampler
        kernel = am.build_kernel(**s.kernel_options())

        def init_states(sites, init_keys, run_keys):
            del run_keys
            x, lp, tries = starts(sites, init_keys)
            dim = x.shape[-1]
            chol = jnp.eye(dim) * (s.initial_step_size / jnp.sqrt(dim))
            state = am.AMState(x, lp, (), jnp.broadcast_to(chol, x.shape + (dim,)),
                               jax.vmap(jax.vmap(lambda _: welford_init(dim)))(lp),
                               jnp.zeros(lp.shape, jnp.int32), jnp.zeros(lp.shape))
            return state, jnp.isfinite(lp), tries

        programs["init"] = jax.jit(init_states)

        @functools.partial(jax.jit, static_argnames=("n_blocks", "thin"))
        def segment(sites, run_keys, states, start, *, n_blocks, thin):
            def step_all(states, i):
                def per_site(site, keys_c, states_c):
                    ld = lambda x: logdensity(site, x)[0]  # noqa: E731
                    return jax.vmap(lambda k, st: kernel(random.fold_in(k, i), st, ld, i))(
                        keys_c, states_c)
                states, _ = jax.vmap(per_site)(sites, run_keys, states)
                return states, None

            def block(states, b):
                idx = start + b * thin + jnp.arange(thin)
                states, _ = lax.scan(step_all, states, idx)
                return states, states.position

            return lax.scan(block, states, jnp.arange(n_blocks))

        programs["segment"] = segment
    else:
        from numpyro.infer.hmc import hmc

        s = config.sampler

        def potential_gen(site):
            return lambda z: -logdensity(site, z)[0]

        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")

        def init_states(sites, init_keys, run_keys):
            x, lp, tries = starts(sites, init_keys)

            def one(site, x, key):
                return init_kernel(x, s.num_warmup, dense_mass=s.dense_mass,
                                   target_accept_prob=s.target_accept_prob,
                                   max_tree_depth=s.max_tree_depth, model_args=(site,),
                                   rng_key=key)
            state = jax.vmap(jax.vmap(one, in_axes=(None, 0, 0)))(sites, x, run_keys)
            return state, jnp.isfinite(lp), tries

        programs["init"] = jax.jit(init_states)

        @functools.partial(jax.jit, static_argnames=("n_blocks", "thin"))
        def segment(sites, run_keys, states, start, *, n_blocks, thin):
            del run_keys, start  # NUTS carries its keys and counter in its state

            def step_all(states, _):
                per_site = lambda site, st: jax.vmap(  # noqa: E731
                    lambda x: sample_kernel(x, model_args=(site,)))(st)
                states = jax.vmap(per_site)(sites, states)
                return states, (states.num_steps, states.diverging)

            def block(states, _):
                states, (steps, div) = lax.scan(step_all, states, None, length=thin)
                return states, (states.z, steps.sum(0), div.any(0))

            return lax.scan(block, states, None, length=n_blocks)

        programs["segment"] = segment
    return programs


def _segments(n_iter: int, thin: int, target: int = SEGMENT_ITERATIONS) -> list[tuple[int, int]]:
    """Split ``n_iter`` iterations into (n_blocks, thin) calls with few distinct shapes."""
    out: list[tuple[int, int]] = []
    n_blocks, rest = divmod(n_iter, thin)
    per_call = max(1, min(n_blocks, target // thin)) if n_blocks else 0
    if n_blocks:
        # largest divisor of n_blocks <= per_call, so that every call has the same shape
        div = max(k for k in range(1, per_call + 1) if n_blocks % k == 0)
        if div * 4 < per_call:  # poor divisor: accept one extra shape instead
            full, last = divmod(n_blocks, per_call)
            out += [(per_call, thin)] * full + ([(last, thin)] if last else [])
        else:
            out += [(div, thin)] * (n_blocks // div)
    if rest:
        out.append((1, rest))
    return out


class _Compiled:
    """Calls the jitted programs and accumulates the time JAX spends compiling them.

    Compilation time is read from JAX's monitoring events (trace, lowering and backend
    compile), so the sampling wall time reported per site excludes it.
    """

    _EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
               "/jax/core/compile/jaxpr_to_mlir_module_duration",
               "/jax/core/compile/backend_compile_duration")
    _total = 0.0
    _registered = False

    def __init__(self, programs: dict[str, Callable]):
        self.programs = programs
        if not _Compiled._registered:
            jax.monitoring.register_event_duration_secs_listener(_Compiled._listen)
            _Compiled._registered = True

    @staticmethod
    def _listen(name: str, duration: float, **_: Any) -> None:
        if name in _Compiled._EVENTS:
            _Compiled._total += duration

    @property
    def compile_time(self) -> float:
        return _Compiled._total

    def __call__(self, name: str, *args, **static):
        return self.programs[name](*args, **static)


@functools.lru_cache(maxsize=16)
def _compiled(config: RunConfig) -> _Compiled:
    return _Compiled(_programs(config))


def run_chunk(chunk: Chunk, config: RunConfig, *, progress: Callable[[float], None] | None = None,
              ) -> xr.DataTree:
    """Run one chunk of sites (pure: same inputs, same numbers) and return its DataTree.

    Parameters
    ----------
    chunk : Chunk
    config : RunConfig
    progress : callable, optional
        Called with the fraction of the chunk's iterations done since the last call.
    """
    t0 = time.perf_counter()
    module = _resolve(config.model)
    params = module.PARAMETERS
    call = _compiled(config)
    c0 = call.compile_time
    prof = chunk.profiles
    n_real = len(prof)
    sites, padded_ids = _prepare_sites(chunk, module)
    init_keys, run_keys, pred_keys = _chain_keys(config, padded_ids)
    s = config.sampler

    states, start_ok, tries = call("init", sites, init_keys, run_keys)
    total = s.num_warmup + s.num_samples
    it = 0
    n_steps_warm = None
    for n_blocks, thin in _segments(s.num_warmup, config.thin):
        states, out = call("segment", sites, run_keys, states, jnp.asarray(it, jnp.int32),
                           n_blocks=n_blocks, thin=thin)
        it += n_blocks * thin
        jax.block_until_ready(states)
        if not isinstance(s, AMConfig):
            n_steps_warm = out[1].sum(0) if n_steps_warm is None else n_steps_warm + out[1].sum(0)
        if progress:
            progress(n_blocks * thin / total)
    acc_warm = states.num_accepted if isinstance(s, AMConfig) else None
    kept, steps, divergent = [], [], []
    sample_segments = _segments(config.n_keep * config.thin, config.thin)
    rest = s.num_samples - config.n_keep * config.thin
    for n_blocks, thin in sample_segments:
        states, out = call("segment", sites, run_keys, states, jnp.asarray(it, jnp.int32),
                           n_blocks=n_blocks, thin=thin)
        it += n_blocks * thin
        if isinstance(s, AMConfig):
            kept.append(np.asarray(out))
        else:
            kept.append(np.asarray(out[0]))
            steps.append(np.asarray(out[1]))
            divergent.append(np.asarray(out[2]))
        if progress:
            progress(n_blocks * thin / total)
    if rest:  # iterations after the last stored draw: run, not stored
        states, out = call("segment", sites, run_keys, states, jnp.asarray(it, jnp.int32),
                           n_blocks=1, thin=rest)
        it += rest
        if not isinstance(s, AMConfig):
            steps.append(np.asarray(out[1]))
            divergent.append(np.asarray(out[2]))
        if progress:
            progress(rest / total)
    positions = np.concatenate(kept, axis=0)  # (D, S, C, d)
    positions = np.moveaxis(positions, 0, 2)  # (S, C, D, d)
    lp, pred_info, y_rep = call("finish", sites, jnp.asarray(positions), pred_keys)
    pred = np.asarray(pred_info.soc)
    loglik = np.asarray(pred_info.log_likelihood)
    y_rep = np.asarray(y_rep)
    u = np.asarray(to_unit(jnp.asarray(positions), s.space))
    theta = np.asarray(params.to_physical(u))

    n_sites, n_chains = sites.obs.shape[0], config.num_chains
    evals_per_chain = np.asarray(tries, float)
    if isinstance(s, AMConfig):
        acc = (np.asarray(states.num_accepted) - np.asarray(acc_warm)) / s.num_samples
        evals_per_chain = evals_per_chain + total  # tries include the start's evaluation
        diverging = np.zeros((n_sites, n_chains, config.n_keep), bool)
        n_divergent = np.zeros(n_sites, int)
        step_draws = np.ones((n_sites, n_chains, config.n_keep))
    else:
        acc = np.asarray(states.mean_accept_prob)
        steps_all = np.concatenate(steps, axis=0)  # (blocks, S, C)
        evals_per_chain = (evals_per_chain + np.asarray(n_steps_warm) + steps_all.sum(0)
                           + 1)  # + the gradient at the start
        div_all = np.concatenate(divergent, axis=0)
        n_divergent = div_all.sum(axis=(0, 2))
        diverging = np.moveaxis(div_all[:config.n_keep], 0, 2)
        step_draws = np.moveaxis(steps_all[:config.n_keep], 0, 2).astype(float)

    ok_site = np.asarray(start_ok).all(axis=1)
    status = np.where(ok_site, "ok", "init_failed").astype(object)
    theta, lp, pred, loglik, y_rep = (np.array(a[:n_real]) for a in (theta, lp, pred, loglik,
                                                                      y_rep))
    ok_site, status = ok_site[:n_real], status[:n_real]
    for arr in (theta, pred, loglik, y_rep):
        arr[~ok_site] = np.nan
    compile_time = call.compile_time - c0
    wall = time.perf_counter() - t0 - compile_time
    return _chunk_tree(chunk, config, compile_time=compile_time, theta=theta, lp=lp, pred=pred,
                       loglik=loglik, y_rep=y_rep, acc=acc[:n_real],
                       evals=evals_per_chain.sum(axis=1)[:n_real],
                       n_divergent=n_divergent[:n_real], diverging=diverging[:n_real],
                       step_draws=step_draws[:n_real], status=status, wall=wall)


def _chunk_tree(chunk: Chunk, config: RunConfig, *, compile_time, theta, lp, pred, loglik,
                y_rep, acc, evals, n_divergent, diverging, step_draws, status,
                wall) -> xr.DataTree:
    module = _resolve(config.model)
    params = module.PARAMETERS
    prof = chunk.profiles
    ids = np.asarray(prof.site_id)
    if ids.dtype == object:
        ids = ids.astype(str)
    n_sites = len(ids)
    coords = {"site": ids, "chain": np.arange(config.num_chains),
              "draw": np.arange(config.n_keep), "layer": np.arange(config.n_layers)}
    scd = ("site", "chain", "draw")
    mask = prof.mask
    obs = np.where(mask, prof.obs, np.nan)
    # masked layers carry no information: NaN in the stored predictions
    pred = np.where(mask[:, None, None, :], pred, np.nan)
    loglik = np.where(mask[:, None, None, :], loglik, np.nan)
    attrs = {"model": config.model, "sampler": config.sampler.name,
             "likelihood": str(config.likelihood), "created_by": "socmc inference.run_sites",
             "run_config": json.dumps(config.to_dict())}
    posterior = xr.Dataset({name: (scd, theta[..., k]) for k, name in enumerate(params.names)},
                           coords={k: coords[k] for k in ("site", "chain", "draw")}, attrs=attrs)
    for p in params:
        posterior[p.name].attrs.update(units=p.unit, long_name=p.meaning)
    layer4 = (*scd, "layer")
    ppc = xr.Dataset({"soc": (layer4, y_rep)}, coords=coords)
    ppc["soc"].attrs.update(units="gC m-3", long_name="posterior-predictive SOC density")
    ll = xr.Dataset({"soc": (layer4, loglik)}, coords=coords)
    observed = xr.Dataset({"soc": (("site", "layer"), obs)},
                          coords={"site": ids, "layer": coords["layer"]})
    constant = xr.Dataset({"depth": (("site", "layer"), prof.depth),
                           "mask": (("site", "layer"), mask),
                           "soc_pred": (layer4, pred)}, coords=coords)
    constant["depth"].attrs["units"] = "m"
    constant["soc_pred"].attrs.update(units="gC m-3", long_name="model prediction at the"
                                      " observed depths (no observation error)")
    stats = xr.Dataset({"lp": (scd, lp), "diverging": (scd, diverging),
                        "n_steps": (scd, step_draws)},
                       coords={k: coords[k] for k in ("site", "chain", "draw")})

    summary = summarize(theta, pred, prof.obs, mask, site_ids=ids,
                        parameter_names=params.names)
    summary["acceptance_rate"] = ("site", np.asarray(acc, float).mean(axis=1))
    summary["chain_acceptance_rate"] = (("site", "chain"), np.asarray(acc, float))
    summary["n_divergent"] = ("site", np.asarray(n_divergent, int))
    summary["n_evals"] = ("site", np.asarray(evals, float))
    summary["wall_time"] = ("site", np.full(n_sites, wall / n_sites))
    summary["n_layers"] = ("site", mask.sum(axis=1))
    summary["lat"] = ("site", prof.lat)
    summary["lon"] = ("site", prof.lon)
    summary["status"] = ("site", np.asarray(status, dtype=str))
    summary["chunk"] = ("site", np.full(n_sites, chunk.name))
    summary["wall_time"].attrs["units"] = "s"
    summary["wall_time"].attrs["note"] = ("chunk wall time without compilation, divided by"
                                          " its number of sites")
    summary["compile_time"] = ("site", np.full(n_sites, compile_time))
    summary["compile_time"].attrs.update(units="s", note="compilation time of the site's chunk")
    summary["n_evals"].attrs["note"] = ("model evaluations, all chains (NUTS: gradient"
                                        " evaluations, i.e. leapfrog steps)")
    summary.attrs = dict(attrs)
    return xr.DataTree.from_dict({
        "posterior": posterior, "posterior_predictive": ppc, "log_likelihood": ll,
        "observed_data": observed, "constant_data": constant, "sample_stats": stats,
        "summary": summary,
    })


def chunk_path(output_dir, chunk: Chunk) -> Path:
    return Path(output_dir) / CHUNK_DIR / f"{chunk.name}.nc"


def run_chunk_to_file(chunk: Chunk, config: RunConfig, output_dir: str,
                      ) -> dict:
    """Run a chunk and write its checkpoint atomically; the unit of work for Dask.

    Returns ``{"path", "n_sites", "wall_time"}``. If the checkpoint already exists it is
    not recomputed.
    """
    path = chunk_path(output_dir, chunk)
    if path.exists():
        return {"path": str(path), "n_sites": len(chunk), "wall_time": 0.0}
    t0 = time.perf_counter()
    tree = run_chunk(chunk, config)
    _write_atomic(tree, path)
    return {"path": str(path), "n_sites": len(chunk), "wall_time": time.perf_counter() - t0}


def _write_atomic(tree: xr.DataTree, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        with _IO_LOCK:
            tree.to_netcdf(tmp, engine="netcdf4")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ----------------------------------------------------------------------------------------
# the multi-site runner
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class SiteRun:
    """Result of :func:`run_sites`.

    Attributes
    ----------
    output_dir : Path
    config : RunConfig
    table : xarray.Dataset or None
        The site table (None if the run stopped early with ``max_chunks``).
    complete : bool
        Whether every site has a checkpoint.
    """

    output_dir: Path
    config: RunConfig
    table: xr.Dataset | None
    complete: bool

    def posterior(self, site_id) -> xr.DataTree:
        """One site's ArviZ DataTree (see :func:`load_site`)."""
        return load_site(self.output_dir, site_id)


def completed_sites(output_dir) -> dict[str, Path]:
    """``{str(site_id): chunk file}`` for every site with a checkpoint in ``output_dir``."""
    done: dict[str, Path] = {}
    for path in sorted((Path(output_dir) / CHUNK_DIR).glob("chunk-*.nc")):
        with _IO_LOCK, xr.open_dataset(path, group="summary", engine="netcdf4") as ds:
            for s in np.asarray(ds["site"].values):
                done[str(s)] = path
    return done


def _check_config(output_dir: Path, config: RunConfig, overwrite: bool) -> None:
    path = output_dir / CONFIG_FILE
    if path.exists() and not overwrite:
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(config.to_dict())):
            diff = sorted(k for k in set(old) | set(config.to_dict())
                          if old.get(k) != json.loads(json.dumps(config.to_dict())).get(k))
            raise RunConfigError(
                f"{output_dir} holds a run with a different configuration (differs in {diff});"
                " resume with the same settings, use a new output_dir, or pass overwrite=True"
                " to discard the old checkpoints")
    if overwrite:
        for f in (output_dir / CHUNK_DIR).glob("chunk-*.nc"):
            f.unlink()
        for name in (TABLE_FILE, SKIPPED_FILE):
            if (output_dir / name).exists():
                (output_dir / name).unlink()
    output_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config.to_dict(), indent=2))


def run_sites(profiles: xr.Dataset, forcing, model: str = "clm5", sampler="am", *,
              output_dir, likelihood="lognormal", num_chains: int = 3, seed: int = 0,
              num_draws: int = 1_000, chunk_size: int = 256, client=None,
              devices: Sequence | None = None, workers: int | None = None,
              progress: bool = True, invalid: str = "raise",
              max_init_tries: int = 100, max_chunks: int | None = None,
              on_chunk_done: Callable[[dict], None] | None = None,
              overwrite: bool = False, rhat_max: float = DEFAULT_RHAT_MAX,
              nse_min: float = DEFAULT_NSE_MIN) -> SiteRun:
    """Calibrate every site: all sites x chains batched, chunked, checkpointed, resumable.

    Parameters
    ----------
    profiles : xarray.Dataset
        Soil profiles (dims ``profile``, ``layer``; see :mod:`inference.sites`).
    forcing : socmodels.Forcing
        Batched forcing aligned with ``profiles.profile`` (leading site axis).
    model : {"clm5", "compas", "toy"}
    sampler : str or AMConfig or NUTSConfig
        ``"am"``, ``"am_two_phase"``, ``"proda_compat"``, ``"nuts"`` or a config from
        :mod:`inference.samplers`.
    output_dir : path
        Where checkpoints and results go. Re-running with the same arguments resumes.
    likelihood : str or Likelihood
        ``"lognormal"`` (default), ``"gaussian_relative"``, ``"nse"`` or a Likelihood.
    num_chains : int
        Chains per site (3 as in the paper), each started from its own prior draw.
    seed : int
        Root seed; with the site id it fixes every random number of a site.
    num_draws : int
        Stored draws per chain (kept iterations are thinned to this).
    chunk_size : int
        Sites per compiled batch and per checkpoint; bounds memory. Does not change results.
    client : dask.distributed.Client, optional
        Map chunks over its workers (each writes its own checkpoint to ``output_dir``, which
        must be visible to them). Results are identical to a local run.
    devices : sequence of jax devices, optional
        Devices to spread chunks over (default: all local accelerators, or the CPU).
    workers : int, optional
        Chunks run concurrently in threads (default: one per device, i.e. 1 on a CPU).
        On a CPU, ``workers=os.cpu_count()`` uses every core (XLA runs one program on about
        one core) at the cost of one chunk's memory per worker.
    progress : bool
        Show a tqdm progress bar (in sites).
    invalid : {"raise", "skip"}
        Sites without enough valid layers raise :class:`~inference.sites.ProfileError`
        (default) or are skipped and listed in ``skipped_sites.json``.
    max_init_tries : int
        Prior draws per chain to find a feasible start; a site whose chains all fail gets
        status ``"init_failed"`` (kept False) instead of stopping the run.
    max_chunks : int, optional
        Run at most this many chunks, then return (for time-limited batch jobs; call again
        to continue).
    on_chunk_done : callable, optional
        Called with ``{"path", "n_sites", "wall_time"}`` after each checkpoint is written.
    overwrite : bool
        Discard existing checkpoints in ``output_dir``.
    rhat_max, nse_min : float
        Screening thresholds for the table's ``kept`` flag.

    Returns
    -------
    SiteRun
    """
    lik = get_likelihood(likelihood)
    smp = get_sampler(sampler)
    name = model_name(model)
    module = _resolve(name)
    output_dir = Path(output_dir)
    n_prof = profiles.sizes.get("profile", 0)
    if len(forcing) != n_prof:
        raise ValueError(f"forcing has {len(forcing)} sites but profiles has {n_prof};"
                         " they must be aligned (same order)")
    prof_all_ids = (np.asarray(profiles["profile_id"].values) if "profile_id" in profiles.variables
                    else np.arange(n_prof))
    prof, skipped = read_profiles(profiles, lik, invalid=invalid)
    index = {str(s): i for i, s in enumerate(prof_all_ids)}
    keep_idx = np.array([index[str(s)] for s in prof.site_id], int)
    config = RunConfig(model=name, sampler=smp, likelihood=lik, num_chains=num_chains,
                       seed=seed, num_draws=num_draws, max_init_tries=max_init_tries,
                       n_layers=prof.n_layers)
    if len(module.PARAMETERS) < 1:
        raise ValueError("model has no parameters")
    _check_config(output_dir, config, overwrite)
    if skipped:
        (output_dir / SKIPPED_FILE).write_text(json.dumps({str(k): v for k, v in skipped.items()},
                                                          indent=2))
    done = completed_sites(output_dir)
    todo = np.array([str(s) not in done for s in prof.site_id], bool)
    todo_idx = np.flatnonzero(todo)
    selections = [todo_idx[a:a + chunk_size] for a in range(0, len(todo_idx), chunk_size)]
    if max_chunks is not None:
        selections = selections[:max_chunks]
    # Chunks are built when they are submitted, so the forcing is never copied whole.
    chunks = (Chunk(prof.take(sel), forcing[keep_idx[sel]], pad_to=min(chunk_size, len(prof)))
              for sel in selections)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prof), initial=len(prof) - len(todo_idx), unit="site",
                   desc=f"{name} {smp.name}", smoothing=0.1)

    def finished(report: dict) -> None:
        if on_chunk_done is not None:
            on_chunk_done(report)

    try:
        if client is not None:
            _run_dask(client, chunks, config, output_dir, bar, finished)
        else:
            devs = list(devices) if devices is not None else _default_devices()
            n_workers = workers if workers is not None else len(devs)
            if n_workers > 1:
                _run_pool(devs, n_workers, chunks, config, output_dir, bar, finished)
            else:
                for chunk in chunks:
                    finished(_run_local(chunk, config, output_dir, bar))
    finally:
        if bar is not None:
            bar.n = round(bar.n)  # settle the fractional per-segment increments
            bar.close()

    complete = len(completed_sites(output_dir)) >= len(prof)
    table = None
    if complete:
        table = assemble_site_table(output_dir, prof_all_ids, skipped, rhat_max=rhat_max,
                                    nse_min=nse_min)
        _write_table(table, output_dir / TABLE_FILE)
    return SiteRun(output_dir, config, table, complete)


def _default_devices() -> list:
    devs = jax.local_devices()
    return devs if devs and devs[0].platform != "cpu" else devs[:1]


def _run_local(chunk: Chunk, config: RunConfig, output_dir: Path, bar) -> dict:
    path = chunk_path(output_dir, chunk)
    t0 = time.perf_counter()
    n = len(chunk)

    def step(fraction: float) -> None:
        if bar is not None:
            bar.update(fraction * n)

    tree = run_chunk(chunk, config, progress=step)
    _write_atomic(tree, path)
    return {"path": str(path), "n_sites": n, "wall_time": time.perf_counter() - t0}


def _run_pool(devices, workers, chunks, config, output_dir, bar, finished) -> None:
    """Chunks on ``workers`` threads; thread i uses ``devices[i % len(devices)]``.

    XLA runs one compiled CPU program on about one core, so on a CPU two workers give
    about twice the throughput (and twice the chunk memory). On a single device the first
    chunk runs alone, so that the program is compiled once rather than by every thread.
    """
    pin = len(devices) > 1 or (devices and devices[0].platform != "cpu")
    chunks = iter(chunks)
    if not pin:
        first = next(chunks, None)
        if first is None:
            return
        finished(_run_local(first, config, output_dir, bar))
    counter = iter(range(1 << 62))

    def work(chunk):
        i = next(counter)
        if pin:
            with jax.default_device(devices[i % len(devices)]):
                return _run_local(chunk, config, output_dir, bar)
        return _run_local(chunk, config, output_dir, bar)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(work, c) for c in itertools.islice(chunks, workers)}
        try:
            while pending:
                done, pending = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for fut in done:
                    finished(fut.result())
                    nxt = next(chunks, None)
                    if nxt is not None:
                        pending.add(pool.submit(work, nxt))
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def _run_dask(client, chunks, config, output_dir, bar, finished) -> None:
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    chunks = iter(chunks)
    futures = [client.submit(run_chunk_to_file, c, config, str(output_dir), pure=False)
               for c in itertools.islice(chunks, 2 * n_workers)]
    ac = as_completed(futures)
    for fut in ac:
        report = fut.result()
        if bar is not None:
            bar.update(report["n_sites"])
        finished(report)
        nxt = next(chunks, None)
        if nxt is not None:
            ac.add(client.submit(run_chunk_to_file, nxt, config, str(output_dir), pure=False))


# ----------------------------------------------------------------------------------------
# reading results
# ----------------------------------------------------------------------------------------

def assemble_site_table(output_dir, site_order=None, skipped: dict | None = None, *,
                        rhat_max: float = DEFAULT_RHAT_MAX,
                        nse_min: float = DEFAULT_NSE_MIN) -> xr.Dataset:
    """Concatenate the chunks' summaries into the site table (in ``site_order``)."""
    paths = sorted((Path(output_dir) / CHUNK_DIR).glob("chunk-*.nc"))
    if not paths:
        raise FileNotFoundError(f"no checkpoints in {Path(output_dir) / CHUNK_DIR}")
    parts = []
    for p in paths:
        with _IO_LOCK, xr.open_dataset(p, group="summary", engine="netcdf4") as ds:
            parts.append(ds.load())
    table = xr.concat(parts, dim="site", data_vars="all", coords="minimal", compat="override",
                      join="outer")
    attrs = parts[0].attrs
    if site_order is not None:
        by_str = {str(s): i for i, s in enumerate(np.asarray(table["site"].values))}
        rows = [by_str.get(str(s), -1) for s in site_order]
        present = [r for r in rows if r >= 0]
        table = table.isel(site=present)
        missing = [s for s, r in zip(site_order, rows, strict=True) if r < 0]
        if missing:
            filler = table.isel(site=[0] * len(missing)).copy(deep=True)
            for v in filler.data_vars:
                if filler[v].dtype.kind == "f":
                    filler[v][:] = np.nan
                elif filler[v].dtype.kind in "iub":
                    filler[v][:] = 0
            filler["status"][:] = "skipped"
            filler = filler.assign_coords(site=np.asarray(missing).astype(
                table["site"].dtype if table["site"].dtype.kind != "O" else str))
            table = xr.concat([table, filler], dim="site", data_vars="all", coords="minimal",
                              compat="override", join="outer")
            order = {str(s): i for i, s in enumerate(np.asarray(table["site"].values))}
            table = table.isel(site=[order[str(s)] for s in site_order])
            if skipped:
                reason = np.array([skipped.get(s, skipped.get(str(s), ""))
                                   for s in np.asarray(table["site"].values)], dtype=str)
                table["skip_reason"] = ("site", reason)
    table["kept"] = screen(table, rhat_max=rhat_max, nse_min=nse_min)
    table.attrs = dict(attrs, rhat_max=rhat_max, nse_min=nse_min)
    return table


def _write_table(table: xr.Dataset, path: Path) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    t = table.copy()
    t["kept"] = t["kept"].astype("int8")
    with _IO_LOCK:
        t.to_netcdf(tmp, engine="netcdf4")
    os.replace(tmp, path)


def load_site_table(output_dir) -> xr.Dataset:
    """The site table of a finished run (assembled from the checkpoints if needed)."""
    path = Path(output_dir) / TABLE_FILE
    if path.exists():
        with _IO_LOCK, xr.open_dataset(path, engine="netcdf4") as ds:
            t = ds.load()
        t["kept"] = t["kept"].astype(bool)
        return t
    return assemble_site_table(output_dir)


def load_site(output_dir, site_id) -> xr.DataTree:
    """One site's results as an ArviZ DataTree (dims chain, draw; valid layers only).

    Groups: ``posterior`` (one variable per parameter, physical units),
    ``posterior_predictive`` / ``log_likelihood`` / ``observed_data`` (``soc`` over
    ``layer``), ``constant_data`` (``depth``, ``soc_pred``), ``sample_stats``.
    Works directly with ``arviz_stats`` (``loo``, ``summary``, ...).
    """
    done = completed_sites(output_dir)
    key = str(site_id)
    if key not in done:
        raise KeyError(f"site {site_id!r} has no checkpoint in {output_dir}")
    with _IO_LOCK:
        tree = xr.open_datatree(done[key], engine="netcdf4").load()
    sites = [str(s) for s in np.asarray(tree["summary"]["site"].values)]
    i = sites.index(key)
    n_valid = int(np.asarray(tree["constant_data"]["mask"].values)[i].sum())
    out = {}
    for group in ("posterior", "posterior_predictive", "log_likelihood", "observed_data",
                  "constant_data", "sample_stats"):
        ds = tree[group].to_dataset().isel(site=i, drop=True)
        if "layer" in ds.dims:
            ds = ds.isel(layer=slice(0, n_valid))
        out[group] = ds.drop_vars("mask", errors="ignore")
    out["posterior"].attrs = dict(tree["posterior"].attrs, site=key)
    with _IO_LOCK:
        tree.close()
    return xr.DataTree.from_dict(out)

