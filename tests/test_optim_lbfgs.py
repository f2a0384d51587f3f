"""Full-batch L-BFGS (optim/lbfgs.py): minima of known functions, the line search's cubic
step, exact state save/restore, and `optimizer.kind: lbfgs` through the training loop and a
resumed run."""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.optim.lbfgs import LBFGS, cubic_minimum


def minimise(fun, x, iterations=300, gtol=1e-10, stop=True, **options):
    """Run LBFGS on fun(x) -> (f, g) from x (in place), until `converged(gtol)` unless
    `stop` is False; return the optimizer."""
    grads = np.zeros_like(x)

    def closure():
        f, g = fun(x)
        grads[...] = g
        return f

    opt = LBFGS(**options)
    f = closure()
    for _ in range(iterations):
        opt.step(x, grads, 1.0, closure=closure, loss=f)
        f = closure()
        if stop and opt.converged(gtol):
            break
    return opt


def rosenbrock(x):
    r = x[1:] - x[:-1] ** 2
    f = float(np.sum(100 * r**2 + (1 - x[:-1]) ** 2))
    g = np.zeros_like(x)
    g[1:] += 200 * r
    g[:-1] += -400 * x[:-1] * r - 2 * (1 - x[:-1])
    return f, g


def test_rosenbrock_minimum_is_reached_from_the_classic_start():
    x = np.tile([-1.2, 1.0], 5)  # (10,)
    opt = minimise(rosenbrock, x)
    np.testing.assert_allclose(x, np.ones(10), atol=1e-4)
    assert opt.t < 150 and opt.evals < 250


def test_a_convex_quadratic_ends_at_the_solution_of_its_linear_system():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(20, 20))
    A, b = M @ M.T + 20 * np.eye(20), rng.normal(size=20)  # f = x'Ax/2 - b'x
    x = np.zeros(20)
    opt = minimise(lambda v: (0.5 * v @ A @ v - b @ v, A @ v - b), x, iterations=40, stop=False)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), atol=1e-8)
    assert opt.converged(1e-6)


def test_weight_decay_is_part_of_the_objective_only_where_the_mask_is_one():
    # f = (x - 3)^2 / 2 per entry, plus wd/2 x^2 on entry 0 only: minimum 3 / (1 + wd) there.
    x = np.zeros(2)
    minimise(lambda v: (0.5 * float(np.sum((v - 3) ** 2)), v - 3), x, weight_decay=0.5,
             decay_mask=np.array([1.0, 0.0]))
    np.testing.assert_allclose(x, [3 / 1.5, 3.0], atol=1e-8)


def test_cubic_minimum_is_exact_for_a_quadratic_and_falls_back_to_the_midpoint():
    f = lambda t: (t - 0.3) ** 2  # noqa: E731 (a quadratic is a cubic: exact minimiser)
    df = lambda t: 2 * (t - 0.3)  # noqa: E731
    assert cubic_minimum(0.0, f(0.0), df(0.0), 1.0, f(1.0), df(1.0)) == pytest.approx(0.3)
    assert cubic_minimum(0.0, 1.0, -1.0, 2.0, np.inf, 1.0) == 1.0  # not finite: midpoint
    # the cubic through (0, 0, -1) and (1, -2, -1.5) has its minimum at 1.284: clipped to 1.5
    assert cubic_minimum(0.0, 0.0, -1.0, 1.0, -2.0, -1.5, bounds=(1.5, 4.0)) == 1.5
    # (0, 0, -1) and (1, -5, -9): the formula's denominator is 0: the midpoint of the bounds
    assert cubic_minimum(0.0, 0.0, -1.0, 1.0, -5.0, -9.0, bounds=(1.1, 4.0)) == 2.55


def test_state_dict_round_trip_continues_bit_identically():
    x_a = np.tile([-1.2, 1.0], 3)
    minimise(rosenbrock, x_a, iterations=4, history_size=3)
    grads = np.zeros_like(x_a)

    def run(x, opt, steps):
        def closure():
            f, g = rosenbrock(x)
            grads[...] = g
            return f
        for _ in range(steps):
            opt.step(x, grads, 1.0, closure=closure, loss=closure())

    first = LBFGS(history_size=3)
    run(x_a, first, 5)
    saved, x_b = first.state_dict(), x_a.copy()
    second = LBFGS(history_size=3)
    second.load_state_dict(saved)
    run(x_a, first, 5)
    run(x_b, second, 5)
    np.testing.assert_array_equal(x_a, x_b)
    assert second.evals == first.evals and second.count == 3


def test_step_without_a_closure_is_refused():
    with pytest.raises(ValueError, match="needs the loss and a closure"):
        LBFGS().step(np.zeros(2), np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="count/head"):
        opt = LBFGS(history_size=2)
        opt.load_state_dict({"arrays": {}, "scalars": {**opt.state_dict()["scalars"],
                                                       "count": 5}})


