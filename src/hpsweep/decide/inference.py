"""Run-level inference: a training run is the unit of evidence, and a sweep's many comparisons are corrected.

Every test of an option against the base (racing's, futility's, efficacy's and the verdict's) is a contrast of a
fitted model of the deciding metric, not a test of per-image correctness pooled across runs (images of different
runs are not independent evidence: seed luck moves every image of a run at once).

**The model.** The rows of one group (one model, setting and stage: every category's options and the base, trained
alike) are fitted together by least squares, ``value[row, replicate] = row + replicate + noise``, so the
seed-to-seed (or fold-to-fold) variance is pooled over every row: 25 rows of 3 seeds give about 48 degrees of
freedom where one row's paired t-test has 2, and rows with unequal replicate counts (what racing leaves) are
fitted as they are. The replicate term is left out where a replicate label is trained by one row only (the base's
control seeds), which would leave it nothing to estimate. Assumptions: replicates are exchangeable, the noise is
independent across runs and about normal; a row less stable than the rest (an F test of its spread against the
other rows', it left out of their fit) is tested on its own spread (Welch-Satterthwaite degrees of freedom), and
leaves the pool where that holds over every row tested.

**The images.** Where the replicates validate on the same images (seeds on a fixed split), the model's noise is
seed luck on *these* images; a paired bootstrap over the images adds the image-sampling variance of the
difference (from ``val_probabilities.csv``; without it the test speaks of these images only). Where they validate
on different images (folds, or splits drawn per seed), the noise already holds image sampling, but the training
sets overlap: Nadeau and Bengio's correction widens the variance by ``1 + n * n_val / n_train``.

The options of one comparison are tested against the base together by ``hpsweep.decide.many_to_one``.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

SEED = 20261206  # every Monte Carlo integration and bootstrap: the same sweep reads the same twice
BOOTSTRAP = 400  # resamples of the images for the image-sampling term
UNSTABLE = 0.05  # a row whose own noise is larger than the rest's at this level is tested on its own spread
# ... and leaves the pool where it is larger at this level over the rows tested (Bonferroni's): of 9 steady rows, one
# is flagged at 0.05 by chance in a third of the groups, and taking it out biased the rest's variance down (6.4 %
# false wins at alpha 0.05 with 8 options and 3 seeds, 4.9 % with the share and the F test below: BENCHMARKS.md)
POOL_OUT = 0.05
DEFAULT_HELD_OUT = 0.25  # n_val / n_train where the records do not say (another app's): an 80/20 split

Labels = tuple[tuple[str, ...], np.ndarray, np.ndarray]  # a run's validation image ids, targets and predictions


@dataclass
class Run:
    """One training's evidence: its value of the metric, and where known, its images and predictions."""

    value: float
    validated_on: str | None = None  # an identity of the validation images (equal for runs on the same images)
    labels: Callable[[], Labels | None] = lambda: None  # read only where the image term needs them


@dataclass
class LeastSquares:
    """``row + replicate`` fitted by least squares over some rows' runs."""

    rows: list[str]
    labels: list[str]  # the replicate labels, the first the baseline of the replicate term
    coefficients: np.ndarray  # one per row, then one per label after the first (where ``blocks``)
    unscaled: np.ndarray  # pinv(X'X): the coefficients' covariance over sigma^2
    sigma2: float | None  # the noise variance; None without degrees of freedom
    df: int
    blocks: bool  # whether the replicate term is in the model

    def block_index(self, label: str) -> int | None:
        """Where a replicate's luck is among the coefficients; None for the baseline or a label not seen."""
        if not self.blocks or label not in self.labels[1:]:
            return None
        return len(self.rows) + self.labels.index(label) - 1

    def block(self, label: str) -> float:
        """A replicate's luck (0 for the baseline, or a label the model did not see)."""
        index = self.block_index(label)
        return 0.0 if index is None else float(self.coefficients[index])

    @property
    def average_block(self) -> float:
        return sum(self.block(label) for label in self.labels) / len(self.labels) if self.blocks else 0.0

    def vector(self, row: str) -> np.ndarray:
        """The coefficients' weights of the row's mean with its replicates' luck averaged out."""
        vector = np.zeros(len(self.coefficients))
        vector[self.rows.index(row)] = 1.0
        if self.blocks:
            vector[len(self.rows):] = 1.0 / len(self.labels)
        return vector


