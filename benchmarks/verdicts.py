"""Verdicts proven by simulation: how often a comparison names a false winner, how often a sweep does, and the
power to find a real one, through hpsweep's own statistics (``Evidence``, ``compare``, ``correct``, ``decide``).

    python benchmarks/verdicts.py                       # every column below (hours on 2 cores)
    python benchmarks/verdicts.py --noise 1 --splits fixed --replicates 3 --options 4 --comparisons 800 --worlds 8

**The world.** A model's validation images are drawn from a pool (10 classes); each image has a difficulty. A
training (a row on a seed) gets an image right with probability sigmoid(ability + difficulty), independently per
image, and else predicts another class at random; its score is macro F1 over the images it validated on, as
hpsweep's trainer computes it. *Seed luck*: each training's ability moves by a normal draw whose spread makes the
seed-to-seed standard deviation of the score ``noise`` times that of sampling the validation images (0: none; 2:
twice). An option's *effect* shifts its ability so that its expected score over the pool (from the expected
confusion counts) moves by that many standard deviations of one training's score (seed luck and image sampling
together). ``--worlds``: the data sets (pools) a cell's comparisons are spread over.

**Splits.** *fixed*: every training of a comparison validates on one split of 300 images (``data.split_seed``);
*drawn*: each replicate draws its own 300 from the pool (seeds that draw the split, or folds), the rows of one
replicate sharing it.

**Columns.** ``replicates``: seeds per row (1: each option trains once, the base five times: four control seeds).
``options``: K options against the base in one comparison. *false wins*: comparisons where no option differs from
the base and one is named the winner (at most alpha is the goal); *power*: comparisons where one option is better by
3 standard deviations (the rest equal to the base) and it is named. *unstable*: one option (equal to the base)
has three times the others' seed luck. *sweep*: 4 models x 6 categories of 3 options, every model's rows fitted
together, the 24 comparisons corrected together as ``hydra.sweeper.multiplicity`` says; nothing better than the
base (false discovery rate = the share of sweeps naming any winner), or a third of the categories with one option
better by 3 standard deviations (the share of named winners that are false).
"""

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from scipy.stats import binom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hpsweep.decide import inference  # noqa: E402
from hpsweep.decide.inference import Evidence, Run, macro_f1  # noqa: E402
from hpsweep.decide.statistics import Candidate, compare, correct, decide  # noqa: E402

ALPHA = 0.05
CLASSES = 10
IMAGES = 300  # validated on per training
POOL = 3000  # the labelled images splits are drawn from
CONTROL_SEEDS = 4  # the base's extra seeds where one replicate is swept (hydra.sweeper.control_seeds; --control-seeds)
EFFECT = 3.0  # the power columns' effect, in standard deviations of one training's score


class World:
    """One model's image pool and how its trainings score."""

    def __init__(self, rng: np.random.Generator, noise: float, control_seeds: int = CONTROL_SEEDS):
        self.rng = rng
        self.control_seeds = control_seeds
        self.targets = rng.integers(0, CLASSES, POOL)
        self.difficulty = rng.normal(0.0, 1.5, POOL)
        self.ability = 1.5  # about 0.8 of the images right
        image_sd, slope = self._calibrate()
        self.seed_sd = noise * image_sd / slope  # in ability: the score's seed spread is noise x its image spread
        self.score_sd = image_sd * np.sqrt(1 + noise ** 2)  # one training's score: seed luck and image sampling
        self.slope = slope
        self._shifts: dict[float, float] = {}

    def _calibrate(self) -> tuple[float, float]:
        """The score's spread from sampling the images, and how far it moves per unit of ability (exactly: the
        expected score's derivative, so that no world's effects are larger or smaller than the columns say)."""
        scores = []
        for _ in range(2000):
            images = self.split()
            predicted = self.predictions(images, self.ability)
            scores.append(macro_f1(self.targets[images][None], predicted[None], CLASSES)[0])
        slope = (self.expected(self.ability + 0.01) - self.expected(self.ability - 0.01)) / 0.02
        return float(np.std(scores, ddof=1)), float(slope)

    def expected(self, ability: float) -> float:
        """Macro F1 over the pool from the expected confusion counts: each image right with its probability, else
        wrong evenly over the other classes (no coin flips: exact to O(1/images))."""
        right = 1 / (1 + np.exp(-(ability + self.difficulty)))
        true_positive = np.bincount(self.targets, right, CLASSES)
        false_negative = np.bincount(self.targets, 1 - right, CLASSES)
        false_positive = (false_negative.sum() - false_negative) / (CLASSES - 1)
        return float(np.mean(2 * true_positive / (2 * true_positive + false_positive + false_negative)))

    def shift(self, effect: float) -> float:
        """The ability that moves the expected score by ``effect`` standard deviations of one training's score."""
        from scipy.optimize import brentq

        if effect not in self._shifts:
            target = self.expected(self.ability) + effect * self.score_sd
            self._shifts[effect] = 0.0 if not effect else float(
                brentq(lambda shift: self.expected(self.ability + shift) - target, -10.0, 10.0, xtol=1e-6))
        return self._shifts[effect]

    def split(self) -> np.ndarray:
        return self.rng.choice(POOL, IMAGES, replace=False)

    def predictions(self, images: np.ndarray, ability: float) -> np.ndarray:
        right = self.rng.random(len(images)) < 1 / (1 + np.exp(-(ability + self.difficulty[images])))
        wrong = (self.targets[images] + self.rng.integers(1, CLASSES, len(images))) % CLASSES
        return np.where(right, self.targets[images], wrong)

    def run(self, images: np.ndarray, split: str, effect: float, spread: float) -> Run:
        """One training of a row whose score is ``effect`` standard deviations above the base's."""
        ability = self.ability + self.shift(effect) + self.rng.normal(0.0, spread)
        predicted, targets = self.predictions(images, ability), self.targets[images]
        ids = tuple(str(image) for image in images)
        order = np.argsort(ids)
        labels = (tuple(ids[k] for k in order), targets[order], predicted[order])
        return Run(float(macro_f1(targets[None], predicted[None], CLASSES)[0]), split, lambda: labels)


