"""A work queue of worker threads for launchers that run one job per call (submitit's local launcher): a training
starts as soon as a worker is free, with no batch barrier, and a raced replicate as soon as its comparison lets
it (``hpsweep.sweep.racing``): whenever a training ends, the race is asked what may run now.
"""

import itertools
import threading
from collections import deque
from collections.abc import Callable

from hpsweep.sweep.outcomes import Outcome
from hpsweep.sweep.racing import Race


def run_queue(pending: list[Outcome], race: Race, width: int | None,
              train: Callable[[int, int, Outcome], None]) -> list[Outcome]:
    """Train ``pending`` and whatever the race lets start after them on ``width`` workers (None: as many as
    there are trainings to run); ``train(worker, job number, outcome)`` launches one. Returns those launched."""
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
                    fresh = [item for item in race.ready() if id(item) not in queued]
                    queued.update(id(item) for item in fresh)
                    queue.extend((next(numbers), item) for item in fresh)
                    changed.notify_all()

    width = width or sum(outcome.status == "pending" for outcome in race.outcomes)
    workers = [threading.Thread(target=work, args=(worker,), name=f"hpsweep-worker-{worker}")
               for worker in range(max(1, min(width, len(race.outcomes))))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return launched
