"""Shared test configuration: float64, CPU, the test-only toy model and a few forcings.

Test helpers live in the ``tests.support`` package (import them from there, not from this
file).
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402

import socmodels  # noqa: E402  (enables float64)
from tests.support import toy_model  # noqa: E402
from tests.support.forcings import FORCING_KINDS, synthetic_forcing  # noqa: E402

# The toy model is a test utility, registered like any model defined outside the package.
socmodels.register_model(toy_model)


@pytest.fixture(scope="session")
def forcings():
    return {k: synthetic_forcing(k) for k in FORCING_KINDS}
