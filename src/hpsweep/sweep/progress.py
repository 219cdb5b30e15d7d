"""What a sweep shows while it runs: one live line in a terminal (or a plain line every ``progress_every`` seconds,
piped) counting its trainings done, running, queued, not trained and failed, the time elapsed and an estimate of
the time left; and one short line per finished training.

The trainings of the basic launcher run inside this process: while the sweep runs, their console lines (per-epoch
metrics, tqdm bars, the W&B path) go to their own log files only (``quiet_jobs``), Hydra's launcher lines are
silenced, and every log line left is wrapped to the terminal and printed above the live line, so that nothing
fights over the terminal. ``hydra.sweeper.verbose=true`` keeps the trainings' own lines.
"""

import logging
import sys
import threading
import time

from hpsweep.core.display import WrappingFormatter, console, format_duration, wrap
from hpsweep.core.records import JOB_FILE, read_result
from hpsweep.core.statuses import RowStatus, TrainingStatus, said
from hpsweep.sweep.claims import queued, read_claim
from hpsweep.sweep.outcomes import Outcome

# Hydra's launchers log each launch (``Launching 1 jobs locally``, ``#3 : model=...``): the progress says it instead
LAUNCHER_LOGGERS = ("hydra._internal.core_plugins.basic_launcher",
                    "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
                    "hydra_plugins.hydra_ray_launcher._core", "hydra_plugins.hydra_ray_launcher._launcher_util")
POLL_S = 5.0  # how often the records of trainings running elsewhere (SLURM, another driver) are read
NOT_TRAINED = (RowStatus.ELIMINATED, RowStatus.STOPPED)
FAILED = (RowStatus.FAILED, RowStatus.UNCLAIMED)
DONE_OK = (RowStatus.COMPLETED, RowStatus.PRUNED, RowStatus.SKIPPED)
DONE = (RowStatus.COMPLETED, RowStatus.PRUNED, *FAILED)  # how a training launched here ends
QUEUED = (RowStatus.PENDING, RowStatus.ANSWERED)
RUNNING = (RowStatus.INCOMPLETE, RowStatus.ELSEWHERE)  # started here, or held by another driver

# set while a driver of this process shows its progress: a job run in this process keeps its console lines to its
# own log file (``hpsweep.sweep.job``)
quiet_jobs = False


def fit_log_lines() -> None:
    """Wrap the root logger's console lines to the terminal, and send them through the current ``sys.stdout`` /
    ``sys.stderr`` (a live display's, which prints them above itself). Hydra sets its handlers up again after each
    in-process job: called again after each."""
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        original = getattr(stream, "rich_proxied_file", stream)  # a live display's proxy: the file behind it
        if type(handler) is logging.StreamHandler and original in (sys.__stdout__, sys.__stderr__):
            handler.setStream(sys.stdout if original is sys.__stdout__ else sys.stderr)
            if not isinstance(handler.formatter, WrappingFormatter):
                handler.setFormatter(WrappingFormatter(handler.formatter))


