"""The compiled programs of a run: one chunk of sites x chains in one ``jit``-compiled call.

Inside a chunk every program is ``vmap`` over sites (each with its own data) of the
sampler's core (:mod:`inference.samplers`), which handles all chains of a site. The
programs are compiled ahead of time once per configuration and argument shapes
(:class:`Programs`), so that the compilation time of each chunk is measured by the chunk
itself (not read from a process-wide counter, which threads would mix up).

Reproducibility: a site's random key is ``fold_in(fold_in(PRNGKey(seed), h1), h2)`` with
``(h1, h2)`` a hash of its id (:func:`inference.sites.site_key`); chain ``c`` draws its
starting point with ``split(fold_in(site_key, c))[0]``, the sampler gets ``site_key`` and
derives its chain keys the same way (:func:`inference.samplers.chain_keys`). Nothing
depends on a site's position, on the chunk size, on the order chunks run in, or on whether
they run locally or on Dask workers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random

from inference.config import RunConfig
from inference.convergence import bucket_size, diagnose
from inference.models import (
    REJECTION_BITS,
    SITE_FREE_SPACES,
    from_unit,
    log_density,
    position_to_unit,
    resolve_model,
)
from inference.samplers import DensityWithStatus, sampler_core
from inference.sequential import one_at_a_time
from inference.sites import Profiles, SiteData, site_keys

__all__ = ["Chunk", "ChunkResult", "Programs", "programs", "compute_chunk", "prepare_sites"]

SEGMENT_KEY = 2**31 - 2
"""``fold_in(site_key, SEGMENT_KEY)`` roots the keys given to ``warmup``/``run_segment``."""


@dataclasses.dataclass(frozen=True)
class Chunk:
    """The sites of one chunk: validated profiles and their forcing (NumPy leaves)."""

    profiles: Profiles
    forcing: Any
    pad_to: int = 0
    """Pad the batch to this many sites (copies of the last site, results discarded), so
    that a short last chunk reuses the compiled program of the full ones."""
    fingerprints: Any = None
    """(n,) str: the sites' input fingerprints (:func:`inference.config.site_fingerprints`)."""

    def __len__(self) -> int:
        return len(self.profiles)

    @property
    def name(self) -> str:
        h = hashlib.blake2b("\x1f".join(str(s) for s in self.profiles.site_id).encode(),
                            digest_size=8).hexdigest()
        return f"chunk-{h}"


@dataclasses.dataclass
class ChunkResult:
    """Arrays of one chunk (real sites only): positions in the unit cube and physical units,
    stored predictions, per-chain statistics and cost."""

    u: np.ndarray            # (S, C, D, d)
    theta: np.ndarray        # (S, C, D, d)
    lp: np.ndarray           # (S, C, D)
    pred: np.ndarray         # (S, C, D, L)
    loglik: np.ndarray       # (S, C, D, L)
    y_rep: np.ndarray        # (S, C, D, L)
    acceptance: np.ndarray   # (S, C)
    n_evals: np.ndarray      # (S,) all chains
    n_divergent: np.ndarray  # (S,)
    diverging: np.ndarray    # (S, C, D)
    n_steps: np.ndarray      # (S, C, D)
    status: np.ndarray       # (S,) str
    rejected_fraction: np.ndarray  # (S, reasons), NaN if the sampler does not report it
    compile_time: float      # s, this chunk's compilations
    wall_time: float         # s, this chunk without compilation
    site_time: np.ndarray = None    # (S,) s, each site's share of the sampling time
    site_cpu: np.ndarray = None     # (S,) s, the same in process CPU time
    n_segments: np.ndarray = None   # (S,) segments of num_samples iterations run
    stop_reason: np.ndarray = None  # (S,) str: converged, budget or init_failed
    diagnostics: tuple | None = None
    """(r_hat, ess_bulk, ess_tail), each (S, d), on all the draws the criterion saw (run
    until converged); None for a fixed budget (the table computes them from the stored
    draws)."""


@functools.lru_cache(maxsize=8)
def _batched_prepare(module):
    return jax.jit(jax.vmap(module.prepare))


