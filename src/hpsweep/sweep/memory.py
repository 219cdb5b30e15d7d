"""Fit before start: trainings that share a GPU (``hydra.sweeper.jobs_per_gpu``) must fit in its memory together.

Each training on CUDA records the most memory its allocator held (``peak_memory_mb`` in result.json). Where a GPU's
memory is known (``hydra.launcher.gpu_memory_gb`` or ``hydra.sweeper.gpu_memory_gb``, else the local machine's
through nvidia-smi), the pre-flight
takes each training's peak: its own recorded one (an earlier attempt of the same config), else an estimate from a
recorded training of the same model, scaled by images per batch x pixels (activations grow with both; never scaled
down, as weights and optimizer state do not shrink). Any ``jobs_per_gpu`` trainings may meet on one GPU (a queue's
workers or a pack's slots on it take whatever runs next), so the largest ``jobs_per_gpu`` peaks, each with its
process's CUDA context, must fit; otherwise the sweep is refused, naming them and the figures.
"""

import shutil
import subprocess
from pathlib import Path

from omegaconf import DictConfig

from hpsweep.core.errors import ConfigError
from hpsweep.core.records import RESULT_SHAPE, read_json
from hpsweep.core.statuses import RowStatus
from hpsweep.sweep.outcomes import PREVIOUS_RESULT_FILE, Outcome

CUDA_CONTEXT_MB = 500  # what each process's CUDA context takes besides its allocator (not in peak_memory_mb)


def local_gpu_memory_mb(visible: list[str]) -> int | None:
    """The smallest memory of this machine's GPUs ``visible`` (nvidia-smi indices), or None without nvidia-smi."""
    if not visible or shutil.which("nvidia-smi") is None:
        return None
    listed = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
                            capture_output=True, text=True, timeout=30)
    sizes = dict(line.replace(" ", "").split(",") for line in listed.stdout.splitlines() if "," in line)
    known = [int(sizes[gpu]) for gpu in visible if gpu in sizes]
    return min(known) if known else None


def _size(cfg: DictConfig | None) -> tuple[str, float] | None:
    """(model, images per batch x pixels) of an hpsweep config; None for another app's."""
    try:
        image_size = cfg.data.image_size
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        return str(cfg.model.name), float(cfg.data.batch_size * height * width)
    except Exception:  # not hpsweep's schema
        return None


def recorded_peaks(outcomes: list[Outcome]) -> list[tuple[Outcome, float]]:
    """(outcome, peak MB) for every recorded peak of these trainings: their results (read as the outcomes were
    made) and earlier attempts' (set aside as each was launched again)."""
    found = []
    for outcome in outcomes:
        earlier = read_json(Path(outcome.directory) / PREVIOUS_RESULT_FILE, RESULT_SHAPE)
        for record in (outcome.previous, earlier):
            peak = (record or {}).get("peak_memory_mb")
            if isinstance(peak, int | float) and record.get("fingerprint") in (None, outcome.fingerprint):
                found.append((outcome, float(peak)))
                break
    return found


def peaks(outcomes: list[Outcome], config_of: dict[str, DictConfig]) -> dict[int, tuple[float, str]]:
    """id(outcome) -> (peak MB, how it is known) for each pending training whose peak is recorded or estimated."""
    recorded = recorded_peaks(outcomes)
    own = {id(outcome): peak for outcome, peak in recorded}
    estimated = {}
    for outcome in outcomes:
        if outcome.status != RowStatus.PENDING:
            continue
        if id(outcome) in own:
            estimated[id(outcome)] = (own[id(outcome)], "recorded")
            continue
        size = _size(config_of.get(outcome.fingerprint))
        guesses = []
        for other, peak in recorded:
            known = _size(config_of.get(other.fingerprint))
            if size and known and known[0] == size[0]:
                guesses.append((peak * max(1.0, size[1] / known[1]), other.training.label))
        if guesses:
            peak, source = min(guesses)
            estimated[id(outcome)] = (peak, f"estimated from {source}")
    return estimated


def fit_problems(outcomes: list[Outcome], config_of: dict[str, DictConfig], jobs_per_gpu: int,
                 gpu_memory_mb: float | None) -> list[str]:
    """Why the largest ``jobs_per_gpu`` known peaks cannot share a GPU of ``gpu_memory_mb``; empty where they can
    (or nothing is known). A training alone is not checked: its recorded peak is what fitted."""
    if not gpu_memory_mb or jobs_per_gpu < 2:
        return []
    known = peaks(outcomes, config_of)
    largest = sorted(((peak, source, outcome) for outcome in outcomes if id(outcome) in known
                      for peak, source in [known[id(outcome)]]), key=lambda item: -item[0])[:jobs_per_gpu]
    needed = sum(peak + CUDA_CONTEXT_MB for peak, _, _ in largest)
    if needed <= gpu_memory_mb:
        return []
    named = "; ".join(f"{outcome.training.label}: {peak:.0f} MB ({source})" for peak, source, outcome in largest)
    return [f"hydra.sweeper.jobs_per_gpu={jobs_per_gpu}: {len(largest)} trainings that may share a GPU need "
            f"{needed:.0f} MB with their CUDA contexts ({CUDA_CONTEXT_MB} MB each), more than its "
            f"{gpu_memory_mb:.0f} MB (hydra.launcher.gpu_memory_gb or hydra.sweeper.gpu_memory_gb, else "
            f"nvidia-smi's): {named}. Set a smaller hydra.sweeper.jobs_per_gpu, or a smaller data.batch_size or "
            "data.image_size"]


def check_fit(outcomes: list[Outcome], config_of: dict[str, DictConfig], jobs_per_gpu: int,
              gpu_memory_gb: float | None, local_gpus: list[str]) -> None:
    """Raise ``ConfigError`` where the trainings cannot share a GPU of ``gpu_memory_gb`` (else of the smallest of
    this machine's ``local_gpus``)."""
    if jobs_per_gpu < 2:  # nothing shares a GPU: no need to ask nvidia-smi
        return
    memory_mb = gpu_memory_gb * 1024 if gpu_memory_gb else local_gpu_memory_mb(local_gpus)
    problems = fit_problems(outcomes, config_of, jobs_per_gpu, memory_mb)
    if problems:
        raise ConfigError(problems, summary="the trainings cannot share a GPU; nothing was started")
