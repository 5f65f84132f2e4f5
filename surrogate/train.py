"""Training of the PRODA covariate -> parameter network and of its ensembles.

Reproduces Tao et al. (2024, §2.6-2.7) and ``docs/original_code.md`` §6.3-6.4:

* targets are site posterior means in the unit cube, inputs min-max-scaled covariates;
* Adadelta, minibatches of 32, up to 6000 epochs, the member with the lowest validation
  loss is kept ("checkpoint") and training stops after ``patience`` epochs without
  improvement (Keras ``EarlyStopping(patience=1200)`` + ``ModelCheckpoint``);
* ensembles: *bootstrap* (paper: 200 resamples, 90 % train / 10 % validation) for
  uncertainty, and a *best-guess* ensemble (10 seeds, random 90/10 split, median of the
  predictions) for the maps.

Implementation
--------------
The network is split into a static ``GraphDef`` and a parameter ``State`` (``nnx.split``)
so that training is a pure function of arrays. One *epoch* is a ``jax.lax.scan`` over
minibatches; ``epochs_per_call`` epochs are a second ``scan``; that function is
``jax.vmap``-ed over ensemble members and ``jax.jit``-ed once, so a whole ensemble of
small networks trains in one compiled XLA program. Members differ only in their keys and
in their (fixed-size) train/validation index arrays. A member whose patience is exhausted
(or that reached ``max_epochs``) is frozen in place, so every member's result is the same
whether it trains alone or inside an ensemble of any size, and independent of
``epochs_per_call`` (up to floating-point reassociation of batched matmuls).

Randomness: member ``i`` of seed ``s`` uses ``fold_in(key(s), i)`` for initialisation,
shuffling and dropout, and ``numpy.random.default_rng([s, i])`` for its data split, so a
given seed reproduces the ensemble exactly and member ``i`` does not depend on how many
members are trained.

Deviations from the original (documented in ``docs/surrogate.md``)
------------------------------------------------------------------
* Validation split: a *random* 10 % of the eligible sites (seeded), never Keras'
  ``validation_split``, which takes the last 10 % of the (sorted) training arrays (Q17);
  in the bootstrap the validation sites are drawn first and the bootstrap resample is
  drawn from the remaining sites, so validation sites never also appear in training.
* Validation loss is evaluated on the whole validation set at once (Keras averages
  per-batch losses; identical for MSE, slightly different for the product loss).
* Adadelta learning rate 1.0 by default (see :class:`TrainConfig`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from surrogate.losses import get_loss
from surrogate.mlp import DTYPE, MLP, PRODA_HIDDEN
from surrogate.scaling import MinMaxScaler, as_array_scaler

__all__ = [
    "TrainConfig",
    "Ensemble",
    "heldout_indices",
    "split_indices",
    "bootstrap_indices",
    "train_ensemble",
    "bootstrap_ensemble",
    "best_guess_ensemble",
    "save_ensemble",
    "load_ensemble",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the network and its training (hashable; used as a jit key).

    Attributes:
        hidden (tuple of int): Hidden widths, PRODA ``(256, 512, 512, 256)``.
        dropout (float):
            Dropout rate after each hidden layer; 0.2 (paper, COMPAS scripts; CLM5 scripts 0).
        loss (str):
            ``"product"`` (paper, ``(500 MSE)(25 MARE)``), ``"mse500"`` (COMPAS scripts) or
            ``"mse"``; see :mod:`surrogate.losses`.
        learning_rate (float):
            Adadelta learning rate. Keras' default is version-dependent (Q17): 1.0 in Keras
            <= 2.2 / standalone Keras (Zeiler's original Adadelta), 0.001 in ``tf.keras``
            (TF 2). We default to 1.0: with 0.001 Adadelta's effective step is ~1000x
            smaller and the network barely moves in a few hundred epochs. The authors' large
            budget (6000 epochs, patience 1200) hints that they may have used 0.001; pass
            ``learning_rate=1e-3`` to emulate that.
        rho, eps (float):
            Adadelta decay and epsilon, Keras defaults (0.95, 1e-7); optax' defaults differ.
        batch_size (int):
            Minibatch size (32). The last, partial batch of an epoch is kept (as Keras does),
            implemented as a padded batch with zero weights.
        max_epochs (int): Maximum number of epochs (6000).
        patience (int or None):
            Early-stopping patience in epochs (1200, Keras ``EarlyStopping`` on ``val_loss``);
            ``None`` disables early stopping. The best-validation parameters are always kept.
        epochs_per_call (int):
            Epochs per compiled call (progress and the early-stop check happen between calls).
        members_per_call (int or None):
            Ensemble members trained together under ``vmap`` (``None``: all). Lower it to cap
            memory for large ensembles/site counts; results do not depend on it.
    """

    hidden: tuple[int, ...] = PRODA_HIDDEN
    dropout: float = 0.2
    loss: str = "product"
    learning_rate: float = 1.0
    rho: float = 0.95
    eps: float = 1e-7
    batch_size: int = 32
    max_epochs: int = 6000
    patience: int | None = 1200
    epochs_per_call: int = 50
    members_per_call: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        get_loss(self.loss)
        if self.batch_size < 1 or self.max_epochs < 1 or self.epochs_per_call < 1:
            raise ValueError("batch_size, max_epochs and epochs_per_call must be >= 1")
        if self.patience is not None and self.patience < 1:
            raise ValueError("patience must be >= 1 or None")
        if self.members_per_call is not None and self.members_per_call < 1:
            raise ValueError("members_per_call must be >= 1 or None")

    def optimizer(self) -> optax.GradientTransformation:
        """The optax Adadelta optimizer with this configuration."""
        return optax.adadelta(learning_rate=self.learning_rate, rho=self.rho, eps=self.eps)


