"""Which COMPAS feasibility condition fails for which prior draws, and the reparameterized
fractions; prints one JSON object.

For each forcing (temperate, tropical, dry, cold non-permafrost, permafrost, shallow bedrock,
and a few virtual-world sites) ``n`` uniform prior draws are classified by the conditions of
``compas._solve`` (a draw can fail several): DOC root (``doc_den <= 0`` in a layer with
input), SOC root (``soc_den <= 0``), density cap, MIC > 10 % of soil C, non-finite; the
correlation of each unit value with infeasibility names the drivers. Then the same number of
draws of :func:`socmodels.compas.feasible_parameters` (the box-mapped parameterization)
are evaluated by the unchanged model: the fraction it still rejects, and why.

Usage::

    python benchmarks/feasibility.py [--n 2000] [--world 4]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from socmodels import compas  # noqa: E402
from socmodels.compas import feasible_parameters, feasible_ranges, input_composition  # noqa: E402
from socmodels.data.climate import climate_forcing  # noqa: E402
from socmodels.processes import MAX_CARBON_DENSITY  # noqa: E402

_DZ = jnp.asarray(compas._DZ)


def named_forcings(n_world: int = 0):
    """(names, batched Forcing): climate_forcing cases plus ``n_world`` virtual-world sites."""
    cases = {
        "temperate": dict(mat=12.0, mat_amplitude=9.0, moisture=0.6, npp=500.0),
        "tropical": dict(mat=26.0, mat_amplitude=1.5, moisture=0.9, npp=1200.0, latitude=-3.0),
        "dry": dict(mat=18.0, mat_amplitude=8.0, moisture=0.15, npp=200.0),
        "boreal": dict(mat=1.0, mat_amplitude=14.0, moisture=0.6, npp=300.0, latitude=60.0),
        "permafrost": dict(mat=-8.0, mat_amplitude=18.0, moisture=0.6, npp=150.0,
                           active_layer_depth=0.6, latitude=68.0),
        "permafrost_deep_cold": dict(mat=-16.0, mat_amplitude=20.0, moisture=0.5, npp=80.0,
                                     active_layer_depth=0.4, latitude=72.0),
        "shallow_bedrock": dict(mat=12.0, mat_amplitude=8.0, moisture=0.5, npp=500.0,
                                bedrock_depth=0.4),
    }
    forcings = [climate_forcing(**kw) for kw in cases.values()]
    names = list(cases)
    if n_world:
        from socmodels.data.world import virtual_world

        world = virtual_world(seed=0, resolution=10.0, n_profiles=60)
        f = world.forcing
        tsoi = np.asarray(f.tsoi).mean(axis=(1, 2)) - 273.15
        order = np.argsort(tsoi)
        pick = order[np.linspace(0, len(order) - 1, n_world).astype(int)]
        for i in pick:
            forcings.append(f[int(i)])
            names.append(f"world_{world.profiles['profile_id'].values[i]}"
                         f"_T{tsoi[i]:.0f}C")
    stack = jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]),
                                   *forcings)
    return names, stack


def classify(theta, prep):
    """Failure flags of one draw: doc_root, soc_root, density_cap, mic_fraction, nonfinite."""
    ss = compas.steady_state(theta, prep, check_bounds=False)
    r, lit, i_doc, i_mic, i_soc = input_composition(theta, prep)
    cue, p = theta[20], theta[21]
    k_loss = r.k_dth + r.k_enz
    mic = (i_mic + cue * (i_soc + i_doc)) / ((1 - cue) * k_loss)
    enz = r.k_enz / r.k_e * mic
    soc_num = i_soc + p * r.k_dth * mic
    soc_den = r.k_dec * enz - p * r.k_dth * mic - i_soc
    doc_num = k_loss * mic - i_mic
    doc_den = (cue * r.k_up - k_loss) * mic + i_mic
    has_input = (soc_num > 0) | (doc_num > 0)
    doc_root = jnp.any(has_input & (doc_den <= 0))
    soc_root = jnp.any(has_input & (soc_den <= 0))
    pools = jnp.where(jnp.isfinite(ss.pools), ss.pools, 0.0)
    cap = jnp.any(pools.sum(axis=0) > MAX_CARBON_DENSITY)
    mic_frac = jnp.sum(ss.pools[5] * _DZ) > compas.MAX_MIC_FRACTION * ss.stock
    nonfinite = ~jnp.all(jnp.isfinite(ss.pools))
    flags = jnp.stack([doc_root, soc_root, cap, mic_frac, nonfinite])
    return flags, ~jnp.asarray(ss.feasible)


FLAGS = ("doc_root", "soc_root", "density_cap", "mic_fraction", "nonfinite")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--world", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    names, forcing = named_forcings(args.world)
    preps = jax.vmap(compas.prepare)(forcing)
    d = len(compas.PARAMETERS)
    u = jax.random.uniform(jax.random.PRNGKey(0), (args.n, d), minval=1e-9, maxval=1 - 1e-9)
    theta = jax.vmap(compas.PARAMETERS.to_physical)(u)

    prior = jax.jit(jax.vmap(jax.vmap(classify, (0, None)), (None, 0)))
    flags, infeasible = (np.asarray(x) for x in prior(theta, preps))

    def mapped(prep):
        fm = jax.vmap(lambda uu: feasible_parameters(uu, prep))(u)
        fl, inf = jax.vmap(classify, (0, None))(fm.theta, prep)
        # the intervals the map used (tau4s4's given the mapped tau4s2_death)
        death, s4 = jax.vmap(lambda t: feasible_ranges(t, prep))(fm.theta)
        return fl, inf | ~fm.nonempty, fm.nonempty, death, s4
    m_flags, m_inf, m_nonempty, death_rng, s4_rng = (
        np.asarray(x) for x in jax.jit(jax.vmap(mapped))(preps))
    un = np.asarray(u)
    out = {"draws_per_site": args.n, "load_1min": os.getloadavg()[0], "sites": []}
    for k, name in enumerate(names):
        inf_k = infeasible[k]
        corr = {nm: float(np.corrcoef(un[:, j], inf_k)[0, 1]) for j, nm in
                enumerate(compas.PARAMETERS.names)} if 0 < inf_k.mean() < 1 else {}
        top = sorted(corr.items(), key=lambda kv: -abs(kv[1]))[:5]
        mic_fr = flags[k, :, 3]
        drivers_mic = {}
        if 0 < mic_fr.mean() < 1:
            c = {nm: float(np.corrcoef(un[:, j], mic_fr)[0, 1]) for j, nm in
                 enumerate(compas.PARAMETERS.names)}
            drivers_mic = dict(sorted(c.items(), key=lambda kv: -abs(kv[1]))[:4])
        ne = m_nonempty[k]
        out["sites"].append({
            "site": name,
            "mean_soil_temperature_C": float(np.asarray(forcing.tsoi[k]).mean() - 273.15),
            "prior": {"infeasible": float(inf_k.mean()),
                      **{f: float(flags[k, :, j].mean()) for j, f in enumerate(FLAGS)},
                      "top_correlations_with_infeasible": dict(top),
                      "top_correlations_with_mic_fraction": drivers_mic},
            "reparameterized": {
                "empty_interval": float(1 - ne.mean()),
                "infeasible": float(m_inf[k].mean()),
                **{f: float(m_flags[k, :, j].mean()) for j, f in enumerate(FLAGS)},
                "median_relative_width_death": float(np.median(
                    (2.0 - death_rng[k, ne, 0]) / 2.0)) if ne.any() else None,
                "median_relative_width_tau4s4": float(np.median(
                    (s4_rng[k, ne, 1] - s4_rng[k, ne, 0]) / 3e-4)) if ne.any() else None,
            },
        })
    out["wall_s"] = time.perf_counter() - t0
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
