"""Which sampler is right where two disagree: long reference chains at one twin site.

The portfolio (``benchmarks/sampling.py --portfolio``) compares the default AM with NUTS on
24 twin sites per model; where the two disagree, this benchmark decides between them. At
one site (``inference.testing.twin_sites(model, 24, seed=0)``, picked by its id) it runs:

* AM (the default preset, re-adapting between segments), 20,000 warm-up + 200,000
  iterations x 4 chains, with three seeds, in the default run's space for the model (and,
  for COMPAS, once in the logit space) -- independent long chains that must agree with
  each other;
* the default AM (run until converged, at most 12 segments);
* BlackJAX NUTS (dense mass) as in the portfolio, and longer (1,000 + 2,000) with target
  acceptance 0.95, in the same spaces.

Measured: ``benchmarks/results/long_chains_compas_twin0016.json``.

Each run's posterior means and sds (unit cube) are compared with the first long AM chain:
``max_abs_z`` = largest |mean - reference mean| / reference sd over parameters, with the
parameter named, and the range of sd / reference sd. Prints (and ``--out`` writes) JSON.

Usage: ``python benchmarks/long_chains.py compas twin0016_shallow_bedrock [--out F]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import jax
import numpy as np

import inference
from inference.models import resolve_model
from inference.testing import twin_sites

STRICT = dict(rhat_max=1.01, ess_bulk_min=400, ess_tail_min=400)
AM_LONG = {"kind": "am", "num_warmup": 20_000, "num_samples": 200_000,
           "adapt_between_segments": True}
AM_DEFAULT = {"kind": "am", "num_warmup": 20_000, "num_samples": 10_000,
              "adapt_between_segments": True}
NUTS = {"kind": "nuts_bj", "num_warmup": 500, "num_samples": 250}
NUTS_LONG = {"kind": "nuts_bj", "num_warmup": 1_000, "num_samples": 2_000,
             "target_acceptance": 0.95}


def _one_site(model: str, site: str):
    tw = twin_sites(model, 24, seed=0)
    ids = [str(x) for x in tw.profiles["profile_id"].values]
    if site not in ids:
        raise SystemExit(f"site {site!r} is not one of the 24 twin sites: {ids}")
    i = ids.index(site)
    forcing = jax.tree_util.tree_map(
        lambda a: a[i:i + 1] if getattr(a, "ndim", 0) and a.shape[0] == len(ids) else a,
        tw.forcing)
    return tw.profiles.isel(profile=[i]), forcing, str(tw.kind[i])


def run(model: str, site: str) -> dict:
    profiles, forcing, kind = _one_site(model, site)
    module = resolve_model(model)
    params = module.PARAMETERS
    space = "feasible" if model == "compas" else None  # the default run's spaces
    plan = [(f"am_long_seed{s}", AM_LONG, 2_000, space, None, s) for s in (0, 1, 2)]
    plan += [("am_default", AM_DEFAULT, 500, space, 12, 0),
             ("nuts", NUTS, 250, space, 6, 0),
             ("nuts_long_t95", NUTS_LONG, 2_000, space, None, 0)]
    if space is not None:  # the logit space too
        plan += [("am_long_logit", AM_LONG, 2_000, "logit", None, 0),
                 ("nuts_long_t95_logit", NUTS_LONG, 2_000, "logit", None, 0)]
    out = {"benchmark": "long_chains", "model": model, "site": site, "kind": kind,
           "load_before": os.getloadavg(), "reference": plan[0][0], "runs": {}}
    for label, spec, draws, sp, segments, seed in plan:
        t0 = time.process_time()
        conv = (inference.Convergence(**STRICT, max_segments=segments) if segments
                else None)
        with tempfile.TemporaryDirectory() as wd:
            r = inference.run_sites(profiles, forcing, model, spec, output_dir=wd,
                                    num_chains=4, seed=seed, num_draws=draws, chunk_size=1,
                                    workers=1, progress=False, overwrite=True, space=sp,
                                    convergence=conv)
            post = r.posterior(site)["posterior"].to_dataset()
            x = np.stack([post[p].values.reshape(-1) for p in params.names], axis=-1)
            u = np.asarray(params.to_unit(x))
            t = r.table
            out["runs"][label] = {
                "sampler": spec, "space": r.config.space, "seed": seed,
                "max_rhat": float(t["max_r_hat"].values[0]),
                "min_ess_bulk": float(t["min_ess_bulk"].values[0]),
                "n_divergent": int(t["n_divergent"].values[0]),
                "cpu_s": time.process_time() - t0,
                "mean_unit": u.mean(0).tolist(), "sd_unit": u.std(0).tolist()}
        print(label, {k: v for k, v in out["runs"][label].items()
                      if k not in ("mean_unit", "sd_unit", "sampler")}, file=sys.stderr,
              flush=True)
    ref = out["runs"][out["reference"]]
    m0, s0 = np.asarray(ref["mean_unit"]), np.asarray(ref["sd_unit"])
    for row in out["runs"].values():
        z = np.abs(np.asarray(row["mean_unit"]) - m0) / s0
        ratio = np.asarray(row["sd_unit"]) / s0
        row.update(max_abs_z=float(z.max()), max_abs_z_parameter=params.names[int(z.argmax())],
                   sd_ratio_min=float(ratio.min()), sd_ratio_max=float(ratio.max()))
    out["load_after"] = os.getloadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("site")
    ap.add_argument("--out")
    a = ap.parse_args()
    out = run(a.model, a.site)
    text = json.dumps(out, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
