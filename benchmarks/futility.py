"""Racing with futility and efficacy stopping, proven on simulated sweeps: how often each way of replicating gives a
wrong answer, and what it costs.

    python benchmarks/futility.py                                  # noise from the demo sweep (make demo)
    python benchmarks/futility.py --from <sweep dir> --comparisons 2000

Each simulated comparison is one model's loss_function category (the base and two options) over three seeds,
planned by hpsweep's planner, raced by its ``Race`` and decided by its ``decide``, exactly as a sweep is:
- **every replicate**: all nine trainings, then the verdict;
- **racing**: rows clearly worse than the leader stop (``hydra.sweeper.futility=0``);
- **futility F**: racing, and rows whose remaining replicates would decide them with probability below F stop;
- **futility F, S**: that, and a leader that beats the base at a look's efficacy boundary (S: ``haybittle_peto``,
  0.001 at each early look, or alpha spent by ``obrien_fleming`` or ``pocock``) wins and stops its comparison; the
  verdict takes a win's stage-wise p, and adds the early looks' boundaries to the last look's.

Every test is the verdict's own: the pooled row + replicate model of ``hpsweep.decide.inference`` over the runs'
metric, with the paired bootstrap over the shared images; a row is tested once seed luck can be measured.

The noise is taken from a recorded sweep's probability files: how many validation images a training has, its
mean accuracy, and on how many of them two options of one seed disagree. Each simulated comparison draws every
image's rate of being right from the beta distribution with that mean whose spread makes two independent
trainings disagree as often as recorded; a training (an option on a seed) gets each image right or wrong
independently at its rate, so seeds differ as the recorded ones do. An option with a true effect shifts every
image's log-odds alike, by what moves the
mean accuracy by the effect. Effects: **none** (both options equal to the base), **detectable** (one option better
by the difference the verdict's test detects with every replicate, the other equal), **large** (one better by
three times that, the other worse by as much). Every way of replicating sees the same draws (common random
numbers), so their differences are paired.

A wrong answer is a recommendation other than the truly best option (the base where none is better): a *false
win* recommends an option no better than the base; a *miss* keeps the base (or takes a lesser option) where one is
better. Cost is the trainings trained, against every replicate's.
"""

import argparse
import functools
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra.core.override_parser.overrides_parser import OverridesParser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hpsweep.core.compose import group_files  # noqa: E402
from hpsweep.core.records import read_probabilities, write_csv_atomic  # noqa: E402
from hpsweep.decide.inference import Evidence, Run  # noqa: E402
from hpsweep.decide.race_record import read_race, stop_kind, won  # noqa: E402
from hpsweep.decide.statistics import (  # noqa: E402
    SPENDINGS,
    Candidate,
    compare,
    correct,
    decide,
    efficacy_boundaries,
)
from hpsweep.sweep.outcomes import Outcome  # noqa: E402
from hpsweep.sweep.plan import PlanRequest, plan_jobs  # noqa: E402
from hpsweep.sweep.racing import Race  # noqa: E402

SEEDS = 3
ALPHA = 0.05
# a way of replicating: None, no race; else the race's futility threshold and efficacy spending
BASELINES = {"every replicate": None, "racing": {"futility": 0.0, "efficacy": None}}
METRIC = "val_acc"


@dataclass
class Noise:
    """What a recorded sweep says of one model's validation: images per training, its mean accuracy, and on how
    many of them two options of one seed disagree (the per-image noise McNemar's test counts)."""

    images: int
    accuracy: float
    disagreement: float

    def image_rates(self, rng: np.random.Generator) -> np.ndarray:
        """Each image's rate of being right: a beta distribution with the recorded mean, spread so that two
        trainings that draw each image independently disagree as often as recorded (2 E[p(1 - p)])."""
        mean = self.accuracy
        variance = max(mean * (1 - mean) - self.disagreement / 2, 1e-9)
        total = mean * (1 - mean) / variance - 1
        return rng.beta(mean * total, (1 - mean) * total, self.images)


def recorded_noise(sweep_dir: Path, model: str | None) -> Noise | None:
    """The noise of ``model`` (default: the first) in a recorded sweep, from its probability files; None without
    any. Two options disagree on an image only where they share it (one seed's validation split)."""
    by_seed: dict[str, dict[str, list[dict[str, bool]]]] = {}
    for path in sorted(Path(sweep_dir).rglob("val_probabilities.csv")):
        correct = _correct(path)
        if correct:
            parts = path.relative_to(sweep_dir).parts
            by_seed.setdefault(parts[0], {}).setdefault(path.parent.name, []).append(correct)
    if not by_seed:
        return None
    if model is not None and model not in by_seed:
        sys.exit(f"--model={model}: not in {sweep_dir} (its models: {', '.join(sorted(by_seed))})")
    runs = by_seed[model or sorted(by_seed)[0]]
    every = [run for seed in runs.values() for run in seed]
    shares = [np.mean([a[image] != b[image] for image in a if image in b]) for seed in runs.values()
              for i, a in enumerate(seed) for b in seed[i + 1:]]
    return Noise(round(np.mean([len(run) for run in every])), float(np.mean([np.mean(list(run.values()))
                                                                            for run in every])),
                 float(np.mean(shares)) if shares else 0.0)


