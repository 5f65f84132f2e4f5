"""The persistent compilation cache (``inference.enable_compilation_cache``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inference.compilation import CACHE_ENV, compilation_cache_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for k in (CACHE_ENV, "SOCMC_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_cache_folder_resolution(clean_env, tmp_path):
    assert compilation_cache_dir() == tmp_path / "home" / ".cache" / "socmc" / "jax"
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compilation_cache_dir() == tmp_path / "xdg" / "socmc" / "jax"
    clean_env.setenv("SOCMC_CACHE", str(tmp_path / "root"))
    assert compilation_cache_dir() == tmp_path / "root" / "jax"
    clean_env.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert compilation_cache_dir() == tmp_path / "mine"
    assert compilation_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    clean_env.setenv(CACHE_ENV, "off")
    assert compilation_cache_dir() is None
    assert compilation_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    clean_env.delenv(CACHE_ENV)
    clean_env.setenv("SOCMC_CACHE", "OFF")
    assert compilation_cache_dir() is None


_SCRIPT = """
import json, sys
import jax, jax.numpy as jnp
from jax import monitoring
hits = []
monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)
import inference
folder = inference.enable_compilation_cache()
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # tiny program
f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * 3.0) ** 2)
exe = f.lower(jnp.ones(7)).compile()   # the ahead-of-time path of inference.programs
print(json.dumps({"folder": str(folder), "hits": len(hits), "y": float(exe(jnp.ones(7))[-1])}))
"""


def _run(env):
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_ahead_of_time_program(tmp_path):
    env = {**os.environ, CACHE_ENV: str(tmp_path / "jc"), "PYTHONPATH": str(ROOT)}
    first = _run(env)
    assert first["folder"] == str(tmp_path / "jc") and first["hits"] == 0
    assert any((tmp_path / "jc").iterdir())
    second = _run(env)
    assert second["hits"] >= 1
    assert second["y"] == first["y"]
    env[CACHE_ENV] = "off"
    assert _run(env)["folder"] == "None"