CONFIG = {"data": {"source": "moons", "n_samples": 300}, "model": {"hidden": [8]},
          "optimizer": {"kind": "lbfgs", "lr": 1.0}, "train": {"epochs": 12}}


def test_optimizer_kind_lbfgs_trains_full_batch_with_a_non_increasing_loss(tmp_path):
    from mlptrain.config import validate_config
    from mlptrain.experiment import start_run

    raw = {**CONFIG, "model": {"hidden": [8], "dtype": "float64"}, "run": {"root": str(tmp_path)}}
    result = start_run(validate_config(raw))
    import csv

    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    losses = [float(r["train_loss"]) for r in rows]
    assert [int(r["step"]) for r in rows] == list(range(1, 13))  # one step per epoch
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < 0.5 * losses[0]


def test_a_resumed_lbfgs_run_ends_identical_to_an_uninterrupted_one(tmp_path):
    from mlptrain.checkpoint import load_checkpoint
    from mlptrain.config import validate_config
    from mlptrain.experiment import resume_run, start_run

    whole = start_run(validate_config({**CONFIG, "run": {"root": str(tmp_path / "a")}}))
    short = {**CONFIG, "train": {"epochs": 5}, "run": {"root": str(tmp_path / "b")}}
    part = start_run(validate_config(short))
    resume_run(part.run_dir, ["train.epochs=12"])
    a = load_checkpoint(whole.run_dir / "checkpoints" / "last.safetensors").tensors
    b = load_checkpoint(part.run_dir / "checkpoints" / "last.safetensors").tensors
    assert sorted(a) == sorted(b) and any(k.startswith("optimizer.s_") for k in a)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("history_size", [1, 3, 10])
def test_memory_slots_count_the_saved_pairs_and_the_six_arrays_a_step_holds(history_size):
    """The memory estimate's slots: the 2 x history_size (s, y) state arrays, which a step
    fills, and six parameter-sized arrays within a step (x, g, d, g_new and two scratch)."""
    x = np.tile([-1.2, 1.0], 5)  # (10,)
    opt = minimise(rosenbrock, x, iterations=history_size + 2, stop=False, history_size=history_size)
    assert len(opt.state) == 2 * history_size
    assert all(a.shape == x.shape for a in opt.state.values())
    assert LBFGS.memory_slots(history_size=history_size) == 2 * history_size + 6
    assert LBFGS.state_slots == LBFGS.memory_slots()  # the class default: history_size 10


