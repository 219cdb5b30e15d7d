"""The fault suite: nothing in a sweep dir can stop a sweep or a report, and no finished result is lost.

Every file a sweep reads back is damaged in several ways (cut short, emptied, overwritten with garbage, valid
but of the wrong shape) on a finished and on a half-finished sweep (killed mid-training); drivers and jobs are
killed at random points; two and three drivers run one sweep at once; writes fail as on a full disk. Each case
checks what a user would: the exit status, one warning naming the damaged file (set aside as
``<name>.corrupt-<time>``), every training completed exactly once (counted from W&B runs and histories), and
every readable finished result left as it was. The terminal summary says how many cases ran.
"""

import errno
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import torch
from conftest import ROOT, flat, sweep_counts
from test_sweeps import ENV, sweep_command
from wandb_records import read_run_file, run_files

from hpsweep.cli import main
from hpsweep.core.errors import WriteFailed
from hpsweep.core.manifest import read_manifest
from hpsweep.core.records import (
    RESULT_SHAPE,
    owning,
    read_history,
    read_json,
    read_probabilities,
    read_result,
    write_json_atomic,
)
from hpsweep.core.trainings import Row, Training
from hpsweep.sweep import claims
from hpsweep.sweep.outcomes import Outcome, collect_outcomes

EPOCHS = 3
ARGUMENTS = ["model=test_resnet", "category=loss_function", "hydra.sweeper.strategy=greedy", "data.image_size=16",
             f"trainer.max_epochs={EPOCHS}"]
OPTIONS = ("test_resnet/base", "test_resnet/loss_function/Focal", "test_resnet/loss_function/LabelSmoothing")
KILLED = "test_resnet/loss_function/Focal"  # the training the half-finished sweep was killed in
DAMAGES = ("truncated", "empty", "garbage", "wrong_shape")
# file -> where it is in a sweep dir; per sweep state, the ones that exist there
WHERE = {"result.json": "test_resnet/base/result.json", "job.json": f"{KILLED}/job.json", "sweep.json": "sweep.json",
         "decisions.json": "decisions.json", "history.csv": f"{KILLED}/history.csv",
         "val_probabilities.csv": "test_resnet/base/val_probabilities.csv",
         "best_model.pt": "test_resnet/base/best_model.pt", "optuna.journal": "optuna.journal",
         "last_checkpoint.pt": f"{KILLED}/last_checkpoint.pt", "claim.json": f"{KILLED}/claim.json"}
FINISHED_FILES = ("result.json", "job.json", "sweep.json", "decisions.json", "history.csv", "val_probabilities.csv",
                  "best_model.pt", "optuna.journal")
HALF_FILES = ("result.json", "job.json", "sweep.json", "history.csv", "optuna.journal", "last_checkpoint.pt",
              "claim.json")


