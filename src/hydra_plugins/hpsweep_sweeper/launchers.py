"""submitit's launcher configs with what a category sweep adds: ``gpu_memory_gb``, the memory of each GPU the
jobs get, so that the pre-flight can refuse trainings that cannot share one (``hydra.sweeper.jobs_per_gpu``).
The sweeper takes the key out before the launcher sees it. hpsweep's presets (``hydra/launcher=slurm|local``)
extend these; with submitit's own configs, add it: ``+hydra.launcher.gpu_memory_gb=80``.
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf


@dataclass
class SlurmConf(SlurmQueueConf):
    gpu_memory_gb: float | None = None  # each GPU's memory; null: not checked


@dataclass
class LocalConf(LocalQueueConf):
    gpu_memory_gb: float | None = None  # null: this machine's, where nvidia-smi says it


ConfigStore.instance().store(group="hydra/launcher", name="hpsweep_slurm", node=SlurmConf, provider="hpsweep")
ConfigStore.instance().store(group="hydra/launcher", name="hpsweep_local", node=LocalConf, provider="hpsweep")