def _torch_lbfgs_path(fun_torch, x0, steps, history_size, lr):
    """PyTorch's LBFGS (strong Wolfe), one iteration per step() and at most 25 line-search
    evaluations after the first trial (max_eval 26 = the step's own evaluation + 1 + 25)."""
    torch = pytest.importorskip("torch")
    p = torch.tensor(x0.copy(), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([p], lr=lr, max_iter=1, max_eval=26, history_size=history_size,
                            line_search_fn="strong_wolfe", tolerance_grad=0.0,
                            tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        f = fun_torch(p)
        f.backward()
        return f

    path = []
    for _ in range(steps):
        opt.step(closure)
        path.append(p.detach().numpy().copy())
    return np.array(path)  # (steps, n)


def _our_path(fun, x0, steps, history_size, lr):
    x = x0.copy()
    opt = minimise(fun, x, iterations=0, history_size=history_size)  # a fresh optimizer
    grads = np.zeros_like(x)

    def closure():
        f, g = fun(x)
        grads[...] = g
        return f

    f, path = closure(), []
    for _ in range(steps):
        opt.step(x, grads, lr, closure=closure, loss=f)
        f = closure()
        path.append(x.copy())
    return np.array(path)  # (steps, n)


def _rosenbrock_torch(x):
    r = x[1:] - x[:-1] ** 2
    return (100 * r**2 + (1 - x[:-1]) ** 2).sum()


def _smooth_convex():
    """f(x) = log sum exp(A x) + |x|^2 / 2 and its gradient, as NumPy and as torch."""
    A = np.random.default_rng(3).normal(size=(30, 12))  # (terms, n)

    def numpy_fun(x):
        z = A @ x
        e = np.exp(z - z.max())
        return float(np.log(e.sum()) + z.max() + x @ x / 2), A.T @ (e / e.sum()) + x

    def torch_fun(x):
        import torch

        return torch.logsumexp(torch.as_tensor(A) @ x, 0) + (x * x).sum() / 2

    return numpy_fun, torch_fun


@pytest.mark.parametrize("history_size, lr", [
    (10, 1.0), (3, 1.0), (5, 0.5), (10, 2.0),
    (10, 1e-3), (10, 0.01), (10, 0.1),  # first trials too short: the search extrapolates
    (5, 10.0), (3, 50.0),  # first trials too long: the search zooms
])
def test_iterates_match_pytorch_lbfgs_with_strong_wolfe_on_rosenbrock(history_size, lr):
    """The same decisions as torch.optim.LBFGS(line_search_fn="strong_wolfe"): the iterates
    agree to rounding (which Rosenbrock's curvature amplifies after ~20 iterations)."""
    x0 = np.tile([-1.2, 1.0], 5)  # (10,)
    ours = _our_path(rosenbrock, x0, 15, history_size, lr)
    theirs = _torch_lbfgs_path(_rosenbrock_torch, x0, 15, history_size, lr)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-11)


@pytest.mark.parametrize("history_size, lr", [(10, 1.0), (2, 1.0), (4, 3.0), (10, 0.01),
                                               (4, 30.0), (2, 1e-3)])
def test_iterates_match_pytorch_lbfgs_on_a_smooth_convex_function(history_size, lr):
    """10 iterations take max |g| from 2 to ~1e-5; beyond, PyTorch stops moving once
    g.d > -1e-9 (its tolerance_change), while mlptrain leaves stopping to `converged`."""
    numpy_fun, torch_fun = _smooth_convex()
    x0 = np.linspace(-2.0, 3.0, 12)  # (12,)
    ours = _our_path(numpy_fun, x0, 10, history_size, lr)
    theirs = _torch_lbfgs_path(torch_fun, x0, 10, history_size, lr)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_evals_count_every_objective_evaluation_and_converged_reads_the_last_step():
    """`evals` is the loop's first evaluation plus every line-search trial; `converged` is False before a step and tests max |g|, the relative
    decrease and the step length of the last step."""
    x = np.tile([-1.2, 1.0], 3)  # (6,)
    calls = []

    def fun(v):
        calls.append(1)
        return rosenbrock(v)

    opt = minimise(fun, x, iterations=0, history_size=5)
    assert opt.evals == 0 and not opt.converged(1e300)
    calls.clear()
    opt = minimise(fun, x, iterations=12, stop=False, history_size=5)
    # minimise evaluates once at the start (counted by the first step), then the line
    # searches, and once after each step at the accepted point (the loop's, not counted)
    assert opt.evals == len(calls) - 12
    opt.t, opt.loss, opt.previous_loss, opt.grad_max, opt.step_size = 3, 5.0, 6.0, 1e-3, 1.0
    assert not opt.converged(1e-4)  # a decrease of 1/6 of the loss, |g| above gtol, a real step
    assert opt.converged(1e-3)  # max |g| <= gtol
    opt.previous_loss = 5.0 + 5.0 * 2.0e-9  # a relative decrease of 2e-9 <= FTOL (2.2e-9)
    assert opt.converged(1e-4)
    opt.previous_loss, opt.step_size = 6.0, 1e-10  # a step that no longer moves
    assert opt.converged(1e-4)


def _line(phi, dphi):
    """evaluate(t) for a 1-D line search along d = [1]: (phi(t), [phi'(t)]), counting calls."""
    calls = []

    def evaluate(t):
        calls.append(t)
        return phi(t), np.array([dphi(t)])

    return evaluate, calls


def test_line_search_rejects_a_first_trial_without_sufficient_decrease():
    """phi(t) = -t + b t^2 + c t^3 with phi(1) = -5e-5 (less than c1 * t * |phi'(0)| = 1e-4
    below phi(0)) and phi'(1) = 0 (curvature met): the trial t = 1 fails Armijo, so the
    search zooms into [0, 1] and finds the local minimum near 1/3, where phi = -0.148."""
    b, c = 1.99985, -0.9999
    evaluate, calls = _line(lambda t: -t + b * t * t + c * t**3,
                            lambda t: -1 + 2 * b * t + 3 * c * t * t)
    f, g, t = LBFGS()._strong_wolfe(evaluate, 1.0, np.array([1.0]), 0.0, np.array([-1.0]), -1.0)
    assert calls[0] == 1.0 and len(calls) == 2
    assert t == pytest.approx(1 / 3, abs=1e-3) and f < -0.14 and abs(g[0]) <= 0.9


def test_line_search_that_never_stops_descending_ends_after_25_more_trials_at_the_last():
    """phi(t) = -t: every trial satisfies Armijo and none the curvature condition, so the
    search extrapolates (t grows 10x at most per trial) until its 25 extra evaluations are
    used, and returns the last, lowest point."""
    evaluate, calls = _line(lambda t: -t, lambda t: -1.0)
    f, g, t = LBFGS()._strong_wolfe(evaluate, 1.0, np.array([1.0]), 0.0, np.array([-1.0]), -1.0)
    assert len(calls) == 1 + 25
    assert t == calls[-1] and f == -t and g[0] == -1.0
    assert all(b > a for a, b in zip(calls, calls[1:], strict=False))  # always further out
