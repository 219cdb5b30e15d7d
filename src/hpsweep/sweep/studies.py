"""Optuna studies in the sweep dir: the options of one competition (a model's category, in one setting, stage
and replicate) are trials of one study, kept in Optuna's file journal (``optuna.journal``), so that jobs in
other processes, or SLURM jobs on other nodes sharing the filesystem, compete with each other; no server.

Nothing else in hpsweep talks to Optuna.
"""

import hashlib
import json
import logging
import math
import statistics
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hpsweep.core.locks import LinkLock
from hpsweep.core.records import set_aside, write_atomic
from hpsweep.core.statuses import TrainingStatus
from hpsweep.sweep import optuna_private
from hpsweep.sweep.settings import Pruning

log = logging.getLogger(__name__)

JOURNAL_FILE = "optuna.journal"

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would bury the job's own log


class MedianOfOthersPruner(optuna.pruners.BasePruner):
    """Prunes a trial whose best value so far has trailed the median of the other options' best values by
    more than a margin at each of its last ``patience`` epochs, all past the ``warmup`` (never at the last).

    The margin is the noise of the validation set (``margin=None``): a deficit that two equally good options
    would show with probability below ``alpha`` on the trial's ``observations`` validation images (a user attr:
    images x views), by the normal bound of two proportions, sqrt(2 p (1 - p) / n) times z(1 - alpha), with p
    between the two values; and never below k / n, where k images all going one way is the fewest that McNemar's
    exact test calls significant at ``alpha`` (6 at 0.05), since near a perfect score the normal bound shrinks
    below what n images can show. A metric that is not a rate in [0, 1] (a loss) has no such bound: then only a
    fixed ``margin`` prunes.

    Optuna's MedianPruner compares with completed trials only: options training side by side never prune
    each other, and one finished option prunes anything slightly worse than it. A category has 2 to 4
    options, so this one compares with every other option that reached the epoch, running or finished; the
    margin spares options close to the others, and the patience spares slow starters (an lr warm-up, SGD
    catching up with AdamW) whose gap closes an epoch later.
    """

    def __init__(self, warmup: int, margin: float | None, max_epochs: int | None = None, patience: int = 2,
                 alpha: float = 0.05):
        self.warmup = warmup
        self.margin = margin
        self.max_epochs = max_epochs  # pruning at the last epoch saves nothing
        self.patience = patience
        self.z = statistics.NormalDist().inv_cdf(1 - alpha)
        self.fewest = math.ceil(math.log2(2 / alpha))  # k of k-to-0 disagreements: two-sided p = 2 / 2**k < alpha

    def threshold(self, reference: float, value: float, observations: int | None) -> float:
        """How far behind ``reference`` a ``value`` must be to be more than noise (inf: nothing can tell)."""
        if self.margin is not None:
            return self.margin
        if not observations or not (0 <= reference <= 1 and 0 <= value <= 1):
            return math.inf
        rate = (reference + value) / 2
        return max(self.z * math.sqrt(2 * rate * (1 - rate) / observations), self.fewest / observations)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or (self.max_epochs is not None and step >= self.max_epochs):
            return False
        steps = sorted(trial.intermediate_values)[-self.patience:]
        if len(steps) < self.patience or steps[0] < self.warmup:
            return False
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
        observations = trial.user_attrs.get("observations")
        for at in steps:
            reference = self.reference(study, trial, at)
            if reference is None:
                return False
            value = _best_up_to(trial, at, study.direction)
            if sign * (reference[0] - value) <= self.threshold(reference[0], value, observations):
                return False
        return True

    def reference(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                  step: int | None = None) -> tuple[float, dict[str, float]] | None:
        """(median, each other option's best value up to ``step``, the trial's last by default); None alone.

        An option training beside this one (another process) may be an epoch behind: its best so far counts,
        once it is past the warm-up itself. Values usually rise with epochs, so that favours the trial."""
        step = trial.last_step if step is None else step
        if step is None:
            return None
        others = {}
        own = trial.user_attrs.get("fingerprint")  # an earlier, failed start of the same job is not another option
        for other in study.get_trials(deepcopy=False):
            if other.number == trial.number or other.state == TrialState.FAIL or \
                    (own is not None and other.user_attrs.get("fingerprint") == own):
                continue
            if other.intermediate_values and max(other.intermediate_values) >= min(self.warmup, step):
                best = _best_up_to(other, step, study.direction)
                if not math.isnan(best):
                    others[other.user_attrs.get("option", f"trial {other.number}")] = best
        return (statistics.median(others.values()), others) if others else None


def _best_up_to(trial: optuna.trial.FrozenTrial, step: int, direction) -> float:
    values = [value for at, value in trial.intermediate_values.items() if at <= step and not math.isnan(value)]
    if not values:
        return math.nan
    return max(values) if direction == optuna.study.StudyDirection.MAXIMIZE else min(values)


