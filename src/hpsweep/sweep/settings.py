"""A category sweep's settings (``hydra.sweeper.*``): one dataclass, and every knob's check in one place.

The sweeper plugin's config (``CategorySweeperConf``) is this dataclass with Hydra's ``_target_``; the driver
(``hpsweep.sweep.driver``) reads it and nothing else of the plugin's.
"""

from dataclasses import dataclass, field

from hpsweep.core.trainings import DEFAULT_REPLICATES
from hpsweep.decide.statistics import MULTIPLICITIES, SPENDINGS

SEED_CATEGORIES = ["optimizer", "scheduler", "loss_function", "image_size", "batch_size", "early_stopping"]
STRATEGIES = ("union", "greedy")
RERUNS = ("none", "stale_code")
DIRECTIONS = ("max", "min")
SAMPLERS = ("tpe", "random")  # Optuna's TPESampler, RandomSampler
PRUNERS = ("none", "median", "hyperband")


@dataclass(frozen=True)
class Pruning:
    """How options of a category are pruned: ``hydra.sweeper.pruner`` and its two knobs."""

    pruner: str = "median"
    warmup: float = 0.3  # the fraction of trainer.max_epochs trained before any option may be pruned
    margin: float | None = None  # how far behind the others (metric's units); None: the validation set's noise
    patience: int = 2  # median: at this many epochs in a row
    alpha: float = 0.05  # the noise margin: a deficit this unlikely (one-sided) between options that are equal

    def problems(self) -> list[str]:
        problems = []
        if self.pruner not in PRUNERS:
            problems.append(f"hydra.sweeper.pruner={self.pruner!r}: expected one of {', '.join(PRUNERS)}")
        if not 0 <= self.warmup <= 1:
            problems.append(f"hydra.sweeper.prune_warmup={self.warmup!r}: expected a fraction from 0 to 1")
        if self.margin is not None and (not isinstance(self.margin, (int, float)) or self.margin < 0):
            problems.append(f"hydra.sweeper.prune_margin={self.margin!r}: expected a number >= 0, or null for the "
                            "noise of the validation set")
        if not isinstance(self.patience, int) or self.patience < 1:
            problems.append(f"hydra.sweeper.prune_patience={self.patience!r}: expected an integer >= 1")
        return problems