def least_squares(runs: Mapping[str, Mapping[str, float]], blocks: bool | None = None) -> LeastSquares:
    """``blocks``: whether to fit the replicate term (default: where every label is trained by two rows or more)."""
    rows = list(runs)
    labels = list(dict.fromkeys(label for row in rows for label in runs[row]))
    shared = {label: sum(label in runs[row] for row in rows) for label in labels}
    if blocks is None:  # a label trained by one row only (the base's control seeds) leaves its term nothing to fit
        blocks = all(count >= 2 for count in shared.values())
    blocks = blocks and len(labels) > 1
    observations = [(row, label, float(value)) for row in rows for label, value in runs[row].items()]
    design = np.zeros((len(observations), len(rows) + (len(labels) - 1 if blocks else 0)))
    for number, (row, label, _) in enumerate(observations):
        design[number, rows.index(row)] = 1.0
        if blocks and labels.index(label) > 0:
            design[number, len(rows) + labels.index(label) - 1] = 1.0
    values = np.array([value for _, _, value in observations])
    unscaled = np.linalg.pinv(design.T @ design)
    coefficients = unscaled @ design.T @ values
    residuals = values - design @ coefficients
    df = len(observations) - int(np.linalg.matrix_rank(design))
    return LeastSquares(rows, labels, coefficients, unscaled, float(residuals @ residuals / df) if df > 0 else None,
                        df, blocks)


@dataclass
class Fit:
    """A group's runs fitted: the rows pooled (``pooled``), each row significantly less stable than the rest tested
    on its own spread (``unstable``: its mean with the replicates' luck taken out, its own variance, its runs), so
    that it borrows no other row's precision, and left out of the pool where the evidence holds over every row
    tested (``POOL_OUT``), so that it spoils no other row's tests."""

    pooled: LeastSquares
    unstable: dict[str, tuple[float, float, int]]
    counts: dict[str, int]

    def __contains__(self, row: str) -> bool:
        return row in self.counts

    @property
    def df(self) -> int:
        return self.pooled.df

    @property
    def sigma2(self) -> float | None:
        return self.pooled.sigma2

    def mean(self, row: str) -> float:
        """The row's mean with its replicates' luck taken out (a least-squares mean)."""
        if row in self.unstable:
            return self.unstable[row][0]
        return float(self.pooled.vector(row) @ self.pooled.coefficients)

    def weights(self, a: str, b: str) -> tuple[np.ndarray, dict[str, float]]:
        """``a - b`` as weights of the pooled coefficients and of the unstable rows' means."""
        vector, apart = np.zeros(len(self.pooled.coefficients)), {}
        for row, sign in ((a, 1.0), (b, -1.0)):
            if row in self.unstable:
                apart[row] = sign
            else:
                vector += sign * self.pooled.vector(row)
        return vector, apart

    def covariance(self, first: tuple[str, str], second: tuple[str, str]) -> float | None:
        """The covariance of two contrasts' estimates; None where the pooled noise is unknown and needed."""
        (u, apart_u), (v, apart_v) = self.weights(*first), self.weights(*second)
        pooled = float(u @ self.pooled.unscaled @ v)
        if pooled and self.sigma2 is None:
            return None
        own = sum(weight * apart_v.get(row, 0.0) * self.unstable[row][1] / self.unstable[row][2]
                  for row, weight in apart_u.items())
        return (pooled * self.sigma2 if pooled else 0.0) + own

    def parts(self, a: str, b: str) -> list[tuple[float, float, str]]:
        """The variance of ``a - b`` in parts, each (variance, its df, what it is)."""
        vector, apart = self.weights(a, b)
        parts = [(float(vector @ self.pooled.unscaled @ vector) * self.sigma2, float(self.df),
                  f"pooled variance of {self.df} df")] if self.sigma2 is not None and vector.any() else []
        parts += [(self.unstable[row][1] / self.unstable[row][2], float(self.unstable[row][2] - 1),
                   f"{row}'s own spread (less stable than the rest)") for row in apart]
        return parts


