"""One job of a sweep (or a single run): its records and its failure handling around the training loop.

``run(cfg)`` owns the job's failure handling: whatever happens, ``result.json`` says how it ended and the
W&B run is finished. The loop itself is ``hpsweep.train.loop.fit``.
"""

import logging
import os
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from hpsweep.core import naming
from hpsweep.core.errors import ClaimLost, UserError
from hpsweep.core.fingerprints import fingerprint
from hpsweep.core.manifest import entry_in, read_manifest
from hpsweep.core.provenance import collect
from hpsweep.core.records import (
    CHECKPOINT_FILE,
    HISTORY_FILE,
    JOB_FILE,
    RESULT_FILE,
    now,
    owning,
    read_history,
    read_job_record,
    read_result,
    write_json_atomic,
)
from hpsweep.core.statuses import TrainingStatus
from hpsweep.core.trainings import BASE
from hpsweep.data.digests import data_digest
from hpsweep.report.page import refresh
from hpsweep.sweep import progress
from hpsweep.sweep.answered import answers_of, write_answered
from hpsweep.sweep.claims import JobClaim, describe
from hpsweep.sweep.settings import Pruning
from hpsweep.train.checks import validate
from hpsweep.train.external import fit_external
from hpsweep.train.loop import fit
from hpsweep.train.preemption import JobNotRequeued, StopSignals
from hpsweep.train.tracking import Tracker

log = logging.getLogger(__name__)