def group_runs(world: World, rows: dict[str, float], replicates: int, split: str, unstable: set[str] = frozenset(),
               ) -> dict[str, dict[str, Run]]:
    """Every row's trainings (row -> its effect); one replicate: the base's control seeds too."""
    labels = [f"seed={number}" for number in range(max(replicates, 1))]
    controls = [f"seed={100 + number}" for number in range(world.control_seeds)] if replicates == 1 else []
    fixed = world.split()
    splits = {label: fixed if split == "fixed" else world.split() for label in labels + controls}
    runs = {}
    for row, effect in rows.items():
        spread = world.seed_sd * (3.0 if row in unstable else 1.0) or (
            3.0 * 0.3 / world.slope * world.score_sd if row in unstable else 0.0)
        mine = labels + (controls if row == "base" else [])
        runs[row] = {label: world.run(splits[label], f"{split}-{label}" if split == "drawn" else "fixed", effect,
                                      spread) for label in mine}
    return runs


def comparison_winner(world: World, effects: list[float], replicates: int, split: str,
                      unstable: bool = False) -> str | None:
    """One comparison of K options against the base, decided; the winner (None: the base kept)."""
    rows = {"base": 0.0, **{f"o{k}": effect for k, effect in enumerate(effects)}}
    runs = group_runs(world, rows, replicates, split, {"o1"} if unstable else set())
    evidence = Evidence.of(runs, "val_f1", held_out=IMAGES / (POOL - IMAGES))
    candidates = [Candidate(row, {label: run.value for label, run in runs[row].items()}, True, row == "base")
                  for row in rows]
    tests = compare(evidence, candidates, True, ALPHA)
    correct([tests], "none", ALPHA)
    verdict = decide(candidates, tests, True, ALPHA, evidence)
    return None if verdict.kept_base or verdict.winner is None else verdict.winner


def sweep_wins(world_of, effects: dict[tuple[int, int], float], replicates: int, split: str,
               multiplicity: str) -> tuple[int, int]:
    """4 models x 6 categories of 3 options: (winners named, false ones among them)."""
    family, decided = [], []
    for model in range(4):
        world = world_of(model)
        rows = {"base": 0.0}
        for category, option in itertools.product(range(6), range(3)):
            rows[f"c{category}/o{option}"] = effects.get((model, category), 0.0) if option == 0 else 0.0
        runs = group_runs(world, rows, replicates, split)
        evidence = Evidence.of(runs, "val_f1", held_out=IMAGES / (POOL - IMAGES))
        values = {row: {label: run.value for label, run in by.items()} for row, by in runs.items()}
        for category in range(6):
            candidates = [Candidate("base", values["base"], True, True)] + [
                Candidate(f"o{option}", values[f"c{category}/o{option}"], True, row=f"c{category}/o{option}")
                for option in range(3)]
            tests = compare(evidence, candidates, True, ALPHA)
            family.append(tests)
            decided.append((candidates, tests, evidence, effects.get((model, category), 0.0)))
    correct(family, multiplicity, ALPHA)
    named = false = 0
    for candidates, tests, evidence, effect in decided:
        verdict = decide(candidates, tests, True, ALPHA, evidence)
        if not verdict.kept_base and verdict.winner is not None:
            named += 1
            false += not (verdict.winner == "o0" and effect > 0)
    return named, false


