"""Honest comparisons: rates as k/n with Wilson intervals, paired differences with a bootstrap interval
and an exact McNemar p-value, the questions needed to detect a difference, and the verdict rule.

A and B are two setups answering the same questions; `a[i]` / `b[i]` say whether each answered question
i correctly (an errored answer is False, never dropped). Differences are in points: 100 * (rate B - rate A).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

RULE = ("A rung is recommended only where the 95 % interval of its paired difference excludes zero; "
        "otherwise there is no evidence yet.")
BETTER, WORSE, NO_EVIDENCE = "better", "worse", "no evidence yet"


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n, as fractions; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """k correct out of n asked (errors included in n); value is 0.0 when n is 0."""

    k: int
    n: int

    def __post_init__(self):
        if not 0 <= self.k <= self.n:
            raise ValueError(f"a rate needs 0 <= k <= n, got {self.k}/{self.n}")

    @classmethod
    def of(cls, outcomes: Sequence[bool]) -> Rate:
        return cls(sum(bool(x) for x in outcomes), len(outcomes))

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95 % interval, as fractions."""
        return wilson(self.k, self.n)

    @property
    def text(self) -> str:
        return f"{self.k}/{self.n} ({100 * self.value:.0f}%)" if self.n else "0/0 (-)"


def mcnemar_exact(b01: int, b10: int) -> float:
    """Two-sided exact McNemar p-value: binomial(b01 + b10, 1/2) on the discordant pairs; 1 when none."""
    m, lo = b01 + b10, min(b01, b10)
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(lo + 1)) / 2 ** m
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class PairedComparison:
    """B against A over the same n questions; diff/low/high in points (B - A)."""

    a: Rate
    b: Rate
    diff: float  # 100 * (rate B - rate A)
    low: float  # percentile bootstrap interval at `level`, points
    high: float
    b01: int  # questions A got wrong and B right
    b10: int  # questions A got right and B wrong
    p_value: float  # exact two-sided McNemar
    level: float
    seed: int
    n_boot: int

    @property
    def n(self) -> int:
        return self.a.n

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def discordance(self) -> float:
        """Share of questions where A and B disagree."""
        return (self.b01 + self.b10) / self.n if self.n else 0.0

    def questions_to_detect(self, alpha: float = 0.05, power: float = 0.8) -> int | None:
        """Questions needed to detect this difference (see `questions_to_detect`); None when it is 0."""
        return questions_to_detect(self.a.value, self.b.value, self.discordance, alpha, power)


def paired_difference(a: Sequence[bool], b: Sequence[bool], seed: int = 0, n_boot: int = 10_000,
                      level: float = 0.95) -> PairedComparison:
    """Compare B with A on the same questions: difference, seeded paired bootstrap interval, McNemar.

    The bootstrap resamples question indices with replacement (a and b move together, which is what
    makes it paired) and takes the percentile interval of the resampled differences. With no questions
    the result is a zero difference with interval [0, 0] and p = 1.
    """
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need the same questions: {len(a)} vs {len(b)}")
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n = len(x)
    b01, b10 = int(np.sum(~x & y)), int(np.sum(x & ~y))
    diff = 100 * (b01 - b10) / n if n else 0.0
    low = high = diff
    if n and b01 + b10:
        delta = y.astype(np.int8) - x.astype(np.int8)  # per question: +1, 0 or -1
        rng = np.random.default_rng(seed)
        boots = np.empty(n_boot)
        step = max(1, 2_000_000 // n)  # chunks keep memory flat for large question sets
        for start in range(0, n_boot, step):
            idx = rng.integers(0, n, size=(min(step, n_boot - start), n))
            boots[start:start + len(idx)] = 100 * delta[idx].mean(axis=1)
        tail = (1 - level) / 2
        low, high = (float(v) for v in np.quantile(boots, [tail, 1 - tail]))
    return PairedComparison(Rate.of(x), Rate.of(y), float(diff), low, high, b01, b10,
                            mcnemar_exact(b01, b10), level, seed, n_boot)


def questions_to_detect(p_a: float, p_b: float, discordance: float, alpha: float = 0.05,
                        power: float = 0.8) -> int | None:
    """Paired questions a two-sided McNemar test needs to detect p_b - p_a (Connor 1987).

    n = (z_{1-alpha/2} * sqrt(psi) + z_power * sqrt(psi - d^2))^2 / d^2, with d = p_b - p_a and psi the
    share of discordant questions (at least |d|, since every net change is a disagreement).
    Rates are fractions. None when d is 0: no number of questions detects no difference.
    """
    d = p_b - p_a
    if abs(d) < 1e-12:
        return None
    psi = min(1.0, max(discordance, abs(d)))
    z_a, z_b = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    n = (z_a * math.sqrt(psi) + z_b * math.sqrt(max(0.0, psi - d * d))) ** 2 / (d * d)
    return math.ceil(n - 1e-9)


def verdict(comparison: PairedComparison) -> str:
    """The verdict on B against A: "better" or "worse" when the interval excludes zero, else "no evidence yet"."""
    if not comparison.excludes_zero:
        return NO_EVIDENCE
    return BETTER if comparison.low > 0 else WORSE


def summary(comparison: PairedComparison, name_a: str = "A", name_b: str = "B") -> str:
    """One line for a report: rates, difference with interval, McNemar p, verdict and, if none, the n needed."""
    c = comparison
    line = (f"{name_b} {c.b.text} vs {name_a} {c.a.text}: {c.diff:+.1f} points "
            f"[{c.low:+.1f}, {c.high:+.1f}] ({100 * c.level:.0f} % paired bootstrap, seed {c.seed}), "
            f"McNemar p = {c.p_value:.3g} ({c.b01} gained, {c.b10} lost): {verdict(c)}")
    if verdict(c) == NO_EVIDENCE:
        need = c.questions_to_detect()
        line += (f"; about {need} questions would detect a difference of this size" if need
                 else "; no difference observed")
    return line + "."
