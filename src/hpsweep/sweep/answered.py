"""The records of the trainings a carrier answers from its trajectory (``hpsweep.sweep.trajectories``).

Each answered training gets what a run of its own would leave: ``job.json``, ``result.json`` (with
``answered_by``), ``history.csv`` up to its own stop, ``.hydra/config.yaml`` (its config: the carrier's with
its own stopping rule, for ``hpsweep predict`` and greedy stages) and a W&B run of its own holding that
history; its best weights and probability files were written by the loop. Writing them never fails the
carrier: a training left without its result is recorded failed by the sweep and trains on its own when the
sweep runs again.
"""

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from hpsweep.core.manifest import entry_in
from hpsweep.core.records import HISTORY_FILE, JOB_FILE, RESULT_FILE, write_csv_atomic, write_json_atomic
from hpsweep.core.statuses import TrainingStatus
from hpsweep.train.tracking import Tracker

log = logging.getLogger(__name__)


def answers_of(manifest: dict | None, entry: dict | None, sweep_dir: Path) -> dict[Path, dict]:
    """The trainings the job answers: directory -> their early-stopping keys (patience, min_delta)."""
    answers = {}
    for relative in (entry or {}).get("answers", []):
        answered = entry_in(manifest, sweep_dir, sweep_dir / relative)
        if answered is not None and answered.get("shared"):
            answers[sweep_dir / relative] = answered["shared"]["early_stopping"]
    return answers


def write_answered(answered: dict[Path, dict], carrier: dict, carrier_dir: Path, cfg: DictConfig, manifest: dict,
                   sweep_dir: Path, tags_of) -> None:
    """Write each answered training's records from the loop's ``answered`` fields and the carrier's record
    (``tags_of(model, place)``: the W&B tags of a training in its place)."""
    for directory, fields in answered.items():
        try:
            entry = entry_in(manifest, sweep_dir, directory)
            shared = entry["shared"]
            place = {key: entry[key] for key in ("category", "option", "is_base", "rows", "replicate", "setting")}
            record = {**{key: carrier[key] for key in ("model", "wandb_project", "slurm_job_id", "setup",
                                                        "resumed_from_epoch", "gpu", "started_at",
                                                        "ended_at", "peak_memory_mb", "provenance")},
                      "validation": carrier.get("validation"),  # the same images as its carrier's
                      **place, "overrides": entry["overrides"], "run_name": shared["run_name"],
                      "fingerprint": entry["fingerprint"], "choices": shared["choices"], "interruptions": [],
                      # the job's own directory is absolute, a sweep dir given on the command line often relative
                      "answered_by": str(Path(carrier_dir).resolve().relative_to(Path(sweep_dir).resolve()))}
            own = cfg.copy()
            with open_dict(own):
                own.early_stopping.merge_with(shared["early_stopping"])
                own.category = place["category"]
            (directory / ".hydra").mkdir(exist_ok=True)
            OmegaConf.save(own, directory / ".hydra" / "config.yaml")
            config = OmegaConf.to_container(own, resolve=True)
            tracker = Tracker(project=record["wandb_project"], entity=cfg.logger.entity, name=record["run_name"],
                              group=place["category"], tags=tags_of(cfg.model.name, place), config=config,
                              mode=cfg.logger.mode, run_dir=directory, verbose=cfg.logger.get("verbose", False),
                              sweep_dir=sweep_dir)
            record["wandb_run_id"] = tracker.run_id
            write_json_atomic(directory / JOB_FILE, record)
            try:
                for row in fields["history"]:
                    tracker.log_epoch(row, int(row["epoch"]))
                tracker.set_summary({key if key == "best_epoch" else f"best_{key}": value
                                     for key, value in fields["metrics"].items()})
            finally:
                tracker.finish(failed=False)
            history = fields["history"]
            write_csv_atomic(directory / HISTORY_FILE, list(history[0]), [list(row.values()) for row in history])
            status = TrainingStatus.PRUNED if fields["pruned"] else TrainingStatus.COMPLETED
            record.update(status=status, error=None, metrics=fields["metrics"], pruned=fields["pruned"],
                          predictions=fields["predictions"], epochs_run=fields["epochs_run"],
                          stopped_early=fields["stopped_early"],
                          duration_s=round(sum(row["epoch_s"] for row in history), 3))  # its epochs' share
            write_json_atomic(directory / RESULT_FILE, record)
            log.info("run %s answered from this trajectory: %s at epoch %d of %d", record["run_name"], status,
                     fields["metrics"]["best_epoch"], fields["epochs_run"])
        except Exception as error:  # the carrier's own result stands; this one trains on its own next time
            log.error("%s could not be answered from this trajectory (%s: %s); re-running the sweep trains it",
                      directory, type(error).__name__, error)
