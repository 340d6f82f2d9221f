"""The urgency head's operating point and training, on synthetic scores and features (no model, no data)."""

from __future__ import annotations

import numpy as np
import pytest

from intents.urgency import (
    MAX_HARD_NEGATIVE_ALARMS,
    MAX_QUESTION_RATE,
    MIN_GROUP_POSITIVES,
    UrgencyConfig,
    choose_thresholds,
    fit_urgency,
    fold_scores,
    select_config,
    sigmoid,
    urgency_targets,
)


def test_positives_are_emergencies_and_crises_and_hard_negatives_never_positive() -> None:
    positive, hard = urgency_targets(
        ["emergency", "ask_where", "ask_where", "report_worry", "emergency"],
        [None, "crisis", None, "hard_negative", "hard_negative"],
    )
    assert positive.tolist() == [True, True, False, False, True]
    assert hard.tolist() == [False, False, False, True, False]


def test_ask_keeps_every_positive_when_few_negatives_cross() -> None:
    p = np.array([0.9, 0.8, 0.35, 0.4, 0.1, 0.05, 0.02, 0.01, *([0.0] * 17)])
    positive = np.zeros(len(p), dtype=bool)
    positive[:3] = True
    point = choose_thresholds(p, positive, np.zeros(len(p), dtype=bool))
    assert point.ask == 0.35  # the largest threshold that still asks the weakest positive
    assert point.ask_recall == 1.0
    assert point.question_rate == pytest.approx(1 / 22)  # 0.4, one of 22 negatives, crosses
    assert (point.positives, point.negatives, point.hard_negatives) == (3, 22, 0)


def test_ask_is_capped_when_full_recall_asks_too_many() -> None:
    rng = np.random.default_rng(1)
    positives = np.concatenate([[0.05], np.linspace(0.6, 0.99, 199)])  # one outlier far down
    negatives = rng.uniform(0.0, 0.5, 800)  # ~90% of them above 0.05
    p = np.concatenate([positives, negatives])
    positive = np.arange(len(p)) < len(positives)
    point = choose_thresholds(p, positive, np.zeros(len(p), dtype=bool))
    assert np.mean(negatives >= 0.05) > MAX_QUESTION_RATE  # full recall would ask too many
    # Exactly the cap is asked, and the outlier is the price.
    assert point.question_rate == pytest.approx(np.mean(negatives >= point.ask))
    assert point.question_rate <= MAX_QUESTION_RATE
    assert np.mean(negatives >= np.nextafter(np.sort(negatives)[::-1][int(MAX_QUESTION_RATE * 800)], -1.0)) \
        > MAX_QUESTION_RATE
    assert point.ask_recall == pytest.approx(199 / 200)


def test_hard_negatives_asked_do_not_use_up_the_cap_on_ordinary_messages() -> None:
    # Full recall needs the threshold at 0.3: no ordinary message is that high, but every hard
    # negative is (they sound dangerous), and they are a fifth of the data.
    positives = np.linspace(0.3, 0.99, 100)
    ordinary = np.linspace(0.0, 0.2, 700)
    hard = np.linspace(0.35, 0.6, 200)
    p = np.concatenate([positives, ordinary, hard])
    positive = np.arange(len(p)) < len(positives)
    hard_negative = np.arange(len(p)) >= len(positives) + len(ordinary)
    point = choose_thresholds(p, positive, hard_negative)
    assert point.ask == pytest.approx(0.3) and point.ask_recall == 1.0
    assert point.question_rate == 0.0


def test_what_the_lexicon_catches_is_not_the_models_to_ask() -> None:
    # The outlier positive is caught by the word list: the model can keep full recall of the rest
    # with a high threshold, and the lexicon's own messages count as caught.
    positives = np.concatenate([[0.05], np.linspace(0.6, 0.99, 199)])
    negatives = np.linspace(0.0, 0.5, 800)
    p = np.concatenate([positives, negatives])
    positive = np.arange(len(p)) < len(positives)
    caught = np.zeros(len(p), dtype=bool)
    caught[0] = True
    point = choose_thresholds(p, positive, np.zeros(len(p), dtype=bool), caught)
    assert point.ask == pytest.approx(0.6) and point.ask_recall == 1.0
    assert point.question_rate == 0.0


def test_alarm_lets_at_most_two_percent_of_hard_negatives_through() -> None:
    rng = np.random.default_rng(2)
    hard = rng.uniform(0.0, 0.9, 300)
    easy = rng.uniform(0.0, 0.2, 500)
    positives = rng.uniform(0.5, 1.0, 100)
    p = np.concatenate([positives, hard, easy])
    positive = np.arange(len(p)) < 100
    is_hard = (np.arange(len(p)) >= 100) & (np.arange(len(p)) < 400)
    point = choose_thresholds(p, positive, is_hard)
    crossing = np.mean(hard >= point.alarm)
    assert crossing <= MAX_HARD_NEGATIVE_ALARMS
    assert point.hard_negative_alarm_rate == pytest.approx(crossing)
    # The smallest such threshold: the next hard negative down would cross it.
    assert np.mean(hard >= np.sort(hard)[::-1][int(MAX_HARD_NEGATIVE_ALARMS * 300)]) > MAX_HARD_NEGATIVE_ALARMS
    assert point.alarm >= point.ask
    assert point.alarm_recall == pytest.approx(np.mean(positives >= point.alarm))
    assert point.alarm_rate == pytest.approx(np.mean(np.concatenate([hard, easy]) >= point.alarm))


