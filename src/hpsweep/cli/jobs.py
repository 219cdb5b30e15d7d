"""What ``hpsweep matrix`` shows of each training without training it: its names and epochs, composed as few times as
possible, and whether a sweep dir already holds its result."""

import multiprocessing
import os
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from hpsweep.core import naming
from hpsweep.core.fingerprints import fingerprint
from hpsweep.core.manifest import read_manifest, recorded_fingerprints
from hpsweep.core.records import read_result
from hpsweep.core.statuses import TrainingStatus, said
from hpsweep.data.digests import DataDigests
from hpsweep.decide.race_record import elimination, read_race, untrained_status
from hpsweep.sweep.plan import existing_jobs
from hpsweep.sweep.trajectories import option_keys


def done_in(sweep_dir: Path, trainings: list, compose_job) -> tuple[set, int, dict]:
    """The trainings completed (or pruned) in ``sweep_dir``, found as the sweeper finds them: by the fingerprint of each
    one's composed config and the files it reads (another config's result in the same directory is not this
    training's); how many trainings are new only because those files changed; and those racing stopped there
    (its ``race.json``), each with the word its state is said by (``not trained``): never to run."""
    if not sweep_dir.is_dir():
        return set(), 0, {}
    manifest = read_manifest(sweep_dir)
    race = read_race(sweep_dir)
    entries = {entry.get("fingerprint"): entry for entry in (manifest or {}).get("trainings", [])}
    existing = existing_jobs(sweep_dir, recorded_fingerprints(manifest))
    trained_on = {entry["config_fingerprint"]: entry.get("data_digest") for entry in (manifest or {}).get(
        "trainings", []) if entry.get("config_fingerprint")}
    digests = DataDigests()  # each data set digested once
    done, new_data, stopped = set(), 0, {}
    for training in trainings:
        cfg = compose_job(training)
        data, job_fingerprint = digests.digest_of(cfg), digests.fingerprint(cfg)
        result = read_result(existing[job_fingerprint]) if job_fingerprint in existing else None
        # a pruned training trained too: a re-run keeps it pruned while pruning is on (the default)
        if result and result.get("status") in (TrainingStatus.COMPLETED, TrainingStatus.PRUNED) and \
                result.get("fingerprint") == job_fingerprint:
            done.add(training)
        elif trained_on.get(fingerprint(cfg), data) != data:
            new_data += 1
        elif race and job_fingerprint in entries and (why := elimination(race, entries[job_fingerprint])):
            stopped[training] = said(untrained_status(why))
    return done, new_data, stopped


def describe_jobs(jobs: list, compose_job) -> list[dict]:
    """What the matrix shows of each job: its timm model name, W&B project, run label, epochs, image size and
    search space, composing as few configs as possible.

    Hydra takes about 75 ms to compose one config, too slow to do 68 times, and jobs that differ only
    in their model share everything but the model's names: the first job of each model and of each option
    are composed (on every core at once), and then only jobs whose option's name template reads the model's
    config.
    """
    first_of_model, first_of_option = {}, {}
    for number, job in enumerate(jobs):
        first_of_model.setdefault(job.model, number)
        first_of_option.setdefault(_option_key(job), number)
    described = _describe(sorted(set(first_of_model.values()) | set(first_of_option.values())), jobs, compose_job)
    exact = [number for number, job in enumerate(jobs)
             if number not in described and described[first_of_option[_option_key(job)]]["reads_model"]]
    described |= _describe(exact, jobs, compose_job)
    return [{**described[number if number in described else first_of_option[_option_key(job)]],
             **{key: described[first_of_model[job.model]][key] for key in ("model", "project")}}
            for number, job in enumerate(jobs)]


def _option_key(job) -> tuple:
    """What a job's description depends on: its overrides but its model and its replicate (a replicate changes
    neither its names nor its config but for the seed or fold, which the matrix compares without)."""
    return tuple(item for item in job.overrides if not item.startswith("model=") and item not in job.replicate)


_FORK_STATE: tuple | None = None  # (jobs, compose_job), inherited by forked workers


def _describe(numbers: list[int], jobs: list, compose_job) -> dict[int, dict]:
    """Compose the given jobs, shared between this process and processes forked from it (which inherit Hydra's
    state) when there are enough of them to pay for it: a core each, this one's included."""
    global _FORK_STATE
    _FORK_STATE = (jobs, compose_job)
    workers = min(os.cpu_count() or 1, len(numbers))
    if workers < 2 or len(numbers) < 8 or "fork" not in multiprocessing.get_all_start_methods():
        return dict(zip(numbers, map(_describe_one, numbers), strict=True))
    mine = len(numbers) // workers
    with multiprocessing.get_context("fork").Pool(workers - 1) as pool:
        theirs = pool.map_async(_describe_one, numbers[mine:])
        described = [*map(_describe_one, numbers[:mine]), *theirs.get()]
    return dict(zip(numbers, described, strict=True))


def _describe_one(number: int) -> dict:
    jobs, compose_job = _FORK_STATE
    job = jobs[number]
    cfg = compose_job(job)
    template = naming.name_pattern(cfg, job.category, resolve=False)
    described = {
        "model": cfg.model.name, "project": naming.wandb_project(cfg),
        "reads_model": "${model" in str(template),  # the option's run name differs per model
        "label": naming.run_label(cfg, dict(cfg.hydra.runtime.choices), naming.overridden_groups(list(job.overrides))),
        "epochs": cfg.trainer.max_epochs, "image_size": cfg.data.image_size,
        "search": OmegaConf.to_container(cfg.search) if cfg.get("search") else None,
    }
    with open_dict(cfg):  # the keys leave Hydra's node out: it need not be copied with the rest
        del cfg["hydra"]
    trajectory, config = option_keys(cfg)
    return {**described, "trajectory": trajectory, "config": config}  # config equal to the base's: trained once