# --------------------------------------------------------------------------------------
# Site splits
# --------------------------------------------------------------------------------------

def _eligible(n_sites: int, mask=None, exclude=None) -> np.ndarray:
    ok = np.ones(n_sites, bool) if mask is None else np.asarray(mask, bool).copy()
    if ok.shape != (n_sites,):
        raise ValueError(f"mask has shape {ok.shape}; expected ({n_sites},)")
    if exclude is not None:
        ok[np.asarray(exclude, dtype=np.int64)] = False
    return np.flatnonzero(ok)


def _n_fraction(n: int, fraction: float) -> int:
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1); got {fraction}")
    k = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    return k


def heldout_indices(n_sites: int, *, fraction: float = 0.1, seed: int = 0,
                    mask=None) -> np.ndarray:
    """Indices of a deterministic held-out set of sites, used only to assess skill.

    Args:
        n_sites (int): Number of sites (rows of the covariate/target tables).
        fraction (float): Fraction of the eligible sites held out (default 10 %).
        seed (int): Seed of ``numpy.random.default_rng``; the same seed gives the same set.
        mask (bool array (n_sites,), optional):
            Eligible (screened) sites; held-out sites are drawn among these only.

    Returns:
        ndarray of int, sorted:
            Pass it as ``exclude`` to :func:`bootstrap_ensemble` / :func:`best_guess_ensemble`
            and evaluate the maps' SOC at these profiles (:func:`surrogate.analysis.pooled_nse`).
    """
    elig = _eligible(n_sites, mask)
    k = _n_fraction(elig.size, fraction)
    rng = np.random.default_rng([int(seed), 0x4E5D])
    return np.sort(rng.choice(elig, size=k, replace=False))


