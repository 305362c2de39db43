"""End-of-turn calibration: labelling of traced points and the logistic fit (no models)."""

import numpy as np

from turnscribe.eval.calibrate import fit, label_points

LABEL = {"turns": [
    {"start_s": 0.5, "end_s": 3.0, "pauses": [{"start_s": 1.5, "end_s": 2.2, "kind": "mid_sentence_pause"}]},
    {"start_s": 6.0, "end_s": 7.0, "pauses": []},
]}


def test_points_are_positive_after_a_turn_and_negative_anywhere_inside_it():
    trace = [(t, {"t": t}) for t in (0.2, 1.0, 1.6, 2.1, 2.5, 3.1, 5.9, 6.5, 7.2)]
    got = {t: y for t, y, _ in label_points(LABEL, trace)}
    # 1.0 and 2.5 are short gaps between words (the VAD heard silence): an end there is a cut-off too
    assert got == {1.0: 0, 1.6: 0, 2.1: 0, 2.5: 0, 3.1: 1, 5.9: 1, 6.5: 0, 7.2: 1}
    assert 0.2 not in got, "before the first turn nothing is decided"


def test_fit_learns_the_direction_of_each_feature():
    rng = np.random.default_rng(0)
    n = 400
    silence = rng.uniform(0, 2, n)
    cue = rng.integers(0, 2, n).astype(float)
    z = -2 + 2.5 * silence - 2.0 * cue
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(float)
    X = np.column_stack([np.ones(n), silence, cue])
    w = fit(X, y, l2=0.1)
    assert w[1] > 1.5 and w[2] < -1.0
    w_costly_cuts = fit(X, y, l2=0.1, neg_weight=5.0)
    assert w_costly_cuts[0] < w[0], "weighting cut-offs higher makes the model more conservative"
