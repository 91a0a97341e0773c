"""Rates, paired bootstrap, exact McNemar, sample size and the verdict rule, against hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.evaluation.stats import (
    BETTER, NO_EVIDENCE, RULE, WORSE, Rate, mcnemar_exact, paired_difference, questions_to_detect, summary,
    verdict, wilson,
)


def _pairs(both: int, gained: int, lost: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Outcomes for A and B with the given concordant and discordant counts."""
    a = [True] * both + [False] * gained + [True] * lost + [False] * neither
    b = [True] * both + [True] * gained + [False] * lost + [False] * neither
    return a, b


def test_rate_text_value_and_errors_in_the_denominator():
    r = Rate.of([True, True, False, False])  # two errored answers are two False entries, not dropped
    assert (r.k, r.n, r.value, r.text) == (2, 4, 0.5, "2/4 (50%)")
    assert Rate(0, 0).text == "0/0 (-)" and Rate(0, 0).interval == (0.0, 1.0)
    with pytest.raises(ValueError):
        Rate(5, 4)


def test_wilson_matches_newcombe_1998():
    # Newcombe, Statistics in Medicine 17 (1998), Table I, Wilson score method without continuity correction.
    for (k, n), (lo, hi) in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605),
                             (0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}.items():
        assert wilson(k, n) == pytest.approx((lo, hi), abs=5e-5)
    assert Rate(81, 263).interval == wilson(81, 263)


def test_mcnemar_exact_by_hand():
    # 10 vs 2 discordant: 2 * P(X <= 2 | 12, 1/2) = 2 * (1 + 12 + 66) / 4096
    assert mcnemar_exact(10, 2) == pytest.approx(2 * 79 / 4096) == pytest.approx(0.0386, abs=1e-4)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)


def test_paired_difference_hand_case():
    a, b = _pairs(both=40, gained=10, lost=2, neither=2)
    c = paired_difference(a, b, seed=1)
    assert (c.n, c.b01, c.b10, c.a.text, c.b.text) == (54, 10, 2, "42/54 (78%)", "50/54 (93%)")
    assert c.diff == pytest.approx(100 * 8 / 54)
    assert c.p_value == pytest.approx(0.0386, abs=1e-4)
    assert c.low < c.diff < c.high and c.excludes_zero and verdict(c) == BETTER
    flipped = paired_difference(b, a, seed=1)
    assert flipped.diff == pytest.approx(-c.diff) and verdict(flipped) == WORSE


def test_all_equal_is_zero_with_zero_width_interval():
    a = [True, False, True] * 10
    c = paired_difference(a, list(a))
    assert (c.diff, c.low, c.high, c.p_value, c.b01, c.b10) == (0.0, 0.0, 0.0, 1.0, 0, 0)
    assert not c.excludes_zero and verdict(c) == NO_EVIDENCE
    assert c.questions_to_detect() is None and "no difference observed" in summary(c)
    empty = paired_difference([], [])
    assert (empty.n, empty.diff, empty.p_value, verdict(empty)) == (0, 0.0, 1.0, NO_EVIDENCE)


def test_bootstrap_is_seeded_and_only_pairs_match():
    a, b = _pairs(both=20, gained=6, lost=3, neither=11)
    one, two = paired_difference(a, b, seed=7), paired_difference(a, b, seed=7)
    assert (one.low, one.high) == (two.low, two.high)
    small = [paired_difference(a, b, seed=s, n_boot=50) for s in (1, 2)]
    assert (small[0].low, small[0].high) != (small[1].low, small[1].high)  # the seed does drive the resampling
    other = paired_difference(a, b, seed=8)  # with 10,000 resamples the seed barely matters
    assert abs(other.low - one.low) <= 2.5 and abs(other.high - one.high) <= 2.5
    with pytest.raises(ValueError):
        paired_difference(a, b[:-1])


def test_bootstrap_interval_close_to_normal_approximation():
    # Paired difference of proportions: sd = sqrt((b01 + b10)/n - d^2) / sqrt(n), here with large n.
    a, b = _pairs(both=300, gained=120, lost=60, neither=520)
    c = paired_difference(a, b, seed=0)
    n, d = 1000, 0.06
    half = 100 * 1.96 * np.sqrt((180 / n - d * d) / n)
    assert c.low == pytest.approx(6 - half, abs=0.4) and c.high == pytest.approx(6 + half, abs=0.4)


def test_a_real_gap_is_found():
    rng = np.random.default_rng(12)
    a, b = rng.random(200) < 0.5, rng.random(200) < 0.7  # independent noise, 20-point true effect
    c = paired_difference(a, b, seed=0)
    assert c.excludes_zero and verdict(c) == BETTER and c.low > 0
    assert verdict(paired_difference(b, a, seed=0)) == WORSE


def test_noise_is_not_a_finding():
    found = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        a, b = rng.random(60) < 0.6, rng.random(60) < 0.6
        found += verdict(paired_difference(a, b, seed=seed, n_boot=2000)) != NO_EVIDENCE
    assert found <= 10


def test_questions_to_detect_by_hand_and_monotone():
    # Connor (1987): d = 0.1, psi = 0.2 -> (1.95996 * sqrt(.2) + 0.84162 * sqrt(.19))^2 / .01 = 154.6
    assert questions_to_detect(0.5, 0.6, 0.2) == 155
    assert questions_to_detect(0.6, 0.5, 0.2) == 155
    assert questions_to_detect(0.5, 0.5, 0.3) is None
    gaps = [questions_to_detect(0.5, 0.5 + d, 0.3) for d in (0.02, 0.05, 0.1, 0.2)]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] > 0  # bigger gaps need fewer questions
    assert questions_to_detect(0.5, 0.6, 0.2) < questions_to_detect(0.5, 0.6, 0.4)  # more disagreement, more n
    assert questions_to_detect(0.5, 0.6, 0.2, power=0.9) > questions_to_detect(0.5, 0.6, 0.2)
    assert questions_to_detect(0.5, 0.6, 0.0) == questions_to_detect(0.5, 0.6, 0.1)  # psi >= |d|


def test_no_evidence_reports_questions_needed():
    a, b = _pairs(both=20, gained=4, lost=2, neither=14)
    c = paired_difference(a, b)
    assert verdict(c) == NO_EVIDENCE and c.questions_to_detect() > c.n
    line = summary(c, "Prompted", "RAG")
    assert line.startswith("RAG 24/40 (60%) vs Prompted 22/40 (55%): +5.0 points")
    assert f"about {c.questions_to_detect()} questions would detect" in line
    assert "interval" in RULE and "excludes zero" in RULE
