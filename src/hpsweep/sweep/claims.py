"""Claims: each training of a sweep is run by one process at a time, however many drivers work on its dir.

A driver claims a training just before it launches it: ``claim.json`` in the training's directory names the
holder (host, pid, a token, since when) and a heartbeat that the holder refreshes every ``HEARTBEAT_S``.
A claim is read and written only under a lock file made with link(2) (Optuna's journal lock, safe on NFS),
so two processes on two machines sharing the sweep dir cannot both win one. The job that trains adopts its
driver's claim (the token travels in its environment, ``HPSWEEP_CLAIM``) and beats for it too: a detached
driver's SLURM jobs keep their claims, and a requeued job finds its own.

A claim is stale when its process is gone from this host, or when this process has watched its heartbeat stay
the same for ``STALE_AFTER_S`` by its own monotonic clock: no host's wall clock is compared with another's, so a
node whose clock is minutes off neither takes over live claims nor keeps dead ones. Another driver then takes it
over, and says so. A driver skips what is claimed elsewhere, trains what is not, then waits for the rest: the
same command started twice (two terminals, two machines, a resubmitted driver) splits the work instead of doing
it twice. The job that trains checks before each write that the claim is still its own (``JobClaim.check``):
one whose claim was taken over stops without writing anything more, so one directory has one writer.
"""

import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from hpsweep.core.errors import ClaimLost
from hpsweep.core.locks import HOST, LinkLock, process_gone
from hpsweep.core.records import CLAIM_FILE, fields, read_json, write_json_atomic
from hpsweep.core.statuses import RowStatus, TrainingStatus
from hpsweep.sweep.outcomes import Outcome, collect_outcomes

log = logging.getLogger(__name__)

TOKEN_ENV = "HPSWEEP_CLAIM"
HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0  # six missed heartbeats: a process that stopped (or a machine that vanished)
POLL_S = 2.0  # how often a driver looks at the trainings running elsewhere
CLAIM_SHAPE = fields(token=str, host=str, pid=int, since=str, heartbeat=(int, float))


@contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    with LinkLock(directory / f"{CLAIM_FILE}.lock"):
        yield


def read_claim(directory: Path) -> dict | None:
    """The claim on the training in ``directory``, or None (none, or one that is unreadable: set aside)."""
    return read_json(Path(directory) / CLAIM_FILE, CLAIM_SHAPE)


def queued(claim: dict) -> bool:
    """Whether the claimed training waits in its launcher's queue (Ray's, SLURM's): its driver holds the claim and
    no job has started to train it yet (the job adopts the claim as it starts). A claim written before the claims
    said so counts as training."""
    return claim.get("training") is False


def describe(claim: dict) -> str:
    """Who holds a claim, in words: ``host, pid 4242, since 2026-12-02T10:15:02``."""
    return f"{claim['host']}, pid {claim['pid']}, since {claim['since']}"


_WATCHED: dict[Path, tuple[tuple, float]] = {}  # directory -> (the claim's token and heartbeat, first seen)


def stale_reason(directory: Path, claim: dict) -> str | None:
    """Why nobody works on the claimed training in ``directory`` any more, or None while its holder may be alive.
    A claim first seen is alive (unless its process is gone from this host): staleness needs watching."""
    if process_gone(claim["host"], claim["pid"]):
        return f"its process {claim['pid']} is gone"
    beat, watched = (claim["token"], claim["heartbeat"]), time.monotonic()
    seen = _WATCHED.get(Path(directory))
    if seen is None or seen[0] != beat:
        _WATCHED[Path(directory)] = (beat, watched)
        return None
    silent = watched - seen[1]
    if silent > STALE_AFTER_S:
        return f"its heartbeat has not changed for {silent:.0f} s (more than {STALE_AFTER_S:.0f} s)"
    return None