def damage(path: Path, kind: str, seed: int = 0) -> None:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: max(len(data) // 2, 1)])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(random.Random(seed).randbytes(max(len(data), 64)))
    elif path.suffix == ".pt":  # a file torch loads, holding something else
        torch.save({"unexpected": 1}, path)
    elif path.suffix == ".csv":
        path.write_text("unexpected,columns\nx\n")
    else:  # JSON (and the journal's JSON lines) without what the file must hold
        path.write_text('{"unexpected": true}\n')


def dead_pid() -> int:
    """The pid of a process that has ended."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def corrupt_copies(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.corrupt-*"))


def completed_runs(run_dir: Path) -> int:
    """How many W&B runs under ``run_dir`` ran to their end (an exit record of 0); a killed start has none."""
    files = run_files(run_dir)
    return sum(read_run_file(path, wait_s=20 if path == files[-1] else 0)["exit_code"] == 0 for path in files)


def epochs_of(run_dir: Path) -> list[int]:
    lines = (run_dir / "history.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines]


def tree(directory: Path) -> dict[str, bytes]:
    """Every file and folder under ``directory`` with its content: what a command that only reads must leave."""
    return {str(path.relative_to(directory)): path.read_bytes() if path.is_file() else b"<dir>"
            for path in sorted(directory.rglob("*"))}


def readable_results(sweep_dir: Path) -> dict[str, bytes]:
    found = {}
    for name in OPTIONS:
        path = sweep_dir / name / "result.json"
        if path.is_file():
            try:
                if json.loads(path.read_bytes()).get("status") == "completed":
                    found[name] = path.read_bytes()
            except ValueError:
                continue
    return found


def rerun(sweep_dir: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_command(sweep_dir, *ARGUMENTS), cwd=ROOT, env={**ENV, **env}, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def sweeps(tmp_path_factory) -> dict[str, Path]:
    """The same greedy sweep killed (SIGKILL) once its second training has a checkpoint, then finished."""
    root = tmp_path_factory.mktemp("faults")
    sweep_dir = root / "sweep"
    process = subprocess.Popen(sweep_command(sweep_dir, *ARGUMENTS), cwd=ROOT, env=ENV, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (sweep_dir / KILLED / "last_checkpoint.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the sweep ended before it could be killed"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert (sweep_dir / KILLED / "claim.json").is_file(), "the killed driver's claim stays behind"
    shutil.copytree(sweep_dir, root / "half")
    finished = rerun(sweep_dir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "taking over the claim of" in flat(finished.stdout + finished.stderr), "the dead driver's claim was stale"
    return {"half": root / "half", "finished": sweep_dir}


@pytest.fixture
def damaged(sweeps, tmp_path):
    """A copy of the half-finished or finished sweep with one file damaged."""
    def make(state: str, name: str, kind: str) -> tuple[Path, Path]:
        sweep_dir = tmp_path / state
        shutil.copytree(sweeps[state], sweep_dir)
        path = sweep_dir / WHERE[name]
        assert path.is_file(), f"the {state} sweep has no {WHERE[name]}"
        damage(path, kind, seed=zlib.crc32(f"{state}/{name}/{kind}".encode()))  # hash() varies by process
        return sweep_dir, path

    return make


NOT_READ_BY_REPORTS = ("optuna.journal", "last_checkpoint.pt", "history.csv")  # a history is appended to: kept
CASES = [(state, name, kind) for state, names in (("finished", FINISHED_FILES), ("half", HALF_FILES))
         for name in names for kind in DAMAGES]


# --- the readers, one file at a time ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_json_file_is_named_set_aside_by_its_writer_and_left_by_a_reader(tmp_path, caplog, kind):
    path = tmp_path / "result.json"
    write_json_atomic(path, {"status": "completed", "metrics": {"val_f1": 0.9}})
    assert read_json(path, RESULT_SHAPE) == {"status": "completed", "metrics": {"val_f1": 0.9}}
    damage(path, kind)
    with caplog.at_level(logging.WARNING):
        assert read_json(path, RESULT_SHAPE) is None, "a reader (it owns no directory) treats it as absent"
    assert path.exists() and not corrupt_copies(tmp_path), "and changes nothing"
    [line] = [record.getMessage() for record in caplog.records]
    assert str(path) in line and "left as it is (the next run of its sweep sets it aside)" in line
    caplog.clear()
    with caplog.at_level(logging.WARNING), owning(tmp_path):
        assert read_json(path, RESULT_SHAPE) is None
    [aside] = corrupt_copies(tmp_path)
    assert not path.exists() and aside.name.startswith("result.json.corrupt-")
    [line] = [record.getMessage() for record in caplog.records]
    assert str(path) in line and f"set aside as {aside.name}" in line and "treated as absent" in line


def test_a_file_being_replaced_is_not_set_aside_and_a_read_only_dir_keeps_it(tmp_path, caplog, monkeypatch):
    path = tmp_path / "result.json"
    path.write_text("{cut")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda target, *a, **k: real_stat(tmp_path) if Path(target) == path else
                        real_stat(target, *a, **k))  # as though another process replaced it after the read
    with owning(tmp_path):
        assert read_result(tmp_path) is None and path.exists() and not corrupt_copies(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", lambda *_: (_ for _ in ()).throw(PermissionError(errno.EACCES, "read-only")))
    with caplog.at_level(logging.WARNING), owning(tmp_path):
        assert read_result(tmp_path) is None
    assert path.exists() and "left in place (read-only)" in caplog.text


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_probability_file_is_set_aside_by_its_writer(tmp_path, kind):
    path = tmp_path / "val_probabilities.csv"
    path.write_text("id,target,0,1\na,0,0.9,0.1\nb,1,0.2,0.8\n")
    assert read_probabilities(path, with_target=True) == (["id", "target", "0", "1"], [["a", "0"], ["b", "1"]],
                                                         [[0.9, 0.1], [0.2, 0.8]])
    damage(path, kind)
    assert read_probabilities(path, with_target=True) is None and not corrupt_copies(tmp_path)
    with owning(tmp_path):
        assert read_probabilities(path, with_target=True) is None and corrupt_copies(tmp_path)


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_history_keeps_the_rows_that_parse_and_is_never_set_aside(tmp_path, caplog, kind):
    path = tmp_path / "history.csv"
    rows = [{"epoch": float(epoch), "val_f1": epoch / 10} for epoch in range(1, 9)]
    path.write_text("epoch,val_f1\n" + "".join(f"{row['epoch']:.0f},{row['val_f1']}\n" for row in rows))
    assert read_history(path) == rows
    damage(path, kind, seed=3)
    with caplog.at_level(logging.WARNING):
        kept = read_history(path)
    assert path.exists() and not corrupt_copies(tmp_path)
    assert kept == (rows[:len(kept)] if kind == "truncated" else [])
    if kind == "truncated":
        assert 0 < len(kept) < len(rows) and f"{path}: 1 row(s) cut short or damaged, left out" in caplog.text


def test_a_history_row_with_a_stray_carriage_return_or_nul_is_left_out(tmp_path):
    path = tmp_path / "history.csv"
    path.write_bytes(b"epoch,val_f1\n1,0.1\n2,0\r.2\n3,0.\x003\n4,0.4\n")
    assert read_history(path) == [{"epoch": 1.0, "val_f1": 0.1}, {"epoch": 4.0, "val_f1": 0.4}]


def test_a_claim_is_won_once_kept_while_live_and_taken_over_when_stale(tmp_path, caplog, monkeypatch):
    directory = tmp_path / "training"
    assert claims.take(directory, "driver-a") is None, "the first driver wins"
    holder = claims.take(directory, "driver-b")
    assert holder["token"] == "driver-a" and claims.stale_reason(directory, holder) is None, "a live claim is kept"
    assert claims.take(directory, "driver-a") is None, "its holder may launch it again"
    claim = json.loads((directory / "claim.json").read_text())
    write_json_atomic(directory / "claim.json", {**claim, "host": "elsewhere"})  # a driver on another machine
    watched = time.monotonic()
    monkeypatch.setattr(claims.time, "monotonic", lambda: watched)
    assert claims.take(directory, "driver-b")["token"] == "driver-a", "first seen: alive"
    watched += claims.STALE_AFTER_S + 5
    with caplog.at_level(logging.WARNING):
        assert claims.take(directory, "driver-b") is None, "a holder silent for the stale period is taken over"
    assert "taking over the claim of elsewhere" in caplog.text and "heartbeat has not changed for 65 s" in caplog.text
    write_json_atomic(directory / "claim.json", {**claim, "token": "driver-c", "pid": dead_pid()})
    assert "is gone" in claims.stale_reason(directory, claims.read_claim(directory)), "a process gone from this host"
    claims.release(directory, "driver-a")
    assert (directory / "claim.json").exists(), "only its holder lets a claim go"
    claims.release(directory, "driver-c")
    assert not (directory / "claim.json").exists()


@pytest.mark.hostile
@pytest.mark.parametrize("skew_s", [300, -300])
def test_a_claim_beating_with_a_clock_minutes_off_is_never_taken_over(tmp_path, monkeypatch, skew_s):
    """Staleness is this process's own monotonic clock watching a heartbeat not change: another host's wall
    time, five minutes ahead or behind, is never compared with this one's."""
    directory = tmp_path / "training"
    directory.mkdir()
    beat = time.time() + skew_s

    def beating(heartbeat: float) -> None:
        write_json_atomic(directory / "claim.json", {"token": "node-7", "host": "node-7", "pid": 4242,
                                                     "since": "2026-12-04T10:00:00", "heartbeat": heartbeat})

    watched = time.monotonic()
    monkeypatch.setattr(claims.time, "monotonic", lambda: watched)
    beating(beat)
    for _ in range(12):  # two minutes of beats every 10 s by node 7's clock, watched by this one's
        assert claims.take(directory, "driver-here") is not None, "a live claim is kept, whatever its clock says"
        watched += claims.HEARTBEAT_S
        beat += claims.HEARTBEAT_S
        beating(beat)
    assert claims.take(directory, "driver-here") is not None
    watched += claims.STALE_AFTER_S + 1  # node 7 goes silent
    assert "has not changed for 61 s" in claims.stale_reason(directory, claims.read_claim(directory))
    assert claims.take(directory, "driver-here") is None, "taken over once it stopped beating"


def test_a_heartbeat_that_cannot_be_written_is_tried_again_at_every_beat(tmp_path, monkeypatch, caplog):
    directory = tmp_path / "training"
    assert claims.take(directory, "driver-a") is None
    first = claims.read_claim(directory)["heartbeat"]
    monkeypatch.setattr(claims, "HEARTBEAT_S", 0.05)
    failures = []
    real_write = claims.write_json_atomic

    def flaky(path, data):  # the mount goes away for three beats
        if len(failures) < 3:
            failures.append(path)
            raise OSError(errno.EIO, "Input/output error")
        real_write(path, data)

    monkeypatch.setattr(claims, "write_json_atomic", flaky)
    heartbeat = claims.Heartbeat("driver-a")
    with caplog.at_level(logging.WARNING):
        heartbeat.add(directory)
        deadline = time.monotonic() + 10
        while claims.read_claim(directory)["heartbeat"] == first and time.monotonic() < deadline:
            time.sleep(0.02)
        heartbeat.stop()
    assert len(failures) == 3 and claims.read_claim(directory)["heartbeat"] > first, "beating again"
    assert caplog.text.count("could not be written") == 1, "said once"
    assert "the claim's heartbeat is written again" in caplog.text


# --- locks ------------------------------------------------------------------------------------------------

def test_a_lock_whose_holder_is_gone_from_this_host_is_broken_at_once(tmp_path, caplog):
    from hpsweep.core.locks import HOST, LinkLock

    dead = dead_pid()
    lock = tmp_path / "claim.json.lock"  # a driver killed while it held the lock
    lock.write_text(json.dumps({"host": HOST, "pid": dead}))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), LinkLock(lock):
        assert lock.is_file()
    assert time.monotonic() - started < 1 and not lock.exists(), "taken, then let go"
    assert f"pid {dead} of this host, is gone" in caplog.text
    assert sorted(path.name for path in tmp_path.iterdir()) == [], "nothing of the lock's left behind"