def fit(runs: Mapping[str, Mapping[str, float]]) -> Fit | None:
    """Fit a group's runs (row -> replicate label -> value); None where no row has a value."""
    runs = {row: values for row, values in runs.items() if values}
    if not runs:
        return None
    full = least_squares(runs)
    levels = _unstable(runs, full) if full.sigma2 else {}
    tested = sum(len(values) >= 2 for values in runs.values())
    out = [row for row, (p_value, _) in levels.items() if p_value < POOL_OUT / tested]
    pooled = least_squares({row: runs[row] for row in runs if row not in out}) if out else full
    apart = {row: (float(adjusted.mean()), float(np.var(adjusted, ddof=1)), len(adjusted))
             for row, (_, adjusted) in levels.items()}
    return Fit(pooled, apart, {row: len(values) for row, values in runs.items()})


def _unstable(runs: Mapping[str, Mapping[str, float]], full: LeastSquares) -> dict[str, tuple[float, np.ndarray]]:
    """The rows whose own noise variance is larger than the other rows' with p < ``UNSTABLE``, each with its p and
    its values with the replicates' luck taken out (at the average replicate's luck). An F test of the row's spread
    around its mean, the luck as *the other rows* estimate it, against the other rows' noise: the row is left out of
    their fit, so that a diverging seed neither spreads into the others' residuals through the replicate term and
    hides itself, nor has a share of itself taken out of its own spread as luck. Where the others keep degrees of
    freedom."""
    from scipy.stats import f as fisher

    found = {}
    for row, values in runs.items():
        rest = {other: runs[other] for other in runs if other != row}
        if len(values) < 2 or not rest:
            continue
        others = least_squares(rest, blocks=full.blocks)
        if not others.sigma2:
            continue
        labels = list(values)
        luck = np.array([others.block(label) for label in labels])
        deviations = np.array([values[label] for label in labels]) - luck
        spread = float(np.sum((deviations - deviations.mean()) ** 2))
        # the luck estimates' own noise adds to the row's spread: E[spread] = sigma^2 (n - 1 + trace(M B U B' M))
        selector = np.zeros((len(labels), len(others.coefficients)))
        for number, label in enumerate(labels):
            if (index := others.block_index(label)) is not None:
                selector[number, index] = 1.0
        centred = selector - selector.mean(axis=0)
        scale = 1 + float(np.trace(centred @ others.unscaled @ centred.T)) / (len(labels) - 1)
        ratio = spread / (len(labels) - 1) / scale / others.sigma2
        if (p_value := float(fisher.sf(ratio, len(labels) - 1, others.df))) < UNSTABLE:
            found[row] = (p_value, deviations + others.average_block)
    return found if len(found) < len(full.rows) - 1 else {}


@dataclass(frozen=True)
class Contrast:
    """``a - b`` as the fit, the guard and the images say."""

    estimate: float
    se: float | None  # None: nothing to estimate the noise from (one run each, no control seeds)
    df: float
    parts: tuple[str, ...] = ()  # what went into the standard error, in words

    def t(self, sign: float) -> float | None:
        if self.se is None:
            return None
        if self.se == 0:
            return math.copysign(math.inf, sign * self.estimate) if self.estimate else 0.0
        return sign * self.estimate / self.se


