"""The launch loop: a sweep's pending trainings handed to its Hydra launcher as the race lets them run, each claimed
just before, each outcome recorded; submitit_local and Ray as a work queue, SLURM in job arrays (packs where a task runs
several), any other launcher in batches."""

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from hydra.core.utils import JobReturn

from hpsweep.sweep.claims import Board
from hpsweep.sweep.launcher_kind import LauncherKind
from hpsweep.sweep.outcomes import Outcome
from hpsweep.sweep.progress import Progress
from hpsweep.sweep.racing import Race
from hpsweep.sweep.settings import SweepSettings
from hpsweep.sweep.status import wait_for_slurm_jobs
from hpsweep.sweep.work_queue import launch_queue

log = logging.getLogger(__name__)


@dataclass
class Launching:
    launcher: object  # the Hydra launcher the sweep was configured with
    kind: LauncherKind  # decided once by the driver
    settings: SweepSettings
    claims: Board
    metric: str  # what decides winners, and its direction (max | min)
    direction: str
    progress: Progress | None = None  # told of each training's start and end, where the sweep shows its progress
    watch: object | None = None  # on Ray, whether its cluster still answers (hpsweep.sweep.on_ray.ClusterWatch)

    def launch(self, outcomes: list[Outcome], sweep_dir: Path) -> list[list[JobReturn]]:
        """Hand the pending trainings to the launcher, each claimed just before (``hpsweep.sweep.claims``): to
        submitit_local and Ray as a work queue, to any other launcher in batches of ``max_batch_size`` (SLURM: one job
        array per batch). Then wait for those another driver runs, and launch any it gave up. A launcher that
        loses jobs (a killed submitit job) loses no other result."""
        returns: list[list[JobReturn]] = []
        race = self.race(outcomes, sweep_dir)
        while True:
            # what may run now; else what ran elsewhere, waited for (its results may let the race go on)
            pending = race.ready() or self.claims.wait(outcomes) or race.ready()
            if not pending:
                return returns
            if self.kind in (LauncherKind.LOCAL, LauncherKind.RAY):  # one job per call, from worker threads
                overrides_of = partial(_job_overrides, sweep_dir=sweep_dir)
                returns.append(launch_queue(self.launcher, self.kind, self.claims, pending, race, overrides_of,
                                            self.settings.max_batch_size, self.settings.jobs_per_gpu,
                                            self.metric, self.progress, self.fatal))
            else:
                returns += self.launch_batches(pending, sweep_dir)

    def fatal(self, error: Exception | None) -> Exception | None:
        """The error that ends the sweep where its whole engine is gone (a Ray cluster), not one job (``error``,
        one the launcher lost; None: asked while trainings run)."""
        return self.watch.lost(error) if self.watch is not None else None

    def race(self, outcomes: list[Outcome], sweep_dir: Path) -> Race:
        """The race over these outcomes' replicates (``hpsweep.sweep.racing``); with racing off, every training
        is ready at once."""
        chosen = self.settings
        return Race(sweep_dir, outcomes, self.metric, self.direction == "max", chosen.alpha, chosen.race_from,
                    enabled=chosen.racing, futility=chosen.futility, min_effect=chosen.min_effect,
                    efficacy=chosen.efficacy)

    def launch_batches(self, pending: list[Outcome], sweep_dir: Path) -> list[list[JobReturn]]:
        """Batches of ``max_batch_size``, each claimed as a whole; the basic launcher's one job at a time (it runs
        them one after another anyway), so that two drivers of the sweep share them out."""
        returns: list[list[JobReturn]] = []
        batch_size = self.settings.max_batch_size or max(len(pending), 1)
        one_by_one = self.kind == LauncherKind.BASIC
        for start in range(0, len(pending), batch_size):
            batch = list(enumerate(pending[start:start + batch_size], start=start))
            results = []
            for part in ([[item] for item in batch] if one_by_one else [batch]):
                claimed = [(number, outcome) for number, outcome in part if self.claims.take(outcome)]
                for _, outcome in claimed if self.progress is not None else ():
                    self.progress.started(outcome)
                if claimed:
                    results += self.launch_claimed(claimed, sweep_dir)
            if results:
                returns.append(results)
        return returns

    def launch_claimed(self, claimed: list[tuple[int, Outcome]], sweep_dir: Path) -> list[JobReturn]:
        """Launch claimed trainings (numbered as the sweep numbers its jobs) and record each outcome."""
        first, last = claimed[0][0], claimed[-1][0]
        overrides = [_job_overrides(outcome, sweep_dir) for _, outcome in claimed]
        from hpsweep.sweep.packs import launch_packs, pack_size  # submitit's launcher: only where a sweep launches

        try:
            # SLURM array tasks of several trainings
            if pack_size(self.launcher, self.kind, self.settings.jobs_per_gpu) > 1:
                results = launch_packs(self.launcher, [(number, job, outcome.directory) for (number, outcome), job
                                                       in zip(claimed, overrides, strict=True)],
                                       self.settings.jobs_per_gpu, sweep_dir)
            else:
                results = list(self.launcher.launch(overrides, initial_job_idx=first))
        except Exception as error:  # a launcher losing jobs (a killed process) must not end the sweep
            log.error("the launcher lost jobs %d-%d: %s: %s", first, last, type(error).__name__, error)
            for _, outcome in claimed:
                outcome.launch_error = f"{type(error).__name__}: {error}"
            wait_for_slurm_jobs(sweep_dir)  # the launcher stopped waiting at the lost job: the others run on
            results = []
        metric = self.metric
        for (_, outcome), job_return in zip(claimed, results or [None] * len(claimed), strict=True):
            outcome.job_return = job_return
            self.claims.finish(outcome, metric)
            if self.progress is not None:
                self.progress.finished(outcome)
        return results


def _job_overrides(outcome: Outcome, sweep_dir: Path) -> list[str]:
    """What the launcher gets for a training: its overrides and the directory the sweep gave it."""
    return [*outcome.training.overrides, f"hydra.sweep.subdir='{outcome.directory.relative_to(sweep_dir)}'"]

