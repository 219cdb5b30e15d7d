"""Which kind of Hydra launcher runs a sweep's jobs, decided once where the sweep starts (``Driver``): the launch
loop, the work queue and the packs ask the kind, never the launcher's class."""

from enum import StrEnum


class LauncherKind(StrEnum):
    BASIC = "basic"  # Hydra's BasicLauncher: one job at a time, in the driver's process
    LOCAL = "local"  # hydra_submitit_launcher's LocalLauncher: a work queue of processes, optionally pinned to GPUs
    SLURM = "slurm"  # its SlurmLauncher: job arrays, their tasks packs of trainings
    RAY = "ray"  # hydra_ray_launcher's RayLauncher: a work queue of Ray tasks (hpsweep.sweep.on_ray)
    OTHER = "other"  # any other launcher: batches of max_batch_size

    @classmethod
    def of(cls, launcher) -> "LauncherKind":
        """The kind of ``launcher``, by its class's name: naming a class imports neither Hydra's private module nor
        submitit."""
        return _BY_CLASS.get(type(launcher).__name__, cls.OTHER)


_BY_CLASS = {"BasicLauncher": LauncherKind.BASIC, "LocalLauncher": LauncherKind.LOCAL,
             "SlurmLauncher": LauncherKind.SLURM, "RayLauncher": LauncherKind.RAY}