@dataclass
class Evidence:
    """A group's runs and their fit: what every contrast of two of its rows is computed from."""

    runs: dict[str, dict[str, Run]]
    fitted: Fit | None
    metric: str = "val_f1"
    held_out: float | None = None  # validation images over training images, for the overlap correction
    _bootstraps: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, runs: Mapping[str, Mapping[str, Run]], metric: str = "val_f1",
           held_out: float | None = None) -> "Evidence":
        runs = {row: dict(by_label) for row, by_label in runs.items()}
        return cls(runs, fit({row: {label: run.value for label, run in by_label.items()}
                              for row, by_label in runs.items()}), metric, held_out)

    @property
    def df(self) -> int:
        return self.fitted.df if self.fitted else 0

    def mean(self, row: str) -> float:
        return self.fitted.mean(row)

    def contrast(self, a: str, b: str) -> Contrast:
        """``a - b``: the fit's estimate and standard error (a row less stable than the rest on its own spread,
        Welch-Satterthwaite degrees of freedom), plus the image-sampling term (a shared split) or the overlap
        correction (different splits)."""
        fitted = self.fitted
        estimate = fitted.mean(a) - fitted.mean(b)
        parts = fitted.parts(a, b)
        if not parts or any(df < 1 for _, df, _ in parts):
            return Contrast(estimate, None, 0)
        variance = sum(value for value, _, _ in parts)
        df = _satterthwaite([(value, df) for value, df, _ in parts]) if len(parts) > 1 else parts[0][1]
        words = [what for _, _, what in parts]
        shared = self._shared_images(a, b)
        if shared is False and self.held_out:
            runs = 2 / (1 / fitted.counts[a] + 1 / fitted.counts[b])  # the replicates compared (harmonic mean)
            variance *= 1 + runs * self.held_out
            words.append(f"overlapping training sets corrected (Nadeau-Bengio, n_val/n_train={self.held_out:.2f})")
        elif shared:
            images = self.image_variance(a, b)
            if images is not None:
                df = _satterthwaite([(variance, df), (images, math.inf)])
                variance += images
                words.append("image sampling (paired bootstrap)")
            else:
                words.append("these validation images only (no per-image predictions)")
        return Contrast(estimate, math.sqrt(variance), df, tuple(words))

    def _shared_images(self, a: str, b: str) -> bool | None:
        """Whether every run of ``a`` and ``b`` validated on the same images; None where it is not known."""
        seen = {run.validated_on for row in (a, b) for run in self.runs[row].values()}
        if None in seen:
            return None
        return len(seen) == 1

    def image_variance(self, a: str, b: str) -> float | None:
        """The variance that sampling other validation images would add to (a's mean metric - b's): a paired
        bootstrap over the shared images of the rows' mean metrics, less the part of it that is the runs' own
        disagreement (seed to seed, already in the model's noise), estimated from the spread of each row's runs
        around their mean on the same resamples. None without every run's predictions or for a metric not computed
        from them."""
        key = (a, b)
        if key not in self._bootstraps:
            self._bootstraps[key] = self._bootstrap(a, b)
        return self._bootstraps[key]

    def _bootstrap(self, a: str, b: str) -> float | None:
        score = per_image_metric(self.metric)
        labelled = {row: [run.labels() for run in self.runs[row].values()] for row in (a, b)}
        found = [labels for row in labelled.values() for labels in row]
        if score is None or any(labels is None for labels in found) or len({labels[0] for labels in found}) != 1:
            return None
        images = len(found[0][0])
        classes = 1 + max(int(max(labels[1].max(), labels[2].max())) for labels in found)
        draws = np.random.default_rng(SEED).integers(0, images, size=(BOOTSTRAP, images))
        scores = {row: np.array([score(target[draws], predicted[draws], classes) for _, target, predicted in runs])
                  for row, runs in labelled.items()}  # row -> runs x resamples
        total = float(np.var(scores[a].mean(axis=0) - scores[b].mean(axis=0), ddof=1))
        own = sum(float(np.var(runs - runs.mean(axis=0), axis=1, ddof=1).mean()) / (len(runs) - 1)
                  for runs in scores.values() if len(runs) > 1)
        return max(total - own, 0.0)


