"""Dunnett's many-to-one test on a fitted model: the K options of one comparison against the base, one-sided, as
the maximum of their K t statistics under the multivariate t with the fit's correlations and degrees of freedom
(``scipy.stats.multivariate_t``; its Monte Carlo integration seeded, so that a verdict never changes between two
reads). ``scipy.stats.dunnett`` assumes independent samples without blocks (a paired replicate term, a pooled
variance), so it is not used.
"""

import functools
import math
from collections.abc import Sequence

import numpy as np

from hpsweep.decide.inference import SEED

POWER = 0.8  # the power a "detectable" difference is detected with


def many_to_one(statistics: Sequence[tuple[float, float]], correlation: np.ndarray, untested: int = 0) -> list[float]:
    """Dunnett's one-sided adjusted p of each (t, df) of K options against one base: the probability under no
    difference that the largest of the K statistics reaches it. ``correlation``: the statistics' correlations;
    ``untested``: options of the comparison with no value (counted, correlated 0.5, as a balanced design's)."""
    from scipy.stats import t as student

    if not statistics:
        return []
    df = min(df for _, df in statistics)
    # a statistic with its own degrees of freedom enters with the tail probability it has there
    common = [student.isf(student.sf(value, own), df) if own != df else value for value, own in statistics]
    size = len(common) + untested
    shape = np.full((size, size), 0.5)
    shape[:len(common), :len(common)] = correlation
    np.fill_diagonal(shape, 1.0)
    return [_max_sf(value, shape, df) for value in common]


def _max_sf(value: float, shape: np.ndarray, df: float) -> float:
    """P(max of the multivariate t (or normal) with this correlation >= value)."""
    from scipy.stats import multivariate_normal, multivariate_t
    from scipy.stats import t as student

    if math.isinf(value):
        return 0.0 if value > 0 else 1.0
    if len(shape) == 1:
        return float(student.sf(value, df))  # scipy's t takes df=inf as the normal
    point = np.full(len(shape), value)
    if math.isfinite(df) and df < 1e4:
        below = multivariate_t(shape=shape, df=df, allow_singular=True).cdf(point, random_state=SEED)
    else:
        below = multivariate_normal(cov=shape, allow_singular=True).cdf(point, rng=SEED)
    return float(min(1.0, max(0.0, 1.0 - below)))


def critical_value(shape_size: int, correlation: np.ndarray, df: float, level: float) -> float:
    """The statistic Dunnett's test needs to reach at ``level`` (one-sided, K = ``shape_size`` options)."""
    rounded = tuple(tuple(round(float(value), 3) for value in row) for row in correlation)
    return _critical_value(shape_size, rounded, round(float(df), 1), level)


@functools.lru_cache(maxsize=1024)  # a balanced sweep's comparisons share K, correlations and df: solve each once
def _critical_value(shape_size: int, correlation: tuple, df: float, level: float) -> float:
    from scipy.optimize import brentq
    from scipy.stats import t as student

    if shape_size <= 1:
        return float(student.isf(level, df))
    shape = np.full((shape_size, shape_size), 0.5)
    shape[:len(correlation), :len(correlation)] = np.array(correlation)
    np.fill_diagonal(shape, 1.0)
    low = float(student.isf(level, df))  # one option's: K options' maximum needs at least this
    high = low + 4
    while _max_sf(high, shape, df) > level:  # a few degrees of freedom (what racing leaves) put it far out
        high = low + 2 * (high - low)
    return float(brentq(lambda x: _max_sf(x, shape, df) - level, low, high, xtol=1e-3))


def detectable(se: float, critical: float, df: float) -> float:
    """The difference found with 80% power by a test that needs ``critical`` standard errors."""
    from scipy.stats import t as student

    return se * (critical + float(student.ppf(POWER, df)))
