"""Every random stream of a run, named in one place.

A run's `seed` feeds several independent generators, so that changing how one part draws
(more synthetic samples, another split fraction, dropout on or off) never shifts another
part's draws. Each stream is a `np.random.Generator` made by `generator(seed, name)`:

| name        | seeded from                                    | draws                                | used by              |
| ----------- | ---------------------------------------------- | ------------------------------------ | -------------------- |
| `synthetic` | `SeedSequence([seed, 0])`                      | synthetic datasets' points and noise | data/sources.py      |
| `split`     | `SeedSequence([seed, 1])`                      | test and validation hold-outs        | data/loader.py       |
| `init`      | `SeedSequence(init_seed(seed))`, see below     | weight initialization                | builders.py -> MLP   |
| `shuffle`   | `SeedSequence(seed, spawn_key=(2,))`           | each epoch's permutation             | training.Trainer     |
| `dropout`   | `SeedSequence(seed, spawn_key=(3,))`           | dropout masks while training         | training, inspection |
| `probe`     | `SeedSequence([seed, 7])`                      | gradcheck's random inputs/targets    | gradcheck.py         |
| `stand_in`  | `SeedSequence(seed)`                           | gradcheck's stand-in images          | gradcheck.py         |

`init`: the MLP takes an integer seed, `init_seed(seed)`, the first 32-bit word of
`SeedSequence([seed, 1])` (the split's key), which the MLP hashes again through its own
`SeedSequence`: its draws share no state with the split's generator. The shared key is
historical; it is kept because a new key would change every trained model (and every figure
in the README).

`stand_in`: `SeedSequence(seed)` is the same key as `SeedSequence([seed, 0])` (a SeedSequence
pads its entropy with zeros), so it draws what `synthetic` draws. Harmless: stand-in images
replace a named image set, and a run on an image set never draws synthetic data.

`shuffle` and `dropout` are children 2 and 3 of `SeedSequence(seed).spawn(4)` (children 0 and
1 were never used); `spawn_key` builds them directly, with the same states.
"""

from __future__ import annotations

import numpy as np

STREAMS = ("synthetic", "split", "init", "shuffle", "dropout", "probe", "stand_in")
SYNTHETIC_KEY = 0  # SeedSequence([seed, SYNTHETIC_KEY])
SPLIT_KEY = 1  # SeedSequence([seed, SPLIT_KEY]); also the key of `init_seed`
PROBE_KEY = 7  # SeedSequence([seed, PROBE_KEY])
SHUFFLE_CHILD = 2  # SeedSequence(seed, spawn_key=(SHUFFLE_CHILD,))
DROPOUT_CHILD = 3


def init_seed(seed: int) -> int:
    """The integer seed of the weight initialization (see the module docstring)."""
    return int(np.random.SeedSequence([seed, SPLIT_KEY]).generate_state(1)[0])


def seed_sequence(seed: int, name: str) -> np.random.SeedSequence:
    """The `SeedSequence` of stream `name` of `seed` (the table in the module docstring)."""
    if name == "synthetic":
        return np.random.SeedSequence([seed, SYNTHETIC_KEY])
    if name == "split":
        return np.random.SeedSequence([seed, SPLIT_KEY])
    if name == "init":
        return np.random.SeedSequence(init_seed(seed))
    if name == "shuffle":
        return np.random.SeedSequence(seed, spawn_key=(SHUFFLE_CHILD,))
    if name == "dropout":
        return np.random.SeedSequence(seed, spawn_key=(DROPOUT_CHILD,))
    if name == "probe":
        return np.random.SeedSequence([seed, PROBE_KEY])
    if name == "stand_in":
        return np.random.SeedSequence(seed)
    raise ValueError(f"unknown random stream {name!r}; the streams are {', '.join(STREAMS)}")


def generator(seed: int, name: str) -> np.random.Generator:
    """A fresh generator of stream `name` of `seed`."""
    return np.random.default_rng(seed_sequence(seed, name))