@pytest.mark.parametrize("kind", ["dangling symlink", "another host's", "unreadable"])
def test_a_lock_left_unchanged_for_its_grace_period_is_broken_whatever_its_target(tmp_path, caplog, kind):
    """The leftover of Optuna's symlink lock pointing at a claim that was never written (it spun for ever), a lock
    of a host this one cannot ask, a file of no known shape: each is broken once it stood unchanged for the grace
    period, by this process's clock."""
    from hpsweep.core.locks import LinkLock

    lock = tmp_path / "claim.json.lock"
    if kind == "dangling symlink":
        lock.symlink_to(tmp_path / "claim.json")
    elif kind == "another host's":
        lock.write_text(json.dumps({"host": "node-7", "pid": 4242}))
    else:
        lock.write_bytes(b"\x00garbage")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), LinkLock(lock, grace_s=0.5):
        waited = time.monotonic() - started
    assert 0.5 <= waited < 5 and not lock.exists() and not lock.is_symlink()
    assert "broken (held unchanged for" in caplog.text


def test_a_lock_held_by_a_live_process_is_waited_for_and_never_broken(tmp_path, caplog):
    from hpsweep.core.locks import LinkLock

    lock = tmp_path / "optuna.journal.lock"
    script = ("import sys, time; from hpsweep.core.locks import LinkLock\n"
              "with LinkLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(1.5)\n")
    holder = subprocess.Popen([sys.executable, "-c", script, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), LinkLock(lock):
        waited = time.monotonic() - started
    holder.communicate(timeout=30)
    assert 0.5 < waited < 10 and holder.returncode == 0
    assert "broken" not in caplog.text, "the holder let it go itself"


def test_claims_are_won_by_exactly_one_of_many_processes(tmp_path):
    """Eight processes race for one claim, twenty times: each time exactly one wins. Every racer stays alive
    until all have tried (it waits for its stdin to close): a claim whose holder is gone is rightly taken over."""
    script = ("import sys; from pathlib import Path; from hpsweep.sweep import claims\n"
              "won = [claims.take(Path(sys.argv[1]) / str(n), sys.argv[2]) is None for n in range(20)]\n"
              "print(''.join('1' if w else '0' for w in won), flush=True)\n"
              "sys.stdin.read()")
    racers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"racer-{n}"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True) for n in range(8)]
    wins = [racer.stdout.readline().strip() for racer in racers]  # every racer has tried every claim
    for racer in racers:
        racer.communicate(timeout=60)
    assert all(len(won) == 20 for won in wins)
    assert [sum(won[n] == "1" for won in wins) for n in range(20)] == [1] * 20


