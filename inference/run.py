"""Many sites x chains: chunked, checkpointed, resumable, on threads or Dask (orchestration).

:func:`run_sites` validates its settings (before any work), splits the sites into chunks
and runs each as a pure function ``(Chunk, RunConfig) -> checkpoint file``
(:func:`run_chunk_to_file`); a chunk is one compiled program over its sites x chains
(:mod:`inference.programs`), its results are written as an ArviZ DataTree
(:mod:`inference.checkpoints`) and the finished run's site table follows
:mod:`inference.schema`. The configuration lives in :mod:`inference.config`.

Resume: re-running with the same arguments and ``output_dir`` skips the sites whose
checkpoint holds the same input fingerprint (data, forcing, configuration, package
version); a checkpoint computed from other inputs is recomputed, an unreadable one is
reported and redone. A different configuration raises :class:`RunConfigError` unless
``overwrite=True``.

Memory is bounded by the chunk: draws are thinned to ``num_draws`` per chain, each chunk is
written and dropped before the next, and the site table holds only summaries.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np
import xarray as xr

from inference.checkpoints import (
    CHUNK_DIR,
    CONFIG_FILE,
    SKIPPED_FILE,
    TABLE_FILE,
    assemble_site_table,
    chunk_path,
    chunk_tree,
    completed_sites,
    load_site,
    load_site_table,
    write_atomic,
    write_table,
)
from inference.compilation import enable_compilation_cache
from inference.config import (
    RunConfig,
    RunConfigError,
    check_positive_int,
    model_name,
    site_fingerprints,
)
from inference.convergence import Convergence
from inference.diagnostics import DEFAULT_NSE_MIN, DEFAULT_RHAT_MAX
from inference.likelihoods import get_likelihood
from inference.models import resolve_model
from inference.programs import Chunk, compute_chunk
from inference.samplers import get_sampler
from inference.sites import read_profiles

__all__ = ["RunConfig", "Convergence", "Chunk", "SiteRun", "RunConfigError", "run_sites",
           "run_chunk", "run_chunk_to_file", "load_site_table", "load_site", "completed_sites",
           "chunk_path", "model_name", "CHUNK_DIR", "TABLE_FILE", "CONFIG_FILE",
           "SKIPPED_FILE"]


def run_chunk(chunk: Chunk, config: RunConfig) -> xr.DataTree:
    """Run one chunk of sites (pure: same inputs, same numbers) and return its DataTree."""
    return chunk_tree(chunk, config, compute_chunk(chunk, config))


def run_chunk_to_file(chunk: Chunk, config: RunConfig, output_dir: str) -> dict:
    """Run a chunk and write its checkpoint atomically; the unit of work for Dask.

    Returns:
        ``{"path", "n_sites", "wall_time"}``. The caller decides what to run:
        :func:`run_sites` only submits chunks without a valid checkpoint.
    """
    path = chunk_path(output_dir, chunk)
    t0 = time.perf_counter()
    write_atomic(run_chunk(chunk, config), path)
    return {"path": str(path), "n_sites": len(chunk), "wall_time": time.perf_counter() - t0}


@dataclasses.dataclass
class SiteRun:
    """Result of :func:`run_sites`.

    Attributes:
        output_dir: where the run lives.
        config: its configuration.
        table: the site table (None if the run stopped early with ``max_chunks``).
        complete: whether every site has a checkpoint.
    """

    output_dir: Path
    config: RunConfig
    table: xr.Dataset | None
    complete: bool

    def posterior(self, site_id) -> xr.DataTree:
        """One site's ArviZ DataTree (see :func:`load_site`)."""
        return load_site(self.output_dir, site_id)


