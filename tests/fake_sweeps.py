"""Sweep dirs as the sweeper and its jobs leave them (sweep.json, result.json, history.csv), written without
training: the plan is the real planner's, the values are given."""

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from conftest import CONF_DIR, ROOT
from test_sweep_plan import DEFAULT_CHOICES, plan

from hpsweep.core.manifest import training_entry, write_manifest
from hpsweep.core.trainings import Training, bare_key


def fake_sweep(root: Path, *arguments: str, value: Callable[[Training], float | str | None],
               choices: dict = DEFAULT_CHOICES, real_fingerprints: bool = False) -> list[Training]:
    """Write a sweep of ``arguments`` into ``root``; ``value(training)`` is its val_f1, or a status
    (``failed``, ``pruned``), or None for a training that never started. ``real_fingerprints``: each training's
    fingerprint is its composed config's, as the sweeper records it (what ``best --verify`` looks trainings up by);
    otherwise a digest of its overrides."""
    trainings = plan(*arguments, choices=choices)
    entries = []
    for number, training in enumerate(trainings):
        directory = root / (training.subdir or str(number))  # a plain multirun's: the job number, as Hydra's
        directory.mkdir(parents=True)
        job_fingerprint = real_fingerprint(training) if real_fingerprints else \
            hashlib.sha256(" ".join(training.overrides).encode()).hexdigest()[:16]
        entries.append(training_entry(training, directory, root, job_fingerprint))
        result = value(training)
        if result is None:
            continue
        record = {"fingerprint": job_fingerprint, "model": training.model, "duration_s": 60.0, "epochs_run": 3,
                  "overrides": list(training.overrides)}
        if isinstance(result, str):
            record.update(status=result, metrics=None, error={"type": "NonFiniteLossError", "message": "diverged"})
        else:
            record.update(status="completed", metrics={"val_f1": result, "val_acc": result, "val_loss": 1 - result,
                                                       "best_epoch": 3})
            write_history(directory, result)
        (directory / "result.json").write_text(json.dumps(record))
    fixed = [item for item in arguments if "," not in item and bare_key(item) not in ("category", "model")]
    write_manifest(root, {"app": {"script": str(ROOT / "run_experiments.py"), "config_dir": str(CONF_DIR),
                                  "config_name": "config"}, "fixed": fixed, "metric": "val_f1", "direction": "max",
                          "alpha": 0.05, "default_choices": choices, "strategy": "union"}, entries)
    return trainings


def real_fingerprint(training: Training) -> str:
    """The fingerprint the sweeper gives the training: of its config composed from ``conf/`` and of its data."""
    from hydra import compose, initialize_config_dir

    from hpsweep.data.digests import DataDigests

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return DataDigests().fingerprint(compose(config_name="config", overrides=list(training.overrides)))


def write_history(directory: Path, final: float, epochs: int = 3) -> None:
    with open(directory / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "val_f1", "val_loss"])
        writer.writeheader()
        for epoch in range(1, epochs + 1):
            writer.writerow({"epoch": epoch, "val_f1": final * epoch / epochs, "val_loss": 1 / epoch})


def by_option(values: dict[str, list[float] | float | str]) -> Callable[[Training], float | str | None]:
    """``{"SGD": [0.8, 0.9, 0.85], "base": 0.7}``: each option's value per replicate (in plan order)."""
    seen: dict[str, int] = {}

    def value(training: Training):
        given = values[training.option]
        if not isinstance(given, list):
            return given
        number = seen.get(training.option, 0)
        seen[training.option] = number + 1
        return given[number]

    return value