def run(cfg: DictConfig, output_dir: str | Path | None = None) -> dict:
    """Train the experiment ``cfg`` describes and return its best validation metrics.

    Writes ``result.json`` (completed or failed, with the reason) and ``history.csv`` into
    ``output_dir`` (default: Hydra's output dir for this job). Re-raises a failure after recording it;
    a stop signal ends it without a result, to resume (see ``hpsweep.train.preemption``).
    """
    hydra_cfg = HydraConfig.get()
    output_dir = Path(output_dir or hydra_cfg.runtime.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with owning(output_dir):  # what it cannot read in its own directory, it sets aside; nothing elsewhere
        claim = JobClaim(output_dir)  # its driver's, adopted; or its own, outside a category sweep
        if not claim.won:  # another process trains it (its own driver's claim was taken over as stale): not twice
            raise UserError(f"{output_dir} is being trained by {describe(claim.holder)}: not training it here too")
        try:
            with console_kept_to_log(progress.quiet_jobs and hydra_cfg.mode == RunMode.MULTIRUN):
                return train(cfg, hydra_cfg, output_dir, claim)
        finally:
            if (output_dir / RESULT_FILE).is_file():
                claim.release()
                if hydra_cfg.mode == RunMode.MULTIRUN:  # the page shows this training's end, where no driver does
                    refresh(Path(hydra_cfg.sweep.dir), unless_kept=True)
            else:  # a stop signal, a kill or a takeover: the claim stays, for the requeued job, to go stale, or theirs
                claim.keep()


@contextmanager
def console_kept_to_log(keep: bool):
    """A training run in its driver's process (Hydra's basic launcher) keeps its console lines below warnings (per
    epoch, the W&B path) to its log file, where Hydra's job logging writes them too: the driver's progress holds the
    terminal (``hpsweep.sweep.progress``)."""
    consoles = [handler for handler in logging.getLogger().handlers if type(handler) is logging.StreamHandler] \
        if keep else []
    levels = [handler.level for handler in consoles]
    for handler in consoles:
        handler.setLevel(max(handler.level, logging.WARNING))
    if keep:  # a warning that still reaches the console fits it
        progress.fit_log_lines()
    try:
        yield
    finally:
        for handler, level in zip(consoles, levels, strict=True):
            handler.setLevel(level)


def train(cfg: DictConfig, hydra_cfg, output_dir: Path, claim: JobClaim) -> dict:
    """``run``'s work, under the job's claim on ``output_dir``: checked before every write, so that a job taken
    over (``ClaimLost``) stops without writing anything more there."""
    choices = dict(hydra_cfg.runtime.choices)
    manifest, entry = sweep_entry(hydra_cfg, output_dir)
    place = place_in_sweep(entry, cfg.get("category"), choices)
    data = data_read(manifest, entry, cfg)
    job_fingerprint = fingerprint(cfg, (data or {}).get("digest"))
    done = read_result(output_dir)
    if done and done["status"] == TrainingStatus.COMPLETED and done.get("fingerprint") == job_fingerprint:
        # a start after the end: SLURM requeued the job (a signal) as it finished; nothing to train again
        log.info("run %s already completed in %s", done.get("run_name"), output_dir)
        return done.get("metrics") or {}
    record = job_record(cfg, hydra_cfg, output_dir, manifest, place, data, job_fingerprint)
    write_json_atomic(output_dir / JOB_FILE, record)
    stops = record["interruptions"]
    started = time.monotonic() - (stops[-1]["duration_s"] if stops else 0)  # the job's earlier starts count
    tracker = competition = None
    trained = naming.without_run_names(cfg)  # the options' own arguments: a run name is no optimizer's argument
    if progress.quiet_jobs:  # no tqdm bar under the driver's progress (not part of the fingerprint)
        trained.trainer.progress_bar = False
    with StopSignals() as stop:
        try:
            validate(trained, warn=manifest is None)  # a category sweep's pre-flight warned once for all its jobs
            tracker = open_tracker(cfg, hydra_cfg, record, place, output_dir)
            record["wandb_run_id"] = tracker.run_id
            write_json_atomic(output_dir / JOB_FILE, record)
            competition = join_competition(manifest, entry, hydra_cfg, job_fingerprint, cfg.trainer.max_epochs)
            if cfg.trainer.get("command"):  # trainer=external: the user's own script trains
                outcome = fit_external(trained, output_dir, tracker)
            else:
                outcome = fit(trained, output_dir, tracker, job_fingerprint, stop, competition,
                              answers_of(manifest, entry, Path(hydra_cfg.sweep.dir)), claim.check)
            claim.check()
        except BaseException as error:  # an interrupt (KeyboardInterrupt) writes no result.json: resumable
            end_failed(error, record, output_dir, tracker, competition, claim, stop, started)
            raise
    answered = record_result(outcome, record, output_dir, tracker, competition, started)
    if answered:
        write_answered(answered, record, output_dir, cfg, manifest, Path(hydra_cfg.sweep.dir), run_tags)
    if stop.received:  # it came after the last training step: the job is complete, the process still ends
        raise SystemExit(128 + stop.received[0])
    return record["metrics"]


def job_record(cfg: DictConfig, hydra_cfg, output_dir: Path, manifest: dict | None, place: dict, data: dict | None,
               job_fingerprint: str) -> dict:
    """``job.json``: who this training is, where it runs, what made it; an interrupted job's names and W&B run
    kept."""
    choices = dict(hydra_cfg.runtime.choices)
    earlier = read_job(output_dir, job_fingerprint)  # the same job, interrupted: keep its names and W&B run
    task_overrides = list(hydra_cfg.overrides.task)
    return {
        "model": cfg.model.name,
        **place,
        "overrides": task_overrides,  # what the command line set: it wins over the option files in `choices`
        "run_name": earlier["run_name"] if earlier else naming.run_name(
            cfg, choices, naming.overridden_groups(task_overrides), datetime.now(), place["replicate"]),
        "wandb_project": naming.wandb_project(cfg),
        "wandb_run_id": earlier.get("wandb_run_id") if earlier else None,
        "fingerprint": job_fingerprint,
        "choices": {group: option for group, option in choices.items() if not group.startswith("hydra")},
        "slurm_job_id": slurm_job_id(),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),  # the GPU its worker or pack slot pinned it to
        "started_at": now(),  # this start's (a resumed job's earlier starts are in interruptions)
        "interruptions": earlier.get("interruptions", []) if earlier else [],  # stop signals, each resumed
        # the code, data and packages that make this number (hpsweep.core.provenance)
        "provenance": collect((manifest or {}).get("app", {}).get("script") or sys.argv[0], data),
    }