def take(directory: Path, token: str, adopt: bool = False) -> dict | None:
    """Claim the training in ``directory`` for ``token``. None when it is ours now; else the live claim that
    holds it. A stale claim is taken over. ``adopt``: this process is the one training (the job), so the
    claim names it, keeping the driver's token and start time."""
    directory = Path(directory)
    with _locked(directory):
        current = read_claim(directory)
        if current is not None and current["token"] != token:
            reason = stale_reason(directory, current)
            if reason is None:
                return current
            log.warning("%s: taking over the claim of %s (%s)", directory, describe(current), reason)
        mine = current is not None and current["token"] == token
        if mine and not adopt:
            return None  # held already (a training launched again by its driver)
        now = time.time()
        write_json_atomic(directory / CLAIM_FILE, {
            "token": token, "host": HOST, "pid": os.getpid(), "heartbeat": now, "training": adopt,
            "since": current["since"] if mine else datetime.fromtimestamp(now).isoformat(timespec="seconds")})
    return None


def holds(directory: Path, token: str) -> bool:
    claim = read_claim(directory)
    return claim is not None and claim["token"] == token


def release(directory: Path, token: str) -> None:
    """Let the claim go, where ``token`` still holds it (another may have taken it over)."""
    with _locked(Path(directory)):
        if holds(directory, token):
            (Path(directory) / CLAIM_FILE).unlink(missing_ok=True)


class Heartbeat:
    """A thread that refreshes the heartbeat of every claim this process holds with ``token``."""

    def __init__(self, token: str):
        self.token = token
        self.directories: set[Path] = set()
        self.failing: set[Path] = set()  # whose last write failed: said once, tried again at every beat
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, directory: Path) -> None:
        with self.lock:
            self.directories.add(Path(directory))
            if self.thread is None:
                self.thread = threading.Thread(target=self._beat, name="hpsweep-heartbeat", daemon=True)
                self.thread.start()

    def discard(self, directory: Path) -> None:
        with self.lock:
            self.directories.discard(Path(directory))

    def stop(self) -> None:
        self.stopped.set()

    def _beat(self) -> None:
        while not self.stopped.wait(HEARTBEAT_S):
            with self.lock:
                directories = list(self.directories)
            for directory in directories:
                try:
                    self.refresh(directory)
                except OSError as error:  # a full disk or a lost mount, maybe for a moment: tried at every beat
                    if directory not in self.failing:
                        log.warning("%s: the claim's heartbeat could not be written (%s): trying again every %.0f s",
                                    directory, error, HEARTBEAT_S)
                        self.failing.add(directory)
                else:
                    if directory in self.failing:
                        log.warning("%s: the claim's heartbeat is written again", directory)
                        self.failing.discard(directory)

    def refresh(self, directory: Path) -> None:
        with _locked(directory):
            claim = read_claim(directory)
            if claim is None:  # its job let it go with its result written (a pack-mate may still run)
                self.discard(directory)
                return
            if claim["token"] != self.token:
                log.warning("%s: this process's claim was taken over by another", directory)
                self.discard(directory)
                return
            write_json_atomic(directory / CLAIM_FILE, {**claim, "heartbeat": time.time()})