def make_pruner(pruning: Pruning, max_epochs: int) -> optuna.pruners.BasePruner:
    warmup = max(1, math.ceil(pruning.warmup * max_epochs))
    if pruning.pruner == "median":
        return MedianOfOthersPruner(warmup, pruning.margin, max_epochs, pruning.patience, pruning.alpha)
    if pruning.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=max_epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def replay(curves: dict[str, list[float]], pruning: Pruning, max_epochs: int, observations: int | None,
           base: str | None = None, direction: str = "max") -> dict[str, int]:
    """The epoch at which the pruner would stop each option, given every option's metric per epoch (trained side
    by side, as a sweep's options do); the ``base`` is never pruned. For benchmarks and tests on real histories."""
    study = optuna.create_study(direction="maximize" if direction == "max" else "minimize",
                                pruner=make_pruner(pruning, max_epochs))
    trials = {}
    for option in curves:
        trials[option] = study.ask()
        trials[option].set_user_attr("option", option)
        trials[option].set_user_attr("observations", observations)
    pruned: dict[str, int] = {}
    for epoch in range(1, max_epochs + 1):
        for option, curve in curves.items():
            if option in pruned or epoch > len(curve):
                continue
            trials[option].report(curve[epoch - 1], epoch)
            if option != base and trials[option].should_prune():
                pruned[option] = epoch
    return pruned


def storage(sweep_dir: Path) -> optuna.storages.JournalStorage:
    """The sweep's journal: a file every process appends to under a lock (a shared filesystem will do).

    A damaged journal (a record cut short by a full disk or a kill, garbage) would fail every later read of
    it: it is repaired first, under the journal's own lock, keeping the records before the first damaged one
    (an operation log's prefix is a state it went through); one whose records do not replay is set aside whole.
    Either way its studies go on from what is kept, and the warning says so."""
    from optuna.storages.journal import JournalFileBackend

    path = Path(sweep_dir) / JOURNAL_FILE
    lock = LinkLock(f"{path}.lock")  # Optuna's own lock name: a leftover of its symlink lock is broken too
    lock.acquire()
    try:
        _repair_journal(path)
        try:
            return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
        except Exception as error:  # records that parse but do not replay (edited by hand, mixed files)
            set_aside(path, f"its records do not replay: {type(error).__name__}: {error}",
                      then="its studies start again: pruning and search go on from new trials")
            return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    finally:
        lock.release()


