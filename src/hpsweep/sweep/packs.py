"""Packs: several trainings side by side in one SLURM array task (``hydra.sweeper.jobs_per_gpu``).

Hydra's submitit launcher runs one job per array task. A category sweep knows every training in advance, so it
can pack ``jobs_per_gpu x gpus_per_node`` of them into one task, submitted with the launcher's own executor
settings. The task (``Pack``) starts each training as a process of its own (``python -m hpsweep.sweep.packs``),
which runs it exactly as the launcher runs a job (its ``__call__``: the training's directory, job.json,
result.json, W&B run) on its slot's GPU and its share of the task's CPUs. A training that raises or dies is its
own failure; its pack-mates run on.

Stop signals: SLURM signals every process of the task (SIGTERM on a preemption, requeue or ``scancel``; submitit's
USR2 before the time limit), so each training checkpoints and ends without a result (``hpsweep.train.preemption``).
The task waits for all of them: on USR2 submitit checkpoints the task (``checkpoint``: the same pack) and requeues
it; on SIGTERM it ends as the signal would have ended it. A (re)started task runs only the trainings that have not
returned yet: each training's return is kept beside the task's logs (``<slot>.return.json``: its status and the
number(s) it returned or its error, as data: nothing of it is unpickled), and those stopped
resume from their checkpoints. Trainings of a cancelled task are recorded failed by the sweep, with SLURM's word
for it, and keep their checkpoints: a re-run resumes them.
"""

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cloudpickle
from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from hpsweep.core import hydra_private
from hpsweep.core.records import PACK_FILE, fields, read_json, write_json_atomic
from hpsweep.core.statuses import TrainingStatus
from hpsweep.sweep.launcher_kind import LauncherKind
from hpsweep.sweep.outcomes import numbers

log = logging.getLogger(__name__)

class JobLost(Exception):
    """A training's process ended without returning (killed, out of memory) while its pack-mates ran on."""


class PackTrainingFailed(Exception):
    """What a pack's training raised, as its return file says it: ``kind`` is the exception's type name."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


RETURN_SHAPE = fields(status=str)


def return_record(job_return: JobReturn) -> dict:
    """A training's return as JSON: ``completed`` with the number (or the dict of numbers) it returned, which is
    all a sweep decides by; or ``failed`` with its error's type and message."""
    if job_return.status == JobStatus.COMPLETED:  # the property re-raises a failure; this one completed
        return {"status": TrainingStatus.COMPLETED, "value": numbers(hydra_private.return_value(job_return))}
    error = hydra_private.return_value(job_return)
    return {"status": TrainingStatus.FAILED, "error": {"type": type(error).__name__, "message": str(error)}}


def job_return_of(record: dict) -> JobReturn | None:
    """The JobReturn a return file stands for; None for one of another shape."""
    if record["status"] == TrainingStatus.COMPLETED:
        return hydra_private.job_return(JobStatus.COMPLETED, record.get("value"))
    error = record.get("error")
    if record["status"] != TrainingStatus.FAILED or not isinstance(error, dict):
        return None
    return hydra_private.job_return(JobStatus.FAILED,
                                    PackTrainingFailed(str(error.get("type")), str(error.get("message"))))


def pack_size(launcher, kind: LauncherKind, jobs_per_gpu: int) -> int:
    """Trainings per array task of a SLURM ``launcher``: ``jobs_per_gpu`` on each of the task's GPUs (on its CPUs
    where it has none); 1 for any other launcher."""
    if kind != LauncherKind.SLURM:
        return 1
    return jobs_per_gpu * max(1, int(launcher.params.get("gpus_per_node") or 0))