def split_indices(eligible, *, val_fraction: float = 0.1, seed: int = 0,
                  member: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split without replacement (best-guess runs).

    Returns ``(train, val)``, both sorted index arrays into the site table. Deterministic
    in ``(seed, member)``.
    """
    elig = np.asarray(eligible, dtype=np.int64)
    rng = np.random.default_rng([int(seed), int(member)])
    perm = rng.permutation(elig)
    k = _n_fraction(elig.size, val_fraction)
    return np.sort(perm[k:]), np.sort(perm[:k])


def bootstrap_indices(eligible, *, val_fraction: float = 0.1, seed: int = 0,
                      member: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap resample for one ensemble member.

    A random ``val_fraction`` of the eligible sites is drawn first (without replacement)
    as the validation set; the training set is a resample *with replacement* of the
    remaining sites, of the same size as the remainder (so ~90 % of the sites are drawn,
    as in the PRODA_MIC bootstrap ``np.random.choice(n, round(0.9 n), replace=True)``,
    but validation sites never also appear in training).

    Returns ``(train, val)``; ``train`` is sorted and may repeat indices.
    """
    elig = np.asarray(eligible, dtype=np.int64)
    rng = np.random.default_rng([int(seed), int(member)])
    perm = rng.permutation(elig)
    k = _n_fraction(elig.size, val_fraction)
    rest = perm[k:]
    train = rng.choice(rest, size=rest.size, replace=True)
    return np.sort(train), np.sort(perm[:k])


# --------------------------------------------------------------------------------------
# Functional training core
# --------------------------------------------------------------------------------------

class _Carry(NamedTuple):
    """Per-member training state (a pytree; a leading member axis under vmap)."""

    params: Any
    opt_state: Any
    best_params: Any
    best_val: jax.Array      # lowest monitored loss so far
    best_epoch: jax.Array    # epoch (0-based) of best_params, -1 before the first epoch
    wait: jax.Array          # epochs since the last improvement
    active: jax.Array        # False once stopped early or past max_epochs


@functools.lru_cache(maxsize=32)
def _graphdef(n_in: int, n_out: int, hidden: tuple[int, ...], dropout: float):
    model = nnx.eval_shape(lambda: MLP(n_in, n_out, hidden=hidden, dropout=dropout,
                                       rngs=nnx.Rngs(0)))
    return nnx.split(model)[0]


def _init_params(key, n_in: int, n_out: int, config: TrainConfig):
    model = MLP(n_in, n_out, hidden=config.hidden, dropout=config.dropout,
                rngs=nnx.Rngs(params=key))
    return nnx.split(model)[1]


@functools.lru_cache(maxsize=32)
def _build(config: TrainConfig, n_in: int, n_out: int):
    """Build ``(graphdef, init, run_chunk, predict)`` for one configuration (jitted once)."""
    graphdef = _graphdef(n_in, n_out, config.hidden, config.dropout)
    loss_fn = get_loss(config.loss)
    opt = config.optimizer()
    bs = config.batch_size
    patience = config.patience if config.patience is not None else config.max_epochs + 1

    def forward(params, x, key=None):
        return nnx.merge(graphdef, params)(x, key=key)

    def init_member(key):
        k_init, _ = jax.random.split(key)
        params = _init_params(k_init, n_in, n_out, config)
        return _Carry(params, opt.init(params), params, jnp.asarray(jnp.inf, DTYPE),
                      jnp.asarray(-1, jnp.int32), jnp.asarray(0, jnp.int32),
                      jnp.asarray(True))

    def batch_loss(params, xb, yb, wb, key):
        return loss_fn(yb, forward(params, xb, key), wb)

    grad_fn = jax.value_and_grad(batch_loss)

    def epoch(carry: _Carry, epoch_index, key, x, y, train_idx, val_idx):
        n_tr = train_idx.shape[0]
        n_batches = -(-n_tr // bs)
        pad = n_batches * bs - n_tr
        k_epoch = jax.random.fold_in(jax.random.split(key)[1], epoch_index)
        k_perm, k_drop = jax.random.split(k_epoch)
        order = jax.random.permutation(k_perm, n_tr)
        order = jnp.concatenate([order, jnp.zeros(pad, order.dtype)]).reshape(n_batches, bs)
        weight = jnp.concatenate([jnp.ones(n_tr, DTYPE), jnp.zeros(pad, DTYPE)])
        weight = weight.reshape(n_batches, bs)
        drop_keys = jax.random.split(k_drop, n_batches)

        def step(state, batch):
            params, opt_state = state
            rows, wb, kb = batch
            sites = train_idx[rows]
            loss, grads = grad_fn(params, x[sites], y[sites], wb, kb)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss * jnp.sum(wb)

        (params, opt_state), losses = jax.lax.scan(
            step, (carry.params, carry.opt_state), (order, weight, drop_keys))
        train_loss = jnp.sum(losses) / n_tr
        if val_idx.shape[0] > 0:
            val_loss = loss_fn(y[val_idx], forward(params, x[val_idx]))
        else:  # no validation sites: monitor the training loss
            val_loss = train_loss
        val_loss = jnp.where(jnp.isfinite(val_loss), val_loss, jnp.inf)
        improved = val_loss < carry.best_val
        active = carry.active & (epoch_index < config.max_epochs)

        def pick(new, old):
            return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)

        best_params = jax.tree.map(lambda a, b: jnp.where(active & improved, a, b),
                                   params, carry.best_params)
        wait = jnp.where(improved, 0, carry.wait + 1)
        new = _Carry(
            params=pick(params, carry.params),
            opt_state=pick(opt_state, carry.opt_state),
            best_params=best_params,
            best_val=jnp.where(active & improved, val_loss, carry.best_val),
            best_epoch=jnp.where(active & improved, epoch_index, carry.best_epoch),
            wait=jnp.where(active, wait, carry.wait),
            active=active & (jnp.where(active, wait, carry.wait) < patience)
            & (epoch_index + 1 < config.max_epochs),
        )
        nan = jnp.asarray(jnp.nan, DTYPE)
        return new, (jnp.where(active, train_loss, nan), jnp.where(active, val_loss, nan))

    def run_chunk_member(carry, start, key, x, y, train_idx, val_idx):
        def body(c, e):
            return epoch(c, e, key, x, y, train_idx, val_idx)

        epochs = start.astype(jnp.int32) + jnp.arange(config.epochs_per_call, dtype=jnp.int32)
        return jax.lax.scan(body, carry, epochs)

    init = jax.jit(jax.vmap(init_member))
    run_chunk = jax.jit(jax.vmap(run_chunk_member, in_axes=(0, None, 0, None, None, 0, 0)))
    predict = jax.jit(jax.vmap(lambda p, x: forward(p, x), in_axes=(0, None)))
    return graphdef, init, run_chunk, predict


# --------------------------------------------------------------------------------------
# Ensemble container
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Ensemble:
    """A trained ensemble of networks (one member = one :class:`~surrogate.mlp.MLP`).

    Attributes:
        params (nnx.State):
            Best-validation parameters of all members, stacked on a leading member axis.
        config (TrainConfig): Configuration used for training.
        n_in, n_out (int): Number of covariates and of predicted parameters.
        seed (int): Root seed; member ``i`` used ``fold_in(key(seed), member_ids[i])``.
        member_ids (ndarray (m,)): Member numbers (seed offsets).
        train_idx (ndarray (m, n_train)): Training sites of each member (bootstrap: with repeats).
        val_idx (ndarray (m, n_val)): Validation sites of each member.
        best_epoch (ndarray (m,)): Epoch (0-based) of the kept parameters.
        best_val_loss (ndarray (m,)): Validation loss of the kept parameters.
        history (dict of ndarray (m, epochs)):
            ``"train_loss"`` and ``"val_loss"`` per epoch (NaN after a member stopped).
        kind (str): ``"bootstrap"``, ``"best_guess"`` or ``"custom"``.
        scaler (MinMaxScaler or None):
            Covariate scaler used to build the inputs (stored for prediction; a plain
            ``socmodels.data.covariates.MinMaxScaler`` is accepted and wrapped).
        param_names (tuple of str or None): Output names (parameter-table order).
    """

    params: Any
    config: TrainConfig
    n_in: int
    n_out: int
    seed: int
    member_ids: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    best_epoch: np.ndarray
    best_val_loss: np.ndarray
    history: dict
    kind: str = "custom"
    scaler: MinMaxScaler | None = None
    param_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.member_ids.size)

    @property
    def graphdef(self):
        """The static ``GraphDef`` shared by all members."""
        return _graphdef(self.n_in, self.n_out, self.config.hidden, self.config.dropout)

    def member(self, i: int) -> MLP:
        """Member ``i`` as an :class:`~surrogate.mlp.MLP` module."""
        params = jax.tree.map(lambda a: a[i], self.params)
        return nnx.merge(self.graphdef, params)

    def predict(self, x, *, chunk: int = 65536) -> np.ndarray:
        """Raw (unclipped) unit-cube predictions ``(m, n, n_out)`` for scaled inputs ``x``.

        ``x`` has shape ``(n, n_in)`` and must already be scaled to [0, 1] (see
        :meth:`MinMaxScaler.transform`); rows are processed ``chunk`` at a time.
        Use :func:`surrogate.predict.predict_unit` for clipped predictions.
        """
        xa = np.asarray(x, dtype=np.float32)
        if xa.ndim != 2 or xa.shape[1] != self.n_in:
            raise ValueError(f"x must have shape (n, {self.n_in}); got {xa.shape}")
        predict = _build(self.config, self.n_in, self.n_out)[3]
        out = [np.asarray(predict(self.params, jnp.asarray(xa[i:i + chunk])))
               for i in range(0, xa.shape[0], chunk)]
        if not out:
            return np.zeros((len(self), 0, self.n_out), np.float32)
        return np.concatenate(out, axis=1)


