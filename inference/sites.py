"""Soil profiles in, validated per-site arrays out; stable per-site random keys.

The profile contract (``socmodels.data``): an ``xarray.Dataset`` with dims
``("profile", "layer")``, coordinate ``profile_id`` (profile), optional ``lat``/``lon``,
and variables ``node_depth`` [m], ``soc_density`` [gC m-3] (the observation) and
``layer_mask`` (bool). Validation happens here, in NumPy, before anything is compiled, and
errors name the sites and the fix.

A layer is *valid* if ``layer_mask`` is True, the observation is finite and > 0 (PRODA
drops zero layers, ``docs/original_code.md`` section 2.9) and the depth is finite and inside
the 0-8.6 m model column. Valid layers are moved to the front of the layer axis (order kept)
and padded, so that every site has the same array shape.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Bool, Float

from inference.likelihoods import Likelihood, layer_weights
from socmodels import layers
from socmodels.contract import resolve_model

__all__ = ["SiteData", "Profiles", "ProfileError", "read_profiles", "make_site",
           "site_key", "site_keys", "site_hash"]


class ProfileError(ValueError):
    """A soil profile cannot be used (no or too few valid layers, bad input)."""


# Shapes for the annotations (jaxtyping, not checked at run time); ``*sites`` = batch axes.
_Layers = Float[Array, "*sites L"]
_Mask = Bool[Array, "*sites L"]


class SiteData(NamedTuple):
    """Everything the log density of one site needs (a pytree; batch it for vmap).

    Attributes:
        obs: (L,) observed SOC density [gC m-3]; 1.0 on padding.
        depth: (L,) observation depths [m]; a valid depth on padding.
        mask: (L,) bool, True on valid layers.
        weight: (L,) layer weights (1 unless ``gaussian_relative(layer_weights=True)``).
        prepared: the soil model's ``prepare(forcing)`` output for the site.
    """

    obs: _Layers
    depth: _Layers
    mask: _Mask
    weight: _Layers
    prepared: Any  # the model's prepare() output (a SitePrep for CLM5/COMPAS)


@dataclasses.dataclass(frozen=True)
class Profiles:
    """Validated profiles as NumPy arrays (n sites, L layers), valid layers first."""

    site_id: np.ndarray
    obs: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    weight: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return len(self.site_id)

    @property
    def n_layers(self) -> int:
        return self.obs.shape[1]

    def take(self, index) -> "Profiles":
        return Profiles(*(getattr(self, f.name)[index] for f in dataclasses.fields(self)))


def _py(value):
    """A NumPy scalar as a plain Python value (for messages and dict keys)."""
    return value.item() if hasattr(value, "item") else value


def _coord(ds: xr.Dataset, name: str, n: int) -> np.ndarray:
    if name in ds.variables:
        return np.asarray(ds[name].values, dtype=float).reshape(n)
    return np.full(n, np.nan)


def read_profiles(profiles: xr.Dataset, likelihood: Likelihood, *,
                  invalid: str = "raise") -> tuple[Profiles, dict]:
    """Validate a profile Dataset.

    Args:
        profiles (xarray.Dataset): See the module docstring for the contract.
        likelihood (Likelihood): Sets the minimum number of valid layers (2 for ``nse``).
        invalid ({"raise", "skip"}):
            What to do with sites that have too few valid layers: raise :class:`ProfileError`
            naming them, or drop them (they are reported in the returned dict).

    Returns:
        (Profiles, dict):
            The valid sites (in input order) and ``{site_id: reason}`` for dropped ones.
    """
    if invalid not in ("raise", "skip"):
        raise ValueError("invalid must be 'raise' or 'skip'")
    missing = [v for v in ("node_depth", "soc_density") if v not in profiles.variables]
    if missing:
        raise ProfileError(f"profile dataset lacks variable(s) {missing}; expected node_depth [m],"
                           " soc_density [gC m-3] and layer_mask on dims ('profile', 'layer')")
    for dim in ("profile", "layer"):
        if dim not in profiles.dims:
            raise ProfileError(f"profile dataset has dims {tuple(profiles.dims)}; expected"
                               " ('profile', 'layer')")
    ds = profiles.transpose("profile", "layer", ...)
    n, L = ds.sizes["profile"], ds.sizes["layer"]
    if "profile_id" in ds.variables:
        ids = np.asarray(ds["profile_id"].values).reshape(n)
    else:
        ids = np.arange(n)
    keys = [str(i) for i in ids]
    if len(set(keys)) != n:
        dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
        raise ProfileError(f"duplicate profile_id values {dup}: site ids must be unique (they"
                           " seed each site's random numbers and name its results)")
    obs = np.asarray(ds["soc_density"].values, float)
    depth = np.asarray(ds["node_depth"].values, float)
    lmask = (np.asarray(ds["layer_mask"].values, bool) if "layer_mask" in ds.variables
             else np.ones((n, L), bool))
    with np.errstate(invalid="ignore"):
        valid = (lmask & np.isfinite(obs) & (obs > 0) & np.isfinite(depth)
                 & (depth >= 0) & (depth <= layers.COLUMN_DEPTH))
    n_valid = valid.sum(axis=1)

    reasons: dict = {}
    for i in np.flatnonzero(n_valid < likelihood.min_layers):
        out = lmask[i] & np.isfinite(depth[i]) & ((depth[i] < 0) | (depth[i] > layers.COLUMN_DEPTH))
        hint = (" (some depths lie outside 0-8.6 m: are they in cm rather than m?)"
                if out.any() else "")
        reasons[_py(ids[i])] = (
            f"{int(n_valid[i])} valid layer(s), {likelihood.kind} needs"
            f" >= {likelihood.min_layers}{hint}")
    if likelihood.kind == "nse":
        for i in np.flatnonzero(n_valid >= 2):
            o = obs[i][valid[i]]
            if np.ptp(o) == 0:
                reasons[_py(ids[i])] = "all valid observations are equal: NSE is undefined"
    if reasons and invalid == "raise":
        shown = list(reasons.items())[:10]
        more = f" (and {len(reasons) - 10} more)" if len(reasons) > 10 else ""
        lines = "; ".join(f"{k!r}: {v}" for k, v in shown)
        raise ProfileError(
            f"{len(reasons)} site(s) have no usable profile: {lines}{more}. A valid layer has"
            " layer_mask True, finite soc_density > 0 and node_depth in 0-8.6 m. Drop these"
            " sites, or pass invalid='skip' to skip them.")

    keep = np.array([_py(ids[i]) not in reasons for i in range(n)], bool)
    c_obs = np.ones((n, L))
    c_depth = np.zeros((n, L))
    c_mask = np.zeros((n, L), bool)
    c_weight = np.ones((n, L))
    for i in np.flatnonzero(keep):
        v = valid[i]
        k = int(v.sum())
        c_obs[i, :k] = obs[i][v]
        c_depth[i, :k] = depth[i][v]
        c_depth[i, k:] = depth[i][v][0]
        c_mask[i, :k] = True
        if likelihood.uses_layer_weights:
            c_weight[i, :k] = layer_weights(obs[i][v], depth[i][v])
    prof = Profiles(ids, c_obs, c_depth, c_mask, c_weight, _coord(ds, "lat", n),
                    _coord(ds, "lon", n))
    return prof.take(keep), reasons


def make_site(obs, depth, forcing, *, model, likelihood: Likelihood | None = None,
              mask=None) -> SiteData:
    """One site's :class:`SiteData` from arrays (for notebooks, tests, NumPyro).

    Args:
        obs, depth (array (L,)): Observed SOC density [gC m-3] and depth [m].
        forcing (socmodels.Forcing): Single-site forcing.
        model (str or module): A registered model name (``socmodels.MODELS``) or a model object.
        likelihood (Likelihood, optional):
            Only used for layer weights (``gaussian_relative(layer_weights=True)``).
        mask (array (L,) of bool, optional): Valid layers; default: finite ``obs`` > 0.
    """
    from inference.likelihoods import lognormal

    module = resolve_model(model)
    likelihood = lognormal() if likelihood is None else likelihood
    obs = np.asarray(obs, float)
    depth = np.asarray(depth, float)
    m = np.isfinite(obs) & (obs > 0) if mask is None else np.asarray(mask, bool)
    ds = xr.Dataset({"soc_density": (("profile", "layer"), obs[None]),
                     "node_depth": (("profile", "layer"), depth[None]),
                     "layer_mask": (("profile", "layer"), m[None])},
                    coords={"profile_id": ("profile", ["site"])})
    prof, _ = read_profiles(ds, likelihood)
    return SiteData(jnp.asarray(prof.obs[0]), jnp.asarray(prof.depth[0]),
                    jnp.asarray(prof.mask[0]), jnp.asarray(prof.weight[0]),
                    module.prepare(forcing))


def site_hash(site_id) -> tuple[int, int]:
    """Two 31-bit integers from a BLAKE2b hash of ``str(site_id)`` (stable across runs)."""
    h = hashlib.blake2b(str(site_id).encode(), digest_size=8).digest()
    return (int.from_bytes(h[:4], "little") & 0x7FFFFFFF,
            int.from_bytes(h[4:], "little") & 0x7FFFFFFF)


def site_key(seed: int, site_id) -> jax.Array:
    """The random key of one site: ``fold_in(fold_in(PRNGKey(seed), h1), h2)``.

    ``(h1, h2)`` is a 62-bit hash of the site id, so keys do not depend on the site's
    position, the chunking or the machine, and collisions among 10^5 sites are negligible
    (a single 32-bit fold-in would collide with probability ~0.5 at 70,000 sites).
    """
    h1, h2 = site_hash(site_id)
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), h1), h2)


def site_keys(seed: int, site_ids: Sequence) -> np.ndarray:
    """Keys (n, 2) of many sites, see :func:`site_key`."""
    hashes = np.array([site_hash(s) for s in site_ids], dtype=np.uint32).reshape(-1, 2)
    root = jax.random.PRNGKey(seed)
    fold = jax.vmap(lambda h: jax.random.fold_in(jax.random.fold_in(root, h[0]), h[1]))
    return np.asarray(fold(jnp.asarray(hashes)))
