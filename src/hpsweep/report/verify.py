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

from hpsweep.core.display import columns, command_lines, console, say
from hpsweep.core.records import write_json_atomic
from hpsweep.core.statuses import TrainingStatus, said
from hpsweep.core.trainings import replicate_dict
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
        say(out, f"verify {recommendation.name}: every category kept the base: the combination is the base")
        return {"name": recommendation.name, "trust": None, "reason": "the combination is the base"}
    trainings, missing, where = already_trained(recommendation)
    if missing:  # only the replicates the sweep did not train (a race won early trains fewer)
        trained, trained_where = train_combination(recommendation, best_dir, extra, missing)
        trainings, where = trainings + trained, "; ".join(filter(None, (where, trained_where)))
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
    say(out, f"verify {recommendation.name}: {' '.join(recommendation.changed)} combined, against the base")
    for label, row in (("combination", combination), ("base", base)):
        aggregate = row.aggregate(metric)
        spread = f" ± {aggregate.std:.4f}" if aggregate.std is not None else ""
        mean = f"{aggregate.mean:.4f}" if aggregate.mean is not None else "n/a"
        say(out, f"{label:<12} {metric} {mean}{spread} (n={aggregate.n}, {said(row.status)})", indent="  ")
    difference = "n/a" if test.difference is None else f"{test.difference:+.4f}"
    p_value = f", p={test.p_value:.3g}" if test.p_value is not None else ""
    say(out, f"paired difference {difference}{p_value}: {reason}", indent="  ", style="bold")
    say(out, f"the test: {test.method}", indent="  ")
    say(out, f"the combination's runs: {where}", indent="  ")
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


def already_trained(recommendation: Recommendation) -> tuple[list[TrainingResult], list[list[str]], str]:
    """The sweep's completed trainings of the combination, found by fingerprint, one per replicate; the replicates
    it has none of (as overrides, ``[["seed=3"]]``: every one where the app's config cannot be composed); and
    where the found ones are."""
    from hydra import compose, initialize_config_dir

    sweep = recommendation.group.sweep
    app = sweep.manifest.get("app") or {}
    replicates = replicate_combinations(recommendation)
    if not app.get("config_dir") or not Path(app["config_dir"]).is_dir():
        return [], replicates, ""
    by_fingerprint = {training.entry.get("fingerprint"): training for training in sweep.trainings
                      if training.status == TrainingStatus.COMPLETED}
    found, missing, digests = [], [], DataDigests()
    with initialize_config_dir(config_dir=app["config_dir"], version_base="1.3"):
        for replicate in replicates:
            cfg = compose(config_name=app["config_name"], overrides=[*recommendation.overrides, *replicate])
            training = by_fingerprint.get(digests.fingerprint(cfg))
            if training is not None:
                found.append(training)
            else:
                missing.append(replicate)
    where = ", ".join(str(training.directory.relative_to(sweep.directory)) for training in found)
    return found, missing, f"already trained in the sweep: {where}" if found else ""


def train_combination(recommendation: Recommendation, best_dir: Path, extra: list[str],
                      replicates: list[list[str]]) -> tuple[list[TrainingResult], str]:
    """Run the combination's ``replicates`` (each as its overrides) as a sweep of the app, in
    ``<sweep dir>/verify/<name>``: one sweep of them all, or one per replicate where they are not one product."""
    sweep = recommendation.group.sweep
    app = sweep.manifest.get("app") or {}
    verify_dir = sweep.directory / "verify" / recommendation.name
    command = [sys.executable, app.get("script") or "run_experiments.py"]
    if app.get("config_dir"):
        command += ["--config-path", app["config_dir"], "--config-name", app["config_name"]]
    command += ["--config-dir", str(best_dir), "-m", f"+experiment={recommendation.name}"]
    for sweeps in as_sweeps(replicates):
        print("training the combination:", flush=True)
        print(command_lines([*command[1:], *sweeps, *extra], columns()), flush=True)
        subprocess.run([*command, *sweeps, *extra, f"hydra.sweep.dir={verify_dir}"])
    # only the replicates asked for: an earlier --verify may have trained some that the sweep has trained since
    asked = [replicate_dict(replicate) for replicate in replicates]
    trainings = [training for found in load([verify_dir]) for training in found.trainings
                 if training.entry.get("replicate", {}) in asked]
    return trainings, f"trained now in {verify_dir}"


def as_sweeps(replicates: list[list[str]]) -> list[list[str]]:
    """Replicates as sweep overrides: ``[["seed=1"], ["seed=3"]]`` -> ``[["seed=1,3"]]`` where they are the product
    of each key's values (one key always is); otherwise one sweep each."""
    values: dict[str, list[str]] = {}
    for replicate in replicates:
        for item in replicate:
            key, value = item.split("=", 1)
            if value not in values.setdefault(key, []):
                values[key].append(value)
    product = [[f"{key}={value}" for key, value in zip(values, combination, strict=True)]
               for combination in itertools.product(*values.values())]
    if sorted(map(sorted, product)) == sorted(map(sorted, replicates)):
        return [[f"{key}={','.join(found)}" for key, found in values.items()]]
    return replicates


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
