"""The words a sweep's records and tables use for where a training stands, each vocabulary one ``StrEnum``: a member
is its string (``TrainingStatus.COMPLETED == "completed"``), so what is written to disk stays as it was, and a
record read back compares equal to the member."""

from collections.abc import Iterable
from enum import StrEnum


class TrainingStatus(StrEnum):
    """How a training ended: ``result.json``'s ``status``."""

    COMPLETED = "completed"
    PRUNED = "pruned"  # stopped by its category's pruning study
    FAILED = "failed"


class RowStatus(StrEnum):
    """Where a training stands in a sweep, as the driver tracks it and the tables, the page and ``hpsweep status``
    show it: how it ended, or one of these."""

    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"
    PENDING = "pending"  # to train (or, read back, not trained yet)
    SKIPPED = "skipped"  # done before this run of the sweep
    ELSEWHERE = "elsewhere"  # claimed by another driver, which trains it
    ANSWERED = "answered"  # written by the training that carries its trajectory
    UNCLAIMED = "unclaimed"  # its claim could not be written (a full disk): recorded failed
    INCOMPLETE = "incomplete"  # started, no result (running, or killed)
    ELIMINATED = "eliminated"  # racing: clearly worse than its comparison's leader, never trained
    STOPPED = "stopped"  # racing: more replicates would not decide it (futile, equivalent) or it was decided


# The one word a person reads for each state, on every screen, the page and the docs' glossary: a training is
# completed, pruned (stopped mid-training), failed or not trained (racing decided its row); while a sweep runs, also
# queued, running or interrupted (started, no result, nobody holds it: a re-run resumes it).
SAID = {RowStatus.COMPLETED: "completed", RowStatus.PRUNED: "pruned", RowStatus.FAILED: "failed",
        RowStatus.PENDING: "queued", RowStatus.SKIPPED: "completed", RowStatus.ELSEWHERE: "running",
        RowStatus.ANSWERED: "queued", RowStatus.UNCLAIMED: "failed", RowStatus.INCOMPLETE: "interrupted",
        RowStatus.ELIMINATED: "not trained", RowStatus.STOPPED: "not trained"}


def said(status: str) -> str:
    """The word a person reads for ``status`` (any record's: an unknown one as it is)."""
    return SAID.get(status, status)


# A sweep's end says two ways of being done apart: done in an earlier run, and answered by another's trajectory.
EARLIER, ANSWERED_FREE = "completed earlier", "answered by a shared trajectory"
# the order every count of states is said in
ORDER = ("completed", EARLIER, ANSWERED_FREE, "pruned", "failed", "not trained", "running", "queued", "interrupted")


def counted(words: Iterable[str]) -> str:
    """``1 completed, 2 not trained``: how many of each word, in ``ORDER`` (a word outside it after them)."""
    words = list(words)
    order = sorted(set(words), key=lambda word: (ORDER.index(word) if word in ORDER else len(ORDER), word))
    return ", ".join(f"{words.count(word)} {word}" for word in order)


class StopKind(StrEnum):
    """How racing stopped a row (``race.json``'s ``stop``; absent: eliminated)."""

    ELIMINATED = "eliminated"
    FUTILE = "futile"  # too little power left to beat the leader
    EQUIVALENT = "equivalent"  # within +-min_effect of the leader
    EFFICACY = "efficacy"  # the leader beat the base at the look's boundary