def test_a_full_disk_fails_the_training_keeps_its_last_checkpoint_and_it_resumes(in_process_job, tmp_path, monkeypatch):
    from hpsweep.sweep import job
    from hpsweep.train import checkpoint, loop

    cfg = in_process_job("trainer.max_epochs=3")
    out = tmp_path / "run"
    real_save = torch.save
    saves = []

    def full_disk(state, path):
        saves.append(path)
        if len(saves) == 2:  # the checkpoint of epoch 2: half written, then the disk is full
            Path(path).write_bytes(b"half a checkpoint")
            real_save(state, "/dev/full")  # torch's own error for it: a RuntimeError, not an OSError
        real_save(state, path)

    monkeypatch.setattr(loop.torch, "save", full_disk)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
    with pytest.raises(WriteFailed, match="disk full writing .*last_checkpoint.pt"):
        job.run(cfg, out)
    failed = read_result(out)
    assert failed["status"] == "failed" and failed["error"] == {
        "type": "WriteFailed", "message": f"disk full writing {out / 'last_checkpoint.pt'}"}
    assert torch.load(out / "last_checkpoint.pt", weights_only=True)["epoch"] == 1, "the last good checkpoint"
    assert not list(out.glob(".*.tmp")), "no half-written file left behind"
    monkeypatch.setattr(loop.torch, "save", real_save)
    metrics = job.run(cfg, out)
    resumed = read_result(out)
    assert resumed["status"] == "completed" and resumed["resumed_from_epoch"] == 1 and resumed["epochs_run"] == 3
    assert metrics == resumed["metrics"]