def test_alarm_is_never_below_ask() -> None:
    p = np.array([0.3, 0.2, 0.01, 0.01, 0.01])
    point = choose_thresholds(p, np.array([True, True, False, False, False]), np.array([False, False, True, True, True]))
    assert point.alarm == point.ask == 0.2
    assert point.thresholds.band(0.25) == "alarm" and point.thresholds.band(0.1) is None


def test_without_positives_no_operating_point_is_chosen() -> None:
    with pytest.raises(ValueError, match="positive"):
        choose_thresholds(np.array([0.1, 0.2]), np.array([False, False]), np.array([False, False]))


def _synthetic(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positives around +1 on feature 0; hard negatives near them on feature 0 but apart on feature 1."""
    rng = np.random.default_rng(seed)
    n_positive, n_hard, n_easy = 60, 60, 300
    positive_x = np.column_stack([rng.normal(1.0, 0.4, n_positive), rng.normal(1.0, 0.4, n_positive)])
    hard_x = np.column_stack([rng.normal(1.0, 0.4, n_hard), rng.normal(-1.0, 0.4, n_hard)])
    easy_x = rng.normal(-1.5, 0.5, (n_easy, 2))
    x = np.vstack([positive_x, hard_x, easy_x])
    positive = np.arange(len(x)) < n_positive
    hard = (np.arange(len(x)) >= n_positive) & (np.arange(len(x)) < n_positive + n_hard)
    return x, positive, hard


def test_the_head_learns_separable_synthetic_data_and_keeps_recall_out_of_fold() -> None:
    x, positive, hard = _synthetic(3)
    folds = np.arange(len(x)) % 4
    grid = (UrgencyConfig(1.0, 1.0), UrgencyConfig(1.0, 3.0))
    oof = {config: np.zeros(len(x)) for config in grid}
    for fold in range(4):
        train, test = folds != fold, folds == fold
        for config, scores in fold_scores(x[train], positive[train], hard[train], x[test], grid).items():
            oof[config][test] = scores
    selection = select_config(oof, positive, hard)
    assert selection.point.ask_recall == 1.0
    assert selection.point.hard_negative_alarm_rate is not None
    assert selection.point.hard_negative_alarm_rate <= MAX_HARD_NEGATIVE_ALARMS
    assert selection.point.alarm_recall > 0.8
    coef, intercept = fit_urgency(x, positive, hard, selection.config)
    probabilities = sigmoid((x @ coef + intercept) / selection.temperature)
    assert probabilities[positive].mean() > 0.8 > 0.2 > probabilities[~positive].mean()


def test_the_veto_keeps_every_caught_positive_and_asks_about_words_out_of_their_situation() -> None:
    # Positives the lexicon caught at 0.4 and 0.9; two hard negatives it alarmed on at 0.05 and 0.6.
    p = np.array([0.4, 0.9, 0.7, 0.05, 0.6, 0.01, 0.02])
    positive = np.array([True, True, True, False, False, False, False])
    hard = np.array([False, False, False, True, True, True, False])
    caught = np.array([True, True, False, True, True, False, False])
    point = choose_thresholds(p, positive, hard, caught)
    assert point.veto == 0.4
    assert point.thresholds.veto == 0.4
    assert point.vetoed_hard_negatives == pytest.approx(0.5)  # 0.05 is asked, 0.6 still alarmed


def test_each_lexicon_group_learns_its_veto_from_the_positives_it_caught() -> None:
    # "collapse" caught one positive the model scores 0.001 (a chemical leak, workers fainted):
    # overall, that is every sign's veto. "ambulance" caught positives of 0.3 and more, so its
    # own hard negative at 0.01 (「救急車に乗るとき保険証は」) is asked about, not alarmed.
    n = MIN_GROUP_POSITIVES
    p = np.array([0.001, *[0.8] * (n - 1), *[0.3 + 0.1 * i for i in range(n)], 0.01, 0.5, 0.02])
    groups = ["collapse"] * n + ["ambulance"] * n + ["ambulance", "collapse", ""]
    positive = np.array([True] * (2 * n) + [False, False, False])
    hard = np.array([False] * (2 * n) + [True, True, True])
    caught = np.array([bool(group) for group in groups])
    point = choose_thresholds(p, positive, hard, caught, groups)
    assert point.veto == pytest.approx(0.001)
    assert dict(point.group_vetoes) == {"collapse": pytest.approx(0.001), "ambulance": pytest.approx(0.3)}
    assert point.thresholds.veto_for("ambulance") == pytest.approx(0.3)
    assert point.thresholds.veto_for("a group with too few positives") == pytest.approx(0.001)
    assert point.vetoed_hard_negatives == pytest.approx(0.5)  # the ambulance question asked; 0.5 collapse alarmed
    # Without groups, one overall veto as before.
    assert choose_thresholds(p, positive, hard, caught).vetoed_hard_negatives == 0.0


def test_a_group_veto_needs_enough_positives_and_never_passes_ask() -> None:
    n = MIN_GROUP_POSITIVES
    # "fire" caught n positives all scored 0.9, "knife" caught n - 1: the model asks from ask on.
    p = np.array([*[0.9] * n, *[0.95] * (n - 1), 0.2, 0.4, *[0.01] * 40])
    groups = ["fire"] * n + ["knife"] * (n - 1) + ["", ""] + [""] * 40
    positive = np.array([True] * (2 * n - 1) + [True, True] + [False] * 40)
    hard = np.array([False] * (2 * n + 1) + [True] * 40)
    caught = np.array([bool(group) for group in groups])
    point = choose_thresholds(p, positive, hard, caught, groups)
    assert dict(point.group_vetoes) == {"fire": pytest.approx(point.ask)}
    assert point.ask == pytest.approx(0.2)