def executor_of(launcher: SlurmLauncher):
    """submitit's executor with the launcher's folder and parameters, as its own ``launch`` builds it."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    cluster, params = launcher._EXECUTOR, launcher.params
    init_keys = {"max_num_timeout"}  # what submitit takes when the executor is made, not as a job parameter
    executor = submitit.AutoExecutor(cluster=cluster, folder=params["submitit_folder"],
                                     **{f"{cluster}_{key}": value for key, value in params.items() if key in init_keys})
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in shared else f"{cluster}_{key}": value for key, value in params.items()
                                  if key not in init_keys | {"submitit_folder"}})
    return executor


def launch_packs(launcher: SlurmLauncher, jobs: list[tuple[int, list[str], Path]], jobs_per_gpu: int,
                 sweep_dir: Path) -> list[JobReturn]:
    """Run ``jobs`` ((job number, overrides, directory) each) packed into one job array; returns their JobReturns
    in the same order. A task that SLURM cancelled, or that was killed, returns a ``JobLost`` failure for each of
    its trainings, with SLURM's word for it; the other tasks' returns stand."""
    from hydra.core.singleton import Singleton

    size = pack_size(launcher, LauncherKind.SLURM, jobs_per_gpu)
    packs = [jobs[start:start + size] for start in range(0, len(jobs), size)]
    for pack in packs:
        name = uuid.uuid4().hex[:8]
        for slot, (_, _, directory) in enumerate(pack):
            directory.mkdir(parents=True, exist_ok=True)
            write_json_atomic(directory / PACK_FILE, {
                "pack": name, "slot": slot, "trainings": [str(member.relative_to(sweep_dir)) for _, _, member in pack]})
    executor = executor_of(launcher)
    with executor.batch():  # one job array
        tasks = [executor.submit(Pack(launcher, pack, Singleton.get_state())) for pack in packs]
    log.info("%d trainings in %d array task(s) of up to %d (hydra.sweeper.jobs_per_gpu=%d)", len(jobs), len(packs),
             size, jobs_per_gpu)
    for pack, task in zip(packs, tasks, strict=True):
        log.info("\ttask %s: %s", task.job_id, " ".join(str(path.relative_to(sweep_dir)) for *_, path in pack))
    returns = []
    for pack, task in zip(packs, tasks, strict=True):
        try:
            returns += task.results()[0]
        except Exception as error:  # submitit's word for a task that ended without returning
            returns += [lost(f"its pack task {task.job_id} ended without returning: {type(error).__name__}: "
                             f"{error}") for _ in pack]
    return returns


def lost(message: str) -> JobReturn:
    """The return of a training that ended without one of its own."""
    return hydra_private.job_return(JobStatus.FAILED, JobLost(message))


class Pack:
    """What an array task runs: its trainings, each in a process of its own as the sweep's launcher runs a job."""

    def __init__(self, launcher: SlurmLauncher, trainings: list[tuple[int, list[str], Path]], singleton_state: dict):
        self.launcher = launcher
        self.trainings = trainings
        self.singleton_state = singleton_state

    def __call__(self) -> list[JobReturn]:
        return Task(self).run()

    def checkpoint(self):
        """submitit's signal (a time-out or preemption): the pack's trainings checkpoint as they stop (SLURM
        signals each); once they have, the task is requeued as it was: it resumes those that did not return."""
        import submitit

        if Task.current is not None:
            Task.current.wait_for_all()
        return submitit.helpers.DelayedSubmission(self)


