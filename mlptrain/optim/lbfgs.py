"""Full-batch L-BFGS: the two-loop recursion with a strong-Wolfe line search, in NumPy.

One `step` is one L-BFGS iteration on the objective ::

    f(p) = loss(p) + weight_decay / 2 * ||mask * p||^2,   g(p) = dloss/dp + weight_decay * mask * p

(`mask` is `decay_mask`: the L2 term is part of the objective, so the line search sees it)::

    d = -H g                     H: the inverse-Hessian estimate of the last `history_size`
                                 pairs (s, y), by the two-loop recursion, H0 = (s.y / y.y) I
    t = strong_wolfe(f, g, d)    first trial t = lr (the first iteration: lr * min(1, 1/|g|_1));
                                 Armijo c1 = 1e-4, curvature c2 = 0.9, cubic interpolation
    p = p + t d;  s = t d;  y = g(p) - g;  keep (s, y) when s.y > 1e-10

The loop gives `step` the loss and gradient at the current point (`loss`, `grads`) and a
`closure` that re-evaluates them at whatever `params` holds (the line search writes its trial
points into `params`): the training loop treats an epoch as one such step over the whole
training set (`full_batch`). The line search is Nocedal & Wright's (Algorithms 3.5/3.6) as
PyTorch's `torch.optim.LBFGS(line_search_fn="strong_wolfe")` implements it, decision for
decision, so that the iterates agree with PyTorch's to rounding (tests/test_optim_lbfgs.py).

Why not SciPy's L-BFGS-B (which scikit-learn's MLP uses)? SciPy owns its iteration loop and
keeps its state inside: no epoch boundaries for the loop's evaluations and checkpoints, and no
state to save and restore exactly on resume. Here the state (the pairs, the iteration and
evaluation counts) is the optimizer's, checkpointed like any other, and SciPy stays optional.

Stopping (`converged`, scikit-learn's and SciPy's tests): max |g| <= gtol, or a relative
decrease (f_old - f_new) / max(|f_old|, |f_new|, 1) <= FTOL, or a step too small to move.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlptrain.optim.optimizers import OPTIMIZERS, Optimizer
from mlptrain.registry import Param

C1, C2 = 1e-4, 0.9  # sufficient decrease and curvature constants of the strong Wolfe search
MAX_LINE_SEARCH = 25  # loss evaluations per line search after the first trial
TOLERANCE_CHANGE = 1e-9  # a bracket narrower than this (times max |d|) ends the search
CURVATURE_EPS = 1e-10  # pairs with s.y below this are not kept (H would lose definiteness)
FTOL = 2.220446049250313e-09  # SciPy's L-BFGS-B default relative decrease (factr 1e7 * eps)


def cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through (x1, f1, f'=g1), (x2, f2, f'=g2), clipped to bounds
    (default: the interval); the midpoint when the cubic has none or a value is not finite."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    if not all(math.isfinite(v) for v in (f1, g1, f2, g2)) or x1 == x2:
        return (low + high) / 2
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        num, den, pos = g2 + d2 - d1, g2 - g1 + 2 * d2, x2
    else:
        num, den, pos = g1 + d2 - d1, g1 - g2 + 2 * d2, x1
    if den == 0:
        return (low + high) / 2
    pos -= abs(x2 - x1) * num / den
    return min(max(pos, low), high) if math.isfinite(pos) else (low + high) / 2


@OPTIMIZERS.register(
    "lbfgs", params=(Param("history_size", "corrections (s, y) kept.", ge=1, le=1000),),
    summary="lbfgs (full-batch L-BFGS with a strong-Wolfe line search; use lr: 1)",
    pytorch={"history_size": 100})
class LBFGS(Optimizer):
    """Full-batch L-BFGS (see the module docstring); `step` needs `loss` and `closure`."""

    name = "lbfgs"
    needs_closure = True
    full_batch = True
    state_slots = 26  # memory_slots() at the default history_size

    @classmethod
    def memory_slots(cls, history_size: int = 10, **params: Any) -> int:
        """2 per correction pair (s, y), and x, g, d, g_new and two scratch arrays."""
        return 2 * int(history_size) + 6

    def __init__(self, history_size: int = 10, weight_decay: float = 0.0,
                 decay_mask: np.ndarray | None = None):
        super().__init__(weight_decay, decay_mask)
        if not int(history_size) >= 1:
            raise ValueError(f"history_size must be >= 1, got {history_size!r}")
        self.history_size = int(history_size)
        self._buffers = tuple(f"{k}_{i}" for k in "sy" for i in range(self.history_size))
        self.count = 0  # pairs held, <= history_size
        self.head = 0  # slot of the next pair (a ring)
        self.evals = 0  # objective evaluations so far
        self.loss = math.nan  # objective at the accepted point of the last step
        self.previous_loss = math.nan  # ... and at its starting point
        self.grad_max = math.inf  # max |g| at the accepted point
        self.step_size = math.inf  # t * max |d| of the last step

    # ---- the objective ----------------------------------------------------------------------

    def _decay(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """(weight_decay / 2 ||mask p||^2, weight_decay * mask * p)."""
        if self.weight_decay == 0.0:
            return 0.0, np.zeros_like(params)
        masked = params if self.decay_mask is None else params * self.decay_mask
        return (0.5 * self.weight_decay * float(np.dot(masked, params)),
                self.weight_decay * masked)

    def _objective(self, loss: float, params: np.ndarray, grads: np.ndarray):
        penalty, grad = self._decay(params)
        grad += grads
        value = float(loss) + penalty
        return (value if math.isfinite(value) else math.inf), grad

    # ---- one iteration -----------------------------------------------------------------------

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float,
             closure: Callable[[], float] | None = None, loss: float | None = None) -> None:
        """One L-BFGS iteration from `params` (loss and grads there given); `closure()`
        re-evaluates the loss and fills `grads` at whatever `params` holds."""
        if closure is None or loss is None:
            raise ValueError("lbfgs needs the loss and a closure: it is a full-batch optimizer")
        self._prepare(params, grads)
        self.t += 1
        if self.t == 1:
            self.evals += 1  # the loop's evaluation at the starting point
        f, g = self._objective(loss, params, grads)
        d = self._direction(g)
        gtd = float(np.dot(g, d))
        if not gtd < 0:  # not a descent direction (a poor H): restart from steepest descent
            self.count = self.head = 0
            d, gtd = -g, -float(np.dot(g, g))
        first = self.t == 1
        t = lr * min(1.0, 1.0 / max(float(np.abs(g).sum()), 1e-300)) if first else lr
        x = params.copy()

        def evaluate(step: float):
            np.add(x, step * d, out=params)
            value = closure()
            self.evals += 1
            return self._objective(value, params, grads)

        f_new, g_new, t = self._strong_wolfe(evaluate, t, d, f, g, gtd)
        np.add(x, t * d, out=params)  # the accepted point (the search may have ended elsewhere)
        self._remember(t * d, g_new - g)
        self.previous_loss, self.loss = f, f_new
        self.grad_max = float(np.max(np.abs(g_new))) if g_new.size else 0.0
        self.step_size = abs(t) * float(np.max(np.abs(d))) if d.size else 0.0

    def _direction(self, g: np.ndarray) -> np.ndarray:
        """-H g by the two-loop recursion over the pairs held (newest first, then oldest)."""
        q = -g
        slots = [(self.head - 1 - i) % self.history_size for i in range(self.count)]
        alphas, rhos = [], []
        for slot in slots:  # newest to oldest
            s, y = self.state[f"s_{slot}"], self.state[f"y_{slot}"]
            rho = 1.0 / float(np.dot(y, s))
            alpha = rho * float(np.dot(s, q))
            q -= alpha * y
            alphas.append(alpha)
            rhos.append(rho)
        if self.count:
            s, y = self.state[f"s_{slots[0]}"], self.state[f"y_{slots[0]}"]
            q *= float(np.dot(s, y)) / float(np.dot(y, y))  # H0 = (s.y / y.y) I
        for slot, alpha, rho in zip(reversed(slots), reversed(alphas), reversed(rhos),
                                    strict=True):  # oldest to newest
            s, y = self.state[f"s_{slot}"], self.state[f"y_{slot}"]
            beta = rho * float(np.dot(y, q))
            q += (alpha - beta) * s
        return q

    def _remember(self, s: np.ndarray, y: np.ndarray) -> None:
        if not float(np.dot(s, y)) > CURVATURE_EPS:
            return
        self.state[f"s_{self.head}"][...] = s
        self.state[f"y_{self.head}"][...] = y
        self.head = (self.head + 1) % self.history_size
        self.count = min(self.count + 1, self.history_size)

    def _strong_wolfe(self, evaluate, t, d, f, g, gtd):
        """(f, g, t) at a step t satisfying the strong Wolfe conditions (or the lowest found).

        PyTorch's `_strong_wolfe`, decision for decision (so that the iterates agree to
        rounding): `searches` counts the evaluations after the first trial, at most
        MAX_LINE_SEARCH, and, as there, "no lower than the previous trial" brackets only from
        the third trial on (Nocedal & Wright's Algorithm 3.5 has it from the second)."""
        d_norm = float(np.max(np.abs(d))) if d.size else 0.0
        f_new, g_new = evaluate(t)
        gtd_new = float(np.dot(g_new, d))
        t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
        searches = 0
        while searches < MAX_LINE_SEARCH:  # bracketing phase
            if f_new > f + C1 * t * gtd or (searches > 1 and f_new >= f_prev):
                break
            if abs(gtd_new) <= -C2 * gtd:
                return f_new, g_new, t
            if gtd_new >= 0:
                break
            low, high = t + 0.01 * (t - t_prev), t * 10
            t_next = cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, (low, high))
            t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
            t = t_next
            f_new, g_new = evaluate(t)
            gtd_new = float(np.dot(g_new, d))
            searches += 1
        else:  # out of evaluations while still extrapolating: the lower of 0 and t
            return (f, g, 0.0) if f <= f_new else (f_new, g_new, t)
        bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
        return self._zoom(evaluate, bracket, d, d_norm, f, gtd, searches)

    def _zoom(self, evaluate, bracket, d, d_norm, f, gtd, searches):
        """Shrink `bracket` ([t, f, g, g.d] at each end) around a strong Wolfe point by cubic
        interpolation, kept 10% inside the bracket when it would stall at an end."""
        low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        stuck = False
        while searches < MAX_LINE_SEARCH:
            a, b = bracket[0][0], bracket[1][0]
            if abs(b - a) * d_norm < TOLERANCE_CHANGE:
                break
            t = cubic_minimum(a, bracket[0][1], bracket[0][3], b, bracket[1][1], bracket[1][3])
            lo, hi = min(a, b), max(a, b)
            margin = 0.1 * (hi - lo)
            if min(hi - t, t - lo) < margin:  # too close to an end: move inside (or note it)
                if stuck or t >= hi or t <= lo:
                    t = hi - margin if abs(t - hi) < abs(t - lo) else lo + margin
                    stuck = False
                else:
                    stuck = True
            else:
                stuck = False
            f_new, g_new = evaluate(t)
            gtd_new = float(np.dot(g_new, d))
            searches += 1
            point = [t, f_new, g_new, gtd_new]
            if f_new > f + C1 * t * gtd or f_new >= bracket[low][1]:
                bracket[high] = point
                low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
                continue
            if abs(gtd_new) <= -C2 * gtd:
                return f_new, g_new, t
            if gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = point
        t, f_low, g_low, _ = bracket[low]
        return f_low, g_low, t

    # ---- stopping and state ------------------------------------------------------------------

    def converged(self, gtol: float) -> bool:
        """max |g| <= gtol, a relative decrease <= FTOL, or a step that no longer moves."""
        if self.t == 0:
            return False
        scale = max(abs(self.previous_loss), abs(self.loss), 1.0)
        return (self.grad_max <= gtol or (self.previous_loss - self.loss) <= FTOL * scale
                or self.step_size < TOLERANCE_CHANGE)

    def _scalars(self) -> dict:
        return {"t": self.t, "count": self.count, "head": self.head, "evals": self.evals,
                "loss": self.loss, "previous_loss": self.previous_loss,
                "grad_max": self.grad_max, "step_size": self.step_size}

    def _load_scalars(self, s: dict) -> None:
        self.t, self.count, self.head, self.evals = (int(s[k]) for k in
                                                     ("t", "count", "head", "evals"))
        if not (0 <= self.count <= self.history_size and 0 <= self.head < self.history_size):
            raise ValueError(f"lbfgs count/head {self.count}/{self.head} do not fit "
                             f"history_size {self.history_size}")
        self.loss, self.previous_loss = float(s["loss"]), float(s["previous_loss"])
        self.grad_max, self.step_size = float(s["grad_max"]), float(s["step_size"])
