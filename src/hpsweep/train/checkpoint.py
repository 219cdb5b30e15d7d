"""A training's checkpoint: written through a temporary file every epoch, read back only as tensors and plain data,
with every RNG's state, so that a killed or preempted job goes on from its last finished epoch."""

import errno
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from hpsweep.core.errors import CheckpointUnreadable, first_line
from hpsweep.core.records import set_aside, write_atomic


def rng_states(generator: torch.Generator | None) -> dict:
    """Every RNG's state in forms ``torch.load(weights_only=True)`` reads back: tensors, numbers, tuples."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),  # (version, 625 ints, None or a float)
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "loader": generator.get_state() if generator is not None else None,
    }


def restore_rng_states(states: dict, generator: torch.Generator | None) -> None:
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    numpy = states["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["gauss"]))
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    if generator is not None and states["loader"] is not None:
        generator.set_state(states["loader"])


def save_atomic(state: dict, path: Path) -> None:
    """``torch.save`` through a temporary file, so a kill or a full disk mid-write leaves the previous
    checkpoint intact (a failed write raises ``WriteFailed``, naming ``path``, and its temporary file is gone)."""
    def save(temporary: Path) -> None:
        try:
            torch.save(state, temporary)
        except RuntimeError as error:  # torch's writer says a failed write (a full disk) with a RuntimeError
            full = shutil.disk_usage(temporary.parent).free == 0
            raise OSError(errno.ENOSPC if full else errno.EIO, first_line(error)) from error

    write_atomic(path, save)


STARTS_OVER = "the training starts from epoch 1"  # what follows a checkpoint set aside
CHECKPOINT_KEYS = ("fingerprint", "epoch", "model", "optimizer", "scheduler", "scaler", "early_stopping", "history",
                   "rng")


def load_checkpoint(path: Path) -> dict | None:
    """The job's last checkpoint, or None where there is none or its content is unusable: cut short, garbage,
    without the states a training resumes from, or holding more than tensors and plain data (its own writer
    writes none: a file that needs a full unpickle could run whatever it names, so it is refused). Such a file
    is set aside and the training starts from its first epoch. One that cannot be read for a reason of the
    machine (an I/O error, a permission, memory) stays where it is, and the job fails with that reason."""
    if not path.is_file():
        return None
    try:  # on the CPU: the states move to the model's device as they load, and no GPU memory is needed here
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, MemoryError) as error:
        raise CheckpointUnreadable(f"{path} could not be read ({type(error).__name__}: {error}); it is kept: run "
                                   "the job again once it can be read, and it resumes from it") from error
    except Exception as error:  # cut short, empty, garbage, or more than tensors: torch raises one of several kinds
        refused = isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in str(error)
        set_aside(path, "it holds more than tensors and plain data: refused, not unpickled" if refused else
                  f"not a checkpoint that loads: {type(error).__name__}", then=STARTS_OVER)
        return None
    if not isinstance(checkpoint, dict) or not all(key in checkpoint for key in CHECKPOINT_KEYS):
        set_aside(path, "a checkpoint without the states a training resumes from", then=STARTS_OVER)
        return None
    return checkpoint
