"""The layers of an MLP: dense, batch normalization, inverted dropout.

Each layer is a forward/backward pair. Parameters, gradients and buffers are *views* into the
network's flat arrays, attached with ``bind``; activations and gradients flow through buffers
the network preallocates (``out=``), so a training step allocates almost nothing. ``forward``
keeps exactly what ``backward`` needs; ``backward`` fills the parameter gradients (overwriting
them) and returns the gradient with respect to the layer's input.
"""

from __future__ import annotations

from typing import overload

import numpy as np

from mlptrain.nn.workspace import OwnWorkspace


class Dense:
    """``z = x @ W + b``.  x: (batch, fan_in), W: (fan_in, fan_out), b: (fan_out,), z: (batch, fan_out).

    Backward, with ``dz = dL/dz``::

        dW = x.T @ dz        db = dz.sum(axis=0)        dx = dz @ W.T

    ``use_bias=False`` (used when batch norm follows, whose beta makes ``b`` redundant).
    """

    # Views into the network's flat parameter and gradient vectors, set by `bind`.
    W: np.ndarray  # (fan_in, fan_out)
    dW: np.ndarray
    b: np.ndarray  # (fan_out,); unbound (never read) when use_bias is False
    db: np.ndarray

    def __init__(self, fan_in: int, fan_out: int, use_bias: bool = True):
        self.fan_in, self.fan_out, self.use_bias = fan_in, fan_out, use_bias
        self.W = self.b = self.dW = self.db = None  # type: ignore[assignment]  # until bind

    def bind(self, W, dW, b=None, db=None) -> None:
        self.W, self.dW, self.b, self.db = W, dW, b, db

    def forward(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        self._x = x  # (batch, fan_in), read again by backward
        np.matmul(x, self.W, out=out)  # (batch, fan_out)
        if self.use_bias:
            out += self.b
        return out

    @overload
    def backward(self, dz: np.ndarray, dx_out: np.ndarray) -> np.ndarray: ...
    @overload
    def backward(self, dz: np.ndarray, dx_out: None = None) -> None: ...

    def backward(self, dz: np.ndarray, dx_out: np.ndarray | None = None) -> np.ndarray | None:
        np.matmul(self._x.T, dz, out=self.dW)  # (fan_in, fan_out)
        if self.use_bias:
            np.add.reduce(dz, axis=0, out=self.db)  # (fan_out,); np.sum without its wrapper
        if dx_out is None:
            return None
        return np.matmul(dz, self.W.T, out=dx_out)  # (batch, fan_in)


class BatchNorm1d:
    """Batch normalization over the batch axis, exactly PyTorch's ``BatchNorm1d``.

    Train mode, z: (batch, f)::

        mu = z.mean(0);  var = z.var(0)                    # biased variance normalizes
        xhat = (z - mu) / sqrt(var + eps);  y = gamma * xhat + beta
        running_mean = (1 - momentum) * running_mean + momentum * mu
        running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)  # unbiased

    Eval mode: ``xhat = (z - running_mean) / sqrt(running_var + eps)``. Backward (train)::

        dxhat = dy * gamma
        dz = inv_std / n * (n * dxhat - dxhat.sum(0) - xhat * (dxhat * xhat).sum(0))

    and in eval mode ``dz = dxhat * inv_std``. Train mode needs batch >= 2 (as PyTorch).
    """

    work = OwnWorkspace()  # per-feature statistics and backward temporaries

    def __init__(self, n_features: int, eps: float = 1e-5, momentum: float = 0.1):
        self.n_features, self.eps, self.momentum = n_features, float(eps), float(momentum)

    def bind(self, gamma, beta, dgamma, dbeta, running_mean, running_var) -> None:
        self.gamma, self.beta, self.dgamma, self.dbeta = gamma, beta, dgamma, dbeta
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, z: np.ndarray, training: bool, xhat: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Normalize ``z`` (batch, f); ``xhat`` is a work buffer kept for backward; ``out`` may be ``z``."""
        n = z.shape[0]
        if training:
            if n < 2:
                raise ValueError(f"batch norm in training mode needs a batch of at least 2, got {n}")
            f = (z.shape[1],)
            mu = np.mean(z, axis=0, out=self.work.get("mu", f, z.dtype))  # (f,)
            np.subtract(z, mu, out=xhat)
            var = np.einsum("ij,ij->j", xhat, xhat, out=self.work.get("var", f, z.dtype))
            var *= 1.0 / n  # biased batch variance
            m, update = self.momentum, self.work.get("update", f, z.dtype)
            self.running_mean *= 1.0 - m
            self.running_mean += np.multiply(mu, m, out=update)
            self.running_var *= 1.0 - m
            self.running_var += np.multiply(var, m * n / (n - 1), out=update)
        else:
            np.subtract(z, self.running_mean, out=xhat)
            var = self.work.like("var", self.running_var)
            np.copyto(var, self.running_var)
        var += self.eps
        inv_std = np.sqrt(var, out=var)
        np.reciprocal(inv_std, out=inv_std)  # (f,)
        xhat *= inv_std
        self._xhat, self._inv_std, self._training = xhat, inv_std, training
        np.multiply(xhat, self.gamma, out=out)
        out += self.beta
        return out

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """In place: ``dy`` (batch, f) becomes ``dz``; fills dgamma, dbeta."""
        xhat, inv_std = self._xhat, self._inv_std
        n = dy.shape[0]
        np.einsum("ij,ij->j", dy, xhat, out=self.dgamma)
        np.sum(dy, axis=0, out=self.dbeta)
        dy *= self.gamma  # dxhat
        if self._training:
            # sum(dxhat) = gamma * dbeta and sum(dxhat * xhat) = gamma * dgamma
            s1 = np.multiply(self.gamma, self.dbeta, out=self.work.like("s1", self.gamma))
            s2 = np.multiply(self.gamma, self.dgamma, out=self.work.like("s2", self.gamma))
            s1 *= 1.0 / n
            dy -= s1
            s2 *= 1.0 / n
            dy -= np.multiply(xhat, s2, out=self.work.like("xhat_s2", dy))
        dy *= inv_std
        return dy


class Dropout:
    """Inverted dropout: train ``y = x * mask``, ``mask = [u >= p] / (1 - p)``; eval: identity.

    ``u ~ U[0, 1)`` is drawn from the Generator passed to ``forward`` (one draw of shape
    (batch, width)); a fresh Generator with the same seed reproduces the mask. Backward:
    ``dx = dy * mask``.
    """

    def __init__(self, p: float):
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p!r}")
        self.p = p

    def forward(self, x, rng: np.random.Generator | None, mask: np.ndarray,
                out: np.ndarray) -> np.ndarray:
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"dropout in training mode needs rng=np.random.Generator, got {rng!r}")
        rng.random(dtype=mask.dtype, out=mask)  # (batch, width) in the network dtype
        np.greater_equal(mask, self.p, out=mask)
        mask *= 1.0 / (1.0 - self.p)
        self._mask = mask
        return np.multiply(x, mask, out=out)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy *= self._mask
        return dy
