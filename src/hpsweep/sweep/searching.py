"""Search inside a category: each searched option's trials asked from its Optuna study in rounds, trained as the
sweep's other trainings are, and told their value (``hpsweep.sweep.studies.Search``)."""

from dataclasses import replace
from pathlib import Path

from hpsweep.core.statuses import TrainingStatus
from hpsweep.core.trainings import Training, value_text
from hpsweep.sweep.launcher_kind import LauncherKind
from hpsweep.sweep.outcomes import Outcome, collect_outcomes


def run_searches(driver, searched: list[Training], spaces: dict, sweep_dir: Path, header: dict,
                 entries: dict[str, dict], returns: list) -> list[Outcome]:
    """Each searched option's trials, asked from its Optuna study in rounds as wide as the launcher runs jobs at
    once; a trial trains every replicate of its row, and its value is their mean. A re-run continues the
    study: finished trials are kept, trials asked but never told (a killed sweep) train again. ``driver`` (a
    ``hpsweep.sweep.driver.Driver``) prepares, records and launches each round's trainings."""
    from optuna.trial import TrialState

    from hpsweep.sweep.studies import Search  # Optuna's import: only where a sweep searches

    metric, direction = driver.decision_metric()
    groups: dict[tuple, list[Training]] = {}  # (model, category, option, setting, stage) -> one per replicate
    for training in searched:
        groups.setdefault((training.model, training.category, training.option, training.setting,
                           training.stage), []).append(training)
    studies = {key: Search(sweep_dir, "search/" + "/".join(str(part) for part in (*key[:3], " ".join(key[3]),
                                                                                   f"stage{key[4]}")),
                           spaces[key[1:3]], driver.settings.sampler, direction, driver.settings.n_trials)
               for key in groups}
    basic = driver.launcher_kind == LauncherKind.BASIC
    width = 1 if basic else driver.settings.max_batch_size or driver.settings.n_trials
    handled: set[tuple] = set()
    outcomes: list[Outcome] = []
    while True:
        asked = []  # (group, trial number, values)
        for key, study in studies.items():
            known = study.trials()
            # finished in an earlier run: listed again; asked and never told: trained again
            asked += [(key, trial.number, trial.params) for trial in known if (key, trial.number) not in handled
                      and (trial.state != TrialState.RUNNING or len(asked) < width)]
            while len(asked) < width and len(known) < driver.settings.n_trials:
                asked.append((key, *study.ask()))
                known = study.trials()
        if not asked:
            return outcomes
        trials = [replace(training, overrides=(*training.overrides, *(f"{name}={value_text(value)}"
                                                                      for name, value in values.items())),
                          rows=tuple(replace(row, trial=number) for row in training.rows),
                          params=tuple(values.items()))
                  for key, number, values in asked for training in groups[key]]
        batch = driver.prepare(trials, None, sweep_dir)
        entries.update({entry["directory"]: entry for entry in (driver.entry(o, sweep_dir) for o in batch)})
        driver.write_manifest(sweep_dir, header, list(entries.values()))
        returns += driver.launch(batch, sweep_dir)
        collect_outcomes(batch, metric)
        for key, number, _ in asked:
            of_trial = [outcome for outcome in batch if outcome.training.trial == number
                        and outcome.training.rows[0].option == key[2] and outcome.training.model == key[0]]
            values = [(outcome.result.get("metrics") or {}).get(metric) for outcome in of_trial]
            states = {(outcome.result or {}).get("status") for outcome in of_trial}
            if states == {TrainingStatus.COMPLETED} and all(isinstance(value, (int, float)) for value in values):
                studies[key].tell(number, sum(values) / len(values), TrainingStatus.COMPLETED)
            else:
                ended = TrainingStatus.PRUNED if TrainingStatus.PRUNED in states else TrainingStatus.FAILED
                studies[key].tell(number, None, ended)
            handled.add((key, number))
        outcomes += batch
