"""The intent and topic heads' logistic regression: scikit-learn's objective, found faster."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from intents.logistic import fit_multinomial


def _rows(
    seed: int, n: int = 300, sparse_width: int = 40, dense_width: int = 8
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Rows shaped like the heads' own: sparse n-gram columns, then a dense block; unbalanced labels."""
    rng = np.random.default_rng(seed)
    grams = sparse.random(n, sparse_width, density=0.1, random_state=seed, format="csr")
    dense = rng.normal(size=(n, dense_width))
    truth = rng.normal(size=(sparse_width + dense_width, 4))
    x = sparse.hstack([grams, sparse.csr_matrix(dense)], format="csr")
    scores = np.asarray(x @ truth) + rng.gumbel(size=(n, 4))
    # Skewed classes, so the balanced weights matter.
    scores[:, 0] += 1.5
    labels = np.array(["care", "child", "debt", "dv"])[scores.argmax(axis=1)]
    return x, labels


@pytest.mark.parametrize("c", [0.1, 10.0])
def test_the_objective_is_scikit_learns_balanced_logistic_regression(c: float) -> None:
    x, labels = _rows(seed=3)
    reference = LogisticRegression(C=c, class_weight="balanced", tol=1e-10, max_iter=10_000).fit(x, labels)
    optimum = np.vstack([reference.coef_.T, reference.intercept_]).ravel()
    # scikit-learn's optimum is where this objective's gradient vanishes too: started there,
    # the fit stays (another penalty scale, weighting or loss would move it).
    settled = fit_multinomial(x, labels, c, dense_columns=8, start=optimum)
    assert settled.iterations == 0
    assert np.allclose(settled.coef, reference.coef_.T) and np.allclose(settled.intercept, reference.intercept_)
    # From zeros it stops at the default tolerance, as scikit-learn's own fit does: the same labels.
    fit = fit_multinomial(x, labels, c, dense_columns=8)
    assert list(fit.classes) == list(reference.classes_)
    assert (fit.decision(x).argmax(axis=1) == reference.decision_function(x).argmax(axis=1)).mean() > 0.98


def test_balancing_raises_a_rare_class() -> None:
    x, labels = _rows(seed=5)
    counts = {label: int((labels == label).sum()) for label in set(labels)}
    rare = min(counts, key=counts.__getitem__)
    fit = fit_multinomial(x, labels, 1.0, dense_columns=8)
    predicted = fit.classes[fit.decision(x).argmax(axis=1)]
    unbalanced = LogisticRegression(C=1.0, max_iter=10_000).fit(x, labels).predict(x)
    # Balanced weights predict the rare class at least as often as its share, unlike the plain fit.
    assert (predicted == rare).sum() > (unbalanced == rare).sum()


def test_a_warm_start_reaches_the_same_model() -> None:
    x, labels = _rows(seed=7)
    cold = fit_multinomial(x, labels, 1.0, dense_columns=8)
    warm = fit_multinomial(x, labels, 1.0, dense_columns=8, start=cold.start())
    assert warm.iterations < cold.iterations
    assert np.allclose(warm.decision(x), cold.decision(x), atol=1e-2)