def _repair_journal(path: Path) -> None:
    """Keep the journal's records up to the first one that is cut short or not a JSON operation."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    good, kept = 0, 0
    for line in data.splitlines(keepends=True):
        try:
            record = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            record = None
        if not isinstance(record, dict) or "op_code" not in record:
            break
        good, kept = good + len(line), kept + 1
    if good == len(data):
        return
    records = len(data.splitlines())
    set_aside(path, f"record {kept + 1} of {records} is cut short or not an operation",
              then=f"rebuilt from the {kept} record(s) before it: pruning and search go on from those")
    write_atomic(path, lambda temporary: temporary.write_bytes(data[:good]))


def study_names(entry: dict) -> list[tuple[str, str]]:
    """(study, the option's name in it) for each category row a training answers (the base answers several)."""
    replicate = " ".join(f"{key}={value}" for key, value in sorted(entry.get("replicate", {}).items()))
    setting = " ".join(entry.get("setting", []))
    return [(f"{entry['model']}/{row['category']}/stage{row['stage']}/{setting}/{replicate}",
             row["option"] + (" (base)" if entry.get("is_base") else "")
             + (f" trial {row['trial']}" if row.get("trial") is not None else ""))
            for row in entry["rows"] if row["category"]]


class Competition:
    """One job's trials, one in each study of the rows it answers: it reports its metric every epoch and
    asks whether the other options have left it behind. The base is never pruned."""

    def __init__(self, sweep_dir: Path, entry: dict, fingerprint: str, pruning: Pruning, metric: str,
                 direction: str, max_epochs: int):
        self.metric = metric
        self.pruning = pruning
        self.observations: int | None = None
        self.prunable = not entry.get("is_base") and pruning.pruner != "none"
        journal = storage(sweep_dir)
        pruner = make_pruner(pruning, max_epochs)
        self.trials = []
        for name, option in study_names(entry):
            study = optuna.create_study(study_name=name, storage=journal, pruner=pruner, load_if_exists=True,
                                        direction="maximize" if direction == "max" else "minimize")
            self.trials.append((study, self._trial(study, fingerprint, option)))

    @staticmethod
    def _trial(study: optuna.Study, fingerprint: str, option: str) -> optuna.Trial:
        """This job's running trial (a resumed job goes on in it), or a new one."""
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if frozen.user_attrs.get("fingerprint") == fingerprint:
                return optuna_private.running_trial(study, frozen)
        trial = study.ask()
        trial.set_user_attr("fingerprint", fingerprint)
        trial.set_user_attr("option", option)
        return trial

    def observe(self, observations: int) -> None:
        """How many validation predictions the metric is computed from (images x views): the noise margin's n."""
        self.observations = observations
        try:
            for _, trial in self.trials:
                trial.set_user_attr("observations", observations)
        except Exception as error:
            log.warning("pruning is off for the rest of this training: its study failed (%s: %s)",
                        type(error).__name__, error)
            self.trials, self.prunable = [], False

    def report(self, epoch: int, value: float) -> dict | None:
        """Report one epoch's value to every study; the reason to stop if the job is pruned, else None. Pruning
        saves time; it never fails a training: a journal that breaks mid-way turns it off, with a warning."""
        decision = None
        try:
            for study, trial in self.trials:
                trial.report(value, epoch)
                if self.prunable and decision is None and trial.should_prune():
                    decision = self._explain(study, trial, epoch, value)
        except Exception as error:
            log.warning("pruning is off for the rest of this training: its study failed (%s: %s)",
                        type(error).__name__, error)
            self.trials, self.prunable = [], False
        return decision

    def _explain(self, study: optuna.Study, trial: optuna.Trial, epoch: int, value: float) -> dict:
        frozen = optuna_private.frozen(study, trial)
        pruner = MedianOfOthersPruner(1, self.pruning.margin, alpha=self.pruning.alpha)
        reference = pruner.reference(study, frozen) or (math.nan, {})
        others = ", ".join(f"{option} {best:.4f}" for option, best in reference[1].items())
        if self.pruning.pruner == "median":
            best = _best_up_to(frozen, epoch, study.direction)
            margin = pruner.threshold(reference[0], best, self.observations)
            noise = "" if self.pruning.margin is not None else \
                f" (the noise of {self.observations} validation predictions at alpha {self.pruning.alpha})"
            reason = (f"{self.metric} {value:.4f} at epoch {epoch}: more than {margin:.4f}{noise} behind the median "
                      f"{reference[0]:.4f} of the other options ({others}) for {self.pruning.patience} epochs")
        else:
            reason = f"{self.metric} {value:.4f} at epoch {epoch}: not among the best of its hyperband rung ({others})"
        return {"epoch": epoch, "value": value, "pruner": self.pruning.pruner, "study": study.study_name,
                "others": reference[1], "reference": reference[0], "reason": reason}

    def finish(self, value: float | None, state: str) -> None:
        """Close the trials: ``completed`` (with the job's best value), ``pruned`` or ``failed``."""
        for study, trial in self.trials:
            try:
                if state == TrainingStatus.COMPLETED and value is not None:
                    study.tell(trial, value, skip_if_finished=True)
                else:
                    study.tell(trial, state=TrialState.PRUNED if state == TrainingStatus.PRUNED else TrialState.FAIL,
                               skip_if_finished=True)
            except Exception as error:  # the other options go on without this one's value
                log.warning("%s: the training's outcome could not be told (%s: %s)", study.study_name,
                            type(error).__name__, error)


class Search:
    """The study of one searched option (per model, setting and stage): asks Optuna for trials, each a set of
    values from the option's spaces, and is told each trial's value (the mean over its replicates)."""

    def __init__(self, sweep_dir: Path, name: str, spaces: list, sampler: str, direction: str, n_trials: int):
        self.name = name
        self.sampler = sampler
        self.n_trials = n_trials
        self.distributions = {space.key: _distribution(space) for space in spaces}
        self.study = optuna.create_study(study_name=name, storage=storage(sweep_dir), load_if_exists=True,
                                         direction="maximize" if direction == "max" else "minimize")

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return sorted(self.study.get_trials(deepcopy=False), key=lambda trial: trial.number)

    def ask(self) -> tuple[int, dict]:
        """A new trial: (its number, its values). The sampler is seeded from the study's name and size, so a
        search re-run in the same sweep dir continues it instead of drawing the same values again."""
        seed = int(hashlib.sha256(self.name.encode()).hexdigest()[:8], 16) + len(self.study.trials)
        if self.sampler == "tpe":
            chooser = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, self.n_trials // 2))
        else:
            chooser = optuna.samplers.RandomSampler(seed=seed)
        study = optuna.load_study(study_name=self.name, storage=optuna_private.storage(self.study), sampler=chooser)
        trial = study.ask(self.distributions)
        return trial.number, dict(trial.params)

    def tell(self, number: int, value: float | None, state: str) -> None:
        """``completed`` with the trial's value, else ``pruned`` or ``failed``."""
        trial = next(trial for trial in self.trials() if trial.number == number)
        if trial.state != TrialState.RUNNING:
            return  # told in an earlier run of the sweep
        # another driver of the sweep may tell it first
        if state == TrainingStatus.COMPLETED and value is not None:
            self.study.tell(number, value, skip_if_finished=True)
        else:
            self.study.tell(number, state=TrialState.PRUNED if state == TrainingStatus.PRUNED else TrialState.FAIL,
                            skip_if_finished=True)


def _distribution(space) -> optuna.distributions.BaseDistribution:
    if space.kind == "categorical":
        return optuna.distributions.CategoricalDistribution(list(space.choices))
    if space.kind == "int":
        return optuna.distributions.IntDistribution(space.low, space.high, log=space.log, step=space.step or 1)
    return optuna.distributions.FloatDistribution(space.low, space.high, log=space.log, step=space.step)
