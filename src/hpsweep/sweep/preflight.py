"""Pre-flight checks of a whole sweep: every job's values, each data set, model name, pretrained weights and image
size."""

import json
import logging

from omegaconf import DictConfig, OmegaConf

from hpsweep.core.errors import ConfigError
from hpsweep.core.trainings import Training
from hpsweep.train.validation import config_problems, config_warnings


def chosen_options(job: Training) -> dict[str, str]:
    """The option files a job's command line chooses (``mixup=mixup0.2``, ``+ema=decay0.999``), by group."""
    chosen = {}
    for item in job.overrides:
        key, _, value = item.lstrip("+").partition("=")
        if value and "." not in key and "/" not in key and "@" not in key:
            chosen[key] = value
    return chosen


def job_problems(jobs: list[Training], configs: list[DictConfig | None]) -> list[str]:
    """Every problem of every composed job, each naming the jobs, the key, the value and what is allowed.

    A problem shared by many jobs is reported once with their numbers; model names and image sizes
    are checked once per distinct value. Imports torch and timm (the model checks need them).
    """
    from hpsweep.train.data import data_problems
    from hpsweep.train.models import check_model_name, image_size_problem, weights_problem

    jobs_of: dict[str, list[int]] = {}  # problem -> the jobs that have it
    warned: dict[str, list[int]] = {}
    models: dict[str, list[int]] = {}
    weights: dict[str, tuple[DictConfig, list[int]]] = {}  # each model config's weights looked for once
    data_sets: dict[str, tuple[DictConfig, list[int]]] = {}
    sizes: dict[tuple[str, int], tuple[DictConfig, list[int]]] = {}
    for number, (_job, cfg) in enumerate(zip(jobs, configs, strict=True)):
        if cfg is None:
            continue  # its composition error is already reported
        for problem in config_problems(cfg, chosen_options(_job)):
            jobs_of.setdefault(problem, []).append(number)
        for warning in config_warnings(cfg):
            warned.setdefault(warning, []).append(number)
        models.setdefault(cfg.model.name, []).append(number)
        weights_key = json.dumps([cfg.model.name, cfg.model.get("pretrained"), cfg.model.get("checkpoint_path")])
        weights.setdefault(weights_key, (cfg.model, []))[1].append(number)
        data_key = json.dumps(OmegaConf.to_container(cfg.data, resolve=True), sort_keys=True, default=str)
        data_sets.setdefault(data_key, (cfg.data, []))[1].append(number)
        sizes.setdefault((cfg.model.name, cfg.data.image_size), (cfg.model, []))[1].append(number)

    for data_cfg, numbers in data_sets.values():  # a scan of every image, once per distinct data set
        for problem in data_problems(data_cfg):
            jobs_of.setdefault(problem, []).extend(numbers)
    unknown = set()
    for name, numbers in models.items():
        try:
            check_model_name(name)
        except ConfigError as error:
            unknown.add(name)
            for problem in error.problems:
                jobs_of.setdefault(problem, []).extend(numbers)
    for model_cfg, numbers in weights.values():
        problem = weights_problem(model_cfg) if model_cfg.name not in unknown else None
        if problem:
            jobs_of.setdefault(problem, []).extend(numbers)
    for (name, image_size), (model_cfg, numbers) in sizes.items():
        if name not in unknown and isinstance(image_size, int) and image_size >= 8:
            problem = image_size_problem(model_cfg, image_size)
            if problem:
                jobs_of.setdefault(problem, []).extend(numbers)
    for warning, numbers in warned.items() if not jobs_of else ():  # they run, but the user should know first
        logging.getLogger(__name__).warning("%s: %s", _which(numbers, jobs), warning)
    return [f"{_which(numbers, jobs)}: {problem}" for problem, numbers in jobs_of.items()]


def _which(numbers: list[int], jobs: list[Training]) -> str:
    """The trainings a problem concerns, by their numbers in the plan: counted as ``hpsweep matrix`` counts them."""
    if len(numbers) == 1:
        return f"training {numbers[0]} ({jobs[numbers[0]].label})"
    listed = ", ".join(map(str, numbers)) if len(numbers) <= 6 else f"{numbers[0]}-{numbers[-1]}"
    return f"trainings {listed} ({len(numbers)} trainings)"