def _satterthwaite(components: Sequence[tuple[float, float]]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance estimates, each (value, its df)."""
    total = sum(value for value, _ in components)
    denominator = sum(value ** 2 / df for value, df in components if value and math.isfinite(df))
    return total ** 2 / denominator if denominator else math.inf


def per_image_metric(metric: str) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray] | None:
    """The metric, computed for each resample (a row of ``targets`` and ``predicted``) as the trainer computes it:
    accuracy, or macro F1 over every class (``labels=range(classes)``, ``zero_division=0``); None for another."""
    if metric.startswith("val_acc"):
        return lambda target, predicted, classes: (target == predicted).mean(axis=1)
    if metric.startswith("val_f1"):
        return macro_f1
    return None


def macro_f1(target: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Macro F1 of each row (resample) of ``target``/``predicted``, by one ``np.bincount`` over all of them."""
    resamples = target.shape[0]
    offsets = (np.arange(resamples) * classes * classes)[:, None]
    confusion = np.bincount((offsets + target * classes + predicted).ravel(),
                            minlength=resamples * classes * classes).reshape(resamples, classes, classes)
    right = np.diagonal(confusion, axis1=1, axis2=2)
    denominator = confusion.sum(axis=1) + confusion.sum(axis=2)  # 2 tp + fp + fn
    f1 = np.divide(2 * right, denominator, out=np.zeros(right.shape, dtype=float), where=denominator > 0)
    return f1.mean(axis=1)


def predictive_power(contrast: Contrast, done: int, planned: int, alpha: float,
                     final_df: float | None = None) -> float | None:
    """The probability that the two-sided test of this contrast at ``alpha``, once every one of ``planned``
    replicates is done, will be significant, given ``done`` of them: conditional power averaged over what the data
    say of the true difference (Spiegelhalter). The standard error shrinks as 1/sqrt(replicates); ``final_df``: the
    degrees of freedom the last test will have (default: the contrast's now)."""
    from scipy.stats import norm
    from scipy.stats import t as student

    if contrast.se is None or done == 0:
        return None
    if done >= planned:
        return float(abs(contrast.estimate) >= float(student.isf(alpha / 2, max(contrast.df, 1))) * contrast.se)
    if contrast.se == 0:
        return 0.0 if contrast.estimate == 0 else 1.0
    final_se = contrast.se * math.sqrt(done / planned)
    critical = float(student.isf(alpha / 2, max(final_df or contrast.df, contrast.df, 1))) * final_se
    width = contrast.se * math.sqrt((planned - done) / planned)  # the final estimate's predictive spread
    return float(norm.cdf((-critical - contrast.estimate) / width) + norm.sf((critical - contrast.estimate) / width))


def two_sided(contrast: Contrast) -> float | None:
    """The two-sided p of a contrast being zero; None where the noise could not be estimated."""
    from scipy.stats import t as student

    if contrast.se is None:
        return None
    if contrast.se == 0:
        return 1.0 if contrast.estimate == 0 else 0.0
    return float(2 * student.sf(abs(contrast.estimate) / contrast.se, contrast.df))


def equivalence_interval(contrast: Contrast, alpha: float) -> tuple[float, float] | None:
    """The (1 - 2 alpha) confidence interval of the contrast: inside +-min_effect it shows the two equivalent at
    ``alpha`` (two one-sided tests). None where the noise could not be estimated."""
    from scipy.stats import t as student

    if contrast.se is None:
        return None
    half = float(student.isf(alpha, contrast.df)) * contrast.se
    return contrast.estimate - half, contrast.estimate + half
