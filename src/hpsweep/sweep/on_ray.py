"""Ray as an engine: Hydra's ``hydra-ray-launcher`` (``hydra/launcher=ray``) runs each training as a Ray task,
launched one per call from the work queue's threads (``hpsweep.sweep.work_queue``), as submitit's local launcher is:
no batch barrier, a lost task fails only its own training.

Before the first training the driver connects to the cluster (``connect``): a wrong address is a clear error before
anything runs. It then fills in what each task asks Ray for, where the user set none under
``hydra.launcher.ray.remote``:

- ``num_gpus``: ``1 / hydra.sweeper.jobs_per_gpu`` where the cluster has GPUs (Ray places that many trainings on a
  GPU), 0 where it has none. A ``num_gpus`` the user set wins, and the log says so.
- ``num_cpus``: the CPUs per GPU shared among its trainings where the cluster has GPUs (a fraction where there
  are fewer CPUs than trainings for the GPUs); else Ray's 1.
- ``max_retries=1``: a worker lost mid-training (killed, its node gone) is run once more and resumes from its
  checkpoint; a training that raises is not retried (Hydra records its failure), as on any launcher.
- ``max_calls=1``: each worker process runs one training and exits, so none carries a training's state (CUDA's,
  a module's globals) into the next.

Each task's console goes to ``ray.log`` in its training's directory (``RayTask``), with ``ray.json`` saying where it
ran and what Ray gave it. The sweep dir must be on a filesystem every node sees: ``check_shared`` asks each node.
While trainings run, ``ClusterWatch`` ends the sweep with a clear error where the cluster itself is gone.
"""

import logging
import math
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import ray
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from hpsweep.core.errors import ConfigError, SweepFailedError
from hpsweep.core.records import write_json_atomic

log = logging.getLogger(__name__)

# Ray's own defaults would retry a lost worker 3 times and reuse a worker process for the next task
RETRIES = {"max_retries": 1, "max_calls": 1}
RAY_LOG, RAY_RECORD = "ray.log", "ray.json"
START_HINT = "start one with `ray start --head` (or scripts/ray_cluster.sh start), or name one with " \
             "hydra.launcher.ray.init.address=HOST:PORT"


def unreachable(address: tuple[str, int], timeout_s: float) -> OSError | None:
    """Why nothing answers at ``address`` (host, port) within ``timeout_s``; None where something does."""
    try:
        socket.create_connection(address, timeout=timeout_s).close()
    except OSError as error:
        return error
    return None


def address_of(launcher) -> str:
    """The cluster the sweep asked for, in words."""
    return str(launcher.ray_cfg.init.get("address") or "a new local Ray instance")


def connect(launcher) -> None:
    """Connect this driver to the launcher's Ray cluster (``hydra.launcher.ray.init``), or raise ``ConfigError``
    naming the address. The plugin sets ``object_store_memory`` for a Ray it starts itself, which Ray refuses when
    connecting to a running cluster: left out there (a value the user set there is refused by name)."""
    init = launcher.ray_cfg.init
    if init.get("address"):
        if init.get("object_store_memory") is not None:
            raise ConfigError([f"hydra.launcher.ray.init.object_store_memory={init.object_store_memory}: Ray takes no "
                               f"object store size when connecting to the running cluster at {init.address}; set "
                               "it where the cluster starts (ray start --object-store-memory)"])
        init["object_store_memory"] = None  # the plugin's setdefault keeps an existing key, even a None
    if ray.is_initialized():
        return
    address = str(init.get("address") or "")
    host, _, port = address.rpartition(":")
    # Ray itself would retry a silent address for minutes
    if host and port.isdigit() and "://" not in address and (error := unreachable((host, int(port)), 10)):
        raise ConfigError([f"hydra.launcher.ray.init.address={address}: no Ray cluster answers there ({error}); "
                           f"{START_HINT}"]) from error
    options = OmegaConf.to_container(init, resolve=True)
    options.setdefault("logging_level", logging.WARNING)  # Ray's own start-up lines: the progress holds the screen
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError([f"hydra.launcher.ray.init.address={init.get('address')}: no Ray cluster answers there "
                           f"({type(error).__name__}: {str(error).strip().splitlines()[0]}); {START_HINT}"]) from error


def ask_resources(launcher, jobs_per_gpu: int) -> dict:
    """Fill in what each training's task asks Ray for (the module's docstring says what and why), where the user
    set none under ``hydra.launcher.ray.remote``; return what every task asks for."""
    remote = launcher.ray_cfg.remote
    total = ray.cluster_resources()
    gpus, cpus = float(total.get("GPU", 0)), float(total.get("CPU", 0))
    wanted = {**RETRIES, "num_gpus": 1 / jobs_per_gpu if gpus else 0}
    if gpus:  # a share below one CPU is a fraction: too few CPUs must not keep a GPU's trainings apart
        share = cpus / gpus / jobs_per_gpu
        wanted["num_cpus"] = math.floor(share) if share >= 1 else math.floor(share * 1e4) / 1e4
    if "num_gpus" in remote and jobs_per_gpu > 1:
        log.info("hydra.launcher.ray.remote.num_gpus=%s wins over hydra.sweeper.jobs_per_gpu=%d", remote.num_gpus,
                 jobs_per_gpu)
    for key, value in wanted.items():
        if key not in remote:
            remote[key] = value
    asked = OmegaConf.to_container(remote, resolve=True)
    log.info("each training asks Ray for %s (%g CPUs, %g GPUs in the cluster)",
             ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in asked.items()), cpus, gpus)
    return asked