@pytest.mark.parametrize("end", ["killed", "W&B raises"])
def test_the_end_of_a_training_loses_no_epoch(in_process_job, tmp_path, monkeypatch, end):
    """Between the last epoch and its result the checkpoint stays: a job killed there, or whose W&B run fails to
    finish, is finished by its next start without training an epoch again."""
    from hpsweep.sweep import job
    from hpsweep.train import tracking

    cfg = in_process_job("trainer.max_epochs=2")
    out = tmp_path / "run"
    real_finish, real_write = tracking.Tracker.finish, job.write_json_atomic

    def wandb_fails(self, failed):
        if not failed:
            raise RuntimeError("wandb: the service went away")
        real_finish(self, failed)

    def killed(path, data):
        if Path(path).name == "result.json":
            raise KeyboardInterrupt  # as a kill: nothing more is written
        real_write(path, data)

    if end == "killed":
        monkeypatch.setattr(job, "write_json_atomic", killed)
    else:
        monkeypatch.setattr(tracking.Tracker, "finish", wandb_fails)
    with pytest.raises(KeyboardInterrupt if end == "killed" else RuntimeError):
        job.run(cfg, out)
    assert read_result(out) is None and (out / "last_checkpoint.pt").is_file(), "the checkpoint outlives the epochs"
    monkeypatch.undo()
    write_json_atomic(out / "claim.json", {**claims.read_claim(out), "pid": dead_pid()})  # as its end leaves it
    job.run(cfg, out)
    result = read_result(out)
    assert result["status"] == "completed" and result["resumed_from_epoch"] == 2 and result["epochs_run"] == 2
    assert epochs_of(out) == [1, 2], "no epoch trained again"
    assert not (out / "last_checkpoint.pt").exists(), "removed once the result is written"


def test_a_training_taken_over_stops_at_its_next_epoch_and_writes_nothing_more(in_process_job, tmp_path,
                                                                               monkeypatch):
    from hpsweep.core.errors import ClaimLost
    from hpsweep.sweep import job
    from hpsweep.train import loop

    cfg = in_process_job("trainer.max_epochs=4", "logger.mode=disabled")
    out = tmp_path / "run"
    real_evaluate, evaluated, at_takeover = loop.evaluate, [], {}

    def taken_over_in_epoch_2(*args, **kwargs):
        evaluated.append(1)
        if len(evaluated) == 2:  # another driver judged this job gone and took its training over
            claim = claims.read_claim(out)
            write_json_atomic(out / "claim.json", {**claim, "token": "driver-b", "host": "node-7", "pid": 7})
            at_takeover.update(tree(out))
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(loop, "evaluate", taken_over_in_epoch_2)
    with pytest.raises(ClaimLost, match="was taken over by node-7, pid 7"):
        job.run(cfg, out)
    assert len(evaluated) == 2, "it stopped at its next epoch's end"
    assert tree(out) == at_takeover, "not one write after the takeover: history, checkpoint, job.json, result"
    assert read_result(out) is None and epochs_of(out) == [1]
    assert claims.read_claim(out)["token"] == "driver-b", "the new holder's claim is left alone"


def test_a_job_whose_claim_went_missing_claims_it_again_and_one_taken_over_stops(tmp_path, monkeypatch):
    from hpsweep.core.errors import ClaimLost

    monkeypatch.delenv(claims.TOKEN_ENV, raising=False)
    job = claims.JobClaim(tmp_path / "training")
    (tmp_path / "training/claim.json").unlink()  # removed by hand
    job.check()
    assert claims.read_claim(tmp_path / "training")["token"] == job.token, "claimed again"
    write_json_atomic(tmp_path / "training/claim.json", {**claims.read_claim(tmp_path / "training"),
                                                           "token": "driver-b", "host": "node-7"})
    with pytest.raises(ClaimLost, match="taken over by node-7"):
        job.check()
    job.keep()