def prepare_sites(chunk: Chunk, module) -> tuple[SiteData, np.ndarray]:
    """Batched SiteData (padded to ``chunk.pad_to``) and the padded site ids."""
    n = len(chunk)
    idx = np.concatenate([np.arange(n), np.full(max(0, chunk.pad_to - n), n - 1)])
    forcing = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a)[idx]), chunk.forcing)
    prepared = _batched_prepare(module)(forcing)
    p = chunk.profiles.take(idx)
    return SiteData(jnp.asarray(p.obs), jnp.asarray(p.depth), jnp.asarray(p.mask),
                    jnp.asarray(p.weight), prepared), p.site_id


class Programs:
    """The jitted programs of one configuration, compiled ahead of time per shape.

    ``call(name, *args, **static)`` returns ``(output, seconds spent compiling or waiting
    for another thread to compile it)``; a program is compiled the first time it meets a
    shape (and device), under a lock, so threads never compile the same program twice, and
    a thread that needs a program already compiled never waits for another's compilation.
    """

    def __init__(self, jitted: dict[str, Callable]):
        self._jitted = jitted
        self._compiled: dict[Any, Any] = {}
        # compilations one at a time (tracing is not run concurrently); a compiled program
        # is looked up without the lock
        self._lock = threading.Lock()

    def call(self, name: str, *args, **static):
        shapes = jax.tree_util.tree_map(lambda a: (jnp.shape(a), jnp.result_type(a)), args)
        key = (name, tuple(sorted(static.items())), jax.tree_util.tree_structure(args),
               tuple(jax.tree_util.tree_leaves(shapes)), str(jax.config.jax_default_device))
        seconds = 0.0
        exe = self._compiled.get(key)
        if exe is None:
            t0 = time.perf_counter()  # waiting for another thread's compilation counts
            with self._lock:
                exe = self._compiled.get(key)
                if exe is None:
                    exe = self._jitted[name].lower(*args, **static).compile()
                    self._compiled[key] = exe
            seconds = time.perf_counter() - t0
        return exe(*args), seconds


@functools.lru_cache(maxsize=16)
def programs(config: RunConfig) -> Programs:
    """The programs of ``config`` (cached per process)."""
    module = resolve_model(config.model)
    lik = config.likelihood
    space = config.space
    # prior draws v ~ U(0, 1)^d: u itself in a site-free space, logit(v) for "feasible"
    start_space = space if space in SITE_FREE_SPACES else "logit"
    smp = config.sampler
    core = sampler_core(smp)
    d = len(module.PARAMETERS)

    # one jitted function for every program: its jaxpr (and its batching) is traced once per
    # process and shape, not once per program. Tracing is most of a second process's
    # start-up (benchmarks/cost.py --part compile); XLA inlines the call, so the compiled
    # programs and their draws are unchanged (the same optimized HLO, draws bit for bit).
    @jax.jit
    def logdensity(site, x):
        return log_density(x, site, model=module, likelihood=lik, space=space)

    def density_of(site):
        return DensityWithStatus(lambda x: (lambda lp, aux: (lp, aux.status))(
            *logdensity(site, x)))

    def find_start(site, key):
        """Prior draws until the log density is finite (bounded tries)."""
        def draw(t):
            u = random.uniform(random.fold_in(key, t), (d,), minval=1e-6, maxval=1 - 1e-6)
            return from_unit(u, start_space)

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

    def init(sites, site_key):
        """Starting points (prior draws) and the sampler's initial states, per site."""
        chains = jnp.arange(config.num_chains)
        init_keys = jax.vmap(lambda k: jax.vmap(
            lambda c: random.split(random.fold_in(k, c), 2)[0])(chains))(site_key)
        x, lp, tries = jax.vmap(jax.vmap(find_start, in_axes=(None, 0)))(sites, init_keys)
        state = jax.vmap(lambda s, xs, k: core.init(smp, density_of(s), xs, k))(
            sites, x, site_key)
        return state, jnp.isfinite(lp), tries

    def warmup(sites, state, keys):
        return jax.vmap(lambda s, st, k: core.warmup(smp, density_of(s), st, k))(
            sites, state, keys)

    def segment(sites, state, tuning, keys, *, num_steps, thin):
        return jax.vmap(lambda s, st, tu, k: core.run_segment(
            smp, density_of(s), st, tu, k, num_steps, thin))(sites, state, tuning, keys)

    def evaluate(sites, positions):
        """Log density, predictions and unit-cube ``u`` at stored positions (S, C, D, d)
        -> (S, C, D, ...).

        One site at a time (:func:`inference.sequential.one_at_a_time`), so a site's
        values do not depend on the chunk it is in; within a site ``lax.map`` over draws
        in batches (all chains at once) bounds the memory of the model's intermediates.
        """
        def at(site, y):
            lp, info = logdensity(site, y)
            return lp, info, position_to_unit(y, site, module, space)

        def one_site(site, x):  # x: (C, D, d)
            xs = jnp.moveaxis(x, 1, 0)
            n = xs.shape[0]
            batch = max(k for k in range(1, min(n, 64) + 1) if n % k == 0)  # no remainder
            out = lax.map(lambda xd: jax.vmap(lambda y: at(site, y))(xd), xs,
                          batch_size=batch)
            return jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, 1), out)

        return jax.vmap(one_at_a_time(one_site))(sites, positions)

    def predictive(keys, pred, obs, mask):
        def per_site(key, p, o, m):
            c, n = p.shape[:2]
            ks = random.split(key, c * n).reshape(c, n, -1)
            return jax.vmap(jax.vmap(lambda k, q: lik.sample(k, q, o, m)))(ks, p)
        return jax.vmap(per_site)(keys, pred, obs, mask)

    def finish(sites, positions, site_key):
        pred_keys = jax.vmap(lambda k: random.fold_in(k, 2**31 - 1))(site_key)
        lp, info, u = evaluate(sites, positions)
        y_rep = predictive(pred_keys, info.soc, sites.obs, sites.mask)
        return lp, info, y_rep, u

    def unit(sites, positions):
        """Unit-cube ``u`` of positions (S, C, D, d) (the criterion reads ``u``), one site
        at a time like :func:`evaluate`."""
        return jax.vmap(one_at_a_time(lambda site, x: jax.vmap(jax.vmap(
            lambda y: position_to_unit(y, site, module, space)))(x)))(sites, positions)

    return Programs({"init": jax.jit(init), "warmup": jax.jit(warmup),
                     "segment": jax.jit(segment, static_argnames=("num_steps", "thin")),
                     "unit": jax.jit(unit), "finish": jax.jit(finish)})


