"""The multi-layer perceptron: dense layers on row-major batches, hand-written backprop.

Architecture, for ``layer_sizes = [n_in, h_1, ..., h_H, n_out]`` (H >= 0 hidden layers)::

    input:     h = X  ->  [input dropout]
    hidden l:  z = h @ W_l + b_l  ->  [batch norm]  ->  a = act_l(z)  ->  [dropout]  ->  h
    output:    logits = h @ W_H + b_H;   output(logits) = softmax | sigmoid | identity

H = 0 with a sigmoid output is the logistic-regression neuron; with softmax, softmax regression.

Naming (the keys of ``parameters()``, ``gradients()``, ``buffers()``), ``i`` counts dense
layers from 0::

    layers.{i}.weight  (fan_in, fan_out)     layers.{i}.bias  (fan_out,)  [no bias with BN]
    layers.{i}.bn.weight, layers.{i}.bn.bias (fan_out,)   gamma, beta      (parameters)
    layers.{i}.bn.running_mean, layers.{i}.bn.running_var (fan_out,)       (buffers)

A dense layer followed by batch norm has no bias (BN's beta makes it redundant; its gradient
would be identically zero).

Memory layout: all parameters live in ONE flat, 64-byte-aligned array ``net.params`` and all
gradients in ``net.grads`` (same layout); per-layer arrays are views. ``net.decay_mask`` has the
same layout: 1 for dense weights, 0 for biases and batch-norm parameters (L2 / weight decay is
applied by the optimizer where the mask is 1). Activations and backward buffers are allocated
once for the largest batch seen and reused (row slices), so a step allocates almost nothing.

Low-level surface (used by the training loop):

- ``forward(X, training=False, rng=None) -> logits (batch, n_out)``: ``X`` is used without a
  copy if it already has the network's dtype and is C-contiguous. The returned array is an
  internal buffer, overwritten by the next ``forward``; ``X`` must stay unchanged until
  ``backward``. ``training=True``: dropout active (needs ``rng``), BN uses batch statistics and
  updates its running statistics.
- ``output(logits)``: a new array of probabilities / predictions (the output activation).
- ``backward(dlogits)``: fills ``net.grads`` (overwrites) from the caches of the LAST forward
  (train or eval mode); ``dlogits`` is typically ``loss.value_and_grad(...)[1]``.
- ``parameters()`` / ``gradients()`` / ``buffers()``: dicts of views.
- ``state_arrays()`` (copies of parameters + buffers) and ``load_state_arrays(d)`` (strict).
- ``get_config()`` / ``MLP.from_config(d)``; ``layer_summaries()``; ``activation_stats()``;
  ``layer_norms()``; ``hidden_activations()``.

Convenience API: ``loss_and_grads(X, y, loss=...)`` (copies of the gradients),
``predict_proba(X)``, ``predict(X)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlptrain.nn.activations import OUTPUTS, get_activation
from mlptrain.nn.initializers import get_initializer
from mlptrain.nn.layers import BatchNorm1d, Dense, Dropout
from mlptrain.nn.losses import COMPATIBLE_OUTPUTS, get_loss

_ALIGN = 64
_DTYPES = {"float32": np.float32, "float64": np.float64}
_CONFIG_KEYS = (
    "layer_sizes", "activation", "output", "init", "bias_init", "dropout", "batchnorm", "seed", "dtype",
    "input_dropout",
)


def aligned_empty(n: int, dtype) -> np.ndarray:
    """A 1-D array of ``n`` elements whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    raw = np.empty(n + _ALIGN // dtype.itemsize, dtype)
    start = (-raw.ctypes.data % _ALIGN) // dtype.itemsize
    return raw[start : start + n]


def _per_layer(value, n_hidden: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n_hidden:
            raise ValueError(f"{what} list has {len(value)} entries for {n_hidden} hidden layers")
        return list(value)
    return [value] * n_hidden


class _Hidden:
    """One hidden layer: dense -> [bn] -> activation -> [dropout]."""

    def __init__(self, fan_in, fan_out, act_spec, p_drop, bn):
        self.dense = Dense(fan_in, fan_out, use_bias=not bn)
        self.bn = BatchNorm1d(fan_out) if bn else None
        self.act = get_activation(act_spec)
        self.drop = Dropout(p_drop) if p_drop > 0 else None


class MLP:
    """A multi-layer perceptron; see the module docstring for the layout and the API.

    Args:
        layer_sizes: ``[n_in, hidden..., n_out]``, at least two positive ints.
        activation: one activation for all hidden layers, or a list with one per hidden layer;
            each a name or ``{"name": "leaky_relu", "negative_slope": 0.1}``.
        output: ``"softmax" | "sigmoid" | "identity"``.
        init: initializer name or ``{"name": "normal", "std": 0.1}``; ``"auto"``: he_normal for
            relu-family layers, xavier_uniform otherwise (see ``initializers.py``).
        bias_init: constant the dense biases start at.
        dropout: probability in [0, 1) (or a list, one per hidden layer); after the activation.
        batchnorm: bool (or list per hidden layer); between the dense layer and the activation.
        seed: seed of the Generator drawing the initial weights.
        dtype: ``"float32"`` (default) or ``"float64"``.
        input_dropout: inverted-dropout probability in [0, 1) on the input features (training
            only; Hinton et al. use 0.2 with 0.5 on hidden layers).
    """

    def __init__(self, layer_sizes, activation="relu", output="softmax", *, init="auto",
                 bias_init=0.0, dropout=0.0, batchnorm=False, seed=0, dtype="float32",
                 input_dropout=0.0):
        sizes = list(layer_sizes)
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
            raise ValueError(f"layer_sizes must be >= 2 positive ints, got {layer_sizes!r}")
        sizes = [int(s) for s in sizes]
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; choose one of {sorted(OUTPUTS)}")
        if str(np.dtype(dtype)) not in _DTYPES:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        if not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int, got {seed!r}")
        n_hidden = len(sizes) - 2
        acts = _per_layer(activation, n_hidden, "activation")
        drops = [float(p) for p in _per_layer(dropout, n_hidden, "dropout")]
        bns = [bool(b) for b in _per_layer(batchnorm, n_hidden, "batchnorm")]
        self.layer_sizes, self.output_name = sizes, output
        self.dtype = np.dtype(dtype)
        self._config = {
            "layer_sizes": sizes, "activation": activation if isinstance(activation, (str, dict))
            else list(activation), "output": output, "init": init, "bias_init": float(bias_init),
            "dropout": dropout if isinstance(dropout, (int, float)) else drops,
            "batchnorm": batchnorm if isinstance(batchnorm, bool) else bns,
            "seed": int(seed), "dtype": str(self.dtype),
        }
        self.in_drop = Dropout(input_dropout) if float(input_dropout) > 0 else None
        self._config["input_dropout"] = float(input_dropout)
        self.hidden = [_Hidden(sizes[i], sizes[i + 1], acts[i], drops[i], bns[i]) for i in range(n_hidden)]
        self.out_dense = Dense(sizes[-2], sizes[-1])
        self._allocate()
        self._initialize(init, float(bias_init), np.random.default_rng(int(seed)))
        self._ws_rows = 0
        self._last = None  # (batch, training) of the last forward

    # ---- layout ----------------------------------------------------------------------------

    def _allocate(self) -> None:
        specs: list[tuple[str, tuple[int, ...], bool]] = []  # (name, shape, decayed)
        bufs: list[tuple[str, tuple[int, ...]]] = []
        for i, hl in enumerate(self.hidden):
            fi, fo = hl.dense.fan_in, hl.dense.fan_out
            specs.append((f"layers.{i}.weight", (fi, fo), True))
            if hl.bn is None:
                specs.append((f"layers.{i}.bias", (fo,), False))
            else:
                specs += [(f"layers.{i}.bn.weight", (fo,), False), (f"layers.{i}.bn.bias", (fo,), False)]
                bufs += [(f"layers.{i}.bn.running_mean", (fo,)), (f"layers.{i}.bn.running_var", (fo,))]
        L = len(self.hidden)
        specs += [(f"layers.{L}.weight", tuple(self.layer_sizes[-2:]), True),
                  (f"layers.{L}.bias", (self.layer_sizes[-1],), False)]
        sizes = [int(np.prod(s)) for _, s, _ in specs]
        total = sum(sizes)
        self.params = aligned_empty(total, self.dtype)
        self.grads = aligned_empty(total, self.dtype)
        self.grads[:] = 0
        self.decay_mask = np.zeros(total, self.dtype)
        self._p, self._g, off = {}, {}, 0
        for (name, shape, decayed), size in zip(specs, sizes, strict=True):
            self._p[name] = self.params[off : off + size].reshape(shape)
            self._g[name] = self.grads[off : off + size].reshape(shape)
            if decayed:
                self.decay_mask[off : off + size] = 1
            off += size
        nbuf = sum(s[0] for _, s in bufs)
        self._buffer_flat = np.zeros(nbuf, self.dtype)
        self._b, off = {}, 0
        for name, (size,) in bufs:
            self._b[name] = self._buffer_flat[off : off + size]
            off += size
        p, g, b = self._p, self._g, self._b
        for i, hl in enumerate(self.hidden):
            k = f"layers.{i}"
            hl.dense.bind(p[f"{k}.weight"], g[f"{k}.weight"], p.get(f"{k}.bias"), g.get(f"{k}.bias"))
            if hl.bn is not None:
                hl.bn.bind(p[f"{k}.bn.weight"], p[f"{k}.bn.bias"], g[f"{k}.bn.weight"],
                           g[f"{k}.bn.bias"], b[f"{k}.bn.running_mean"], b[f"{k}.bn.running_var"])
        k = f"layers.{L}"
        self.out_dense.bind(p[f"{k}.weight"], g[f"{k}.weight"], p[f"{k}.bias"], g[f"{k}.bias"])

    def _initialize(self, init, bias_init: float, rng: np.random.Generator) -> None:
        for hl in self.hidden:
            get_initializer(init, hl.act.name)(hl.dense.W, rng)
            if hl.dense.use_bias:
                hl.dense.b[:] = bias_init
            if hl.bn is not None:
                hl.bn.gamma[:] = 1
                hl.bn.beta[:] = 0
                hl.bn.running_mean[:] = 0
                hl.bn.running_var[:] = 1
        get_initializer(init, "identity")(self.out_dense.W, rng)  # "auto" -> xavier_uniform
        self.out_dense.b[:] = bias_init

    def _workspace(self, n: int) -> None:
        """(Re)allocate activation/gradient buffers when a batch larger than any before comes."""
        if n <= self._ws_rows:
            return
        dt = self.dtype
        self._ws: list[dict[str, Any]] = []  # per hidden layer: name -> (n, width) or None
        for hl in self.hidden:
            w = hl.dense.fan_out
            self._ws.append({
                "z": np.empty((n, w), dt),
                "a": np.empty((n, w), dt) if hl.act.needs_input else None,
                "xhat": np.empty((n, w), dt) if hl.bn is not None else None,
                "mask": np.empty((n, w), dt) if hl.drop is not None else None,
                "drop": np.empty((n, w), dt) if hl.drop is not None else None,
                "dh": np.empty((n, w), dt),
            })
        self._logits = np.empty((n, self.layer_sizes[-1]), dt)
        if self.in_drop is not None:  # (batch, n_in): the input mask and the dropped input
            self._in_ws = (np.empty((n, self.layer_sizes[0]), dt), np.empty((n, self.layer_sizes[0]), dt))
        self._ws_rows = n

    # ---- forward / backward ----------------------------------------------------------------

    def _as_input(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype != self.dtype or not X.flags.c_contiguous:
            X = np.ascontiguousarray(X, dtype=self.dtype)
        if X.ndim != 2 or X.shape[1] != self.layer_sizes[0] or X.shape[0] < 1:
            raise ValueError(f"X must have shape (batch >= 1, {self.layer_sizes[0]}), got {X.shape}")
        return X

    def forward(self, X, training: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
        """``logits (batch, n_out)``; an internal buffer, overwritten by the next forward."""
        X = self._as_input(X)
        n = X.shape[0]
        self._workspace(n)
        h = X
        if training and self.in_drop is not None:  # the first dense layer caches the dropped X
            h = self.in_drop.forward(X, rng, self._in_ws[0][:n], self._in_ws[1][:n])
        self._acts = []
        for hl, ws in zip(self.hidden, self._ws, strict=True):
            z = hl.dense.forward(h, ws["z"][:n])  # (n, fan_out)
            if hl.bn is not None:
                hl.bn.forward(z, training, ws["xhat"][:n], out=z)
            a = hl.act.forward(z, ws["a"][:n] if hl.act.needs_input else z)
            self._acts.append(a)
            if training and hl.drop is not None:
                a = hl.drop.forward(a, rng, ws["mask"][:n], ws["drop"][:n])
            h = a
        self._last = (n, bool(training))
        return self.out_dense.forward(h, self._logits[:n])

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        """Fill ``net.grads`` from ``dL/dlogits`` (batch, n_out) and the last forward's caches."""
        if self._last is None:
            raise RuntimeError("backward() needs a forward() first")
        n, training = self._last
        if dlogits.shape != (n, self.layer_sizes[-1]):
            raise ValueError(f"dlogits must have shape {(n, self.layer_sizes[-1])}, got {dlogits.shape}")
        d = dlogits
        nxt = self.out_dense
        for hl, ws in zip(reversed(self.hidden), reversed(self._ws), strict=True):
            d = nxt.backward(d, ws["dh"][:n])  # dL/dh (n, fan_out), our buffer: modified in place
            if training and hl.drop is not None:
                hl.drop.backward(d)
            hl.act.backward(d)  # dL/dz (or dL/dy of BN)
            if hl.bn is not None:
                hl.bn.backward(d)
            nxt = hl.dense
        nxt.backward(d, None)  # the first dense layer: no gradient w.r.t. X needed
        return self.grads

    def output(self, logits: np.ndarray) -> np.ndarray:
        """The output activation of ``logits`` as a new array (batch, n_out)."""
        return OUTPUTS[self.output_name](logits)

    def predict_proba(self, X) -> np.ndarray:
        """Eval-mode ``output(forward(X))``: probabilities (softmax/sigmoid) or values (batch, n_out)."""
        return self.output(self.forward(X, training=False))

    def predict(self, X) -> np.ndarray:
        """softmax: argmax class (batch,); sigmoid: ``p >= 0.5`` as int, (batch,) if one output
        else (batch, n_out); identity: values, (batch,) if one output."""
        logits = self.forward(X, training=False)
        if self.output_name == "softmax":
            return logits.argmax(axis=1)
        values = (logits >= 0).astype(np.int64) if self.output_name == "sigmoid" else logits.copy()
        return values[:, 0] if values.shape[1] == 1 else values

    def loss_and_grads(self, X, y, loss: str = "cross_entropy", *, sample_weight=None,
                       class_weight=None, training: bool = True, rng=None, **loss_kwargs):
        """``(mean data loss, {name: gradient copy})``; no regularization term is included."""
        if loss in COMPATIBLE_OUTPUTS and self.output_name not in COMPATIBLE_OUTPUTS[loss]:
            raise ValueError(f"loss {loss!r} is not compatible with output {self.output_name!r}")
        if class_weight is not None:
            loss_kwargs["class_weight"] = class_weight
        loss_fn = get_loss(loss, output=self.output_name, **loss_kwargs)
        logits = self.forward(X, training=training, rng=rng)
        value, dlogits = loss_fn.value_and_grad(logits, y, sample_weight=sample_weight)
        self.backward(dlogits)
        return value, {k: v.copy() for k, v in self._g.items()}

    # ---- views and state -------------------------------------------------------------------

    @property
    def n_params(self) -> int:
        return int(self.params.size)

    def parameters(self) -> dict[str, np.ndarray]:
        """name -> view into ``net.params`` (mutating it changes the model)."""
        return dict(self._p)

    def gradients(self) -> dict[str, np.ndarray]:
        """name -> view into ``net.grads``."""
        return dict(self._g)

    def buffers(self) -> dict[str, np.ndarray]:
        """name -> view of the batch-norm running statistics (not parameters)."""
        return dict(self._b)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Copies of all parameters and buffers, for checkpoints."""
        return {k: v.copy() for k, v in {**self._p, **self._b}.items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy ``arrays`` into the model; strict: same keys, shapes and dtypes, else ValueError."""
        own = {**self._p, **self._b}
        missing, extra = sorted(set(own) - set(arrays)), sorted(set(arrays) - set(own))
        if missing:
            raise ValueError(f"state is missing array {missing[0]!r}")
        if extra:
            raise ValueError(f"state has unexpected array {extra[0]!r}")
        for k, dst in own.items():
            src = np.asarray(arrays[k])
            if src.shape != dst.shape:
                raise ValueError(f"array {k!r} has shape {src.shape}, expected {dst.shape}")
            if src.dtype != dst.dtype:
                raise ValueError(f"array {k!r} has dtype {src.dtype}, expected {dst.dtype}")
        for k, dst in own.items():
            np.copyto(dst, arrays[k])

    def get_config(self) -> dict:
        """JSON-able constructor arguments; ``MLP.from_config(net.get_config())`` rebuilds it."""
        import copy

        return copy.deepcopy(self._config)

    @classmethod
    def from_config(cls, config: dict) -> MLP:
        unknown = sorted(set(config) - set(_CONFIG_KEYS))
        if unknown:
            raise ValueError(f"unknown MLP config key {unknown[0]!r}")
        if "layer_sizes" not in config:
            raise ValueError("MLP config needs 'layer_sizes'")
        return cls(**config)

    # ---- pickling --------------------------------------------------------------------------

    def __getstate__(self) -> dict:
        """What a pickle (joblib, ``copy.deepcopy``, process pools) carries: the constructor
        config and the three flat arrays. The per-layer views, workspaces and forward caches
        are rebuilt by ``__setstate__``: pickled one by one, the views would arrive as copies
        that no longer share memory with ``params``, and an optimizer updating ``params``
        would leave the weights ``forward`` reads unchanged."""
        return {"config": self.get_config(), "params": self.params, "grads": self.grads,
                "buffers": self._buffer_flat}

    def __setstate__(self, state: dict) -> None:
        """Rebuild the layout from the config, then copy the arrays in: copying (never
        adopting) keeps ``params`` 64-byte aligned and writeable when the pickled arrays
        arrive read-only or unaligned, e.g. memory-mapped by joblib."""
        type(self).__init__(self, **state["config"])
        for own, saved in ((self.params, state["params"]), (self.grads, state["grads"]),
                           (self._buffer_flat, state["buffers"])):
            saved = np.asarray(saved)
            if saved.shape != own.shape or saved.dtype != own.dtype:
                raise ValueError(f"pickled MLP array has {saved.shape}/{saved.dtype}, the config "
                                 f"needs {own.shape}/{own.dtype}")
            np.copyto(own, saved)

    # ---- monitoring ------------------------------------------------------------------------

    def _layer_names(self):
        return [f"layers.{i}" for i in range(len(self.hidden) + 1)]

    def layer_summaries(self) -> list[dict]:
        """Per dense layer: name, fan_in, fan_out, activation, batchnorm, dropout, n_params, and
        flops per sample of the forward pass (a multiply-add counts 2: ``2 * fan_in * fan_out``)."""
        rows = []
        for i, name in enumerate(self._layer_names()):
            hl = self.hidden[i] if i < len(self.hidden) else None
            dense = hl.dense if hl else self.out_dense
            n = sum(v.size for k, v in self._p.items() if k.startswith(name + "."))
            rows.append({
                "name": name, "fan_in": dense.fan_in, "fan_out": dense.fan_out,
                "activation": hl.act.name if hl else self.output_name,
                "batchnorm": bool(hl and hl.bn is not None),
                "dropout": hl.drop.p if hl and hl.drop is not None else 0.0,
                "n_params": int(n), "flops": 2 * dense.fan_in * dense.fan_out,
            })
        return rows

    def hidden_activations(self) -> list[np.ndarray]:
        """Views of each hidden layer's activation output (before dropout) from the last forward."""
        if self._last is None:
            raise RuntimeError("hidden_activations() needs a forward() first")
        return list(self._acts)

    def activation_stats(self) -> list[dict]:
        """Per hidden layer, from the last forward: mean, std; ``dead_fraction`` (relu,
        leaky_relu: fraction of units with a <= 0 on every sample; else None);
        ``saturated_fraction`` (sigmoid: a < 0.03 or a > 0.97; tanh: |a| > 0.97; else None)."""
        stats = []
        for i, (hl, a) in enumerate(zip(self.hidden, self.hidden_activations(), strict=True)):
            name = hl.act.name
            dead = sat = None
            if name in ("relu", "leaky_relu"):
                dead = float(1.0 - np.mean(np.any(a > 0, axis=0)))
            if name == "sigmoid":
                sat = float(np.mean((a < 0.03) | (a > 0.97)))
            elif name == "tanh":
                sat = float(np.mean(np.abs(a) > 0.97))
            stats.append({"name": f"layers.{i}", "activation": name, "mean": float(a.mean()),
                          "std": float(a.std()), "dead_fraction": dead, "saturated_fraction": sat})
        return stats

    def layer_norms(self) -> list[dict]:
        """Per dense layer: L2 norms of the weight matrix and of its gradient (biases excluded)."""
        out = []
        for name in self._layer_names():
            w, g = self._p[name + ".weight"].ravel(), self._g[name + ".weight"].ravel()
            out.append({"name": name, "weight_norm": float(np.sqrt(np.dot(w, w))),
                        "grad_norm": float(np.sqrt(np.dot(g, g)))})
        return out

    def __repr__(self) -> str:
        return f"MLP({self.layer_sizes}, output={self.output_name!r}, dtype={str(self.dtype)!r})"
