"""What a run leaves behind as data, and the one way each kind of file is written and read back.

Writes are atomic (a temporary file of the writer's own, then a rename), so a reader sees the old file or the
whole new one; a write that fails (a full disk) raises ``WriteFailed`` naming the file and leaves the old one.
Reads are defensive: a file cut short, empty, of garbage bytes or of the wrong shape is named in one warning
line and treated as absent, so that nothing damaged in a sweep dir can stop a sweep or a report (the training
runs again, the report shows it as not done). Only a writer sets such a file aside (``<name>.corrupt-<time>``),
and only under a directory it owns (``owning``: the sweep dir a driver runs, the directory a job trains in): a
command that only reads changes nothing anywhere.
"""

import csv
import io
import json
import logging
import os
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from hpsweep.core.errors import WriteFailed

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"
JOB_FILE = "job.json"  # written when a job starts: its fingerprint, names, W&B run id, stop signals
HISTORY_FILE = "history.csv"
CLAIM_FILE = "claim.json"  # who trains it now (hpsweep.sweep.claims)
ATTEMPTS_DIR = "attempts"  # attempts/<n>/: what a fresh start of the training replaced, kept whole
PACK_FILE = "pack.json"  # a training's SLURM pack (hpsweep.sweep.packs): its name, slot and pack-mates
CHECKPOINT_FILE = "last_checkpoint.pt"  # written after every epoch until the job completes
BEST_WEIGHTS_FILE = "best_model.pt"
VAL_PROBABILITIES_FILE = "val_probabilities.csv"  # id, target, one probability per class: the best weights'
VAL_VIEWS_PROBABILITIES_FILE = "val_distorted_probabilities.csv"  # the same per distorted view: id <image>@<view>
TEST_PROBABILITIES_FILE = "test_probabilities.csv"  # the submission's id column, one probability per class
PREDICTIONS_FILE = "predictions.csv"  # the sample submission's columns: id, predicted target

Shape = Callable[[object], str | None]  # what is wrong with a parsed file, or None


# --- writing ----------------------------------------------------------------------------------------------

@contextmanager
def writing(path: Path, temporary: Path | None = None):
    """Turn an OSError raised while writing ``path`` into ``WriteFailed`` naming it ("disk full writing ..."),
    removing the half-written ``temporary`` file."""
    try:
        yield
    except OSError as error:
        if temporary is not None:
            try:
                temporary.unlink(missing_ok=True)
            except OSError:
                pass  # the write's own error is the one to report
        if isinstance(error, WriteFailed):
            raise
        raise WriteFailed(path, error) from error


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write(temporary)``, then rename it onto ``path``. The temporary name is the writer's own, so two
    processes writing the same file (two drivers of one sweep) never write into one temporary file. The file is
    on disk before the rename and the rename is on disk after it (fsync of the file, then of its directory): a
    machine that goes down leaves the old file or the whole new one, and what was written stays written."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    with writing(path, temporary):
        write(temporary)
        _fsync(temporary)
        os.replace(temporary, path)
        try:
            _fsync(path.parent)
        except OSError:  # a filesystem that cannot sync a directory (some network mounts): the rename stands
            pass


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def now() -> str:
    """The time, ISO 8601 with its offset (``started_at``, ``ended_at``): records of several machines compare."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` so readers see the old file or the whole new one, never half of it."""
    def dump(temporary: Path) -> None:
        with open(temporary, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")

    write_atomic(path, dump)


def write_csv_atomic(path: Path, header: list[str], rows) -> None:
    def dump(temporary: Path) -> None:
        with open(temporary, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)

    write_atomic(path, dump)


# --- reading ----------------------------------------------------------------------------------------------

_OWNED: list[Path] = []  # the directories this process writes (a driver's sweep dir, a job's own directory)


@contextmanager
def owning(directory: Path):
    """While it is entered, this process writes ``directory``: what it cannot read there it sets aside."""
    owned = Path(directory).resolve()
    _OWNED.append(owned)
    try:
        yield
    finally:
        _OWNED.remove(owned)


def owns(path: Path) -> bool:
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(directory) for directory in _OWNED)


def set_aside(path: Path, reason: str, read_inode: tuple[int, int] | None = None,
              then: str = "treated as absent") -> None:
    """Name an unreadable file in one warning line and, where this process owns its directory (``owning``), move
    it aside as ``<name>.corrupt-<time>`` (kept for a look, never read again). Left in place by a reader, where the
    sweep dir is read-only, or where another process has replaced the file since it was read (``read_inode``: the
    (device, inode) that was read)."""
    path = Path(path)
    if not owns(path):
        log.warning("%s could not be read (%s): left as it is (the next run of its sweep sets it aside); %s", path,
                    reason, then)
        return
    target = path.with_name(f"{path.name}.corrupt-{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}")
    try:
        if read_inode is not None:
            now = os.stat(path)
            if (now.st_dev, now.st_ino) != read_inode:
                return  # rewritten meanwhile: the new file is not the damaged one
        os.replace(path, target)
        where = f"set aside as {target.name}"
    except FileNotFoundError:
        return  # another reader set it aside first
    except OSError as error:
        where = f"left in place ({error.strerror})"
    log.warning("%s could not be read (%s): %s; %s", path, reason, where, then)