def start(launcher, jobs_per_gpu: int) -> None:
    """Connect to the cluster (``connect``), fill in what each training asks of it (``ask_resources``) and send
    each training's console to its own directory (``RayTask``); once, however often asked."""
    if isinstance(launcher.task_function, RayTask):
        return
    connect(launcher)
    ask_resources(launcher, jobs_per_gpu)
    launcher.task_function = RayTask(launcher.task_function)


def watched(launcher, sweep_dir: Path) -> "ClusterWatch":
    """Once every node is seen to read the sweep dir (``check_shared``): the watch of the cluster while the
    trainings run."""
    check_shared(sweep_dir)
    return ClusterWatch(launcher)


def _sees(path: str, content: str) -> tuple[str, bool]:
    """On a node: (its address, whether it reads ``content`` in ``path``)."""
    try:
        seen = Path(path).read_text() == content
    except OSError:
        seen = False
    return ray.util.get_node_ip_address(), seen


def check_shared(sweep_dir: Path, timeout_s: float = 120.0) -> None:
    """Raise ``ConfigError`` where a node of the cluster cannot read a file the driver writes into ``sweep_dir``:
    every training writes its results there, and the driver reads them. One small task per live node (no CPU
    asked, so a busy cluster answers too); a node that does not answer in ``timeout_s`` is only said."""
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    marker = Path(sweep_dir) / f".ray-check-{uuid.uuid4().hex}"
    content = f"{socket.gethostname()} {os.getpid()}"
    marker.write_text(content)
    sees = ray.remote(num_cpus=0, max_retries=0)(_sees)
    try:
        tasks = {sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                 .remote(str(marker), content): node for node in nodes}
        ready, late = ray.wait(list(tasks), num_returns=len(tasks), timeout=timeout_s)
        blind = [address for address, seen in ray.get(ready) if not seen]
    finally:
        marker.unlink(missing_ok=True)
    if late:
        log.warning("%d Ray node(s) did not say in %.0f s whether they see the sweep dir %s: %s", len(late), timeout_s,
                    sweep_dir, ", ".join(tasks[task]["NodeManagerAddress"] for task in late))
    if blind:
        raise ConfigError([f"hydra.sweep.dir={sweep_dir}: Ray node(s) {', '.join(sorted(set(blind)))} cannot read "
                           "what this driver writes there; every node writes its trainings' results into the sweep "
                           "dir, so it must be on a filesystem they all see (NFS, a cluster filesystem)"])


class ClusterWatch:
    """Whether the cluster's head (its GCS) still answers, asked every ``POLL_S`` by a daemon thread. Ray ends a
    driver that has not reached its GCS for a minute with a line of its own; the sweep ends first, saying which
    cluster is gone and that a re-run resumes (``lost``)."""

    POLL_S, LOST_AFTER_S = 2.0, 10.0

    def __init__(self, launcher):
        self.cluster = address_of(launcher)
        host, _, port = ray.get_runtime_context().gcs_address.rpartition(":")
        self.gcs = (host, int(port))
        self.silent_since: float | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.watch, name="hpsweep-ray-watch", daemon=True)
        self.thread.start()

    def answers(self) -> bool:
        return unreachable(self.gcs, self.POLL_S) is None

    def watch(self) -> None:
        while not self.stopped.wait(self.POLL_S):
            if self.answers():
                self.silent_since = None
            elif self.silent_since is None:
                self.silent_since = time.monotonic()

    def lost(self, error: BaseException | None = None) -> SweepFailedError | None:
        """The sweep's end where the cluster's head has not answered for ``LOST_AFTER_S`` (``ray stop``, the head
        node gone); with ``error`` (a job the launcher lost), as soon as it does not answer. None while it does."""
        silent = self.silent_since is not None and time.monotonic() - self.silent_since > self.LOST_AFTER_S
        if not silent and not (error is not None and not self.answers()):
            return None
        gcs = ":".join(map(str, self.gcs))
        return SweepFailedError(f"the Ray cluster at {self.cluster} (its head at {gcs}) stopped answering; start "
                                "it again and re-run the same command: it resumes what did not finish")

    def stop(self) -> None:
        self.stopped.set()


@dataclass
class RayTask:
    """A training's task function on a Ray worker: its console into ``ray.log`` in its own directory (Ray would
    stream every worker's lines to the driver's terminal) and ``ray.json`` saying where it ran and what Ray gave
    it. Pickled to the workers with the function it wraps, as the plugin pickles that function."""

    task_function: object

    def __call__(self, cfg):
        directory = Path(HydraConfig.get().runtime.output_dir)
        context = ray.get_runtime_context()
        record = {"node_ip": ray.util.get_node_ip_address(), "node_id": context.get_node_id(),
                  "task_id": context.get_task_id(), "pid": os.getpid(), "host": socket.gethostname(),
                  "resources": context.get_assigned_resources()}
        write_json_atomic(directory / RAY_RECORD, record)
        sys.stdout.flush()
        sys.stderr.flush()
        with open(directory / RAY_LOG, "ab") as out:  # not put back: what the worker says after (its exit's lines)
            os.dup2(out.fileno(), 1)  # is this training's too; a next task of the worker has its own file
            os.dup2(out.fileno(), 2)
        try:
            return self.task_function(cfg)
        finally:
            if "wandb" in sys.modules:  # its service ends with the task: Ray ends the worker's children at its exit,
                sys.modules["wandb"].teardown()  # and wandb's own teardown then would find it gone
