"""Stop signals: a preempted, requeued or timing-out job stops at a safe point and leaves no failure behind.

SLURM sends SIGTERM to every process of a job it preempts, requeues (``scontrol requeue``) or cancels,
then SIGKILL ``KillWait`` seconds later; ``signal_delay_s`` before a job's time limit it sends submitit's
signal (USR2), whose handler checkpoints the launcher call, requeues the job and exits. Those handlers
run between any two Python bytecodes; here they only note the signal, the training loop checks between
steps, and the job then hands over: submitit's own handler runs (a time-out requeues), else it exits.
Either way no ``result.json`` is written, so the requeued (or re-run) job resumes from its checkpoint.
"""

import logging
import os
import signal
import threading

log = logging.getLogger(__name__)

# submitit's preemption / time-out signal (``#SBATCH --signal=USR2@<signal_delay_s>``), which it lets
# users change through this variable
SUBMITIT_SIGNAL = signal.Signals["SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")]


def _ignore(signum: int, frame) -> None:
    pass


class JobInterrupted(Exception):
    """Raised between training steps once a stop signal has arrived."""


class JobNotRequeued(Exception):
    """submitit would not requeue the job: it reached its time limit more than ``max_num_timeout`` times."""


class StopSignals:
    """Within ``with StopSignals() as stop:``, SIGTERM and submitit's signal are noted in ``stop.received``
    instead of acting at once; ``check()`` raises ``JobInterrupted`` once one has; ``hand_over()`` then
    gives the signal to what handled it before (submitit requeues a timed-out job) or exits."""

    def __init__(self):
        self.received: list[signal.Signals] = []
        self._previous: dict[signal.Signals, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # Python delivers signals to it alone
            for signum in (signal.SIGTERM, SUBMITIT_SIGNAL):
                # an ignored signal stays ignored; None: a handler not set from Python, left alone
                if signal.getsignal(signum) not in (signal.SIG_IGN, None):
                    self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc_info) -> None:
        self._restore()

    def _restore(self) -> None:
        while self._previous:
            signal.signal(*self._previous.popitem())

    def _note(self, signum: int, frame) -> None:
        # no logging here: a handler writing to a stream the main thread is writing to can raise
        self.received.append(signal.Signals(signum))
        # The same signal ends the DataLoader workers, and torch's SIGCHLD handler would raise that as an
        # error anywhere on the process's way out (submitit would record a failure): the job is ending, its
        # workers too. For good, as this process trains no more; a Python handler, as a SIGCHLD already
        # pending for torch's must find one.
        signal.signal(signal.SIGCHLD, _ignore)

    def check(self) -> None:
        if self.received:
            raise JobInterrupted(f"stopped by {self.received[0].name}")

    def hand_over(self) -> None:
        """End the job for a signal received: never returns.

        submitit's signal goes to submitit's handler, which requeues the job (``SystemExit``), or refuses
        once it timed out ``max_num_timeout`` times (``JobNotRequeued``); otherwise (SIGTERM: SLURM
        requeues or cancels the job itself) the process exits as the signal would have ended it.
        """
        signum = SUBMITIT_SIGNAL if SUBMITIT_SIGNAL in self.received else self.received[0]
        previous = self._previous.get(signum)
        self._restore()
        if callable(previous):
            try:
                previous(signum, None)
            except Exception as error:  # submitit's UncompletedJobError
                raise JobNotRequeued(f"{error} Its checkpoint is kept: re-running the sweep (with a longer "
                                     "hydra.launcher.timeout_min) resumes it.") from error
        raise SystemExit(128 + signum)
