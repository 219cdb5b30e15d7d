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
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from test_sweeps import ENV, sweep_command
from wandb_records import read_run_file, run_files

from hpsweep.cli import main
from hpsweep.errors import WriteFailed
from hpsweep.records import (
    RESULT_SHAPE,
    read_history,
    read_json,
    read_probabilities,
    read_result,
    write_json_atomic,
)
from hpsweep.sweep import claims
from hpsweep.sweep.manifest import read_manifest
from hpsweep.sweep.outcomes import Outcome, collect_outcomes
from hpsweep.sweep.plan import Row, Training

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


def corrupt_copies(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.corrupt-*"))


def completed_runs(run_dir: Path) -> int:
    """How many W&B runs under ``run_dir`` ran to their end (an exit record of 0); a killed start has none."""
    files = run_files(run_dir)
    return sum(read_run_file(path, wait_s=20 if path == files[-1] else 0)["exit_code"] == 0 for path in files)


def epochs_of(run_dir: Path) -> list[int]:
    lines = (run_dir / "history.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines]


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


def rerun(sweep_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_command(sweep_dir, *ARGUMENTS), cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


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
    assert "taking over the claim of" in finished.stdout + finished.stderr, "the dead driver's claim was stale"
    return {"half": root / "half", "finished": sweep_dir}


@pytest.fixture
def damaged(sweeps, tmp_path):
    """A copy of the half-finished or finished sweep with one file damaged."""
    def make(state: str, name: str, kind: str) -> tuple[Path, Path]:
        sweep_dir = tmp_path / state
        shutil.copytree(sweeps[state], sweep_dir)
        path = sweep_dir / WHERE[name]
        assert path.is_file(), f"the {state} sweep has no {WHERE[name]}"
        damage(path, kind, seed=hash((state, name, kind)) % 1000)
        return sweep_dir, path

    return make


NOT_READ_BY_REPORTS = ("optuna.journal", "last_checkpoint.pt", "history.csv")  # a history is appended to: kept
CASES = [(state, name, kind) for state, names in (("finished", FINISHED_FILES), ("half", HALF_FILES))
         for name in names for kind in DAMAGES]


# --- the readers, one file at a time ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_json_file_is_named_set_aside_and_treated_as_absent(tmp_path, caplog, kind):
    path = tmp_path / "result.json"
    write_json_atomic(path, {"status": "completed", "metrics": {"val_f1": 0.9}})
    assert read_json(path, RESULT_SHAPE) == {"status": "completed", "metrics": {"val_f1": 0.9}}
    damage(path, kind)
    with caplog.at_level(logging.WARNING):
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
    assert read_result(tmp_path) is None and path.exists() and not corrupt_copies(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", lambda *_: (_ for _ in ()).throw(PermissionError(errno.EACCES, "read-only")))
    with caplog.at_level(logging.WARNING):
        assert read_result(tmp_path) is None
    assert path.exists() and "left in place (read-only)" in caplog.text


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_probability_file_is_set_aside(tmp_path, kind):
    path = tmp_path / "val_probabilities.csv"
    path.write_text("id,target,0,1\na,0,0.9,0.1\nb,1,0.2,0.8\n")
    assert read_probabilities(path, with_target=True) == (["id", "target", "0", "1"], [["a", "0"], ["b", "1"]],
                                                         [[0.9, 0.1], [0.2, 0.8]])
    damage(path, kind)
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


def test_a_claim_is_won_once_kept_while_live_and_taken_over_when_stale(tmp_path, caplog):
    directory = tmp_path / "training"
    assert claims.take(directory, "driver-a") is None, "the first driver wins"
    holder = claims.take(directory, "driver-b")
    assert holder["token"] == "driver-a" and claims.stale_reason(holder) is None, "a live claim is kept"
    assert claims.take(directory, "driver-a") is None, "its holder may launch it again"
    claim = json.loads((directory / "claim.json").read_text())
    write_json_atomic(directory / "claim.json", {**claim, "heartbeat": time.time() - claims.STALE_AFTER_S - 5})
    with caplog.at_level(logging.WARNING):
        assert claims.take(directory, "driver-b") is None, "a silent holder's claim is taken over"
    assert "taking over the claim of" in caplog.text and "no heartbeat for" in caplog.text
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_json_atomic(directory / "claim.json", {**claim, "token": "driver-c", "pid": int(dead.stdout)})
    assert "is gone" in claims.stale_reason(claims.read_claim(directory)), "a process gone from this host"
    claims.release(directory, "driver-a")
    assert (directory / "claim.json").exists(), "only its holder lets a claim go"
    claims.release(directory, "driver-c")
    assert not (directory / "claim.json").exists()


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
    from hpsweep.train import job, loop

    cfg = in_process_job("trainer.max_epochs=3")
    out = tmp_path / "run"
    real_save = torch.save
    saves = []

    def full_disk(state, path):
        saves.append(path)
        if len(saves) == 2:  # the checkpoint of epoch 2: half written, then the disk is full
            Path(path).write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(state, path)

    monkeypatch.setattr(loop.torch, "save", full_disk)
    with pytest.raises(WriteFailed, match="disk full writing .*last_checkpoint.pt"):
        job.run(cfg, out)
    failed = read_result(out)
    assert failed["status"] == "failed" and failed["error"] == {
        "type": "WriteFailed", "message": f"disk full writing {out / 'last_checkpoint.pt'}"}
    assert torch.load(out / "last_checkpoint.pt", weights_only=False)["epoch"] == 1, "the last good checkpoint"
    assert not list(out.glob(".*.tmp")), "no half-written file left behind"
    monkeypatch.setattr(loop.torch, "save", real_save)
    metrics = job.run(cfg, out)
    resumed = read_result(out)
    assert resumed["status"] == "completed" and resumed["resumed_from_epoch"] == 1 and resumed["epochs_run"] == 3
    assert metrics == resumed["metrics"]


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

@pytest.mark.slow
@pytest.mark.parametrize(("state", "name", "kind"), CASES)
def test_reports_read_a_damaged_sweep_without_a_traceback(damaged, tmp_path, caplog, state, name, kind):
    sweep_dir, path = damaged(state, name, kind)
    before = readable_results(sweep_dir)
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    for number in range(2):
        Image.new("L", (8, 8), color=number * 200).save(images / f"{number}.png")
    with caplog.at_level(logging.WARNING):
        status = main(["status", str(sweep_dir)])
        summary = main(["summary", str(sweep_dir), "--json", str(tmp_path / "summary.json"),
                        "--plots", str(tmp_path / "plots")])
        best = main(["best", str(sweep_dir), "--out", str(tmp_path / "best")])
        predict = main(["predict", str(sweep_dir / "test_resnet/base"), str(images), "--out",
                        str(tmp_path / "predicted.csv")])
    lost_manifest = name == "sweep.json"
    assert status == (1 if lost_manifest else 0)
    assert summary == 0, "a summary of whatever is readable"
    rows = json.loads((tmp_path / "summary.json").read_text())
    if not lost_manifest:
        assert {row["option"] for row in rows} == {"CrossEntropy", "Focal", "LabelSmoothing"}
    assert predict == (1 if name in ("best_model.pt", "val_probabilities.csv") else 0)
    assert best == 0, "without its manifest, the runs are compared as runs outside a sweep"
    aside = corrupt_copies(sweep_dir)
    if name in NOT_READ_BY_REPORTS:
        assert not aside and path.exists(), "nothing set aside that no command read, nor a history being written"
    else:
        [copy] = aside
        assert copy.name.startswith(f"{name}.corrupt-")
        assert str(path) in caplog.text, "a warning names the file"
    damaged_result = WHERE[name] if name == "result.json" else None
    assert {key: value for key, value in readable_results(sweep_dir).items() if key != damaged_result} == \
        {key: value for key, value in before.items() if key != damaged_result}, "no readable result lost"


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
    helped = sum("running elsewhere" in output for output in outputs)
    assert helped >= 1, "a driver found work another was doing, and skipped it"
    for output in outputs:  # a driver that starts late finds some done already: skipped
        counts = re.search(r"(\d+) completed, (\d+) skipped, 0 pruned, 0 eliminated, 0 failed", output)
        completed, skipped = map(int, counts.groups())
        assert completed + skipped == 4, "each driver ends with the whole sweep's table"
