"""JAX's persistent compilation cache for socmc: one compile per program and shape per machine.

Every sampler program of the runner (:mod:`inference.programs`), the batched steady states
and the network's training step are compiled by XLA; on a CPU that takes seconds to tens of
seconds per program. With the persistent cache a second process (a resumed run, the next
pipeline stage, a Dask worker on the same file system) loads the executable from disk
instead. The ahead-of-time path of :class:`inference.programs.Programs`
(``jit(f).lower(...).compile()``) goes through the same cache.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["enable_compilation_cache", "compilation_cache_dir", "CACHE_ENV",
           "MIN_COMPILE_SECONDS"]

CACHE_ENV = "SOCMC_JAX_CACHE"
"""Environment variable: the cache folder, or ``off`` to disable the cache."""
MIN_COMPILE_SECONDS = 0.5
"""Programs that compile faster than this are not written to the cache (JAX's own default
is 1 s; the runner's small programs take 0.5-1 s on a CPU)."""
_OFF = ("off", "0", "none", "false", "no")


def compilation_cache_dir(path: str | Path | None = None) -> Path | None:
    """The cache folder that :func:`enable_compilation_cache` would use (``None``: disabled).

    Order: ``path``; ``$SOCMC_JAX_CACHE``; ``$SOCMC_CACHE/jax`` (the pipeline's cache
    root); ``$XDG_CACHE_HOME/socmc/jax``; ``~/.cache/socmc/jax``. ``off`` in either
    variable disables the cache.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(CACHE_ENV, "").strip()
    root = os.environ.get("SOCMC_CACHE", "").strip()
    if env:
        return None if env.lower() in _OFF else Path(env).expanduser()
    if root.lower() in _OFF:
        return None
    base = Path(root).expanduser() if root else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "socmc"
    return base / "jax"


def enable_compilation_cache(path: str | Path | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache (idempotent; process-wide).

    Sets ``jax_compilation_cache_dir``, ``jax_persistent_cache_min_compile_time_secs``
    (:data:`MIN_COMPILE_SECONDS`) and ``jax_persistent_cache_min_entry_size_bytes`` (-1:
    any size). A cache folder already configured by the user through JAX
    (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``) is kept when ``path`` is None.
    JAX fixes the folder at the first compilation that sees one set, so a different
    folder takes effect only in a new process.

    Args:
        path: Cache folder (overrides the environment; see :func:`compilation_cache_dir`).

    Returns:
        The cache folder in use, or ``None`` when disabled.
    """
    import jax

    folder = compilation_cache_dir(path)
    if folder is None:
        return None
    configured = jax.config.jax_compilation_cache_dir
    if path is None and configured:
        return Path(configured)
    folder.mkdir(parents=True, exist_ok=True)
    if configured != str(folder):
        jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder
