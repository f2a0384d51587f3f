"""The map of random streams (mlptrain/streams.py): each named stream is the generator its
table row states, built here independently with NumPy, and the parts of a run draw from it."""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain import streams


def _draws(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2**62, 8)


SEEDS = [0, 1, 42, 2**40 + 3]


@pytest.mark.parametrize("seed", SEEDS)
def test_each_stream_is_the_generator_its_table_row_states(seed):
    first_word = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
    children = np.random.SeedSequence(seed).spawn(4)
    expected = {
        "synthetic": np.random.default_rng([seed, 0]),
        "split": np.random.default_rng([seed, 1]),
        "init": np.random.default_rng(first_word),
        "shuffle": np.random.default_rng(children[2]),
        "dropout": np.random.default_rng(children[3]),
        "probe": np.random.default_rng([seed, 7]),
        "stand_in": np.random.default_rng(seed),
    }
    assert sorted(expected) == sorted(streams.STREAMS)
    for name, rng in expected.items():
        assert np.array_equal(_draws(streams.generator(seed, name)), _draws(rng)), name


def test_no_two_streams_of_a_seed_draw_the_same_numbers_but_the_documented_pair():
    firsts = {name: tuple(_draws(streams.generator(5, name))) for name in streams.STREAMS}
    assert firsts["stand_in"] == firsts["synthetic"]  # [seed, 0] and seed: the same key
    del firsts["stand_in"]
    assert len(set(firsts.values())) == len(firsts)


def test_every_stream_is_named_in_the_module_docstring_table():
    for name in streams.STREAMS:
        assert f"| `{name}`" in streams.__doc__


def test_an_unknown_stream_name_is_a_value_error_listing_the_streams():
    with pytest.raises(ValueError, match=r"unknown random stream 'shufle'; the streams are "
                                         r"synthetic, split, init, shuffle, dropout"):
        streams.generator(0, "shufle")


def test_the_config_builder_seeds_weights_from_the_init_stream():
    from mlptrain.builders import build_model
    from mlptrain.config import validate_config
    from mlptrain.data import load_data
    from mlptrain.nn import MLP

    cfg = validate_config({"seed": 9, "data": {"source": "spiral", "n_samples": 60},
                           "model": {"hidden": [5]}})
    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind)
    net = build_model(cfg, bundle)
    twin = MLP.from_config({**net.get_config(), "seed": streams.init_seed(9)})
    for name, value in net.parameters().items():
        assert np.array_equal(value, twin.parameters()[name]), name


def test_synthetic_data_and_splits_draw_from_their_streams():
    from mlptrain.config import validate_config
    from mlptrain.data import SyntheticSpec, load_data, make_synthetic
    from mlptrain.data.splits import holdout

    cfg = validate_config({"seed": 4, "data": {"source": "moons", "n_samples": 100,
                                              "test_fraction": 0.2, "val_fraction": 0.0,
                                              "stratify": False}})
    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind)
    X, y = make_synthetic("moons", SyntheticSpec(100, cfg.data.n_classes, cfg.data.n_features,
                                                 cfg.data.noise),
                          streams.generator(4, "synthetic"))
    keep, held = holdout(100, 0.2, streams.generator(4, "split"))
    assert np.array_equal(bundle.test.X, X[held]) and np.array_equal(bundle.train.X, X[keep])