def _correct(path: Path) -> dict[str, bool] | None:
    found = read_probabilities(path, with_target=True)
    if found is None:
        return None
    header, leading, values = found
    return {image: header[2:][row.index(max(row))] == target for (image, target), row in zip(leading, values,
                                                                                           strict=True)}


def shifted(rates: np.ndarray, effect: float) -> np.ndarray:
    """Every image's rate with its log-odds shifted alike, so that the mean moves by ``effect``."""
    logits = np.log(np.clip(rates, 1e-3, 1 - 1e-3) / (1 - np.clip(rates, 1e-3, 1 - 1e-3)))
    low, high = -10.0, 10.0
    for _ in range(60):
        middle = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(logits + middle)))) - np.mean(rates) < effect:
            low = middle
        else:
            high = middle
    return 1 / (1 + np.exp(-(logits + (low + high) / 2)))


@functools.cache
def trainings() -> tuple:
    """The plan of ``model=test_resnet category=loss_function seed=1,2,3``, as the sweeper makes it."""
    overrides = OverridesParser.create().parse_overrides(
        ["model=test_resnet", "category=loss_function", f"seed={','.join(map(str, range(1, SEEDS + 1)))}"])
    request = PlanRequest(lambda group: group_files(ROOT / "conf", group), ["loss_function"],
                          {"model": "test_resnet", "loss_function": "CrossEntropy"})
    return tuple(plan_jobs(overrides, request))


@dataclass
class Answer:
    winner: str
    trained: int


def run_way(work: Path, draws: dict[tuple[str, int], np.ndarray], way: dict | None) -> Answer:
    """One comparison, replicated one way, on pre-drawn per-image correctness ((option, seed) -> bools)."""
    outcomes = []
    for training in trainings():
        directory = work / training.subdir
        outcomes.append(Outcome(training, directory, training.subdir, None))

    def train(outcome: Outcome) -> None:
        seed = int(outcome.training.replicate[0].split("=")[1])
        right = draws[outcome.training.option, seed]
        outcome.directory.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(outcome.directory / "val_probabilities.csv", ["id", "target", "a", "b"],
                         [[f"img{image}", "a", float(ok), float(not ok)] for image, ok in enumerate(right)])
        outcome.result = {"status": "completed", "metrics": {METRIC: float(np.mean(right))}}
        outcome.status = "completed"

    if way is None:
        for outcome in outcomes:
            train(outcome)
    else:
        race = Race(work, outcomes, METRIC, higher_is_better=True, alpha=ALPHA, race_from=1, **way)
        while ready := race.ready():
            for outcome in ready:
                train(outcome)
    stopped = next(iter(read_race(work).values()), {})
    rows: dict[str, dict[str, float]] = {}
    names = {}
    for outcome in outcomes:
        row = outcome.training.rows[0].option
        names[row] = outcome.training.option
        if outcome.status == "completed":
            rows.setdefault(row, {})[" ".join(outcome.training.replicate)] = outcome.result["metrics"][METRIC]
    candidates, runs = [], {}
    for row, values in rows.items():
        why = stopped.get(row) if names[row] != "base" else None  # the base answers with what it trained
        runs[row] = {key: Run(value, "split", _labels(work, outcome)) for key, value in values.items()
                     for outcome in outcomes if outcome.training.rows[0].option == row and
                     " ".join(outcome.training.replicate) == key}
        candidates.append(Candidate(row, values, complete=True, is_base=names[row] == "base",
                                    stopped=stop_kind(why) if why else None, stop_reason=why["reason"] if why else None,
                                    won=won(why, row), stagewise=why.get("stagewise") if won(why, row) else None))
    evidence = Evidence.of(runs, METRIC)
    spending = (way or {}).get("efficacy")
    tests = compare(evidence, candidates, True, ALPHA, efficacy_boundaries(ALPHA, SEEDS, spending) if spending else ())
    correct([tests], "none", ALPHA)
    verdict = decide(candidates, tests, True, ALPHA, evidence)
    winner = None if verdict.kept_base else verdict.winner
    return Answer(names.get(winner, winner) or "base", sum(o.status == "completed" for o in outcomes))


def _labels(work: Path, outcome: Outcome):
    """The training's images, targets and predictions, read when the verdict asks (as a sweep's are)."""
    def read():
        correct = _correct(work / outcome.training.subdir / "val_probabilities.csv")
        images = tuple(sorted(correct))
        return images, np.zeros(len(images), dtype=int), np.array([0 if correct[image] else 1 for image in images])
    return read