def _check_config(output_dir: Path, config: RunConfig, overwrite: bool) -> None:
    path = output_dir / CONFIG_FILE
    new = json.loads(json.dumps(config.to_dict()))
    if path.exists() and not overwrite:
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise RunConfigError(f"{path} is unreadable ({err}); use a new output_dir or"
                                 " pass overwrite=True") from None
        if old != new:
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise RunConfigError(
                f"{output_dir} holds a run with a different configuration (differs in {diff});"
                " resume with the same settings, use a new output_dir, or pass overwrite=True"
                " to discard the old checkpoints")
    if overwrite:
        for f in (output_dir / CHUNK_DIR).glob("chunk-*.nc*"):
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
              overwrite: bool = False, convergence: Convergence | None = None,
              rhat_max: float | None = None, nse_min: float = DEFAULT_NSE_MIN,
              ess_min: float | None = None, space: str | None = None,
              compilation_cache: bool = True) -> SiteRun:
    """Calibrate every site: all sites x chains batched, chunked, checkpointed, resumable.

    Args:
        profiles: soil profiles (dims ``profile``, ``layer``; see :mod:`inference.sites`).
        forcing: batched ``socmodels.Forcing`` aligned with ``profiles.profile``.
        model: a registered model name (``"clm5"``, ``"compas"``, ``"toy"``, ...).
        sampler: a preset name (``"am"``, ``"am_two_phase"``, ``"proda_compat"``,
            ``"nuts"``), a dict or a config (:func:`inference.samplers.get_sampler`).
        output_dir: where checkpoints and results go. Re-running resumes.
        likelihood: ``"lognormal"`` (default), ``"gaussian_relative"``, ``"nse"`` or a
            Likelihood.
        num_chains: chains per site (3 as in the paper), each from its own prior draw.
        seed: root seed; with the site id it fixes every random number of a site.
        num_draws: stored draws per chain (kept iterations are thinned to this).
        chunk_size: sites per compiled batch and per checkpoint; bounds memory; does not
            change results.
        client: a ``dask.distributed.Client``: chunks run on its workers (each writes its
            checkpoint to ``output_dir``, which must be visible to them). Same results.
        devices: jax devices to spread chunks over (default: all local accelerators, or
            the CPU).
        workers: chunks run concurrently in threads (default: one per device). On a CPU,
            XLA runs one program on about one core, so ``workers=os.cpu_count()`` uses
            every core at the cost of one chunk's memory per worker.
        progress: show a tqdm bar counting finished sites (closed when the stage ends).
        invalid: ``"raise"`` (default: sites without enough valid layers raise
            :class:`~inference.sites.ProfileError`) or ``"skip"`` (listed in
            ``skipped_sites.json`` and the table).
        max_init_tries: prior draws per chain to find a feasible start; a site whose chains
            all fail gets status ``"init_failed"`` instead of stopping the run.
        max_chunks: run at most this many chunks, then return (time-limited batch jobs).
        on_chunk_done: called with ``{"path", "n_sites", "wall_time"}`` after each
            checkpoint is written.
        overwrite: discard existing checkpoints in ``output_dir``.
        convergence: run until converged (:class:`inference.Convergence`): after the
            warm-up each site draws segments of the sampler's ``num_samples`` iterations
            until max split R-hat <= ``rhat_max`` and min bulk/tail ESS >= their minima, or
            ``max_segments`` segments are spent; finished sites stop costing and the table's
            ``stop_reason`` says ``converged`` or ``budget``. None (default): one segment.
        rhat_max: screening threshold on R-hat for the table's ``kept`` flag (default: the
            criterion's ``rhat_max``, else 1.05, the paper's).
        nse_min: screening threshold on NSE for ``kept``.
        ess_min: screening threshold on the smallest bulk and tail ESS for ``kept``
            (default: the criterion's ``min(ess_bulk_min, ess_tail_min)``, else 0).
        space: the sampler space, ``"unit"``, ``"logit"`` or ``"feasible"``
            (:mod:`inference.models`); None (default) keeps the sampler's own (its ``space``
            setting, else ``"logit"``). ``"feasible"`` (models with the
            ``feasible_parameters`` capability, e.g. COMPAS) samples the feasible set mapped
            onto the box: same posterior, no walls along the mapped coordinates; it needs a
            sampler whose own space is not ``"unit"``. Results (``u``, ``mean_unit``,
            physical draws) are reported the same way in every space.
        compilation_cache: turn on JAX's persistent compilation cache
            (:func:`inference.enable_compilation_cache`; folder from ``$SOCMC_JAX_CACHE``,
            ``off`` there disables it), so a second process loads the programs instead of
            compiling them. False leaves JAX's settings alone.

    Returns:
        SiteRun.

    Raises:
        RunConfigError: an invalid setting (before any work), or ``output_dir`` holding a
            run with another configuration.
        ValueError: ``forcing`` not aligned with ``profiles``.
    """
    chunk_size = check_positive_int("chunk_size", chunk_size)
    if max_chunks is not None:
        max_chunks = check_positive_int("max_chunks", max_chunks)
    if workers is not None:
        workers = check_positive_int("workers", workers)
    if invalid not in ("raise", "skip"):
        raise RunConfigError(f"invalid must be 'raise' or 'skip', got {invalid!r}")
    lik = get_likelihood(likelihood)
    smp = get_sampler(sampler)
    if compilation_cache:
        enable_compilation_cache()
    name = model_name(model)
    module = resolve_model(name)
    config = RunConfig(model=name, sampler=smp, likelihood=lik, num_chains=num_chains,
                       seed=seed, num_draws=num_draws, max_init_tries=max_init_tries,
                       convergence=convergence, space=space)
    if rhat_max is None:
        rhat_max = convergence.rhat_max if convergence is not None else DEFAULT_RHAT_MAX
    if ess_min is None:
        ess_min = (min(convergence.ess_bulk_min, convergence.ess_tail_min)
                   if convergence is not None else 0.0)
    if len(module.PARAMETERS) < 1:
        raise ValueError("model has no parameters")
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
    config = dataclasses.replace(config, n_layers=prof.n_layers)
    _check_config(output_dir, config, overwrite)
    if skipped:
        (output_dir / SKIPPED_FILE).write_text(json.dumps({str(k): v for k, v in skipped.items()},
                                                          indent=2))
    fingerprints = site_fingerprints(prof, forcing[keep_idx], config)
    done = completed_sites(output_dir, dict(zip(map(str, prof.site_id), fingerprints,
                                                strict=True)))
    todo_idx = np.flatnonzero([str(s) not in done for s in prof.site_id])
    selections = [todo_idx[a:a + chunk_size] for a in range(0, len(todo_idx), chunk_size)]
    if max_chunks is not None:
        selections = selections[:max_chunks]
    # Chunks are built when they are submitted, so the forcing is never copied whole.
    chunks = (Chunk(prof.take(sel), forcing[keep_idx[sel]], pad_to=min(chunk_size, len(prof)),
                    fingerprints=fingerprints[sel])
              for sel in selections)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prof), initial=len(prof) - len(todo_idx), unit="site",
                   desc=f"{name} {smp.name}", smoothing=0.1)

    def finished(report: dict) -> None:
        if bar is not None:
            bar.update(report["n_sites"])
        if on_chunk_done is not None:
            on_chunk_done(report)

    try:
        if client is not None:
            _run_dask(client, chunks, config, output_dir, finished)
        else:
            devs = list(devices) if devices is not None else _default_devices()
            n_workers = workers if workers is not None else len(devs)
            if n_workers > 1:
                _run_pool(devs, n_workers, chunks, config, output_dir, finished)
            else:
                for chunk in chunks:
                    finished(run_chunk_to_file(chunk, config, str(output_dir)))
    finally:
        if bar is not None:
            bar.close()

    complete = len(completed_sites(output_dir)) >= len(prof)
    table = None
    if complete:
        table = assemble_site_table(output_dir, prof_all_ids, skipped, rhat_max=rhat_max,
                                    nse_min=nse_min, ess_min=ess_min)
        write_table(table, output_dir / TABLE_FILE)
    return SiteRun(output_dir, config, table, complete)