def upper(count: int, total: int) -> str:
    """A rate with its 95% Clopper-Pearson upper bound."""
    bound = binom.ppf(0.975, total, count / total) / total if count else 1 - 0.025 ** (1 / total)
    return f"{count / total:.1%} (<{bound:.1%})"


def comparison_columns(args, rng) -> None:
    print("| noise | split | replicates | options | false wins | power | unstable: false wins |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for noise, split, replicates, options in itertools.product(args.noise, args.splits, args.replicates,
                                                              args.options):
        worlds = [World(rng, noise, args.control_seeds) for _ in range(args.worlds)]
        n = args.comparisons
        each = [worlds[number * len(worlds) // n] for number in range(n)]  # the cell's comparisons, world by world
        false = sum(comparison_winner(world, [0.0] * options, replicates, split) is not None for world in each)
        power = sum(comparison_winner(world, [EFFECT] + [0.0] * (options - 1), replicates, split) == "o0"
                    for world in each)
        unstable = sum(comparison_winner(world, [0.0] * options, replicates, split, unstable=True) is not None
                       for world in each) if options >= 2 else None
        print(f"| {noise:g} | {split} | {replicates} | {options} | {upper(false, n)} | {power / n:.1%} | "
              f"{upper(unstable, n) if unstable is not None else '-'} |", flush=True)


def sweep_columns(args, rng) -> None:
    print("\n| noise | split | replicates | multiplicity | sweeps naming a false winner (none better) | "
          "false winners per sweep | false share of named winners (8 of 24 better) |")
    print("|---:|---|---:|---|---:|---:|---:|")
    for noise, split, replicates, multiplicity in itertools.product(args.noise, args.splits, args.replicates,
                                                                   args.multiplicity):
        worlds = {model: World(rng, noise, args.control_seeds) for model in range(4)}
        n = args.sweeps
        null = [sweep_wins(worlds.get, {}, replicates, split, multiplicity) for _ in range(n)]
        better = {(model, category): EFFECT for model in range(4) for category in range(6) if category % 3 == 0}
        mixed = [sweep_wins(worlds.get, better, replicates, split, multiplicity) for _ in range(n)]
        named = sum(count for count, _ in mixed)
        fdr = np.mean([false / count if count else 0.0 for count, false in mixed])
        print(f"| {noise:g} | {split} | {replicates} | {multiplicity} | {upper(sum(f > 0 for _, f in null), n)} | "
              f"{np.mean([f for _, f in null]):.2f} | {fdr:.1%} (of {named} named) |", flush=True)


def numbers(text: str, kind=int) -> list:
    return [kind(item) for item in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=lambda text: numbers(text, float), default=[0.0, 1.0, 2.0],
                        help="seed luck's spread over the image sampling's (0: none)")
    parser.add_argument("--splits", type=lambda text: text.split(","), default=["fixed", "drawn"])
    parser.add_argument("--replicates", type=numbers, default=[1, 3, 5])
    parser.add_argument("--options", type=numbers, default=[1, 2, 4, 8])
    parser.add_argument("--multiplicity", type=lambda text: text.split(","), default=["bh", "holm", "none"])
    parser.add_argument("--comparisons", type=int, default=200, help="simulated comparisons per cell")
    parser.add_argument("--control-seeds", type=int, default=CONTROL_SEEDS,
                        help="the base's extra seeds in the one-replicate cells")
    parser.add_argument("--worlds", type=int, default=1,
                        help="data sets (image pools) a cell's comparisons are spread over: a world's own images "
                             "move its false-win rate by a point or so")
    parser.add_argument("--sweeps", type=int, default=40, help="simulated sweeps per cell")
    parser.add_argument("--only", choices=("comparisons", "sweeps"), help="one table of the two")
    parser.add_argument("--unstable-level", type=float, default=inference.UNSTABLE,
                        help="the F test's level that tests a row on its own spread (0: never)")
    parser.add_argument("--pool-out-level", type=float, default=inference.POOL_OUT,
                        help="the level over the rows tested (Bonferroni's) that also takes such a row out of the "
                             "pooled fit (0: never)")
    args = parser.parse_args()
    inference.UNSTABLE, inference.POOL_OUT = args.unstable_level, args.pool_out_level
    rng = np.random.default_rng(0)
    if args.only != "sweeps":
        comparison_columns(args, rng)
    if args.only != "comparisons":
        sweep_columns(args, rng)


if __name__ == "__main__":
    main()