def simulate(noise: Noise, comparisons: int, ways: dict[str, dict | None], seed: int = 0) -> dict:
    """``comparisons`` comparisons of each kind of effect, each replicated every way (each comparison draws its
    own images). Returns, per kind and way, the wrong answers (false wins, misses) and the trainings trained."""
    rng = np.random.default_rng(seed)
    spread = math.sqrt(noise.disagreement / noise.images)  # one seed's difference of two equal options
    from scipy.stats import t as student

    # what a paired t-test over every replicate detects half the time, the effects' unit
    detectable = float(student.isf(ALPHA / 2, SEEDS - 1)) * spread / math.sqrt(SEEDS)
    kinds = {"none": {"Focal": 0.0, "LabelSmoothing": 0.0},
             "detectable": {"Focal": detectable, "LabelSmoothing": 0.0},
             "large": {"Focal": 3 * detectable, "LabelSmoothing": -3 * detectable}}
    found = {kind: {way: {"false_win": 0, "miss": 0, "trained": 0} for way in ways} for kind in kinds}
    achieved = {kind: [] for kind in kinds}  # near a ceiling of 100 %, a better option cannot be that much better
    with tempfile.TemporaryDirectory() as work:
        for kind, effects in kinds.items():
            best = max(effects, key=effects.get) if max(effects.values()) > 0 else "base"
            for number in range(comparisons):
                rates = noise.image_rates(rng)
                options = {"base": rates, **{name: shifted(rates, effect) for name, effect in effects.items()}}
                achieved[kind].append(max(np.mean(options[name]) - np.mean(rates) for name in effects))
                draws = {(name, seed): rng.random(len(rates)) < option_rates for name, option_rates in options.items()
                         for seed in range(1, SEEDS + 1)}
                for way, settings in ways.items():
                    answer = run_way(Path(work) / kind / str(number) / way.replace(" ", "-").replace(",", ""), draws,
                                     settings)
                    counts = found[kind][way]
                    counts["trained"] += answer.trained
                    if answer.winner != best:
                        counts["false_win" if answer.winner != "base" and
                               (best == "base" or effects[answer.winner] <= 0) else "miss"] += 1
    return {"detectable": detectable, "noise": noise.__dict__, "comparisons": comparisons, "found": found,
            "best_effect": {kind: float(np.mean(effects)) for kind, effects in achieved.items()}}


def table(result: dict) -> str:
    every = "every replicate"
    lines = ["| effect (the best option's, achieved) | way | wrong answers (false wins + misses) | "
             "cost, trainings / every replicate's |", "|---|---|---|---|"]
    for kind, ways in result["found"].items():
        kind_text = f"{kind} ({result['best_effect'][kind]:+.4f})"
        for way, counts in ways.items():
            wrong = counts["false_win"] + counts["miss"]
            share = wrong / result["comparisons"]
            cost = counts["trained"] / ways[every]["trained"]
            lines.append(f"| {kind_text} | {way} | {share:.1%} ({counts['false_win']} + {counts['miss']}) | "
                         f"{cost:.2f}x |")
    total = {way: sum(result["found"][kind][way]["trained"] for kind in result["found"]) for way in
             result["found"]["none"]}
    wrong = {way: sum(result["found"][kind][way]["false_win"] + result["found"][kind][way]["miss"]
                      for kind in result["found"]) / (len(result["found"]) * result["comparisons"]) for way in total}
    lines += [f"| all | {way} | {wrong[way]:.1%} | {total[way] / total[every]:.2f}x |" for way in total]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, default=ROOT / "outputs/sweeps/demo",
                        help="a recorded sweep whose probability files give the noise (default: the demo's)")
    parser.add_argument("--model", help="whose images (default: the recorded sweep's first model)")
    parser.add_argument("--comparisons", type=int, default=500, help="simulated comparisons per kind of effect")
    parser.add_argument("--futility", default="0.3,0.4", help="the thresholds to try, comma-separated")
    parser.add_argument("--efficacy", default="haybittle_peto,obrien_fleming",
                        help="the spending functions to try with each threshold, comma-separated (none: no early win)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if unknown := set(args.efficacy.split(",")) - {"none", *SPENDINGS}:
        parser.error(f"--efficacy {','.join(sorted(unknown))}: expected none or {', '.join(SPENDINGS)}")
    ways = {**BASELINES, **{f"futility {value}" + (f", {efficacy}" if efficacy != "none" else ""):
                            {"futility": float(value), "efficacy": None if efficacy == "none" else efficacy}
                            for value in args.futility.split(",")
                            for efficacy in dict.fromkeys(["none", *args.efficacy.split(",")])}}
    noise = recorded_noise(args.source, args.model)
    if noise is None:
        sys.exit(f"{args.source}: no val_probabilities.csv to take the noise from; run `make demo` first, or pass "
                 "--from <a sweep dir of hpsweep's>")
    print(f"noise from {args.source} ({args.model or 'its first model'}): {noise.images} images a training, mean "
          f"accuracy {noise.accuracy:.3f}, two options of one seed disagree on {noise.disagreement:.2%} of them")
    result = simulate(noise, args.comparisons, ways)
    print(f"detectable difference with every replicate ({SEEDS} seeds, paired t-test): {result['detectable']:.4f}; "
          f"{args.comparisons} comparisons per effect\n")
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