class Board:
    """A driver's claims: taken just before a training is launched, beaten for while it runs, let go once its
    outcome is recorded; and the trainings found running elsewhere, waited for."""

    def __init__(self, resume: bool, pruning: bool):
        self.token = uuid.uuid4().hex
        self.heartbeat = Heartbeat(self.token)
        self.resume = resume
        self.pruning = pruning

    def hand_to_jobs(self, config) -> None:
        """Give every job this driver launches its claim's token, in its environment: an override added to the
        sweep's own Hydra overrides (``hydra.job.env_set``), which the launcher composes into each job's config, so
        that it reaches every launcher's jobs (SLURM's without the driver's environment too) and stays out of each
        job's launch line."""
        from omegaconf import open_dict, read_write

        with read_write(config.hydra.overrides), open_dict(config.hydra.overrides):
            config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{TOKEN_ENV}={self.token}")

    def take(self, outcome: Outcome) -> bool:
        """Claim a pending training to launch it here. False where another process holds it (its status is then
        ``elsewhere``) or it was finished meanwhile (``skipped``)."""
        try:
            holder = take(outcome.directory, self.token)
        except OSError as error:  # a full disk: recorded as the training's failure
            outcome.launch_error = f"its claim could not be written: {error}"
            log.error("%s: %s", outcome.directory, outcome.launch_error)
            outcome.status = RowStatus.UNCLAIMED
            return False
        if holder is not None:
            outcome.status = RowStatus.ELSEWHERE
            log.info("%s: running elsewhere (%s)", outcome.training.label, describe(holder))
            return False
        self.heartbeat.add(outcome.directory)
        outcome.read_previous()  # another driver may have finished it since the plan was made
        if self.resume and not outcome.fresh and outcome.done_before(self.pruning):
            outcome.status = RowStatus.SKIPPED
            self.let_go(outcome)
            return False
        outcome.status = RowStatus.PENDING
        outcome.prepare_to_run()
        return True

    def finish(self, outcome: Outcome, metric: str) -> None:
        """After the launcher returned a training: record its outcome and let it go, where this driver still holds
        it. Where another took it over meanwhile (its job was lost), that one's outcome is waited for."""
        claim = read_claim(outcome.directory)
        if claim is not None and claim["token"] != self.token:
            self.heartbeat.discard(outcome.directory)
            outcome.status = RowStatus.ELSEWHERE
            return
        collect_outcomes([outcome], metric)
        self.let_go(outcome)

    def let_go(self, outcome: Outcome) -> None:
        self.heartbeat.discard(outcome.directory)
        try:
            release(outcome.directory, self.token)
        except OSError as error:
            log.warning("%s: the claim could not be let go (%s); it goes stale by itself", outcome.directory, error)

    def wait(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Wait for the trainings running elsewhere; return those to launch here (their holder stopped, or let
        them go without a result), or nothing once every one has its result."""
        waiting = [outcome for outcome in outcomes if outcome.status == RowStatus.ELSEWHERE]
        if waiting:
            log.info("waiting for %d training(s) running elsewhere", len(waiting))
        said = time.monotonic()
        while waiting:
            ready = []
            for outcome in waiting:
                claim = read_claim(outcome.directory)
                if claim is not None and stale_reason(outcome.directory, claim) is None:
                    continue  # still running there
                outcome.read_previous()
                if claim is None and outcome.previous is not None:
                    outcome.status = outcome.previous.get("status", TrainingStatus.FAILED)  # its holder's outcome
                elif self.take(outcome):
                    ready.append(outcome)
            waiting = [outcome for outcome in waiting if outcome.status == RowStatus.ELSEWHERE]
            if ready:
                return ready
            if waiting:
                if time.monotonic() - said > 60:
                    log.info("still waiting for %s", ", ".join(outcome.training.label for outcome in waiting))
                    said = time.monotonic()
                time.sleep(POLL_S)
        return []

    def close(self) -> None:
        self.heartbeat.stop()


class JobClaim:
    """The claim of the process that trains: the driver's, adopted (its token in ``HPSWEEP_CLAIM``), or one of
    its own for a run outside a category sweep. Beaten for while it trains; let go once its result is written,
    kept through a stop signal so that the requeued job finds it."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.token = os.environ.get(TOKEN_ENV) or uuid.uuid4().hex
        self.holder = take(self.directory, self.token, adopt=True)
        self.heartbeat = Heartbeat(self.token)
        if self.holder is None:
            self.heartbeat.add(self.directory)

    @property
    def won(self) -> bool:
        return self.holder is None

    def check(self) -> None:
        """Raise ``ClaimLost`` where another process has taken this training over (it judged this one stale): the
        job then stops before its next write. A claim found missing (removed by hand, or set aside as damaged) is
        written again, unless another process claimed the training first."""
        claim = read_claim(self.directory)
        if claim is None:
            log.warning("%s: the claim is missing; this process claims it again", self.directory)
            claim = take(self.directory, self.token, adopt=True)  # None: ours again; else who got there first
        if claim is not None and claim["token"] != self.token:
            self.heartbeat.stop()
            raise ClaimLost(f"{self.directory} was taken over by {describe(claim)}: this process stops training it "
                            "and writes nothing more there")

    def release(self) -> None:
        self.heartbeat.stop()
        release(self.directory, self.token)

    def keep(self) -> None:
        """Stop beating and leave the claim in place (a stop signal: the job is requeued or run again)."""
        self.heartbeat.stop()