def _default_devices() -> list:
    devs = jax.local_devices()
    return devs if devs and devs[0].platform != "cpu" else devs[:1]


def _run_pool(devices, workers, chunks, config, output_dir, finished) -> None:
    """Chunks on ``workers`` threads; thread i uses ``devices[i % len(devices)]``.

    XLA runs one compiled CPU program on about one core, so on a CPU two workers give
    about twice the throughput (and twice the chunk memory). All workers start at once: a
    program is compiled by the first thread that needs it while the others wait for it
    (:class:`inference.programs.Programs`), never compiled twice.
    """
    pin = len(devices) > 1 or (devices and devices[0].platform != "cpu")
    chunks = iter(chunks)
    counter = iter(range(1 << 62))

    def work(chunk):
        i = next(counter)
        if pin:
            with jax.default_device(devices[i % len(devices)]):
                return run_chunk_to_file(chunk, config, str(output_dir))
        return run_chunk_to_file(chunk, config, str(output_dir))

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


def _run_dask(client, chunks, config, output_dir, finished) -> None:
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    chunks = iter(chunks)
    futures = [client.submit(run_chunk_to_file, c, config, str(output_dir), pure=False)
               for c in itertools.islice(chunks, 2 * n_workers)]
    ac = as_completed(futures)
    for fut in ac:
        finished(fut.result())
        nxt = next(chunks, None)
        if nxt is not None:
            ac.add(client.submit(run_chunk_to_file, nxt, config, str(output_dir), pure=False))