@jax.jit
def _take(tree, rows):
    """``tree``'s leaves at ``rows`` of their leading axis: one dispatch (jitted) instead
    of one gather per leaf, which cost ~1 ms each between segments."""
    return jax.tree_util.tree_map(lambda a: a[rows], tree)


@jax.jit
def _segment_keys(site_key, j):
    """Each site's key for program call ``j`` (0: warm-up). Jitted with ``j`` as data (one
    compile per batch size): eagerly, the two vmapped ``fold_in`` cost ~4 ms per segment."""
    return jax.vmap(lambda k: random.fold_in(random.fold_in(k, SEGMENT_KEY), j))(site_key)


def compute_chunk(chunk: Chunk, config: RunConfig) -> ChunkResult:
    """Run one chunk of sites (pure: same inputs, same numbers).

    Warm-up once, then segments of ``num_samples`` iterations (kept draws thinned to
    ``num_draws`` per chain; iterations after the last stored draw are run, not stored):
    one segment for a fixed budget, or (``config.convergence``) until each site meets the
    criterion or has run ``max_segments`` segments -- finished sites stop, the others are
    re-batched (:func:`inference.convergence.bucket_size`). A site's numbers depend only on
    its own key, never on which sites share its batch. The predictions and log-likelihood
    at the stored draws are evaluated at the end.
    """
    t0, cpu0 = time.perf_counter(), time.process_time()
    module = resolve_model(config.model)
    progs = programs(config)
    compile_time = 0.0

    def call(name, *args, **static):
        nonlocal compile_time
        out, seconds = progs.call(name, *args, **static)
        compile_time += seconds
        return out

    n_real = len(chunk)
    sites, padded_ids = prepare_sites(chunk, module)
    site_key = jnp.asarray(site_keys(config.seed, padded_ids))
    smp, conv = config.sampler, config.convergence
    n_pad, n_chains, n_keep, thin = sites.obs.shape[0], config.num_chains, config.n_keep, \
        config.thin
    states, start_ok, tries = call("init", sites, site_key)
    states, tuning = call("warmup", sites, states, _segment_keys(site_key, 0))
    ok_site = np.asarray(start_ok).all(axis=1)
    jax.block_until_ready(tuning)
    # warm-up cost, shared by the real sites
    site_time = np.full(n_pad, (time.perf_counter() - t0 - compile_time) / n_real)
    # process CPU seconds (compilation taken as one core for its wall time)
    site_cpu = np.full(n_pad, max(time.process_time() - cpu0 - compile_time, 0.0) / n_real)

    reasons = [f"rejected_{name}" for name in REJECTION_BITS]
    totals: dict[str, np.ndarray] = {}
    n_segments = np.zeros(n_pad, int)
    stop_reason = np.where(ok_site, "budget", "init_failed").astype(object)
    final: dict[int, dict[str, np.ndarray]] = {}  # site -> its held draws (stride-thinned)
    diag_rows: dict[int, tuple] = {}  # site -> (r_hat, ess_bulk, ess_tail) of its draws
    active = np.arange(n_pad)  # segment 0 runs the whole padded batch (one shape)
    rows, batch_state = active, states
    rows_kept = rows  # rows of the previous batch that go on
    held: dict[str, np.ndarray] | None = None  # draws of the active sites, (A, C, B, ...)
    held_index = np.zeros(0, int)  # global draw index of the held draws
    stride = 1
    rest = smp.num_samples - n_keep * thin
    b_sites, b_tuning, b_key = sites, tuning, site_key
    sel = np.arange(n_pad)  # the sites of the batch (padded)
    for j in range(config.max_segments):
        t_seg, cpu_seg = time.perf_counter(), time.process_time()
        c_before = compile_time
        if j:  # re-batch the remaining sites (nothing to do if none has finished)
            size = bucket_size(len(active), n_pad)
            take = np.r_[rows, np.full(size - len(active), rows[-1])]
            new_sel = np.r_[active, np.full(size - len(active), active[-1])]
            if not np.array_equal(take, np.arange(len(sel))):
                batch_state = _take(batch_state, jnp.asarray(take))
            if not np.array_equal(new_sel, sel):
                b_sites, b_tuning, b_key = _take((sites, tuning, site_key),
                                                 jnp.asarray(new_sel))
            sel = new_sel
        batch_state, draws, info = call("segment", b_sites, batch_state, b_tuning,
                                        _segment_keys(b_key, 1 + 2 * j),
                                        num_steps=n_keep * thin, thin=thin)
        infos = [info]
        if rest:  # iterations after the last stored draw: run, not stored
            batch_state, _, info2 = call("segment", b_sites, batch_state, b_tuning,
                                         _segment_keys(b_key, 2 + 2 * j), num_steps=rest,
                                         thin=rest)
            infos.append(info2)
        n_act = len(active)
        counted = all(k in info for k in reasons)
        keys = ("accepted", "n_evals", "divergent") + (tuple(reasons) if counted else ())
        for k in keys:
            add = sum(np.asarray(i[k], float) for i in infos)[:n_act]
            totals.setdefault(k, np.zeros((n_pad, n_chains)))[active] += add
        n_segments[active] += 1
        new = {"position": np.asarray(draws)[:n_act]}
        if conv is not None:  # u in the segment's batch shape: one compile per bucket
            new["u"] = np.asarray(call("unit", b_sites, draws))[:n_act]
        for k, v in info.get("per_draw", {}).items():
            new[k] = np.asarray(v)[:n_act]
        new_index = j * n_keep + np.arange(n_keep)
        keep = new_index % stride == 0
        held = ({k: v[:, :, keep] for k, v in new.items()} if held is None else
                {k: np.concatenate([held[k][rows_kept], new[k][:, :, keep]], axis=2)
                 for k in new})
        held_index = np.r_[held_index, new_index[keep]]
        while held_index.size > 2 * n_keep:  # double the stride: memory stays bounded
            stride *= 2
            sub = held_index % stride == 0
            held = {k: v[:, :, sub] for k, v in held.items()}
            held_index = held_index[sub]
        real_active = active < n_real
        go_on = real_active & ok_site[active]
        d = None
        if conv is not None:  # the criterion on all the draws held so far
            last = j == config.max_segments - 1  # budget spent: the full statistics
            d = diagnose(held["u"], rhat_max=None if last else conv.rhat_max)
            met = conv.met(d)
            stop_reason[active[go_on & met]] = "converged"
            go_on &= ~met
        if j == config.max_segments - 1:
            go_on[:] = False
        for r in np.flatnonzero(~go_on):  # finished (or padding / failed start)
            i = int(active[r])
            final[i] = {k: v[r] for k, v in held.items()}
            if d is not None:
                diag_rows[i] = (d.r_hat[r], d.ess_bulk[r], d.ess_tail[r])
        # the segment's cost (checks included, compilation excluded), shared by its sites
        seg_seconds = time.perf_counter() - t_seg - (compile_time - c_before)
        seg_cpu = max(time.process_time() - cpu_seg - (compile_time - c_before), 0.0)
        site_time[active[real_active]] += seg_seconds / max(real_active.sum(), 1)
        site_cpu[active[real_active]] += seg_cpu / max(real_active.sum(), 1)
        rows_kept = np.flatnonzero(go_on)
        rows, active = rows_kept, active[rows_kept]
        if not active.size:
            break

    # stored draws: each site's held draws, evenly subsampled to n_keep per chain
    d_par = len(module.PARAMETERS)
    stored = {"position": np.zeros((n_pad, n_chains, n_keep, d_par)),
              "diverging": np.zeros((n_pad, n_chains, n_keep), bool),
              "n_steps": np.ones((n_pad, n_chains, n_keep))}
    for i, h in final.items():
        pick = np.round(np.linspace(0, h["position"].shape[1] - 1, n_keep)).astype(int)
        for k in stored:
            if k in h:
                stored[k][i] = h[k][:, pick]
    positions = jnp.asarray(stored["position"])  # (S, C, D, d)
    lp, pred_info, y_rep, u = call("finish", sites, positions, site_key)
    u = np.asarray(u)
    theta = np.asarray(module.PARAMETERS.to_physical(u))

    warm_evals = (np.asarray(tuning["n_evals"], float)
                  if isinstance(tuning, dict) and "n_evals" in tuning
                  else np.full((n_pad, n_chains), float(smp.num_warmup)))
    totals = {k: totals.get(k, np.zeros((n_pad, n_chains))) for k in
              ("accepted", "n_evals", "divergent", *[r for r in reasons if r in totals])}
    # the prior draws tried include the evaluation at the start
    evals_per_chain = np.asarray(tries, float) + warm_evals + totals["n_evals"]
    iterations = np.maximum(n_segments, 1)[:, None] * smp.num_samples
    acc = totals["accepted"] / iterations
    if all(k in totals for k in reasons):  # per site: proposals of all chains, warm-up incl.
        warm = [np.asarray(tuning.get(k, 0.0), float) if isinstance(tuning, dict) else 0.0
                for k in reasons]
        n_prop = n_chains * (smp.num_warmup + iterations[:, 0])
        rejected = np.stack([(totals[k] + w).sum(axis=1) for k, w in zip(reasons, warm,
                                                                          strict=True)],
                            axis=-1) / n_prop[:, None]
    else:
        rejected = np.full((n_pad, len(reasons)), np.nan)
    diagnostics = None
    if conv is not None:
        nan = np.full(d_par, np.nan)
        diagnostics = tuple(np.stack([diag_rows.get(i, (nan, nan, nan))[k]
                                      for i in range(n_real)]) if n_real else
                            np.zeros((0, d_par)) for k in range(3))

    status = np.where(ok_site, "ok", "init_failed").astype(object)
    u, theta, lp, pred, loglik, y_rep = (
        np.array(a[:n_real]) for a in (u, theta, lp, pred_info.soc, pred_info.log_likelihood,
                                       y_rep))
    ok_site = ok_site[:n_real]
    for arr in (u, theta, pred, loglik, y_rep):
        arr[~ok_site] = np.nan
    wall = time.perf_counter() - t0 - compile_time
    return ChunkResult(u=u, theta=theta, lp=lp, pred=pred, loglik=loglik, y_rep=y_rep,
                       acceptance=acc[:n_real], n_evals=evals_per_chain.sum(axis=1)[:n_real],
                       n_divergent=totals["divergent"].sum(axis=1)[:n_real].astype(int),
                       diverging=stored["diverging"][:n_real],
                       n_steps=stored["n_steps"][:n_real],
                       status=np.asarray(status[:n_real], dtype=str),
                       rejected_fraction=rejected[:n_real],
                       compile_time=compile_time, wall_time=max(wall, 0.0),
                       site_time=site_time[:n_real], site_cpu=site_cpu[:n_real],
                       n_segments=n_segments[:n_real],
                       stop_reason=np.asarray(stop_reason[:n_real], dtype=str),
                       diagnostics=diagnostics)