# --------------------------------------------------------------------------------------
# Public training entry points
# --------------------------------------------------------------------------------------

def _check_xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 2 or ya.ndim != 2 or xa.shape[0] != ya.shape[0]:
        raise ValueError(f"x must be (n_sites, n_covariates) and y (n_sites, n_params) with"
                         f" the same n_sites; got {xa.shape} and {ya.shape}")
    for name, a in (("x", xa), ("y", ya)):
        if not np.all(np.isfinite(a)):
            r = int(np.argwhere(~np.isfinite(a))[0][0])
            raise ValueError(f"{name} has a NaN/inf in row {r}; drop or fill such sites"
                             " (e.g. with the mask argument) before training")
    if xa.min() < -1e-6 or xa.max() > 1 + 1e-6:
        warnings.warn("covariates x are outside [0, 1]: scale them with"
                      " MinMaxScaler.transform first", stacklevel=3)
    if ya.min() < 0 or ya.max() > 1:
        warnings.warn("targets y are outside [0, 1]: the network expects unit-cube"
                      " parameters (ParameterTable.to_unit)", stacklevel=3)
    return xa, ya


def _member_keys(root, ids) -> jax.Array:
    """``fold_in(root, id)`` for every member id."""
    return jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.asarray(ids))


def train_ensemble(x, y, train_idx, val_idx, *, config: TrainConfig = TrainConfig(),
                   seed: int = 0, member_ids: Sequence[int] | None = None,
                   progress: bool = True, kind: str = "custom",
                   scaler: MinMaxScaler | None = None,
                   param_names: Sequence[str] | None = None) -> Ensemble:
    """Train one network per row of ``train_idx``/``val_idx``, all members together.

    Args:
        x (array (n_sites, n_covariates)):
            Scaled covariates in [0, 1] (:meth:`MinMaxScaler.transform`).
        y (array (n_sites, n_params)):
            Targets: site posterior means in the unit cube (``ParameterTable.to_unit``).
        train_idx (int array (m, n_train)):
            Training sites of each member (repeats allowed, e.g. bootstrap). All members must
            have the same number of training and of validation sites (fixed shapes for vmap).
        val_idx (int array (m, n_val)):
            Validation sites of each member (``n_val`` may be 0: the training loss is then
            monitored instead).
        config (TrainConfig): Network and optimisation settings.
        seed (int): Root seed (initialisation, shuffling, dropout).
        member_ids (sequence of int, optional):
            Member numbers (default ``0..m-1``); member ``i`` uses ``fold_in(key(seed), i)``.
        progress (bool): Show a tqdm progress bar (epochs).
        kind, scaler, param_names: Stored in the returned :class:`Ensemble`.

    Returns:
        Ensemble
    """
    xa, ya = _check_xy(x, y)
    tr = np.atleast_2d(np.asarray(train_idx, dtype=np.int64))
    va = np.asarray(val_idx, dtype=np.int64).reshape(tr.shape[0], -1)
    n_sites, n_in = xa.shape
    n_out = ya.shape[1]
    for name, a in (("train_idx", tr), ("val_idx", va)):
        if a.size and (a.min() < 0 or a.max() >= n_sites):
            raise ValueError(f"{name} has indices outside [0, {n_sites})")
    if tr.shape[1] == 0:
        raise ValueError("every member needs at least one training site")
    m = tr.shape[0]
    ids = np.arange(m) if member_ids is None else np.asarray(member_ids, dtype=np.int64)
    if ids.shape != (m,):
        raise ValueError(f"member_ids must have {m} entries")

    _, init, run_chunk, _ = _build(config, n_in, n_out)
    xj = jnp.asarray(xa, DTYPE)
    yj = jnp.asarray(ya, DTYPE)
    root = jax.random.key(int(seed))
    group = m if config.members_per_call is None else min(config.members_per_call, m)
    n_chunks = -(-config.max_epochs // config.epochs_per_call)

    results = []
    bar = tqdm(total=m * config.max_epochs, disable=not progress, unit="epoch",
               desc=f"training {m} member(s)")
    try:
        for g0 in range(0, m, group):
            sel = np.arange(g0, min(g0 + group, m))
            sel_pad = np.concatenate([sel, np.full(group - sel.size, sel[-1])])  # same shape
            keys = _member_keys(root, ids[sel_pad])
            tr_j, va_j = jnp.asarray(tr[sel_pad]), jnp.asarray(va[sel_pad])
            carry = init(keys)
            hist_t, hist_v = [], []
            done = 0
            for c in range(n_chunks):
                start = c * config.epochs_per_call
                carry, (lt, lv) = run_chunk(carry, jnp.asarray(start, jnp.int32), keys, xj, yj,
                                            tr_j, va_j)
                hist_t.append(np.asarray(lt))
                hist_v.append(np.asarray(lv))
                active = np.asarray(carry.active)[: sel.size]
                advance = min(config.epochs_per_call, config.max_epochs - start)
                bar.update(advance * sel.size)
                done += advance
                best = np.asarray(carry.best_val)[: sel.size]
                bar.set_postfix(active=int(active.sum()), best_val=f"{np.median(best):.4g}")
                if not active.any():
                    break
            bar.update((config.max_epochs - done) * sel.size)
            ht = np.concatenate(hist_t, axis=1)[: sel.size, : config.max_epochs]
            hv = np.concatenate(hist_v, axis=1)[: sel.size, : config.max_epochs]
            n_real = sel.size
            results.append((jax.tree.map(lambda a, n=n_real: np.asarray(a)[:n], carry), ht, hv))
    finally:
        bar.close()

    n_ep = max(r[1].shape[1] for r in results)

    def pad_hist(h):
        return np.pad(h, ((0, 0), (0, n_ep - h.shape[1])), constant_values=np.nan)

    best_params = jax.tree.map(lambda *a: jnp.asarray(np.concatenate(a)),
                               *[r[0].best_params for r in results])
    return Ensemble(
        params=best_params,
        config=config,
        n_in=n_in,
        n_out=n_out,
        seed=int(seed),
        member_ids=ids,
        train_idx=tr,
        val_idx=va,
        best_epoch=np.concatenate([r[0].best_epoch for r in results]),
        best_val_loss=np.concatenate([r[0].best_val for r in results]),
        history={"train_loss": np.concatenate([pad_hist(r[1]) for r in results]),
                 "val_loss": np.concatenate([pad_hist(r[2]) for r in results])},
        kind=kind,
        scaler=as_array_scaler(scaler),
        param_names=tuple(param_names) if param_names is not None else None,
    )


def _ensemble(split, kind, x, y, n_members, mask, exclude, config, seed, val_fraction,
              progress, scaler, param_names, first_member):
    n_sites = np.shape(x)[0]
    elig = _eligible(n_sites, mask, exclude)
    if elig.size < 2:
        raise ValueError(f"only {elig.size} eligible site(s) after mask/exclude")
    ids = np.arange(first_member, first_member + n_members)
    pairs = [split(elig, val_fraction=val_fraction, seed=seed, member=int(i)) for i in ids]
    tr = np.stack([p[0] for p in pairs])
    va = np.stack([p[1] for p in pairs])
    return train_ensemble(x, y, tr, va, config=config, seed=seed, member_ids=ids,
                          progress=progress, kind=kind, scaler=scaler,
                          param_names=param_names)


def bootstrap_ensemble(x, y, *, n_members: int = 200, mask=None, exclude=None,
                       config: TrainConfig = TrainConfig(), seed: int = 0,
                       val_fraction: float = 0.1, progress: bool = True,
                       scaler: MinMaxScaler | None = None,
                       param_names: Sequence[str] | None = None,
                       first_member: int = 0) -> Ensemble:
    """Bootstrap ensemble (Tao et al. 2024 §2.7: 200 resamples, 90 % train / 10 % val).

    Each member draws its validation sites and a with-replacement training resample with
    :func:`bootstrap_indices`. The spread of the members' predictions is the PRODA
    uncertainty (std and 14th/86th percentiles, :func:`surrogate.predict.summarize_ensemble`).

    Args:
        x, y: Scaled covariates ``(n_sites, p)`` and unit-cube targets ``(n_sites, d)``.
        n_members (int): Number of resamples (paper: 200).
        mask (bool array (n_sites,), optional):
            Screened sites (e.g. R-hat < 1.05 and NSE > 0); others are never used.
        exclude (int array, optional):
            Sites withheld from training and validation (e.g. :func:`heldout_indices`).
        first_member (int):
            Number of the first member; train members ``0..99`` and ``100..199`` in two calls
            with the same seed to split a 200-member run.
        config, seed, val_fraction, progress, scaler, param_names: See :func:`train_ensemble`.
    """
    return _ensemble(bootstrap_indices, "bootstrap", x, y, n_members, mask, exclude, config,
                     seed, val_fraction, progress, scaler, param_names, first_member)


def best_guess_ensemble(x, y, *, n_members: int = 10, mask=None, exclude=None,
                        config: TrainConfig = TrainConfig(), seed: int = 0,
                        val_fraction: float = 0.1, progress: bool = True,
                        scaler: MinMaxScaler | None = None,
                        param_names: Sequence[str] | None = None,
                        first_member: int = 0) -> Ensemble:
    """Best-guess ensemble: ``n_members`` seeds, random 90/10 split without replacement.

    The GCB maps use the median over the 10 runs ``cross_valid_0_{1..10}``
    (``docs/original_code.md`` §6.4); see :func:`surrogate.predict.predict_maps`.
    Arguments as in :func:`bootstrap_ensemble`.
    """
    return _ensemble(split_indices, "best_guess", x, y, n_members, mask, exclude, config,
                     seed, val_fraction, progress, scaler, param_names, first_member)


# --------------------------------------------------------------------------------------
# Persistence
# --------------------------------------------------------------------------------------

def save_ensemble(ensemble: Ensemble, path) -> None:
    """Save an ensemble to one ``.npz`` file (parameters, splits, history, metadata)."""
    leaves = jax.tree.leaves(ensemble.params)
    meta = {
        "config": dataclasses.asdict(ensemble.config),
        "n_in": ensemble.n_in, "n_out": ensemble.n_out, "seed": ensemble.seed,
        "kind": ensemble.kind, "n_leaves": len(leaves),
        "scaler": ensemble.scaler.to_dict() if ensemble.scaler is not None else None,
        "param_names": list(ensemble.param_names) if ensemble.param_names else None,
    }
    arrays = {f"leaf_{i}": np.asarray(a) for i, a in enumerate(leaves)}
    np.savez(path, meta=np.asarray(json.dumps(meta)), member_ids=ensemble.member_ids,
             train_idx=ensemble.train_idx, val_idx=ensemble.val_idx,
             best_epoch=ensemble.best_epoch, best_val_loss=ensemble.best_val_loss,
             train_loss=ensemble.history["train_loss"],
             val_loss=ensemble.history["val_loss"], **arrays)


def load_ensemble(path) -> Ensemble:
    """Load an ensemble written by :func:`save_ensemble`."""
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        cfg = meta["config"]
        cfg["hidden"] = tuple(cfg["hidden"])
        config = TrainConfig(**cfg)
        leaves = [jnp.asarray(f[f"leaf_{i}"]) for i in range(meta["n_leaves"])]
        template = nnx.split(nnx.eval_shape(lambda: MLP(
            meta["n_in"], meta["n_out"], hidden=config.hidden, dropout=config.dropout,
            rngs=nnx.Rngs(0))))[1]
        params = jax.tree.unflatten(jax.tree.structure(template), leaves)
        scaler = MinMaxScaler.from_dict(meta["scaler"]) if meta["scaler"] else None
        return Ensemble(
            params=params, config=config, n_in=meta["n_in"], n_out=meta["n_out"],
            seed=meta["seed"], member_ids=f["member_ids"], train_idx=f["train_idx"],
            val_idx=f["val_idx"], best_epoch=f["best_epoch"],
            best_val_loss=f["best_val_loss"],
            history={"train_loss": f["train_loss"], "val_loss": f["val_loss"]},
            kind=meta["kind"], scaler=scaler,
            param_names=tuple(meta["param_names"]) if meta["param_names"] else None)
