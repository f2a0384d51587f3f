"""Shared helpers for the nn/optim tests: centered finite differences with kink detection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlptrain.nn.activations import OUTPUTS

# Denominator floor of the relative error. The fourth-order centered difference below, at
# h = 1e-4 in float64, has roundoff ~ 1.5 * eps * |L| / h ~ 3e-12 * |L| (truncation ~ h^4 is
# smaller), so for losses of a few units an entry is only resolved to ~1e-11 absolute; entries
# whose true gradient is below ~1e-4 (batch norm on 2 samples makes whole layers' gradients
# ~1e-10) cannot be checked relatively. With this floor such entries must agree to
# 1e-6 * FLOOR = 1e-10 absolute (ten times the roundoff); every larger entry to 1e-6 relative.
# (A floor of 1e-5 demanded 1e-11 and failed now and then on roundoff alone: an entry of
# -2.7415e-6 off by 1.2e-11.)
FLOOR = 1e-4
REFINE_ABOVE = 1e-7  # relative error above which an entry is re-estimated with a smaller step


def rel_err(a: np.ndarray, n: np.ndarray, tiny: float = FLOOR) -> np.ndarray:
    """``|a - n| / max(|a| + |n|, tiny)`` elementwise."""
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)


@dataclass
class GradCheck:
    analytic: np.ndarray  # flat, like net.params
    numeric: np.ndarray
    skipped: np.ndarray  # bool: the finite-difference step crossed a kink
    rel: np.ndarray

    @property
    def max_rel(self) -> float:
        ok = ~self.skipped
        return float(self.rel[ok].max()) if ok.any() else 0.0


def _regime(net, logits, loss_fn, y) -> list[np.ndarray]:
    """Which side of every kink each pre-activation (and loss residual) lies on."""
    sides = [a > 0 for hl, a in zip(net.hidden, net.hidden_activations(), strict=True) if hl.act.kinks]
    if loss_fn.name in ("mae", "huber"):
        yhat = OUTPUTS[loss_fn.output](logits)
        r = yhat - np.asarray(y, dtype=yhat.dtype).reshape(yhat.shape)
        sides.append(r > 0)
        if loss_fn.name == "huber":
            sides.append(np.abs(r) <= loss_fn.delta)
    return sides


def check_gradients(net, X, y, loss_fn, *, sample_weight=None, training=True, dropout_seed=0,
                    h=1e-4, order=4) -> GradCheck:
    """Analytic ``net.grads`` vs centered differences per entry: order 4 (default) is
    ``(8 (f(p+h) - f(p-h)) - (f(p+2h) - f(p-2h))) / 12h``, order 2 ``(f(p+h) - f(p-h)) / 2h``.

    An entry is skipped (and flagged) when one of its perturbed forwards moves a pre-activation
    of a kinked activation (relu, leaky_relu, elu) or a mae/huber residual across its kink.
    """

    def rng():
        return np.random.default_rng(dropout_seed)  # same seed -> same dropout mask

    logits = net.forward(X, training=training, rng=rng())
    _, dlogits = loss_fn.value_and_grad(logits, y, sample_weight=sample_weight)
    net.backward(dlogits)
    analytic = net.grads.astype(np.float64)
    base = _regime(net, logits, loss_fn, y)
    numeric = np.zeros_like(analytic)
    skipped = np.zeros(analytic.shape, bool)
    p = net.params

    def estimate(j: int, step_size: float) -> tuple[float, bool]:
        old = p[j]
        vals, crossed = [], False
        steps = (1, -1) if order == 2 else (1, -1, 2, -2)
        for k in steps:
            p[j] = old + k * step_size
            lg = net.forward(X, training=training, rng=rng())
            vals.append(loss_fn.value(lg, y, sample_weight=sample_weight))
            crossed |= any(np.any(a != b) for a, b in zip(base, _regime(net, lg, loss_fn, y), strict=True))
        p[j] = old
        if order == 2:
            return (vals[0] - vals[1]) / (2 * step_size), crossed
        return (8 * (vals[0] - vals[1]) - (vals[2] - vals[3])) / (12 * step_size), crossed

    for j in range(p.size):
        numeric[j], skipped[j] = estimate(j, h)
    # Entries the step h resolves poorly (a sharply curved loss, e.g. batch norm over three
    # samples of nearly equal value) are estimated again at h / 8: the truncation error
    # (~h^4) shrinks 4096x while roundoff grows 8x. A wrong derivative is off at both steps.
    for j in np.flatnonzero((rel_err(analytic, numeric) > REFINE_ABOVE) & ~skipped):
        numeric[j], skipped[j] = estimate(j, h / 8)
    return GradCheck(analytic, numeric, skipped, rel_err(analytic, numeric))
