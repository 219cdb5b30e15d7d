"""The SLURM path against a real single-node cluster (``scripts/slurm_cluster.sh start``; CI starts one).

Skipped where no cluster answers, so that a laptop without SLURM still runs the rest of the suite.
"""

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time

import pytest
from conftest import ROOT, flat, sweep_counts
from test_sweeps import ENV, extended_conf, results, run_sweep, sweep_command  # noqa: F401 (fixture)
from wandb_records import read_run_file, run_files

from hpsweep.cli import main
from hpsweep.core.manifest import read_manifest
from hpsweep.core.records import read_history
from hpsweep.sweep.status import job_states


def cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not cluster_answers(), reason="no SLURM cluster answers")]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=10", "hydra.launcher.signal_delay_s=5"]


def start_sweep(sweep_dir, *arguments) -> subprocess.Popen:
    return subprocess.Popen(sweep_command(sweep_dir, *SLURM, *arguments), cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, process: subprocess.Popen, what: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, f"the sweep ended before {what}: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.2)


def read_job(job_dir) -> dict:
    return json.loads((job_dir / "job.json").read_text())


def kill_job_processes(slurm_job_id: str) -> None:
    """SIGKILL every process of the job (what the OOM killer or a lost node does): no handler runs."""
    raw_id = subprocess.run(["squeue", "-h", "-o", "%A", "-j", slurm_job_id], capture_output=True, text=True,
                            check=True).stdout.strip()  # listpids wants the id, not <array>_<task>
    listed = subprocess.run(["scontrol", "listpids", raw_id], capture_output=True, text=True, check=True)
    for line in listed.stdout.splitlines()[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split()[0]), signal.SIGKILL)


def wandb_epochs(job_dir) -> list[int]:
    """The epochs the job's first W&B file holds so far."""
    files = run_files(job_dir)
    try:
        return [row["epoch"] for row in read_run_file(files[0], wait_s=0)["history"]] if files else []
    except Exception:  # read mid-flush: not yet
        return []


def test_sweep_runs_as_a_job_array_and_isolates_a_failure(tmp_path, extended_conf, capsys):  # noqa: F811
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, *SLURM, "model=test_resnet", "category=optimizer", "trainer.max_epochs=1",
                         config_dir=extended_conf)
    assert finished.returncode == 1 and "1 of 3 jobs failed" in finished.stderr
    found = results(sweep_dir)
    assert {name: result["status"] for name, result in found.items()} == {
        "test_resnet/base": "completed", "test_resnet/optimizer/Diverge": "failed",
        "test_resnet/optimizer/SGD": "completed"}
    array_ids = {result["slurm_job_id"].split("_")[0] for result in found.values()}
    assert len(array_ids) == 1, "one job array"
    assert main(["status", str(sweep_dir)]) == 0
    assert "2 completed, 1 failed" in capsys.readouterr().out


@pytest.mark.parametrize("end", ["scancel", "SIGKILL"])
def test_a_cancelled_or_killed_job_is_recorded_failed_and_the_sweep_ends(tmp_path, end):
    sweep_dir = tmp_path / "sweep"
    process = start_sweep(sweep_dir, "model=test_resnet", "category=optimizer", "data.image_size=16",
                          "trainer.max_epochs=15")
    victim = sweep_dir / "test_resnet/base"
    wait_until(lambda: (victim / "last_checkpoint.pt").exists(), process, "a first checkpoint")
    slurm_job_id = read_job(victim)["slurm_job_id"]
    if end == "scancel":  # SIGTERM: the job stops without a result, as for a requeue, and is not requeued
        subprocess.run(["scancel", slurm_job_id], check=True)
    else:
        kill_job_processes(slurm_job_id)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr[-2000:]
    found = results(sweep_dir)
    killed = found["test_resnet/base"]
    assert killed["status"] == "failed" and killed["error"]["type"] == "JobLost"
    assert ("CANCELLED" if end == "scancel" else "FAILED") in killed["error"]["message"], "SLURM's word for it"
    assert "its last checkpoint is kept: re-running the sweep resumes it" in killed["error"]["message"]
    assert found["test_resnet/optimizer/SGD"]["status"] == "completed", "the other job ran to its end"


