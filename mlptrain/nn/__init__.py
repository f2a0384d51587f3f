"""The NumPy backprop core: activations, losses, initializers, layers and the MLP."""

from mlptrain.nn.activations import ACTIVATIONS, OUTPUTS, RELU_FAMILY, get_activation
from mlptrain.nn.initializers import INITIALIZERS, default_init, get_initializer
from mlptrain.nn.losses import COMPATIBLE_OUTPUTS, LOSSES, balanced_class_weights, get_loss
from mlptrain.nn.network import MLP

__all__ = [
    "ACTIVATIONS",
    "COMPATIBLE_OUTPUTS",
    "INITIALIZERS",
    "LOSSES",
    "MLP",
    "OUTPUTS",
    "RELU_FAMILY",
    "balanced_class_weights",
    "default_init",
    "get_activation",
    "get_initializer",
    "get_loss",
]