class RunsCode:
    """A pickle that calls a function when it is loaded: what anyone with write access could put in a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.mark.hostile
def test_a_checkpoint_that_would_run_code_is_refused_and_the_training_starts_over(in_process_job, tmp_path, caplog):
    from hpsweep.sweep import job

    cfg = in_process_job("trainer.max_epochs=2", "logger.mode=disabled")
    out, marker = tmp_path / "run", tmp_path / "ran"
    out.mkdir()
    torch.save({"fingerprint": "x", "epoch": 1, "model": {}, "optimizer": {}, "scheduler": {}, "scaler": {},
                "early_stopping": {}, "history": [], "rng": RunsCode(marker)}, out / "last_checkpoint.pt")
    with caplog.at_level(logging.WARNING):
        job.run(cfg, out)
    assert not marker.exists(), "nothing in it ran"
    assert "holds more than tensors and plain data: refused, not unpickled" in caplog.text
    [aside] = out.glob("last_checkpoint.pt.corrupt-*")  # set aside by the job that owns it, kept for a look
    result = read_result(out)
    assert result["status"] == "completed" and result["resumed_from_epoch"] is None and epochs_of(out) == [1, 2]


def test_a_checkpoint_unreadable_for_a_machine_reason_is_kept_and_the_job_says_why(in_process_job, tmp_path,
                                                                                 monkeypatch):
    from hpsweep.core.errors import CheckpointUnreadable
    from hpsweep.sweep import job
    from hpsweep.train import loop

    cfg = in_process_job("trainer.max_epochs=2", "logger.mode=disabled")
    out = tmp_path / "run"
    job.run(cfg, out)
    out_of_memory = out / "last_checkpoint.pt"
    torch.save({"epoch": 1}, out_of_memory)  # stands for a real checkpoint: it is never loaded here
    (out / "result.json").unlink()

    def no_memory(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(loop.torch, "load", no_memory)
    with pytest.raises(CheckpointUnreadable, match="it is kept: run the job again once it can be read"):
        job.run(cfg, out)
    assert out_of_memory.is_file() and not list(out.glob("*.corrupt-*")), "kept where it was"
    assert read_result(out)["error"]["type"] == "CheckpointUnreadable"


def test_a_result_that_cannot_be_written_is_still_reported(tmp_path, monkeypatch, caplog):
    """The sweep records a lost job from the launcher's return; a full disk there still ends in its table."""
    from hpsweep.sweep import outcomes

    outcome = Outcome(Training(("model=m",), (Row("m", "optimizer", "SGD"),)), tmp_path / "job", "f" * 16, None)
    outcome.launch_error = "its process was killed"

    def no_space(path, data):
        raise WriteFailed(path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(outcomes, "write_json_atomic", no_space)
    with caplog.at_level(logging.ERROR):
        collect_outcomes([outcome], "val_f1")
    assert outcome.status == "failed" and outcome.result["error"]["type"] == "JobLost"
    assert f"disk full writing {tmp_path / 'job' / 'result.json'}" in caplog.text


# --- damaged sweep dirs: the reports ----------------------------------------------------------------------

def read_everything(sweep_dir: Path, out: Path, top: Path | None = None) -> dict[str, int]:
    """Every command that only reads, on ``sweep_dir`` (summary, report and best on ``top``, a folder holding it,
    where given), each writing only where it is told to (under ``out``)."""
    from PIL import Image

    images = out / "images"
    images.mkdir(parents=True)
    for number in range(2):
        Image.new("L", (8, 8), color=number * 200).save(images / f"{number}.png")
    return {
        "status": main(["status", str(sweep_dir)]),
        "summary": main(["summary", str(top or sweep_dir), "--json", str(out / "summary.json"),
                         "--plots", str(out / "plots")]),
        "report": main(["report", str(top or sweep_dir), "--out", str(out / "report.html")]),
        "best": main(["best", str(top or sweep_dir), "--out", str(out / "best")]),
        "predict": main(["predict", str(sweep_dir / "test_resnet/base"), str(images), "--out", str(out / "p.csv")]),
        "matrix": main(["matrix", *ARGUMENTS, f"hydra.sweep.dir={sweep_dir}"]),
    }


@pytest.mark.slow
@pytest.mark.parametrize(("state", "name", "kind"), CASES)
@pytest.mark.xdist_group("faults")
def test_reports_read_a_damaged_sweep_without_a_traceback_and_change_nothing(damaged, tmp_path, caplog, capsys, state,
                                                                             name, kind):
    sweep_dir, path = damaged(state, name, kind)
    before = tree(sweep_dir)
    with caplog.at_level(logging.WARNING):
        done = read_everything(sweep_dir, tmp_path / "out")
    lost_manifest = name == "sweep.json"
    assert done["status"] == (1 if lost_manifest else 0)
    assert done["summary"] == 0 and done["report"] == 0, "a summary and a page of whatever is readable"
    rows = json.loads((tmp_path / "out/summary.json").read_text())
    if not lost_manifest:
        assert {row["option"] for row in rows} == {"CrossEntropy", "Focal", "LabelSmoothing"}
    assert done["predict"] == (1 if name in ("best_model.pt", "val_probabilities.csv") else 0)
    assert done["best"] == 0, "without its manifest, the runs are compared as runs outside a sweep"
    assert done["matrix"] == 0
    assert tree(sweep_dir) == before, "the commands that only read changed nothing: no file set aside or rewritten"
    if name not in NOT_READ_BY_REPORTS:  # in a warning, or in predict's error
        said = caplog.text + capsys.readouterr().err
        assert str(path) in said and "left as it is" in said, "the file is named"


@pytest.mark.slow
@pytest.mark.hostile
@pytest.mark.xdist_group("faults")
def test_reading_a_tree_with_other_tools_files_changes_nothing(sweeps, tmp_path, caplog):
    top = tmp_path / "outputs"  # a sweep beside other tools' records, all read as one tree
    sweep_dir = top / "sweep"
    shutil.copytree(sweeps["finished"], sweep_dir)
    (top / "notes").mkdir()
    (top / "notes/result.json").write_text('[{"accuracy": 0.9}]')  # another tool's record
    (top / "ci").mkdir()
    (top / "ci/job.json").write_text('{"pipeline": 42, "status": "passed"}')  # a CI's, without fingerprint
    before = tree(top)
    with caplog.at_level(logging.WARNING):
        done = read_everything(sweep_dir, tmp_path / "out", top)
    assert done == {"status": 0, "summary": 0, "report": 0, "best": 0, "predict": 0, "matrix": 0}
    assert tree(top) == before and not corrupt_copies(top)
    assert "notes/result.json could not be read (valid JSON, but a list where an object belongs): left as it is" \
        in caplog.text
    assert "ci/job.json could not be read (valid JSON without the field 'fingerprint'): left as it is" in caplog.text


# --- damaged sweep dirs: running the sweep again ----------------------------------------------------------

# the damages each file meets when the sweep runs again (the reports above meet them all): every kind for the
# files a re-run of a finished sweep reads; one, in turn, for every other file of either sweep (a re-run trains)
READ_BY_A_RERUN = ("result.json", "sweep.json", "decisions.json")
RERUN_CASES = [("finished", name, kind) for name in READ_BY_A_RERUN for kind in DAMAGES] + \
    [("finished", name, DAMAGES[number % 4]) for number, name in enumerate(FINISHED_FILES)
     if name not in READ_BY_A_RERUN] + \
    [("half", name, DAMAGES[number % 4]) for number, name in enumerate(HALF_FILES)]


@pytest.mark.slow
@pytest.mark.parametrize(("state", "name", "kind"), RERUN_CASES)
@pytest.mark.xdist_group("faults")
def test_a_damaged_sweep_runs_again_and_finishes_with_every_training_done_once(damaged, state, name, kind):
    sweep_dir, path = damaged(state, name, kind)
    before = readable_results(sweep_dir)
    finished = rerun(sweep_dir)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    for aside in corrupt_copies(sweep_dir):
        assert str(aside.parent / aside.name.split(".corrupt-")[0]) in output, f"{aside} is named in a warning"
    retrained = {WHERE[name].rsplit("/", 1)[0]} if name == "result.json" else set()
    after = readable_results(sweep_dir)
    assert {key: after.get(key) for key in before if key not in retrained} == \
        {key: value for key, value in before.items() if key not in retrained}, "no readable finished result lost"
    for option in OPTIONS:
        result = read_result(sweep_dir / option)
        assert result["status"] == "completed", (option, result)
        if (state, name) != ("finished", "history.csv"):  # a finished training's damaged history is not retrained
            assert epochs_of(sweep_dir / option) == list(range(1, EPOCHS + 1)), f"{option}: each epoch once"
        expected = 2 if option in retrained else 1  # a result lost to damage is trained again, once
        assert completed_runs(sweep_dir / option) == expected, f"{option} completed {expected} time(s)"
    assert not list(sweep_dir.rglob("claim.json")), "every claim let go"
    assert read_manifest(sweep_dir) is not None


@pytest.mark.slow
@pytest.mark.xdist_group("faults")
def test_stale_locks_of_every_kind_left_in_a_sweep_dir_do_not_stop_it(sweeps, tmp_path):
    """A driver killed holding a claim's lock (its pid gone), Optuna's old symlink lock of a claim never written
    (it spun at full speed for ever) and of the journal: the re-run breaks each and finishes the sweep."""
    from hpsweep.core.locks import HOST

    sweep_dir = tmp_path / "half"
    shutil.copytree(sweeps["half"], sweep_dir)
    (sweep_dir / KILLED / "claim.json.lock").write_text(json.dumps({"host": HOST, "pid": dead_pid()}))
    fresh = sweep_dir / "test_resnet/loss_function/LabelSmoothing"
    fresh.mkdir(parents=True, exist_ok=True)
    assert not (fresh / "claim.json").exists()
    (fresh / "claim.json.lock").symlink_to(fresh / "claim.json")
    (sweep_dir / "optuna.journal.lock").symlink_to(sweep_dir / "optuna.journal")
    finished = rerun(sweep_dir, HPSWEEP_LOCK_GRACE_S="3")
    output = flat(finished.stdout + finished.stderr)
    assert finished.returncode == 0, output[-3000:]
    for option in OPTIONS:
        assert read_result(sweep_dir / option)["status"] == "completed"
    assert "is gone" in output and output.count("broken (held unchanged for") >= 2, output[-3000:]
    assert not list(sweep_dir.rglob("*.lock")), "every lock let go"


# --- kills and several drivers ----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_driver_killed_at_a_random_moment_resumes_and_trains_each_once(tmp_path, seed):
    """SIGKILL the driver (which trains in its own process) at a seeded moment: mid-epoch, mid-write or between
    trainings. The re-run takes over its stale claims and ends as an uninterrupted sweep would."""
    sweep_dir = tmp_path / "sweep"
    process = subprocess.Popen(sweep_command(sweep_dir, *ARGUMENTS), cwd=ROOT, env=ENV, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (sweep_dir / "test_resnet/base/history.csv").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(random.Random(seed).uniform(0, 4))  # the three trainings take about 4 s together
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = rerun(sweep_dir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    for option in OPTIONS:
        assert read_result(sweep_dir / option)["status"] == "completed"
        assert epochs_of(sweep_dir / option) == list(range(1, EPOCHS + 1))
        assert completed_runs(sweep_dir / option) == 1, f"{option} completed once"


@pytest.mark.slow
@pytest.mark.parametrize(("launcher", "drivers"), [("basic", 3), ("local", 2)])
def test_several_drivers_on_one_sweep_dir_share_the_work_and_train_each_once(tmp_path, launcher, drivers):
    sweep_dir = tmp_path / "sweep"
    arguments = ["model=test_resnet", "category=loss_function,optimizer", "data.image_size=16",
                 "trainer.max_epochs=2"]
    if launcher == "local":  # one worker each: the drivers' queues take turns
        arguments += ["hydra/launcher=local", "hydra.launcher.timeout_min=10", "hydra.sweeper.max_batch_size=1"]
    env = {**ENV, "OMP_NUM_THREADS": "1"}  # several trainings at once on 2 cores
    started = [subprocess.Popen(sweep_command(sweep_dir, *arguments), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(drivers)]
    outputs = [process.communicate(timeout=400)[0] for process in started]
    assert [process.returncode for process in started] == [0] * drivers, outputs[0][-3000:]
    trainings = [entry["directory"] for entry in read_manifest(sweep_dir)["trainings"]]
    assert len(trainings) == 4
    for directory in trainings:
        assert read_result(sweep_dir / directory)["status"] == "completed"
        assert len(run_files(sweep_dir / directory)) == 1, f"{directory} trained once"
        assert epochs_of(sweep_dir / directory) == [1, 2]
    helped = sum("running elsewhere" in flat(output) for output in outputs)
    assert helped >= 1, "a driver found work another was doing, and skipped it"
    for output in outputs:  # a driver that starts late finds some done already: skipped
        counts = sweep_counts(output)
        assert counts.pop("trainings") == 4 and set(counts) <= {"completed", "completed earlier"} and \
            sum(counts.values()) == 4, "each driver ends with the whole sweep's counts"


# --- what the sweep's processes hand each other -----------------------------------------------------------

@pytest.mark.hostile
def test_a_pack_trainings_return_is_data_and_a_planted_pickle_is_never_loaded(tmp_path):
    import pickle

    from hydra.core.utils import JobReturn, JobStatus

    from hpsweep.sweep import packs

    done = packs.return_record(JobReturn(status=JobStatus.COMPLETED, _return_value={"val_f1": torch.tensor(0.75),
                                                                                    "note": "text"}))
    assert done == {"status": "completed", "value": {"val_f1": 0.75}}, "the numbers a sweep decides by"
    failed = packs.return_record(JobReturn(status=JobStatus.FAILED, _return_value=FloatingPointError("diverged")))
    path = tmp_path / "1_slot0.return.json"
    write_json_atomic(path, failed)
    back = packs.job_return_of(read_json(path, packs.RETURN_SHAPE))
    assert back.status == JobStatus.FAILED and back._return_value.kind == "FloatingPointError"
    error = collect_failure(back)
    assert error == {"type": "FloatingPointError", "message": "diverged"}
    marker = tmp_path / "ran"
    path.write_bytes(pickle.dumps(RunsCode(marker)))  # what the old return files were, and anyone may plant
    assert read_json(path, packs.RETURN_SHAPE) is None and not marker.exists(), "read as JSON, refused, not run"


def collect_failure(job_return) -> dict:
    """The error the sweep records for a training whose launcher returned ``job_return``."""
    outcome = Outcome(Training(("model=m",), (Row("m", "optimizer", "SGD"),)), Path("/nonexistent/job"), "f" * 16,
                      None)
    outcome.job_return = job_return
    from hpsweep.sweep.outcomes import _record_from_launcher

    return _record_from_launcher(outcome, "val_f1")["error"]
