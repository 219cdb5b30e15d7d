"""The category sweep as pure functions: which jobs a command line means, and which of them are done.

A category sweep is a union over categories, not a product: for each model, for each category, for
each option of that category, the base config with that one group set to that option. Any other sweep
override (``seed=1,2,3``) multiplies the jobs as Hydra's BasicSweeper would. The sweeper plugin, the
matrix view and the interactive mode all call ``plan_jobs``, so they cannot disagree.

Only hydra and omegaconf here: ``hpsweep matrix`` must print without importing torch or timm.
"""

import hashlib
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Glob, Override
from omegaconf import DictConfig, OmegaConf

from hpsweep.errors import ConfigError

JOB_FILE = "job.json"
_UNSAFE_IN_PATHS = re.compile(r"[^A-Za-z0-9._+-]")
# Config keys that do not change what a job computes: a re-run with another W&B mode is the same job.
NOT_FINGERPRINTED = ("hydra", "logger")


@dataclass(frozen=True)
class Job:
    """One run of a sweep: its Hydra overrides, and where it sits in the model x category x option matrix."""

    overrides: tuple[str, ...]
    model: str | None = None  # None: the base config's model
    category: str | None = None
    option: str | None = None
    swept: tuple[str, ...] = ()  # the overrides of other swept keys (seed=2), which name its directory too

    @property
    def option_label(self) -> str:
        """The option and any other swept values (``SGD seed=2``), as tables show them."""
        return " ".join(filter(None, (self.option, *self.swept))) or "base"

    @property
    def label(self) -> str:
        if self.category is None:
            return " ".join(self.overrides) or "base"
        return f"{self.model or 'base model'} / {self.category} / {self.option}"


def override_values(override: Override, universe: list[str]) -> list[str]:
    """The values a ``key=...`` override names: a list, a ``glob(...)`` over ``universe``, or ``all``."""
    value = override.value()
    if isinstance(value, Glob):
        return value.filter(universe)
    values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [
        override.get_value_element_as_str()]
    return list(universe) if values == ["all"] else values


def plan_jobs(overrides: list[Override], group_options: Callable[[str], list[str]],
              all_categories: list[str], default_groups: Collection[str] = ()) -> list[Job]:
    """Every job of a sweep, in launch order.

    ``group_options(group)`` lists a config group's options (Hydra's config loader, or a stub in
    tests); ``all_categories`` is what ``category=all`` and ``category=glob(...)`` choose from;
    ``default_groups`` are the groups the primary config's defaults list names (the others, such
    as a new category folder, are added with ``+group=option``). Without a ``category`` override
    the result is exactly the BasicSweeper's product.
    """
    by_key = {override.get_key_element(): override for override in overrides}
    category_override = by_key.pop("category", None)
    if category_override is None:
        swept_keys = {override.get_key_element() for override in overrides if override.is_sweep_override()}
        return [Job(tuple(combination), swept=_swept(combination, swept_keys))
                for combination in BasicSweeper.split_arguments(overrides, None)[0]]

    categories = override_values(category_override, all_categories)
    model_override = by_key.pop("model", None)
    model_files = group_options("model")
    models = override_values(model_override, model_files) if model_override else [None]
    problems = [f"category={name!r}: no config group of that name has options; categories: "
                f"{', '.join(all_categories)} (or any folder of option files in the config dir)"
                for name in categories if not group_options(name)]
    problems += [f"model={name!r}: no conf/model/{name}.yaml; models: {', '.join(model_files)}"
                 for name in models if name is not None and name not in model_files]
    if problems:
        raise ConfigError(problems)
    others = BasicSweeper.split_arguments(list(by_key.values()), None)[0]
    swept_keys = {key for key, override in by_key.items() if override.is_sweep_override()}

    jobs = []
    for model in models:
        for category in categories:
            for option in group_options(category):
                for combination in others:
                    # the job's own category option wins over a fixed override of the same group
                    kept = [item for item in combination if item.split("=", 1)[0].lstrip("+~") != category]
                    add = "" if category in default_groups else "+"
                    head = [f"model={model}"] if model else []
                    head += [f"category={category}", f"{add}{category}={option}"]
                    jobs.append(Job(tuple(head + kept), model, category, option, _swept(kept, swept_keys)))
    return jobs


def _swept(combination: list[str], swept_keys: set[str]) -> tuple[str, ...]:
    return tuple(item for item in combination if item.split("=", 1)[0] in swept_keys)


def fingerprint(task_cfg: DictConfig) -> str:
    """A digest of everything that decides what a job computes: its fully resolved config."""
    kept = OmegaConf.masked_copy(task_cfg, [key for key in task_cfg if key not in NOT_FINGERPRINTED])
    container = OmegaConf.to_container(kept, resolve=True)
    container.get("trainer", {}).pop("progress_bar", None)
    return hashlib.sha256(json.dumps(container, sort_keys=True, default=str).encode()).hexdigest()[:16]


def job_subdir(job: Job, model_name: str) -> str:
    """A readable job directory: ``<model>/<category>/<option>``, then any other swept values
    (``test_resnet/optimizer/SGD/seed-2``); a plain multirun job is named by its swept values alone."""
    swept = "_".join(_UNSAFE_IN_PATHS.sub("_", item.replace("=", "-")) for item in job.swept)
    if job.category is None:
        return swept or "base"
    return "/".join(part for part in (model_name, job.category, job.option, swept) if part)


def existing_jobs(sweep_dir: Path) -> dict[str, Path]:
    """Job directories already under ``sweep_dir``, by the fingerprint each job recorded when it started."""
    found = {}
    for path in sorted(Path(sweep_dir).glob(f"**/{JOB_FILE}")):
        try:
            found[json.loads(path.read_text())["fingerprint"]] = path.parent
        except (ValueError, KeyError):
            continue  # a job.json cut short by a kill: that job simply runs again
    return found


def assign_directories(sweep_dir: Path, wanted: list[tuple[str, str]]) -> list[Path]:
    """Pick each job's directory: the one that already holds its fingerprint (to skip or resume it),
    else its readable subdir, suffixed with the fingerprint where another config took that name."""
    sweep_dir = Path(sweep_dir)
    existing = existing_jobs(sweep_dir)
    taken = {path.resolve() for path in existing.values()}
    chosen = []
    for job_fingerprint, subdir in wanted:
        if job_fingerprint in existing:
            chosen.append(existing[job_fingerprint])
            continue
        directory = sweep_dir / subdir
        if directory.resolve() in taken or (directory / JOB_FILE).exists():
            directory = sweep_dir / f"{subdir}-{job_fingerprint[:8]}"
        taken.add(directory.resolve())
        chosen.append(directory)
    return chosen
