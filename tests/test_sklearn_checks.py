"""scikit-learn's own estimator checks (`parametrize_with_checks`) on mlptrain.sklearn's
MLPClassifier and MLPRegressor, with no expected failures. The instances are those
scikit-learn's test suite uses for its own MLPs (max_iter=100,
sklearn/utils/_test_common/instance_generator.py), once with the default solver (adam) and
once with lbfgs: scikit-learn runs its sample-weight equivalence check on lbfgs, and here
both pass it (the checks' data fit in one mini-batch, and alpha's L2 term is divided by the
batch's weight sum as in scikit-learn)."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mlptrain.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@parametrize_with_checks([
    MLPClassifier(max_iter=100),
    MLPRegressor(max_iter=100),
    MLPClassifier(solver="lbfgs", max_iter=100),
    MLPRegressor(solver="lbfgs", max_iter=100),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
