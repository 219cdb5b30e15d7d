"""A work queue of worker threads for launchers that run one job per call (submitit's local launcher, Ray's): a
training starts as soon as a worker is free, with no batch barrier, and a raced replicate as soon as its comparison lets
it (``hpsweep.sweep.racing``): whenever a training ends, the race is asked what may run now.
"""

import itertools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable

from hpsweep.core.statuses import RowStatus
from hpsweep.sweep.claims import Board
from hpsweep.sweep.launcher_kind import LauncherKind
from hpsweep.sweep.outcomes import Outcome
from hpsweep.sweep.progress import Progress
from hpsweep.sweep.racing import Race

log = logging.getLogger(__name__)


def pinned_gpus(launcher, kind: LauncherKind) -> list[str]:
    """The GPUs a local queue's workers are pinned to: ``hydra.launcher.gpus_per_node`` of those this process sees
    (``CUDA_VISIBLE_DEVICES``, else 0..N-1); none for any other launcher."""
    if kind != LauncherKind.LOCAL:
        return []
    gpus = int(launcher.params.get("gpus_per_node") or 0)
    return os.environ.get("CUDA_VISIBLE_DEVICES", ",".join(map(str, range(gpus)))).split(",")[:gpus]


def run_queue(pending: list[Outcome], race: Race, width: int | None,
              train: Callable[[int, int, Outcome], None],
              ended: Callable[[], Exception | None] = lambda: None) -> list[Outcome]:
    """Train ``pending`` and whatever the race lets start after them on ``width`` workers (None: as many as
    there are trainings to run); ``train(worker, job number, outcome)`` launches one. Returns those launched.
    Raises what ``ended()``, asked every second, returns (the engine gone): the workers, blocked on it, are left
    behind."""
    queue = deque(enumerate(pending))
    queued = {id(outcome) for outcome in pending}
    numbers = itertools.count(len(pending))  # job numbers for the replicates the race lets start later
    launched: list[Outcome] = []
    running = 0
    changed = threading.Condition()

    def work(worker: int) -> None:
        nonlocal running
        while True:
            with changed:
                while not queue and running:  # a running training may let the next round start
                    changed.wait()
                if not queue:
                    changed.notify_all()
                    return
                number, outcome = queue.popleft()
                running += 1
            try:
                train(worker, number, outcome)
                launched.append(outcome)
            finally:
                with changed:
                    running -= 1
                    fresh = [item for item in race.after(outcome) if id(item) not in queued]
                    queued.update(id(item) for item in fresh)
                    queue.extend((next(numbers), item) for item in fresh)
                    changed.notify_all()

    width = width or sum(outcome.status == RowStatus.PENDING for outcome in race.outcomes)
    workers = [threading.Thread(target=work, args=(worker,), name=f"hpsweep-worker-{worker}", daemon=True)
               for worker in range(max(1, min(width, len(race.outcomes))))]
    for worker in workers:
        worker.start()
    for worker in workers:
        while worker.is_alive():
            worker.join(timeout=1.0)
            if (error := ended()) is not None:
                raise error
    return launched


def launch_queue(launcher, kind: LauncherKind, claims: Board, pending: list[Outcome], race: Race,
                 overrides_of: Callable[[Outcome], list[str]], width: int | None, jobs_per_gpu: int,
                 metric: str, progress: Progress | None = None,
                 fatal: Callable[[Exception | None], Exception | None] = lambda error: None) -> list:
    """Train ``pending`` (and what the race lets start after them) on ``launcher`` (submitit's local one, Ray's),
    one call per training, each claimed just before, on ``width`` workers (None: ``jobs_per_gpu`` per GPU where a
    local ``gpus_per_node`` is set, else every training at once: Ray queues what its cluster has no room for);
    local worker ``w`` trains on GPU ``w mod gpus_per_node``. A lost job is that training's failure, unless
    ``fatal(error)`` says it ends the sweep (a Ray cluster gone), as ``fatal(None)``, asked every second, may say
    at any time: then nothing more starts, and that error is raised. Returns the JobReturns."""
    visible = pinned_gpus(launcher, kind)
    width = width or (len(visible) * jobs_per_gpu if visible else None)
    if visible:
        log.info("%d workers on GPUs %s, worker w on GPU w mod %d", width, ",".join(visible), len(visible))
    ended: list[Exception] = []

    def train(worker: int, number: int, outcome: Outcome) -> None:
        """One training on its worker's GPU; a lost job is recorded failed, the queue goes on."""
        if ended or not claims.take(outcome):
            return
        if progress is not None:
            progress.started(outcome)
        overrides = overrides_of(outcome)
        if visible:
            overrides.append(f"++hydra.job.env_set.CUDA_VISIBLE_DEVICES={visible[worker % len(visible)]}")
        try:
            outcome.job_return = launcher.launch([overrides], initial_job_idx=number)[0]
        except Exception as error:  # a killed job: recorded failed, the queue goes on
            log.error("the launcher lost job %d: %s: %s", number, type(error).__name__, error)
            outcome.launch_error = f"{type(error).__name__}: {error}"
            if not ended and (end := fatal(error)) is not None:
                ended.append(end)
        claims.finish(outcome, metric)
        if progress is not None:
            progress.finished(outcome)

    launched = run_queue(pending, race, width, train, lambda: ended[0] if ended else fatal(None))
    return [outcome.job_return for outcome in launched if outcome.job_return is not None]