@dataclass
class SweepSettings:
    categories: list[str] = field(default_factory=lambda: list(SEED_CATEGORIES))  # what category=all sweeps
    strategy: str = "union"  # union: every category around the base | greedy: each category's winner carried on
    replicates: list[str] = field(default_factory=lambda: list(DEFAULT_REPLICATES))  # keys that repeat, not choose
    metric: str | None = None  # what decides: null = early_stopping.monitor (hpsweep), else the task's return value
    direction: str | None = None  # max | min; null = early_stopping.mode (hpsweep), else max
    alpha: float = 0.05  # a difference with p >= alpha is within noise: the base option is kept
    # how the sweep's comparisons are corrected together: bh (false discovery rate, Benjamini-Hochberg) | holm
    # (family-wise) | none (each comparison's options still by Dunnett's test); hpsweep.decide.statistics.correct
    multiplicity: str = "bh"
    fdr: float | None = None  # the rate multiplicity holds false wins to; null: alpha
    # where no replicate key is swept, the base trains this many more seeds so that each option's one run is
    # tested against seed luck (docs/statistics.md, What alpha means); 0: off, the best mean is then untested,
    # never a win
    control_seeds: int = 4
    pruner: str = "median"  # none | median | hyperband: stop options clearly behind their category's others
    prune_warmup: float = 0.3  # the fraction of trainer.max_epochs trained before any option may be pruned
    prune_margin: float | None = None  # median: how far behind the others' median; null: the validation noise...
    prune_patience: int = 2  # ...at this many epochs in a row
    n_trials: int = 8  # trials of each searched option (an option file with a `search:` mapping of spaces)
    sampler: str = "tpe"  # tpe | random: how Optuna samples a searched option's values
    racing: bool = True  # replicates in rounds; an option clearly worse than its comparison's leader stops
    race_from: int = 1  # replicates every option trains before racing may eliminate it
    # a row whose final test against the leader would be significant with less probability than this stops (its
    # predictive power: hpsweep.decide.statistics.predictive_power); 0: every row trains every replicate
    futility: float = 0.4
    min_effect: float | None = None  # a row surely within +-min_effect of the leader (metric units) stops; null: off
    # a comparison whose leader beats the base at a look's boundary stops; the boundaries, fixed from the looks
    # planned: haybittle_peto (0.001 at each early look) | obrien_fleming | pocock (Lan and DeMets' spending;
    # hpsweep.decide.statistics.efficacy_boundaries); null: the last look only
    efficacy: str | None = "haybittle_peto"
    share_trajectories: bool = True  # options that differ only in when they stop are answered by one training
    max_batch_size: int | None = None  # jobs at once (submitit_local: workers of a queue); null: all
    jobs_per_gpu: int = 1  # trainings sharing a GPU: local, workers per GPU; SLURM, packed in each array task; Ray,
    # num_gpus=1/jobs_per_gpu each
    # each GPU's memory, for the check that trainings sharing one fit, where the launcher's config says none (Ray's
    # has no place for it; hpsweep's local and slurm presets have hydra.launcher.gpu_memory_gb); null: not checked
    gpu_memory_gb: float | None = None
    report: bool = True  # keep <sweep dir>/report/index.html current while the sweep runs (hpsweep report)
    # piped, a line of the sweep's progress every this many seconds (a terminal shows one live line instead)
    progress_every: float = 30.0
    verbose: bool = False  # the trainings' own console lines (per epoch) too, where they run in the driver's process
    resume: bool = True  # skip jobs whose result.json in the sweep dir says completed
    rerun: str = "none"  # none | stale_code: train again what other code (a commit, a dirty diff, packages) made

    @property
    def pruning(self) -> dict:
        """The pruning knobs as ````Pruning```` takes them (and the manifest records them)."""
        return {"pruner": self.pruner, "warmup": self.prune_warmup, "margin": self.prune_margin,
                "patience": self.prune_patience, "alpha": self.alpha}

    @property
    def pruning_on(self) -> bool:
        return self.pruner != "none"

    @property
    def rate(self) -> float:
        """What the sweep's correction holds false wins to."""
        return self.alpha if self.fdr is None else self.fdr

    @property
    def race(self) -> dict:
        """The racing knobs, as the manifest records them."""
        return {"enabled": self.racing, "race_from": self.race_from, "futility": self.futility,
                "min_effect": self.min_effect, "efficacy": self.efficacy}

    def problems(self) -> list[str]:
        """Every knob whose value cannot run, each named with what would be valid."""
        problems = []
        if self.strategy not in STRATEGIES:
            problems.append(f"hydra.sweeper.strategy={self.strategy!r}: expected one of {', '.join(STRATEGIES)}")
        if self.direction is not None and self.direction not in DIRECTIONS:
            problems.append(f"hydra.sweeper.direction={self.direction!r}: expected one of {', '.join(DIRECTIONS)}, "
                            "or null for the metric's own")
        if not _number(self.alpha) or not 0 < self.alpha < 1:
            problems.append(f"hydra.sweeper.alpha={self.alpha!r}: expected a probability between 0 and 1 (0.05)")
        if self.multiplicity not in MULTIPLICITIES:
            problems.append(f"hydra.sweeper.multiplicity={self.multiplicity!r}: expected one of "
                            f"{', '.join(MULTIPLICITIES)} (how the sweep's comparisons are corrected together)")
        if self.fdr is not None and (not _number(self.fdr) or not 0 < self.fdr < 1):
            problems.append(f"hydra.sweeper.fdr={self.fdr!r}: expected a rate between 0 and 1 (0.05), or null for "
                            "alpha")
        if not isinstance(self.control_seeds, int) or isinstance(self.control_seeds, bool) or self.control_seeds < 0:
            problems.append(f"hydra.sweeper.control_seeds={self.control_seeds!r}: expected an integer >= 0 (the "
                            "base's extra seeds where none is swept; 0: off)")
        if self.pruning_on:
            problems += Pruning(**self.pruning).problems()
        if not _count(self.race_from):
            problems.append(f"hydra.sweeper.race_from={self.race_from!r}: expected an integer >= 1 (replicates every "
                            "option trains before racing may eliminate it)")
        if not _number(self.futility) or not 0 <= self.futility < 1:
            problems.append(f"hydra.sweeper.futility={self.futility!r}: expected a probability from 0 (off) to below 1 "
                            "(0.4: stop a row whose remaining replicates would decide it with less probability)")
        if self.min_effect is not None and (not _number(self.min_effect) or self.min_effect <= 0):
            problems.append(f"hydra.sweeper.min_effect={self.min_effect!r}: expected a difference > 0 in the metric's "
                            "units (0.01), or null for no indifference zone")
        if self.efficacy is not None and self.efficacy not in SPENDINGS:
            problems.append(f"hydra.sweeper.efficacy={self.efficacy!r}: expected one of {', '.join(SPENDINGS)} (how "
                            "alpha is spent over the looks for an early win), or null for the last look only")
        if not _count(self.n_trials):
            problems.append(f"hydra.sweeper.n_trials={self.n_trials!r}: expected an integer >= 1")
        if self.sampler not in SAMPLERS:
            problems.append(f"hydra.sweeper.sampler={self.sampler!r}: expected one of {', '.join(SAMPLERS)}")
        if self.max_batch_size is not None and not _count(self.max_batch_size):
            problems.append(f"hydra.sweeper.max_batch_size={self.max_batch_size!r}: expected an integer >= 1, or "
                            "null for every job at once")
        if not _count(self.jobs_per_gpu):
            problems.append(f"hydra.sweeper.jobs_per_gpu={self.jobs_per_gpu!r}: expected an integer >= 1 (trainings "
                            "that share each GPU)")
        if self.gpu_memory_gb is not None and (not _number(self.gpu_memory_gb) or self.gpu_memory_gb <= 0):
            problems.append(f"hydra.sweeper.gpu_memory_gb={self.gpu_memory_gb!r}: expected each GPU's memory in GB "
                            "(80), or null for no check")
        if not _number(self.progress_every) or self.progress_every <= 0:
            problems.append(f"hydra.sweeper.progress_every={self.progress_every!r}: expected a number of seconds > 0 "
                            "(30: a line of progress every 30 s where the output is piped)")
        if self.rerun not in RERUNS:
            problems.append(f"hydra.sweeper.rerun={self.rerun!r}: expected one of {', '.join(RERUNS)} (stale_code "
                            "trains again what other code made)")
        return problems


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