def open_tracker(cfg: DictConfig, hydra_cfg, record: dict, place: dict, output_dir: Path) -> Tracker:
    """The job's W&B run (resumed where the job was interrupted)."""
    return Tracker(
        project=record["wandb_project"],
        entity=cfg.logger.entity,
        name=record["run_name"],
        group=place["category"] or BASE,
        tags=run_tags(cfg.model.name, place),
        config={**OmegaConf.to_container(cfg, resolve=True), "provenance": record["provenance"]},
        mode=cfg.logger.mode,
        run_dir=output_dir,
        run_id=record["wandb_run_id"],
        verbose=cfg.logger.get("verbose", False),
        sweep_dir=Path(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None,
    )


def end_failed(error: BaseException, record: dict, output_dir: Path, tracker: Tracker | None, competition,
               claim: JobClaim, stop: StopSignals, started: float) -> None:
    """What a job that did not finish leaves, before its error goes on up: nothing where a stop signal ended it
    (it is requeued) or its training was taken over (its new holder records it); else its failure."""
    if stop.received:  # the signal ended the job, whatever it raised (W&B's service may have gone first)
        try:
            end_interrupted(record, output_dir, tracker, stop, started)  # exits, to be requeued
        except JobNotRequeued as refused:
            record_failure(record, output_dir, refused, started)
            raise
    lost = isinstance(error, ClaimLost) or not holds_still(claim)
    if tracker is not None:
        if lost:
            tracker.set_summary({"status": "taken_over"})
        tracker.finish(failed=True)
    if lost or not isinstance(error, Exception):
        return
    if competition is not None:
        competition.finish(None, TrainingStatus.FAILED)
    try:
        record_failure(record, output_dir, error, started)
    except OSError as unrecorded:  # a full disk: the sweep records it from the launcher's return
        log.error("run %s failed (%s: %s) and could not record it: %s", record["run_name"],
                  type(error).__name__, error, unrecorded)


def record_result(outcome: dict, record: dict, output_dir: Path, tracker: Tracker, competition,
                  started: float) -> dict | None:
    """``result.json`` of a training that ran to its end (completed, or pruned), its competition told; what it
    returns is the trainings of the same trajectory it answers, for their own records."""
    answered = outcome.pop("answered", None)
    status = TrainingStatus.PRUNED if outcome.get("pruned") else TrainingStatus.COMPLETED
    if competition is not None:
        competition.finish(outcome["metrics"].get(competition.metric), status)
    if status == TrainingStatus.PRUNED:
        tracker.set_summary({"status": TrainingStatus.PRUNED, "pruned_at_epoch": outcome["pruned"]["epoch"]})
        log.info("run %s pruned: %s", record["run_name"], outcome["pruned"]["reason"])  # its category's rule
    tracker.finish(failed=False)
    record.update(status=status, error=None, duration_s=round(time.monotonic() - started, 3), ended_at=now(),
                  **{"peak_memory_mb": None, "validation": None, **outcome})  # trainer=external measures neither
    write_json_atomic(output_dir / RESULT_FILE, record)
    # only now: a kill before the result resumes from the last epoch and trains none
    if status == TrainingStatus.COMPLETED:
        (output_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    log.info("run %s %s: %s", record["run_name"], status, ", ".join(
        f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}"
        for name, value in (record["metrics"] or {}).items()))
    return answered


def holds_still(claim: JobClaim) -> bool:
    """Whether this job still holds its training (a failure of its own is recorded only then)."""
    try:
        claim.check()
    except ClaimLost:
        return False
    return True


def run_tags(model_name: str, place: dict) -> list[str]:
    """A run's W&B tags: its model, every category and option it answers, and its replicate."""
    return list(dict.fromkeys([model_name, *(value for row in place["rows"] for value in row.values()
                                             if isinstance(value, str)),
                               *(f"{key}={value}" for key, value in place["replicate"].items())]))


def sweep_entry(hydra_cfg, output_dir: Path) -> tuple[dict | None, dict | None]:
    """The job's sweep manifest and its entry in it; (None, None) for a run outside a category sweep."""
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None, None
    manifest = read_manifest(Path(hydra_cfg.sweep.dir))
    return manifest, entry_in(manifest, Path(hydra_cfg.sweep.dir), output_dir) if manifest else None


def data_read(manifest: dict | None, entry: dict | None, cfg: DictConfig) -> dict | None:
    """The digest of the files this job reads: its sweep's (digested once for all its jobs, ``data_sources``), or
    its own for a run outside a sweep. None where it cannot be read: the job's validation says why."""
    try:
        return _data_read(manifest, entry, cfg)
    except Exception as error:  # a data config the pre-flight refuses (data.root missing): validate names it
        log.debug("no data digest: %s: %s", type(error).__name__, error)
        return None


def _data_read(manifest: dict | None, entry: dict | None, cfg: DictConfig) -> dict | None:
    if entry is not None and "data_digest" in entry:
        if entry["data_digest"] is None:  # a bundled set, named by its config
            return data_digest(cfg.data)
        return next((source["data"] for source in manifest.get("data_sources", [])
                     if (source.get("data") or {}).get("digest") == entry["data_digest"]), None) or \
            {"digest": entry["data_digest"]}
    return data_digest(cfg.data)


def place_in_sweep(entry: dict | None, category: str | None, choices: dict) -> dict:
    """The rows this job answers (several where it trains the base combination) and its replicate, from its
    sweep's manifest; a run outside a sweep answers its own category option, or the base."""
    if entry is not None:
        return {key: entry[key] for key in ("category", "option", "is_base", "rows", "replicate", "setting")}
    option = choices.get(category) if category else BASE
    return {"category": category, "option": option, "is_base": not category,
            "rows": [{"category": category, "option": option, "stage": 0}], "replicate": {}, "setting": []}


def join_competition(manifest: dict | None, entry: dict | None, hydra_cfg, job_fingerprint: str, max_epochs: int):
    """The job's place in its categories' Optuna studies, where the sweep prunes (``hydra.sweeper.pruner``)."""
    pruning = (manifest or {}).get("pruning") or {}
    if entry is None or pruning.get("pruner", "none") == "none" or not any(row["category"] for row in entry["rows"]):
        return None
    from hpsweep.sweep.studies import Competition  # Optuna's import: only where the sweep prunes

    try:
        return Competition(Path(hydra_cfg.sweep.dir), entry, job_fingerprint, Pruning(**pruning), manifest["metric"],
                           manifest["direction"], max_epochs)
    except Exception as error:  # pruning saves time; it never fails a training
        log.warning("pruning is off for this training: its studies could not be opened (%s: %s)",
                    type(error).__name__, error)
        return None


def record_failure(record: dict, output_dir: Path, error: Exception, started: float) -> None:
    """``result.json`` of a job that raised: failed, why, and how far it got."""
    record.update(status=TrainingStatus.FAILED, error={"type": type(error).__name__, "message": str(error)},
                  duration_s=round(time.monotonic() - started, 3), metrics=None, stopped_early=False,
                  epochs_run=len(read_history(output_dir / HISTORY_FILE)), resumed_from_epoch=None, setup=None,
                  pruned=None, predictions=None, peak_memory_mb=None, validation=None, ended_at=now())
    write_json_atomic(output_dir / RESULT_FILE, record)
    log.error("run %s failed: %s: %s", record["run_name"], type(error).__name__, error)


def end_interrupted(record: dict, output_dir: Path, tracker: Tracker | None, stop: StopSignals,
                    started: float) -> None:
    """Note the stop signal in ``job.json``, finish the W&B run as preempting and hand over: the job exits
    to be requeued (or resumed by a re-run of the sweep), or raises ``JobNotRequeued``."""
    epochs_done = len(read_history(output_dir / HISTORY_FILE))
    record["interruptions"].append({
        "signal": stop.received[0].name, "at": now(),
        "epochs_done": epochs_done, "duration_s": round(time.monotonic() - started, 3)})
    write_json_atomic(output_dir / JOB_FILE, record)
    log.warning("run %s stopped by %s after epoch %d: it resumes from its checkpoint when requeued or run "
                "again", record["run_name"], stop.received[0].name, epochs_done)
    if tracker is not None:
        tracker.finish_interrupted()
    stop.hand_over()


def slurm_job_id() -> str | None:
    """This job's SLURM id (``<array job>_<task>`` in a job array), or None outside SLURM."""
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def read_job(output_dir: Path, job_fingerprint: str) -> dict | None:
    """The ``job.json`` an earlier start of this same job left in ``output_dir``, if any."""
    earlier = read_job_record(output_dir)
    return earlier if earlier is not None and earlier["fingerprint"] == job_fingerprint else None