def test_submit_and_detach_runs_the_sweep_driver_as_a_slurm_job(tmp_path, capsys):
    sweep_dir = tmp_path / "sweep"
    driver = shlex.join(sweep_command(sweep_dir, *SLURM, "model=test_resnet", "category=early_stopping",
                                      "trainer.max_epochs=1"))
    submitted = subprocess.run(["sbatch", "--parsable", f"--chdir={ROOT}", f"--output={tmp_path}/driver.log",
                                "--cpus-per-task=1", f"--wrap={driver}"], capture_output=True, text=True,
                               check=True, env=ENV)
    driver_id = submitted.stdout.strip()
    deadline = time.monotonic() + 300
    while subprocess.run(["squeue", "-h", "-j", driver_id], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, "the detached sweep did not finish"
        time.sleep(1)
    assert [result["status"] for result in results(sweep_dir).values()] == ["completed"] * 3
    assert main(["status", str(sweep_dir)]) == 0
    assert "3 completed" in capsys.readouterr().out
    assert sweep_counts((tmp_path / "driver.log").read_text()) == {
        "trainings": 3, "completed": 1, "answered by a shared trajectory": 2}, "the patience options share one training"


def test_a_requeued_job_resumes_from_its_checkpoint_in_the_same_wandb_run(tmp_path):
    sweep_dir = tmp_path / "sweep"
    process = start_sweep(sweep_dir, "model=test_resnet", "trainer.max_epochs=8")
    job_dir = sweep_dir / "0"  # a plain multirun: the job's number, as with Hydra's BasicSweeper
    wait_until(lambda: (job_dir / "last_checkpoint.pt").exists() and wandb_epochs(job_dir), process,
               "a first checkpoint and W&B flush")
    flushed = wandb_epochs(job_dir)
    job = read_job(job_dir)
    claim = json.loads((job_dir / "claim.json").read_text())
    assert claim["pid"] != process.pid, "the job adopted its driver's claim"
    # what SLURM does to a job it preempts with PreemptMode=REQUEUE: SIGTERM to every process, then requeue
    subprocess.run(["scontrol", "requeue", job["slurm_job_id"]], check=True)
    wait_until(lambda: read_job(job_dir)["interruptions"], process, "the stop noted")
    kept = json.loads((job_dir / "claim.json").read_text())
    assert (kept["token"], kept["since"]) == (claim["token"], claim["since"]), "kept through the requeue"
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    result = json.loads((job_dir / "result.json").read_text())
    resumed_from = result["resumed_from_epoch"]
    assert result["status"] == "completed" and resumed_from >= 1
    assert result["epochs_run"] == 8, "as many epochs as an uninterrupted run"
    assert [entry["signal"] for entry in result["interruptions"]] == ["SIGTERM"]
    assert (result["slurm_job_id"], result["wandb_run_id"]) == (job["slurm_job_id"], job["wandb_run_id"])

    runs = [read_run_file(path, wait_s=0) for path in run_files(job_dir)]  # the first has no exit record
    assert [run["run_id"] for run in runs] == [job["wandb_run_id"]] * 2, "one W&B run, resumed"
    before, after = ([row["epoch"] for row in run["history"]] for run in runs)
    # The SIGTERM stops W&B's service at once too: what it had flushed is kept (it flushes every second),
    # no epoch is logged twice, and at most the epoch logged in the last second before it is missing.
    assert before[:len(flushed)] == flushed and before == list(range(1, len(before) + 1))
    assert after == list(range(resumed_from + 1, 9))
    assert resumed_from - 1 <= len(before) <= resumed_from
    assert not (job_dir / "claim.json").exists(), "let go once the result is written"


def test_three_drivers_of_one_sweep_share_its_jobs_and_submit_each_once(tmp_path):
    sweep_dir = tmp_path / "sweep"
    arguments = [*SLURM, "model=test_resnet", "category=loss_function,optimizer", "trainer.max_epochs=1",
                 "data.image_size=16", "hydra.sweeper.max_batch_size=1"]  # arrays of one: the drivers take turns
    drivers = [subprocess.Popen(sweep_command(sweep_dir, *arguments), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [driver.communicate(timeout=600)[0] for driver in drivers]
    assert [driver.returncode for driver in drivers] == [0, 0, 0], outputs[0][-3000:]
    trainings = [entry["directory"] for entry in read_manifest(sweep_dir)["trainings"]]
    assert len(trainings) == 4
    for directory in trainings:
        assert json.loads((sweep_dir / directory / "result.json").read_text())["status"] == "completed"
        assert len(run_files(sweep_dir / directory)) == 1, f"{directory} trained once"
    arrays = {path.name.split("_")[0] for path in (sweep_dir / ".submitit").iterdir() if path.name[0].isdigit()}
    assert len(arrays) == 4, "each training submitted once, whichever driver submitted it"
    assert sum("running elsewhere" in flat(output) for output in outputs) >= 1


def test_a_timed_out_job_is_requeued_until_max_num_timeout_then_failed_and_resumable(tmp_path, capfd, monkeypatch):
    sweep_dir = tmp_path / "sweep"
    # every one of the 20 epochs trains: its validation plateaus from epoch 6, and patience 10 would end it at 16
    arguments = ["model=test_resnet", "trainer.max_epochs=20", "early_stopping.patience=20"]
    process = start_sweep(sweep_dir, *arguments, "hydra.launcher.max_num_timeout=1")
    job_dir = sweep_dir / "0"  # a plain multirun: the job's number, as with Hydra's BasicSweeper
    wait_until(lambda: (job_dir / "last_checkpoint.pt").exists(), process, "a first checkpoint")
    slurm_job_id = read_job(job_dir)["slurm_job_id"]
    # what SLURM sends signal_delay_s before the time limit (submitit's own Job._interrupt(timeout=True))
    subprocess.run(["scancel", "--signal=USR2", slurm_job_id], check=True)
    wait_until(lambda: read_job(job_dir)["interruptions"], process, "the stop")
    stopped_at = read_job(job_dir)["interruptions"][0]["epochs_done"]
    wait_until(lambda: len(read_history(job_dir / "history.csv")) > stopped_at, process, "an epoch after the requeue")
    subprocess.run(["scancel", "--signal=USR2", slurm_job_id], check=True)  # max_num_timeout=1: no more requeues
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1 and "1 of 1 jobs failed" in stderr
    failed = json.loads((job_dir / "result.json").read_text())
    assert failed["status"] == "failed" and failed["error"]["type"] == "JobNotRequeued"
    assert "timed-out too many times" in failed["error"]["message"]
    assert [entry["signal"] for entry in failed["interruptions"]] == ["SIGUSR2", "SIGUSR2"]
    assert failed["resumed_from_epoch"] is None and (job_dir / "last_checkpoint.pt").exists()
    [row] = job_states(sweep_dir, read_manifest(sweep_dir)["trainings"])
    assert (row["model"], row["state"], row["stops"]) == ("test_resnet", "failed", 2)

    finished = run_sweep(sweep_dir, *SLURM, *arguments)  # as the message says: re-running the sweep resumes it
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads((job_dir / "result.json").read_text())
    assert result["status"] == "completed" and result["epochs_run"] == 20
    assert result["resumed_from_epoch"] == failed["interruptions"][1]["epochs_done"]
    # W&B's service outlives the time-out signal: each stop finished the run cleanly, nothing is lost
    runs = [read_run_file(path) for path in run_files(job_dir)]
    assert {run["run_id"] for run in runs} == {result["wandb_run_id"]} and len(runs) == 3
    assert [run["preempting"] for run in runs] == [True, True, False]
    assert [row["epoch"] for run in runs for row in run["history"]] == list(range(1, 21)), "each epoch once"
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    capfd.readouterr()
    assert main(["sync", str(sweep_dir), "--dry-run"]) == 0
    assert "Would sync 3 run(s)" in capfd.readouterr().err, "the job's three starts, for one W&B run"


def pack_of(job_dir) -> dict:
    return json.loads((job_dir / "pack.json").read_text())


def overlap(records: list[dict]) -> bool:
    """Whether every training of ``records`` was running at one moment (their ISO 8601 start and end times)."""
    return max(record["started_at"] for record in records) < min(record["ended_at"] for record in records)


def test_packs_run_three_trainings_side_by_side_per_array_task_and_isolate_a_failure(
        tmp_path, extended_conf, capsys):  # noqa: F811
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, *SLURM, "model=test_resnet", "category=optimizer", "seed=1,2",
                         "hydra.sweeper.racing=false", "hydra.sweeper.jobs_per_gpu=3", "trainer.max_epochs=3",
                         "data.image_size=16", config_dir=extended_conf)
    assert finished.returncode == 1 and "2 of 6 jobs failed" in finished.stderr, finished.stderr[-3000:]
    assert "6 trainings in 2 array task(s) of up to 3 (hydra.sweeper.jobs_per_gpu=3)" in flat(finished.stdout)
    found = results(sweep_dir)
    tasks: dict[str, list[str]] = {}
    for name, result in found.items():
        tasks.setdefault(result["slurm_job_id"], []).append(name)
        assert result["started_at"] < result["ended_at"]
    assert sorted(map(len, tasks.values())) == [3, 3], "6 trainings in 2 array tasks of one array"
    assert len({task.split("_")[0] for task in tasks}) == 1
    for members in tasks.values():
        assert len({pack_of(sweep_dir / name)["pack"] for name in members}) == 1, "the pack the sweep made"
        completed = [found[name] for name in members if found[name]["status"] == "completed"]
        failed = [found[name] for name in members if found[name]["status"] == "failed"]
        assert [result["error"]["type"] for result in failed] == ["NonFiniteLossError"] * len(failed)
        assert len(completed) == 3 - len(failed) >= 1, "a pack-mate that raises leaves the others running"
        assert overlap(completed), f"the trainings of task {completed[0]['slurm_job_id']} ran side by side"
        assert all(result["peak_memory_mb"] is None for result in completed), "CPU: no accelerator peak"
    assert {name.split("/")[2] for name, result in found.items() if result["status"] == "failed"} == {"Diverge"}

    assert main(["status", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("4 completed") == 1 and "2 failed" in out
    packs = [line.split("\t") for line in out.split("pack\ttask\ttrainings\tstate\n")[1].splitlines()[:2]]
    assert sorted(task for _, task, _, _ in packs) == sorted(tasks), "status shows each pack's task"
    assert all(len(trainings.split("; ")) == 3 for _, _, trainings, _ in packs)


def test_a_cancelled_pack_and_a_killed_training_keep_their_checkpoints_and_a_rerun_finishes_exactly_those(
        tmp_path):
    sweep_dir = tmp_path / "sweep"
    arguments = ["model=test_resnet", "category=loss_function", "seed=1,2", "hydra.sweeper.racing=false",
                 "hydra.sweeper.jobs_per_gpu=3", "trainer.max_epochs=6", "data.image_size=16"]
    process = start_sweep(sweep_dir, *arguments)
    victim = sweep_dir / "test_resnet/base/seed-1"
    wait_until(lambda: (victim / "pack.json").exists(), process, "the packs")
    mates = pack_of(victim)["trainings"]
    others = [entry["directory"] for entry in read_manifest(sweep_dir)["trainings"] if entry["directory"] not in mates]
    killed = sweep_dir / others[0]  # in the other pack: its process dies alone (what the OOM killer does)
    task = None

    def end_each_after_its_first_checkpoint() -> bool:  # the packs may run one after the other (2 CPUs)
        nonlocal task
        if task is None and (victim / "last_checkpoint.pt").exists():
            task = read_job(victim)["slurm_job_id"]
            subprocess.run(["scancel", task], check=True)
        if killed.exists() and (killed / "last_checkpoint.pt").exists() and not (killed / "killed").exists():
            os.kill(json.loads((killed / "claim.json").read_text())["pid"], signal.SIGKILL)  # its own process
            (killed / "killed").touch()
        return task is not None and (killed / "killed").exists()

    wait_until(end_each_after_its_first_checkpoint, process, "a first checkpoint of both", timeout_s=300)
    _, stderr = process.communicate(timeout=400)
    assert process.returncode == 1, stderr[-3000:]
    found = results(sweep_dir)
    assert len(found) == 6 and len(mates) == 3
    for name, result in found.items():
        if name in mates:
            assert result["status"] == "failed" and result["error"]["type"] == "JobLost", name
            assert "CANCELLED" in result["error"]["message"], "SLURM's word for it"
        elif name == others[0]:
            assert result["status"] == "failed" and result["error"]["type"] == "JobLost", name
            assert f"its process in pack task {read_job(killed)['slurm_job_id']} was killed by SIGKILL" in result[
                "error"]["message"]
        else:
            assert result["status"] == "completed", f"{name}: its pack-mate's death left it running"
    unfinished = [*mates, others[0]]
    kept = [name for name in unfinished if (sweep_dir / name / "last_checkpoint.pt").exists()]
    assert {"test_resnet/base/seed-1", others[0]} <= set(kept)
    assert "its last checkpoint is kept: re-running the sweep resumes it" in found["test_resnet/base/seed-1"][
        "error"]["message"]

    rerun = run_sweep(sweep_dir, *SLURM, *arguments)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "6 trainings: 4 to run, 2 already done" in rerun.stdout
    again = results(sweep_dir)
    assert all(result["status"] == "completed" for result in again.values())
    for name in found:
        if name not in unfinished:
            assert again[name] == found[name], f"{name} was not trained again"
    for name in kept:
        assert again[name]["resumed_from_epoch"] >= 1, f"{name} resumed from its checkpoint"
        assert again[name]["epochs_run"] == 6


def test_a_timed_out_pack_checkpoints_every_training_and_its_requeued_task_resumes_them(tmp_path):
    sweep_dir = tmp_path / "sweep"
    process = start_sweep(sweep_dir, "model=test_resnet", "category=loss_function", "hydra.sweeper.jobs_per_gpu=3",
                          "trainer.max_epochs=8", "data.image_size=16")
    directories = [sweep_dir / name for name in ("test_resnet/base", "test_resnet/loss_function/Focal",
                                                  "test_resnet/loss_function/LabelSmoothing")]
    wait_until(lambda: all((directory / "last_checkpoint.pt").exists() for directory in directories), process,
               "a first checkpoint of each training", timeout_s=300)
    task = read_job(directories[0])["slurm_job_id"]
    # what SLURM sends signal_delay_s before the time limit: to every process of the task
    subprocess.run(["scancel", "--signal=USR2", task], check=True)
    _, stderr = process.communicate(timeout=400)
    assert process.returncode == 0, stderr[-3000:]
    for directory in directories:
        result = json.loads((directory / "result.json").read_text())
        assert result["status"] == "completed" and result["epochs_run"] == 8, directory
        assert [entry["signal"] for entry in result["interruptions"]] == ["SIGUSR2"], directory
        assert result["resumed_from_epoch"] >= 1 and result["slurm_job_id"] == task, "the same task, requeued"
