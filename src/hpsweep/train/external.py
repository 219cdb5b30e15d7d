"""``trainer=external``: an existing training script as a job, with the same records as the built-in loop.

The script gets the composed config as YAML and writes its metrics as JSON; a script that fails, runs
past its time limit, or writes no (or malformed) metrics makes a failed job with a clear reason.
"""

import json
import os
import shlex
import subprocess
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hpsweep.core.errors import UserError
from hpsweep.core.metrics import stopping_rule
from hpsweep.core.records import HISTORY_FILE, History
from hpsweep.train.tracking import Tracker

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
LOG_FILE = "external.log"


class ExternalTrainerError(UserError, RuntimeError):
    """The external training script did not produce a usable result."""


def fit_external(cfg: DictConfig, output_dir: Path, tracker: Tracker) -> dict:
    """Run ``trainer.command`` on the composed config; return the fields of ``result.json`` it yields."""
    config_path, metrics_path, log_path = (output_dir / name for name in (CONFIG_FILE, METRICS_FILE, LOG_FILE))
    OmegaConf.save(cfg, config_path, resolve=True)
    metrics_path.unlink(missing_ok=True)  # only this run's metrics count
    command = [*shlex.split(cfg.trainer.command), "--config", str(config_path), "--metrics", str(metrics_path)]
    env = {**os.environ, "HPSWEEP_CONFIG": str(config_path), "HPSWEEP_METRICS": str(metrics_path),
           "HPSWEEP_OUTPUT_DIR": str(output_dir)}
    with open(log_path, "w") as log:
        try:
            finished = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      timeout=cfg.trainer.timeout_min * 60)
        except subprocess.TimeoutExpired:
            raise ExternalTrainerError(f"{shlex.join(command[:-4])} did not finish within trainer.timeout_min="
                                       f"{cfg.trainer.timeout_min}; its output is in {log_path}") from None
        except OSError as error:
            raise ExternalTrainerError(f"trainer.command={cfg.trainer.command!r} could not start: {error}") from None
    if finished.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise ExternalTrainerError(f"{shlex.join(command[:-4])} exited with status {finished.returncode}; "
                                   f"last lines of {log_path}: " + " | ".join(tail))
    monitored = stopping_rule(cfg.early_stopping, cfg.get("data"))["monitor"]
    metrics = read_metrics(metrics_path, monitored)

    history = metrics.pop("history", None) or []
    if history:
        writer = History(output_dir / HISTORY_FILE)
        for epoch, row in enumerate(history, start=1):
            writer.append(row)
            tracker.log_epoch(row, row.get("epoch", epoch))
    summary = {key: metrics[key] for key in ("val_f1", "val_acc", "val_loss", "best_epoch", monitored)
               if key in metrics}
    tracker.set_summary({key if key == "best_epoch" else f"best_{key}": value for key, value in summary.items()})
    return {
        "metrics": summary,
        "epochs_run": metrics.get("epochs_run", len(history) or None),
        "stopped_early": bool(metrics.get("stopped_early", False)),
        "resumed_from_epoch": None,
        "predictions": None,
        "pruned": None,
        "setup": {"external_command": cfg.trainer.command},
    }


def read_metrics(path: Path, monitor: str) -> dict:
    """The script's metrics; the monitored one must be a number."""
    if not path.is_file():
        raise ExternalTrainerError(f"the training script wrote no metrics file at {path} (it is given as --metrics "
                                   f'and HPSWEEP_METRICS); write JSON such as {{"{monitor}": 0.93, "val_acc": 0.95}}')
    try:
        metrics = json.loads(path.read_text())
    except ValueError as error:
        raise ExternalTrainerError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get(monitor), (int, float)):
        raise ExternalTrainerError(f"{path} must be a JSON object with a number under {monitor!r} "
                                   f"(early_stopping.monitor); it holds {str(metrics)[:200]}")
    return metrics