class Progress:
    """The sweep's trainings as they run, told by the launch loop (``started``, ``finished``)."""

    def __init__(self, outcomes: list[Outcome], metric: str, every_s: float, verbose: bool = False):
        self.outcomes = outcomes
        self.metric = metric
        self.every_s = every_s
        self.verbose = verbose
        self.running: dict[int, tuple[Outcome, float]] = {}  # launched here, not returned: id -> (outcome, when)
        self.waiting: set[int] = set()  # of those, the ones whose job has not started (queued in SLURM)
        self.ended: dict[int, str] = {}  # id -> how it ended, as its result says (before the launcher returned it)
        self.answered: set[int] = set()  # ids of the trainings a finished carrier's trajectory answered
        self.durations: list[float] = []  # of the trainings finished in this run
        self.workers = 1  # the most trainings that ran at once
        self.finished_count = 0
        self.began = time.monotonic()
        self.out = console()
        self.live = None
        self.ticker: threading.Thread | None = None
        self.stopped = threading.Event()
        self.polled = 0.0
        self.lock = threading.Lock()
        self.levels: dict[str, int] = {}

    # --- the launch loop's side -----------------------------------------------------------------------

    def started(self, outcome: Outcome) -> None:
        with self.lock:
            self.running[id(outcome)] = (outcome, time.monotonic())
            self.workers = max(self.workers, len(self.running))
        self.refresh()

    def finished(self, outcome: Outcome) -> None:
        """A training the launcher returned: its line (unless its result was seen before), then the counts."""
        fit_log_lines()  # Hydra set its log handlers up again after an in-process job
        with self.lock:
            line = self.end(outcome) if outcome.status in DONE and id(outcome) not in self.ended else None
            self.running.pop(id(outcome), None)
        if line:
            self.print(line)
        self.refresh()

    def end(self, outcome: Outcome) -> str:
        """Count a training's end (under the lock) and say it: ``[5/24] ...``."""
        result = outcome.result or {}
        self.ended[id(outcome)] = result.get("status", outcome.status)
        self.finished_count += 1 + len(outcome.answers)
        self.answered.update(id(member) for member in outcome.answers)
        if isinstance(result.get("duration_s"), (int, float)):
            self.durations.append(result["duration_s"])
        return f"[{self.finished_count}/{self.finished_count + self.left()}] {self.describe(outcome)}"

    # --- what it says ---------------------------------------------------------------------------------

    def describe(self, outcome: Outcome) -> str:
        """``test_resnet optimizer/SGD seed=1 pruned at epoch 4, val_f1 0.9700, 2 s``."""
        training, result = outcome.training, outcome.result or {}
        name = "/".join(part for part in (training.category, training.option) if part) or training.option
        what = " ".join(part for part in (training.model, name, training.replicate_label, *training.setting) if part)
        status = result.get("status", outcome.status)
        value = (result.get("metrics") or {}).get(self.metric)
        parts = [said(status)]
        if status == TrainingStatus.PRUNED and isinstance(result.get("pruned"), dict):
            parts[0] += f" at epoch {result['pruned'].get('epoch')}"
        if isinstance(value, (int, float)):
            parts.append(f"{self.metric} {value:.4f}")
        if status in FAILED:
            error = result.get("error") or {}
            parts.append(f"{error.get('type', 'error')}; its log is in {outcome.directory}")
        if isinstance(result.get("duration_s"), (int, float)):
            parts.append(format_duration(result["duration_s"]))
        if outcome.answers:
            parts.append(f"answering {len(outcome.answers)} more from its trajectory")
        return f"{what} {', '.join(parts)}"

    def state(self, outcome: Outcome) -> str:
        """Where a training stands now: its end as its result says, once seen; running, or queued where its job
        has not started (SLURM's queue); else the launch loop's status."""
        key = id(outcome)
        if key in self.answered:
            return RowStatus.COMPLETED  # done with its carrier: written at the sweep's end
        if key in self.ended:
            return self.ended[key]
        if key in self.running:
            return RowStatus.PENDING if key in self.waiting else RowStatus.INCOMPLETE
        return outcome.status

    def left(self) -> int:
        """Trainings of this run not finished yet: running here or elsewhere, or queued."""
        return sum(self.state(outcome) in QUEUED + RUNNING for outcome in self.outcomes)

    def counts(self) -> str:
        """``5 of 24 trainings done · 1 running · 6 queued · 12 not trained · 0 failed · 1.2 min · about 40 s
        left``."""
        self.poll()
        with self.lock:
            states = [self.state(outcome) for outcome in self.outcomes]
            queued = sum(state in QUEUED for state in states)
            parts = [f"{sum(state in DONE_OK for state in states)} of {len(states)} trainings done",
                     f"{sum(state in RUNNING for state in states)} running", f"{queued} queued",
                     f"{sum(state in NOT_TRAINED for state in states)} not trained",
                     f"{sum(state in FAILED for state in states)} failed",
                     f"{format_duration(time.monotonic() - self.began)} elapsed"]
            left = self.time_left(queued)
        return " · ".join(parts + ([f"about {format_duration(left)} left"] if left is not None else []))

    def time_left(self, queued: int) -> float | None:
        """From this run's own durations: what the running ones have still to go, and the queued ones, shared among
        the workers that ran at once; None before the first training ends, and once nothing is left."""
        started = [began for key, (_, began) in self.running.items()
                   if key not in self.ended and key not in self.waiting]
        if not self.durations or not (queued or started):
            return None
        mean, now = sum(self.durations) / len(self.durations), time.monotonic()
        running = sum(max(mean - (now - began), 0.0) for began in started)
        return (running + queued * mean) / max(self.workers, 1)

    def poll(self) -> None:
        """Now and then, read the records of the trainings launched here that the launcher has not returned: a SLURM
        array's, returned together at its end. A result says it ended (its line then, not at the array's end); no
        job record yet, or a claim no job has adopted, that it waits in SLURM's or Ray's queue."""
        if time.monotonic() - self.polled < POLL_S:
            return
        self.polled = time.monotonic()
        with self.lock:
            launched = [outcome for key, (outcome, _) in self.running.items() if key not in self.ended]
        lines, waiting = [], set()
        for outcome in launched:
            result = read_result(outcome.directory)
            if result is not None and result.get("fingerprint") in (None, outcome.fingerprint) and \
                    result.get("status") in DONE:
                with self.lock:
                    outcome.result = result
                    lines.append(self.end(outcome))
            elif not (outcome.directory / JOB_FILE).is_file() or queued(read_claim(outcome.directory) or {}):
                waiting.add(id(outcome))  # no start yet: in SLURM's or Ray's queue
        with self.lock:
            self.waiting = waiting
        for line in lines:
            self.print(line)

    # --- the terminal ---------------------------------------------------------------------------------

    def print(self, line: str) -> None:
        for part in wrap(line, self.out.width, hang="    "):
            self.out.print(part, soft_wrap=True, markup=False, highlight=False)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.block(), refresh=True)

    def block(self):
        from rich.text import Text

        return Text("\n".join(wrap(self.counts(), self.out.width, hang="    ")), style="bold")

    def __enter__(self) -> "Progress":
        global quiet_jobs
        if not self.verbose:
            quiet_jobs = True
            for name in LAUNCHER_LOGGERS:
                self.levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.WARNING)
        if self.out.is_terminal:
            from rich.live import Live

            self.live = Live(self.block(), console=self.out, refresh_per_second=1, transient=True,
                             get_renderable=self.block)
            self.live.start()
        else:
            self.ticker = threading.Thread(target=self.tick, name="hpsweep-progress", daemon=True)
            self.ticker.start()
        fit_log_lines()
        return self

    def tick(self) -> None:
        """Piped: the counts every ``every_s`` seconds, as plain lines."""
        while not self.stopped.wait(self.every_s):
            self.print(self.counts())
            sys.stdout.flush()

    def __exit__(self, *exc) -> None:
        global quiet_jobs
        self.stopped.set()
        if self.live is not None:
            self.live.stop()
            self.live = None
        quiet_jobs = False
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
        fit_log_lines()

