"""Data: sources (synthetic, CSV, NPZ, IDX, named image sets with downloads), splits and
preprocessing, behind one call:

    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind)
    bundle.train.X, bundle.train.y, bundle.val, bundle.test, bundle.preprocessor

See data/README.md for the formats, the search path of image sets and task resolution.
"""

from mlptrain.data.dataset import DataBundle, RawData, Split
from mlptrain.data.loader import clean, load_data, load_features
from mlptrain.data.named import IMAGE_SETS, ImageSet, cache_root, search_path
from mlptrain.data.preprocessing import Preprocessor
from mlptrain.data.synthetic import GENERATORS, SyntheticSpec, make_synthetic

__all__ = [
    "GENERATORS",
    "IMAGE_SETS",
    "DataBundle",
    "ImageSet",
    "Preprocessor",
    "RawData",
    "Split",
    "SyntheticSpec",
    "cache_root",
    "clean",
    "load_data",
    "load_features",
    "make_synthetic",
    "search_path",
]