class Task:
    """One array task running its pack: a process per training, pinned to its slot's GPU and CPUs."""

    current: "Task | None" = None  # the task this process runs (submitit's signal handler asks it to wait)

    def __init__(self, pack: Pack):
        import submitit

        self.launcher = pack.launcher
        self.trainings = pack.trainings
        self.singleton_state = pack.singleton_state
        self.folder = submitit.JobEnvironment().paths.folder
        self.job_id = submitit.JobEnvironment().job_id
        self.processes: dict[int, subprocess.Popen] = {}
        self.stopped: list[int] = []
        Task.current = self

    def return_file(self, slot: int) -> Path:
        return self.folder / f"{self.job_id}_slot{slot}.return.json"

    def run(self) -> list[JobReturn]:
        previous = signal.signal(signal.SIGTERM, self.note_stop)  # submitit's: it only logs the signal
        try:
            gpus = [gpu for gpu in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if gpu]
            if not int(self.launcher.params.get("gpus_per_node") or 0):
                gpus = []  # a task without GPUs: the trainings share its CPUs
            cpus = sorted(os.sched_getaffinity(0))
            for slot, (number, overrides, directory) in enumerate(self.trainings):
                if self.return_file(slot).is_file():
                    log.info("%s returned in an earlier start of this task", directory)
                    continue
                self.start(slot, number, overrides, directory, gpus, cpus)
            self.wait_for_all()
        finally:
            signal.signal(signal.SIGTERM, previous)
        if self.stopped:  # SLURM requeues or cancels the task: no returns; a requeued task resumes the rest
            raise SystemExit(128 + self.stopped[0])
        return [self.returned(slot) for slot in range(len(self.trainings))]

    def start(self, slot: int, number: int, overrides: list[str], directory: Path, gpus: list[str],
              cpus: list[int]) -> None:
        environment = dict(os.environ)
        allocated = int(os.environ.get("SLURM_CPUS_ON_NODE") or 0) or len(cpus)
        if len(cpus) <= allocated:  # SLURM bound the task to its CPUs: each training gets its own share of them
            share = max(1, len(cpus) // len(self.trainings))  # fewer CPUs than trainings: they share
            mine = cpus[slot * share % len(cpus):][:share] or cpus
            environment["HPSWEEP_PACK_CPUS"] = ",".join(map(str, mine))
        environment.setdefault("OMP_NUM_THREADS", str(max(1, allocated // len(self.trainings))))
        if gpus:
            environment["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        call = self.folder / f"{self.job_id}_slot{slot}.call.pkl"
        call.write_bytes(cloudpickle.dumps((self.launcher, overrides, number, self.singleton_state)))
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "pack_task.log", "ab") as output:  # the process's own stdout and stderr
            self.processes[slot] = subprocess.Popen(
                [sys.executable, "-m", "hpsweep.sweep.packs", str(call), str(self.return_file(slot))],
                stdout=output, stderr=subprocess.STDOUT, env=environment)
        log.info("slot %d: %s (pid %d, %s threads%s%s)", slot, directory, self.processes[slot].pid,
                 environment["OMP_NUM_THREADS"], f", CPUs {environment['HPSWEEP_PACK_CPUS']}"
                 if "HPSWEEP_PACK_CPUS" in environment else "", f", GPU {environment['CUDA_VISIBLE_DEVICES']}"
                 if gpus else "")

    def note_stop(self, signum: int, frame) -> None:
        self.stopped.append(signum)  # SLURM signals the trainings too: they stop at their next safe point

    def wait_for_all(self) -> None:
        while any(process.poll() is None for process in self.processes.values()):
            time.sleep(0.2)

    def returned(self, slot: int) -> JobReturn:
        """What the training in ``slot`` returned; a process that ended without (killed) is its own failure."""
        record = read_json(self.return_file(slot), RETURN_SHAPE)
        job_return = job_return_of(record) if record is not None else None
        if job_return is not None:
            return job_return
        code = self.processes[slot].returncode if slot in self.processes else None  # none, or unreadable
        ended = f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0 else \
            f"ended with exit code {code}"
        return lost(f"its process in pack task {self.job_id} {ended} without a result (out of memory?); its "
                    "pack-mates ran on")


def main() -> None:
    """A training of a pack: ``python -m hpsweep.sweep.packs <call.pkl> <return.json>``. The call is the launcher
    itself, pickled by the task as submitit pickles every job (whoever can write the submitit folder can run code as
    the sweep's user: ``docs/reliability.md``, "What a shared sweep dir trusts"); the return is data."""
    call, returned = map(Path, sys.argv[1:3])
    if os.environ.get("HPSWEEP_PACK_CPUS"):
        os.sched_setaffinity(0, [int(cpu) for cpu in os.environ["HPSWEEP_PACK_CPUS"].split(",")])
    launcher, overrides, number, singleton_state = cloudpickle.loads(call.read_bytes())
    # what submitit runs for a job of the sweep's own launcher; a stop signal exits here: no return
    job_return = launcher(overrides, "hydra.sweep.dir", number, f"job_id_for_{number}", singleton_state)
    write_json_atomic(returned, return_record(job_return))


if __name__ == "__main__":
    main()
