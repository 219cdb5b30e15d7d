"""Stop signals: noted, acted on between training steps, handed to submitit's handler; a stopped run resumes.

The SLURM side (``scontrol requeue``, the time-out signal, a requeue refused) is in ``test_slurm.py``.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from competition_data import write_image_folder
from conftest import CPU_SIZE, ROOT
from wandb_records import read_run_file, run_files

from hpsweep.train.preemption import SUBMITIT_SIGNAL, JobInterrupted, JobNotRequeued, StopSignals


@pytest.fixture
def previous_handler(keep_sigchld):
    """Install a handler standing in for submitit's; restore the original afterwards."""
    original = signal.getsignal(SUBMITIT_SIGNAL)
    calls = []

    def install(effect: BaseException):
        def handler(signum, frame):
            calls.append(signal.Signals(signum))
            raise effect

        signal.signal(SUBMITIT_SIGNAL, handler)
        return calls

    yield install
    signal.signal(SUBMITIT_SIGNAL, original)


def test_a_signal_is_held_until_the_next_check_then_handed_to_submitits_handler(previous_handler):
    calls = previous_handler(SystemExit(-1))  # submitit's handler after `scontrol requeue`
    with StopSignals() as stop:
        os.kill(os.getpid(), SUBMITIT_SIGNAL)
        time.sleep(0.01)  # the handler runs between bytecodes: it has run by now, and raised nothing
        assert stop.received == [SUBMITIT_SIGNAL] and calls == []
        with pytest.raises(JobInterrupted, match=SUBMITIT_SIGNAL.name):
            stop.check()
        with pytest.raises(SystemExit) as exited:
            stop.hand_over()
    assert exited.value.code == -1 and calls == [SUBMITIT_SIGNAL]
    assert signal.getsignal(SUBMITIT_SIGNAL) is not stop._note, "the handler before is back"


def test_a_refused_requeue_becomes_a_failure_that_says_how_to_go_on(previous_handler):
    previous_handler(RuntimeError("Job not requeued because: timed-out too many times."))
    with StopSignals() as stop:
        os.kill(os.getpid(), SUBMITIT_SIGNAL)
        time.sleep(0.01)
        with pytest.raises(JobNotRequeued, match="timed-out too many times.*re-running the sweep"):
            stop.hand_over()


def test_sigterm_without_a_handler_before_exits_as_the_signal_would(previous_handler):
    calls = previous_handler(SystemExit(-1))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        with pytest.raises(SystemExit) as exited:
            stop.hand_over()
    assert exited.value.code == 128 + signal.SIGTERM and calls == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_then_the_time_out_signal_goes_to_submitit(previous_handler):
    calls = previous_handler(SystemExit(-1))  # preemption as submitit models it: SIGTERM, then its signal
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), SUBMITIT_SIGNAL)
        time.sleep(0.01)
        with pytest.raises(SystemExit):
            stop.hand_over()
    assert stop.received == [signal.SIGTERM, SUBMITIT_SIGNAL] and calls == [SUBMITIT_SIGNAL]


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (W&B's service, DataLoader workers): what SLURM signals in a job."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(descendant for child in children for descendant in process_tree(int(child)))]


@pytest.mark.slow
@pytest.mark.parametrize("signalled", ["the run", "every process of it"])
def test_a_run_stopped_by_sigterm_records_no_failure_and_resumes_in_its_wandb_run(tmp_path, signalled):
    run_dir = tmp_path / "run"
    data = []
    if signalled == "every process of it":  # as under SLURM: DataLoader workers and W&B's service too
        root = write_image_folder(tmp_path / "images", classes=4, per_class=60)
        data = ["data=image_folder", f"data.root={root}", "data.num_workers=2", "data.batch_size=8"]
    command = [sys.executable, str(ROOT / "run_experiments.py"), *CPU_SIZE, *data, "trainer.max_epochs=4",
               f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "last_checkpoint.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.05)
    for pid in process_tree(process.pid) if signalled == "every process of it" else [process.pid]:
        os.kill(pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    log = (run_dir / "run_experiments.log").read_text()
    assert "stopped by SIGTERM after" in log and "failed" not in log and "Traceback" not in stderr
    assert not (run_dir / "result.json").exists(), "an interruption is not a failure"
    assert (run_dir / "last_checkpoint.pt").exists()
    job = json.loads((run_dir / "job.json").read_text())
    assert [entry["signal"] for entry in job["interruptions"]] == ["SIGTERM"]
    if signalled == "the run":  # W&B's service outlived the signal: it marked the run preempting, finished it
        stopped = read_run_file(run_files(run_dir)[0])
        assert stopped["preempting"] and stopped["exit_code"] == 1

    resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "completed" and result["resumed_from_epoch"] >= 1 and result["epochs_run"] == 4
    assert result["interruptions"] == job["interruptions"]
    assert result["duration_s"] > job["interruptions"][0]["duration_s"] > 0, "both starts count"
    runs = [read_run_file(path) for path in run_files(run_dir)]
    assert [run["run_id"] for run in runs] == [job["wandb_run_id"]] * 2, "one W&B run, resumed"
    assert runs[1]["exit_code"] == 0
    if signalled == "the run":
        logged = [row["epoch"] for run in runs for row in run["history"]]
        assert logged == [1, 2, 3, 4], "every epoch is in the W&B run, none twice over the resume"
