"""The SLURM path against a real single-node cluster (``scripts/slurm_cluster.sh start``; CI starts one).

Skipped where no cluster answers, so that a laptop without SLURM still runs the rest of the suite.
"""

import json
import shlex
import shutil
import subprocess
import time

import pytest
from conftest import ROOT
from test_sweeps import ENV, extended_conf, results, run_sweep, sweep_command  # noqa: F401 (fixture)

from hpsweep.cli import main


def cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not cluster_answers(), reason="no SLURM cluster answers")]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=10", "hydra.launcher.signal_delay_s=5"]


def test_sweep_runs_as_a_job_array_and_isolates_a_failure(tmp_path, extended_conf, capsys):  # noqa: F811
    sweep_dir = tmp_path / "sweep"
    finished = run_sweep(sweep_dir, *SLURM, "model=test_resnet", "category=optimizer", "trainer.max_epochs=1",
                         config_dir=extended_conf)
    assert finished.returncode == 1 and "1 of 3 jobs failed" in finished.stderr
    found = results(sweep_dir)
    assert {name: result["status"] for name, result in found.items()} == {
        "test_resnet/optimizer/AdamW": "completed", "test_resnet/optimizer/Diverge": "failed",
        "test_resnet/optimizer/SGD": "completed"}
    array_ids = {result["slurm_job_id"].split("_")[0] for result in found.values()}
    assert len(array_ids) == 1, "one job array"
    assert main(["status", str(sweep_dir)]) == 0
    assert "2 completed, 1 failed" in capsys.readouterr().out


def test_a_job_killed_hard_is_recorded_failed_and_the_sweep_ends(tmp_path):
    sweep_dir = tmp_path / "sweep"
    process = subprocess.Popen(sweep_command(sweep_dir, *SLURM, "model=test_resnet", "category=optimizer",
                                             "trainer.max_epochs=40"),
                               cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = sweep_dir / "test_resnet/optimizer/AdamW/job.json"
    deadline = time.monotonic() + 120
    while not (victim.is_file() and json.loads(victim.read_text()).get("slurm_job_id")):
        assert time.monotonic() < deadline and process.poll() is None, "the job never started"
        time.sleep(0.2)
    subprocess.run(["scancel", json.loads(victim.read_text())["slurm_job_id"]], check=True)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr[-2000:]
    found = results(sweep_dir)
    killed = found["test_resnet/optimizer/AdamW"]
    # SLURM's SIGTERM reaches W&B's service process first (the job then fails on its next log call) or
    # the SIGKILL that follows ends the job before it can write (JobLost): failed with a reason, either way
    assert killed["status"] == "failed" and killed["error"]["type"] in ("JobLost", "ServicePollForTokenError")
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
    assert "3 completed, 0 skipped, 0 failed" in (tmp_path / "driver.log").read_text()


