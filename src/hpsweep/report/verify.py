"""``hpsweep best --verify``: do the per-category winners work together? The combination against the base,
with the same replicates, paired.

Each category was decided around the base alone; winners of two categories can interfere. The combination
is composed per replicate and looked up in the sweep by fingerprint (a greedy sweep's last stage, or a
single changed category, trained it already); otherwise it is trained now, as a sweep of its own in
``<sweep dir>/verify/<name>``, through the app that ran the sweep.
"""

import itertools
import subprocess
import sys
from pathlib import Path

from hpsweep.core.display import console
from hpsweep.core.records import write_json_atomic
from hpsweep.core.statuses import TrainingStatus
from hpsweep.data.digests import DataDigests
from hpsweep.decide.answers import RowResult
from hpsweep.decide.results import TrainingResult, load
from hpsweep.decide.statistics import Candidate, compare, evidence_of
from hpsweep.report.best import Recommendation


def verify(recommendation: Recommendation, best_dir: Path, extra: list[str]) -> dict:
    """Train (or find) the combination, compare it with the base, print and return the report."""
    group = recommendation.group
    out = console()
    if not recommendation.changed:
        out.print(f"verify {recommendation.name}: every category kept the base: the combination is the base")
        return {"name": recommendation.name, "trust": None, "reason": "the combination is the base"}
    trainings, where = already_trained(recommendation)
    if trainings is None:
        trainings, where = train_combination(recommendation, best_dir, extra)
    metric = group.sweep.metric
    combination = RowResult(group.model, None, "combination", trainings)
    base = group.base
    pair = [_as_base(base.candidate(metric)), _as_option(combination.candidate(metric))]
    # the combination's runs against the base's, as the verdict tests an option (one-sided, better than the base)
    test = compare(evidence_of(pair, metric), pair, group.sweep.higher_is_better, group.sweep.alpha)["combination"]
    trust, reason = judge(test, group.sweep.higher_is_better, group.sweep.alpha, combination, base, metric)
    report = {
        "name": recommendation.name, "model": group.model, "overrides": recommendation.overrides, "metric": metric,
        "combination": _summary(combination, metric), "base": _summary(base, metric), "trained": where,
        "difference": test.difference, "p_value": test.p_value, "test": test.method, "trust": trust, "reason": reason,
    }
    write_json_atomic(best_dir / f"verify_{recommendation.name}.json", report)
    out.print(f"verify {recommendation.name}: {' '.join(recommendation.changed)} combined, against the base")
    for label, row in (("combination", combination), ("base", base)):
        aggregate = row.aggregate(metric)
        spread = f" ± {aggregate.std:.4f}" if aggregate.std is not None else ""
        mean = f"{aggregate.mean:.4f}" if aggregate.mean is not None else "n/a"
        out.print(f"  {label:<12} {metric} {mean}{spread} (n={aggregate.n}, {row.status})")
    difference = "n/a" if test.difference is None else f"{test.difference:+.4f}"
    out.print(f"  paired difference {difference} ({test.method}"
              + (f", p={test.p_value:.3g}" if test.p_value is not None else "") + f"): [bold]{reason}[/]")
    out.print(f"  the combination's runs: {where}")
    return report


def judge(test, higher_is_better: bool, alpha: float, combination: RowResult, base: RowResult,
          metric: str) -> tuple[bool | None, str]:
    """Whether to trust the combination, and why."""
    if combination.status != TrainingStatus.COMPLETED:
        return False, f"the combination did not complete every replicate ({combination.status})"
    if test.p_value is None:
        return None, "cannot tell: " + test.method
    better = (test.difference > 0) == higher_is_better and test.difference != 0
    if test.significant(alpha):  # one-sided: significant only where better
        return True, "trust it: the combination beats the base"
    if not better:
        return False, f"do not: no better than the base (p >= {alpha}); keep the base"
    return False, (f"not proven: within noise of the base (p >= {alpha}; this test could detect a difference of "
                   f"{test.detectable_text}); sweep more replicates, or keep the base")


def replicate_combinations(recommendation: Recommendation) -> list[list[str]]:
    """Each replicate as overrides: ``[["seed=1"], ["seed=2"], ...]`` (``[[]]`` without replicates)."""
    sweeps = [[f"{item.split('=', 1)[0]}={value}" for value in item.split("=", 1)[1].split(",")]
              for item in recommendation.replicates]
    return [list(combination) for combination in itertools.product(*sweeps)]


def already_trained(recommendation: Recommendation) -> tuple[list[TrainingResult] | None, str]:
    """The sweep's trainings of the combination, one per replicate, found by fingerprint; None if any is missing."""
    from hydra import compose, initialize_config_dir

    sweep = recommendation.group.sweep
    app = sweep.manifest.get("app") or {}
    if not app.get("config_dir") or not Path(app["config_dir"]).is_dir():
        return None, ""
    by_fingerprint = {training.entry.get("fingerprint"): training for training in sweep.trainings}
    found, digests = [], DataDigests()
    with initialize_config_dir(config_dir=app["config_dir"], version_base="1.3"):
        for replicate in replicate_combinations(recommendation):
            cfg = compose(config_name=app["config_name"], overrides=[*recommendation.overrides, *replicate])
            training = by_fingerprint.get(digests.fingerprint(cfg))
            if training is None or training.status != TrainingStatus.COMPLETED:
                return None, ""
            found.append(training)
    return found, "already trained in the sweep: " + ", ".join(str(t.directory.relative_to(sweep.directory))
                                                                for t in found)


def train_combination(recommendation: Recommendation, best_dir: Path,
                      extra: list[str]) -> tuple[list[TrainingResult], str]:
    """Run the combination's replicates as a sweep of the app, in ``<sweep dir>/verify/<name>``."""
    sweep = recommendation.group.sweep
    app = sweep.manifest.get("app") or {}
    verify_dir = sweep.directory / "verify" / recommendation.name
    command = [sys.executable, app.get("script") or "run_experiments.py"]
    if app.get("config_dir"):
        command += ["--config-path", app["config_dir"], "--config-name", app["config_name"]]
    command += ["--config-dir", str(best_dir), "-m", f"+experiment={recommendation.name}",
                *recommendation.replicates, *extra, f"hydra.sweep.dir={verify_dir}"]
    console().print("training the combination: " + " ".join(command[1:]))
    subprocess.run(command)
    trainings = [training for found in load([verify_dir]) for training in found.trainings]
    return trainings, f"trained now in {verify_dir}"


def _as_base(candidate: Candidate) -> Candidate:
    candidate.is_base = True
    candidate.option = candidate.row = "base"
    return candidate


def _as_option(candidate: Candidate) -> Candidate:
    """The combination, an option against the base (its own trainings are base trainings of their own sweep)."""
    candidate.is_base = False
    candidate.option = candidate.row = "combination"
    return candidate


def _summary(row: RowResult, metric: str) -> dict:
    aggregate = row.aggregate(metric)
    return {"n": aggregate.n, "mean": aggregate.mean, "std": aggregate.std, "values": list(aggregate.values),
            "status": row.status}