def read_json(path: Path, shape: Shape | None = None) -> dict | list | None:
    """The parsed file, or None where it is absent or unreadable (then set aside, see ``set_aside``)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            data = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        log.warning("%s could not be read (%s); treated as absent", path, error.strerror)
        return None
    inode = (stat.st_dev, stat.st_ino)
    if not data.strip():
        set_aside(path, "empty", inode)
        return None
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        set_aside(path, f"cut short or not JSON: {str(error).split(':')[0]}", inode)
        return None
    problem = shape(parsed) if shape else None
    if problem:
        set_aside(path, problem, inode)
        return None
    return parsed


def fields(**wanted: type | tuple[type, ...]) -> Shape:
    """A shape: a JSON object holding these keys with values of these types."""
    def check(data: object) -> str | None:
        if not isinstance(data, dict):
            return f"valid JSON, but a {type(data).__name__} where an object belongs"
        for key, kind in wanted.items():
            if not isinstance(data.get(key), kind):
                return f"valid JSON without the field {key!r}"
        return None

    return check


RESULT_SHAPE = fields(status=str)
JOB_SHAPE = fields(fingerprint=str)


def read_result(run_dir: Path) -> dict | None:
    """The run's result record, or None where it wrote none (yet) or it is unreadable."""
    return read_json(Path(run_dir) / RESULT_FILE, RESULT_SHAPE)


def read_job_record(run_dir: Path) -> dict | None:
    """The ``job.json`` a start of the run wrote, or None."""
    return read_json(Path(run_dir) / JOB_FILE, JOB_SHAPE)


def in_attempt(path: Path, top: Path) -> bool:
    """Whether ``path`` (under ``top``) lies in a training's ``attempts/<n>/``: an earlier attempt, no training."""
    parts = Path(path).relative_to(top).parts
    return any(part == ATTEMPTS_DIR and following.isdigit() for part, following in pairwise(parts))


def read_history(path: Path) -> list[dict[str, float]]:
    """The epochs of ``history.csv`` that parse, as numbers. The file is appended to while its run trains, so
    it is never set aside: a row cut short or damaged is left out, and said."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return []
    rows, bad = [], 0
    if text and not text.endswith("\n"):  # a last row cut short mid-number would still parse, wrongly
        text, bad = text[:text.rfind("\n") + 1], 1
    lines = [line for line in text.split("\n") if line]
    try:  # line by line: a stray carriage return or NUL makes the csv module raise instead of reading on
        header = next(csv.reader(lines[:1]), None)
    except csv.Error:
        header = None
    for line in lines[1:]:
        try:
            [values] = csv.reader([line])
            if header is None or len(values) != len(header):
                raise ValueError("a row of another length")
            rows.append({key: float(value) for key, value in zip(header, values, strict=True)})
        except (csv.Error, ValueError):  # a short row, a long one, or a damaged one
            bad += 1
    if bad:
        log.warning("%s: %d row(s) cut short or damaged, left out", path, bad)
    return rows


def read_probabilities(path: Path, with_target: bool) -> tuple[list[str], list[list[str]], list[list[float]]] | None:
    """A probability file as (header, leading columns per row, probabilities per row); None where absent or
    unreadable (then set aside)."""
    path = Path(path)
    first = 2 if with_target else 1
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            stat = os.fstat(handle.fileno())
            text = handle.read()
        table = list(csv.reader(io.StringIO(text)))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        set_aside(path, f"not a CSV file: {error}")
        return None
    inode = (stat.st_dev, stat.st_ino)
    if text and not text.endswith("\n"):  # written whole (atomically), so this one was cut, maybe mid-number
        set_aside(path, "cut short", inode)
        return None
    if not table or len(table[0]) <= first:
        set_aside(path, "empty or without class columns", inode)
        return None
    header, rows = table[0], table[1:]
    try:
        if any(len(row) != len(header) for row in rows):
            raise ValueError("a row cut short")
        values = [[float(value) for value in row[first:]] for row in rows]
    except ValueError as error:
        set_aside(path, str(error).split(":")[0], inode)
        return None
    return header, [row[:first] for row in rows], values


class History:
    """Per-epoch rows appended to ``history.csv`` as they happen, so a crash keeps every finished epoch."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []

    def restore(self, rows: list[dict]) -> None:
        """Start over from a checkpoint's rows, dropping any epoch written after that checkpoint."""
        self.rows = list(rows)
        if rows:
            write_csv_atomic(self.path, list(rows[0]), [list(row.values()) for row in rows])
        else:
            self.path.unlink(missing_ok=True)

    def append(self, row: dict) -> None:
        new_file = not self.rows
        with writing(self.path), open(self.path, "w" if new_file else "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new_file:
                writer.writeheader()
            writer.writerow(row)
            handle.flush()
            os.fsync(handle.fileno())  # the epoch is on disk before its checkpoint says it is done
        self.rows.append(row)
