"""The Ray path against a real Ray cluster (``scripts/ray_cluster.sh start``; CI starts one on port 6390).

Skipped where none answers, as the SLURM tests are. The tests share one xdist group, one after another: Ray's
``address=auto`` finds whichever cluster runs, so the test with a private cluster (one that declares a GPU, then is
stopped under a running sweep) must not run beside the others.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, flat, sweep_counts
from test_slurm import wait_until
from test_sweeps import ENV, extended_conf, results, sweep_command  # noqa: F401 (fixture)

from hpsweep.core.records import read_history
from hpsweep.sweep.status import job_states

PORT = 6390  # scripts/ray_cluster.sh's


def cluster_answers(port: int = PORT) -> bool:
    try:
        import ray  # noqa: F401 - the ray extra
    except ImportError:
        return False
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray"),
              pytest.mark.skipif(not cluster_answers(), reason="no Ray cluster answers on port 6390")]


def on_ray(address: str = f"127.0.0.1:{PORT}") -> list[str]:
    return ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}"]


def ray_record(job_dir: Path) -> dict:
    return json.loads((job_dir / "ray.json").read_text())


def history_rows(job_dir: Path) -> int:
    return len(read_history(job_dir / "history.csv")) if (job_dir / "history.csv").is_file() else 0


def test_a_category_sweep_on_ray_through_hpsweep_run(tmp_path, extended_conf):  # noqa: F811
    """``hpsweep run --launcher ray`` connects to the running cluster by ``address=auto``: every training a Ray task
    of one CPU and no GPU (the cluster has none), its console in its own ray.log, a failing one isolated."""
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "hpsweep.cli", "--config-dir", str(extended_conf), "run", "--models",
               "test_resnet", "--categories", "optimizer", "--launcher", "ray", "data.image_size=32",
               "trainer.max_epochs=2", "trainer.progress_bar=false", "logger.mode=offline",
               "hydra.sweeper.control_seeds=0", f"hydra.sweep.dir={sweep_dir}"]
    finished = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 1, finished.stderr[-3000:]
    assert "hydra/launcher=ray hydra.launcher.ray.init.address=auto" in flat(finished.stdout)
    assert "1 of 3 jobs failed" in finished.stderr
    assert sweep_counts(finished.stdout) == {"trainings": 3, "completed": 2, "failed": 1}
    assert "each training asks Ray for max_retries=1, max_calls=1, num_gpus=0" in flat(finished.stdout)
    assert "epoch 1/2" not in finished.stdout + finished.stderr, "a training's console is its own ray.log"
    assert "Ray Launcher is launching" not in finished.stdout + finished.stderr, "the progress says it instead"
    found = results(sweep_dir)
    assert {name: result["status"] for name, result in found.items()} == {
        "test_resnet/base": "completed", "test_resnet/optimizer/SGD": "completed",
        "test_resnet/optimizer/Diverge": "failed"}
    assert found["test_resnet/optimizer/Diverge"]["error"]["type"] == "NonFiniteLossError"
    for name in found:
        record = ray_record(sweep_dir / name)
        assert record["resources"] == {"CPU": 1.0}, "what hpsweep asked of Ray reached the task"
        assert "epoch 1/2" in (sweep_dir / name / "ray.log").read_text()
    assert len({ray_record(sweep_dir / name)["pid"] for name in found}) == 3, "max_calls=1: a worker per training"
    states = {row["directory"]: row for row in job_states(sweep_dir, json.loads(
        (sweep_dir / "sweep.json").read_text())["trainings"])}
    assert str(sweep_dir / "test_resnet/base/ray.log") in states["test_resnet/base"]["logs"]

    # two per GPU that cannot fit in the memory the sweeper is told a GPU has (Ray's launcher has no place for it)
    base = sweep_dir / "test_resnet/base/result.json"
    base.write_text(json.dumps({**found["test_resnet/base"], "peak_memory_mb": 30000}))  # as CUDA would record it
    before = {path: path.stat().st_mtime_ns for path in sweep_dir.glob("**/*.json")}
    refused = subprocess.run(sweep_command(sweep_dir, *on_ray(), "category=optimizer", "hydra.sweeper.resume=false",
                                           "hydra.sweeper.jobs_per_gpu=2", "hydra.sweeper.gpu_memory_gb=40",
                                           config_dir=extended_conf),
                             cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1
    assert "2 trainings that may share a GPU need 61000 MB" in flat(refused.stderr)
    assert "hydra.sweeper.gpu_memory_gb" in flat(refused.stderr) and "nothing was started" in flat(refused.stderr)
    assert {path: path.stat().st_mtime_ns for path in sweep_dir.glob("**/*.json")} == before, "nothing written"

    # a re-run with a finished result gone: it connects before it launches what is left (it asked the race first)
    (sweep_dir / "test_resnet/optimizer/SGD/result.json").unlink()
    rerun = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in rerun.stderr, rerun.stderr[-3000:]
    assert json.loads((sweep_dir / "test_resnet/optimizer/SGD/result.json").read_text())["status"] == "completed"


def test_a_killed_worker_resumes_and_a_killed_driver_trains_nothing_twice(tmp_path):
    """``kill -9`` of the Ray worker that trains: Ray runs the task once more (max_retries=1), which resumes from
    the checkpoint. ``kill -9`` of the driver: the re-run resumes what it left. No epoch is trained twice."""
    sweep_dir = tmp_path / "sweep"
    job_dir = sweep_dir / "0"
    command = sweep_command(sweep_dir, *on_ray(), "trainer.max_epochs=14")
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        wait_until(lambda: history_rows(job_dir) >= 2, process, "two epochs")
        first = ray_record(job_dir)["pid"]
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: (job_dir / "ray.json").is_file() and ray_record(job_dir)["pid"] != first, process,
                   "Ray's retry of the task")
        resumed_at = history_rows(job_dir)
        wait_until(lambda: history_rows(job_dir) >= resumed_at + 2, process, "two more epochs")
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert not (job_dir / "result.json").exists(), "the driver was killed mid-training"
    # the killed driver's tasks end with it (Ray ends a job's tasks at its driver's end); its claim is stale
    rerun = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    result = json.loads((job_dir / "result.json").read_text())
    assert result["status"] == "completed"
    assert [row["epoch"] for row in read_history(job_dir / "history.csv")] == list(range(1, 15))
    log = (job_dir / "run_experiments.log").read_text()
    assert log.count("resuming from the checkpoint of epoch") == 2, "once by Ray's retry, once by the re-run"
    assert not (job_dir / "claim.json").exists()


@pytest.fixture
def private_cluster():
    """A cluster of its own that declares one GPU (a count Ray hands out; nothing uses a GPU here), stopped by the
    test or at its end."""
    state, port = f"/tmp/hpsweep-ray-test-{os.getpid()}", 6395
    env = {**os.environ, "HPSWEEP_RAY_STATE": state, "HPSWEEP_RAY_PORT": str(port), "HPSWEEP_RAY_GPUS": "1"}
    script = [str(ROOT / "scripts/ray_cluster.sh")]
    subprocess.run([*script, "start"], env=env, check=True, capture_output=True, timeout=120)
    yield f"127.0.0.1:{port}", lambda: subprocess.run([*script, "stop"], env=env, check=True, capture_output=True)
    subprocess.run([*script, "stop"], env=env, capture_output=True)
    subprocess.run(["rm", "-rf", state])


def test_jobs_per_gpu_asks_ray_for_a_share_and_a_stopped_cluster_ends_the_sweep_to_resume(tmp_path, private_cluster):
    address, stop = private_cluster
    sweep_dir = tmp_path / "sweep"
    command = sweep_command(sweep_dir, *on_ray(address), "seed=1,2", "hydra.sweeper.jobs_per_gpu=2",
                            "trainer.max_epochs=40", "early_stopping.patience=40")
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    jobs = [sweep_dir / "0", sweep_dir / "1"]
    wait_until(lambda: all(history_rows(job) >= 1 for job in jobs), process, "both trainings under way")
    assert not any((job / "result.json").exists() for job in jobs), "the two ran at once, on the one GPU"
    assert [ray_record(job)["resources"] for job in jobs] == [{"CPU": 1.0, "GPU": 0.5}] * 2
    stop()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert f"error: the Ray cluster at {address}" in flat(err) and "stopped answering" in flat(err)
    assert "re-run the same command: it resumes" in flat(err)
    assert "Traceback" not in err
    # the same sweep, resumed on the suite's cluster (no GPU: a share of none)
    rerun = subprocess.run([*command[:-1], *on_ray(), command[-1]], cwd=ROOT, env=ENV, capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for job in jobs:
        assert json.loads((job / "result.json").read_text())["status"] == "completed"
        epochs = [row["epoch"] for row in read_history(job / "history.csv")]
        assert epochs == sorted(set(epochs)), "no epoch twice"
    # a training stopped after its first checkpoint resumes from it (one stopped before it, under load, starts again)
    assert any("resuming from the checkpoint of epoch" in (job / "run_experiments.log").read_text() for job in jobs)


def test_a_wrong_address_is_said_before_anything_runs(tmp_path):
    sweep_dir = tmp_path / "sweep"
    started = time.monotonic()
    finished = subprocess.run(sweep_command(sweep_dir, *on_ray("127.0.0.1:6399")), cwd=ROOT, env=ENV,
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 1
    assert "hydra.launcher.ray.init.address=127.0.0.1:6399: no Ray cluster answers there" in flat(finished.stderr)
    assert "Traceback" not in finished.stderr
    assert not sweep_dir.exists() or not list(sweep_dir.glob("**/job.json")), "nothing ran"
    assert time.monotonic() - started < 120
