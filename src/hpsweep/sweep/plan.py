"""The category sweep as pure functions: which rows a command line asks about, which trainings answer them.

A category sweep is a union over categories, not a product: for each model, for each category, for each
option of that category, the base config with that one group set to that option. That is a *row* of the
answer. Rows hold *replicates*: the values of the keys in ``hydra.sweeper.replicates`` (the seed, the
fold), repeats of the same config rather than options to choose from. Each (row, replicate) is trained by
one *training*; rows whose configs are the same share it (the base combination is the option of every
category whose default it is, and is trained once). Any other swept key (``trainer.max_epochs=5,10``) is a
*setting*: each value is a comparison of its own.

The sweeper, ``hpsweep matrix`` and the interactive mode all call ``plan_jobs``, so they cannot disagree.
Only hydra and omegaconf here: ``hpsweep matrix`` must print without importing torch or timm.
"""

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from hydra.core.override_parser.types import Glob, IntervalSweep, Override
from omegaconf import DictConfig, OmegaConf

from hpsweep.core.errors import ConfigError, closest, unknown_option
from hpsweep.core.hydra_private import product
from hpsweep.core.records import JOB_FILE, in_attempt, read_job_record
from hpsweep.core.trainings import BASE, DEFAULT_REPLICATES, Row, Training, bare_key


@dataclass
class PlanRequest:
    """What a plan needs to know of the app: its config groups, the base's choices, the replicate keys."""

    group_options: Callable[[str], list[str]]  # a config group's options (Hydra's config loader)
    all_categories: Sequence[str]  # what category=all and category=glob(...) choose from
    default_choices: Mapping[str, str | None] = field(default_factory=dict)  # the primary config's choices
    replicate_keys: Sequence[str] = DEFAULT_REPLICATES
    has_category_key: bool = True  # the primary config has a ``category`` key for the sweeper to set
    control_seeds: int = 0  # extra values of ``control_key`` the base trains where no replicate key is swept
    control_key: str | None = None  # the first replicate key the app's config has as an integer (``seed``)
    control_base: int = 0  # its value in the config

    def __post_init__(self):
        # Hydra's loader builds a fresh config repository for each call (13 ms): ask it once per group.
        # A group placed at a package of its own (``db@backup``, as its defaults entry names it) has its group's
        # options.
        options = self.group_options
        self.group_options = functools.cache(lambda group: options(group.partition("@")[0]))


def group_choices(config: DictConfig) -> dict[str, str | None]:
    """The groups a composed config chose (``hydra.runtime.choices``) without Hydra's own; a mandatory
    default left unset (``???``) is no choice."""
    given = config.hydra.runtime.choices
    return {group: None if OmegaConf.is_missing(given, group) else given[group]
            for group in given if not group.startswith("hydra")}


def override_values(override: Override, universe: list[str]) -> list[str]:
    """The values a ``key=...`` override names: a list, a ``glob(...)`` over ``universe``, or ``all``."""
    value = override.value()
    if isinstance(value, Glob):
        return value.filter(universe)
    values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [
        override.get_value_element_as_str()]
    return list(universe) if values == ["all"] else values


def plan_jobs(overrides: list[Override], request: PlanRequest, stage: int = 0) -> list[Training]:
    """Every training of a sweep, in launch order (each model's base first, so that others compete with it).

    Without a ``category`` override the result is exactly the BasicSweeper's product, one training per
    combination, grouped into rows by the swept values that are not replicates.
    """
    intervals = [override.input_line for override in overrides if isinstance(override.value(), IntervalSweep)]
    if intervals:  # Hydra's BasicSweeper refuses them too ("does not support sweep type"), with a traceback
        raise ConfigError([f"{line}: an interval is a range to sample from, not values to sweep; list the values "
                           f"({bare_key(line)}=0.001,0.01,0.1), or search it with an option file's search: mapping "
                           "(docs/how-to/search.md)" for line in intervals])
    by_key = {override.get_key_element(): override for override in overrides}
    # another app has no `category` key: its users add one (+category=...), which jobs then do without
    category_key = next((key for key in ("category", "+category", "++category") if key in by_key), None)
    category_override = by_key.pop(category_key) if category_key else None
    has_category_key = request.has_category_key and category_key == "category"
    replicate_keys = set(request.replicate_keys)
    if category_override is None:
        swept_keys = {bare_key(override) for override in overrides if override.is_sweep_override()}
        trainings = []
        for combination in product(overrides):
            setting, replicate = _split_swept(combination, swept_keys, replicate_keys)
            trainings.append(Training(tuple(combination), (Row(None, None, BASE, setting, stage),), replicate,
                                      is_base=True))
        return trainings

    categories = override_values(category_override, list(request.all_categories))
    model_override = by_key.pop("model", None)
    model_files = request.group_options("model")
    models = override_values(model_override, model_files) if model_override else [None]
    known = [name for name in request.all_categories if request.group_options(name)]  # those that exist here
    problems = [f"category={name!r}: no config group of that name has options; {closest(name, known)} (or any "
                "folder of option files in the config dir)" for name in categories if not request.group_options(name)]
    problems += [unknown_option("model", name, model_files) for name in models
                 if name is not None and name not in model_files]
    if problems:
        raise ConfigError(problems)

    # a category listed as a replicate (the folds) repeats every row over its options
    others = list(by_key.values())
    for name in (name for name in categories if name in replicate_keys):
        add = "" if name in request.default_choices else "+"
        others += parse_overrides([f"{add}{name}={','.join(request.group_options(name))}"])
    categories = [name for name in categories if name not in replicate_keys]
    swept_keys = {bare_key(override) for override in others if override.is_sweep_override()}
    # each combination of the other overrides: (its items, setting, replicate, the base's group choices)
    combinations = [(combination, *_split_swept(combination, swept_keys, replicate_keys),
                     _base_choices(request.default_choices, combination))
                    for combination in product(others)]

    unreplicated = all(not replicate for _, _, replicate, _ in combinations)
    trainings = []
    for model in models:
        head = [f"model={model}"] if model else []
        model_name = model or request.default_choices.get("model")
        for combination, setting, replicate, choices in combinations:
            rows = [Row(model_name, None, BASE, setting, stage)]
            rows += [Row(model_name, category, option, setting, stage) for category in categories
                     for option in request.group_options(category) if choices.get(category) == option]
            trainings.append(Training(tuple(head + combination), tuple(rows), replicate, is_base=True, swept=True))
            trainings += _control_trainings(head, combination, tuple(rows), request, unreplicated)
        for category in categories:
            add = "" if category in request.default_choices else "+"
            for option in request.group_options(category):
                varied = ([f"category={category}"] if has_category_key else []) + [f"{add}{category}={option}"]
                for combination, setting, replicate, choices in combinations:
                    if choices.get(category) == option:
                        continue  # the base training answers this row
                    # the row's own option wins over a fixed override of the same group
                    kept = [item for item in combination if bare_key(item) != category]
                    trainings.append(Training(tuple(head + varied + kept),
                                              (Row(model_name, category, option, setting, stage),), replicate,
                                              swept=True))
    return trainings


def _control_trainings(head: list[str], combination: list[str], rows: tuple[Row, ...], request: PlanRequest,
                       unreplicated: bool) -> list[Training]:
    """The base's control seeds: where no replicate key is swept, each option's one run has no seed luck to be
    measured against but the base's; the base trains ``control_seeds`` more values of the control key (the
    config's value + 1, + 2, ...; a fixed override's value where one is given)."""
    key = request.control_key
    if not (unreplicated and request.control_seeds and key):
        return []
    fixed = next((item.split("=", 1)[1] for item in combination if bare_key(item) == key), None)
    start = int(fixed) if fixed is not None and fixed.lstrip("-").isdigit() else request.control_base
    kept = [item for item in combination if bare_key(item) != key]
    return [Training(tuple([*head, *kept, f"{key}={start + number}"]), rows, (f"{key}={start + number}",),
                     is_base=True, swept=True, control=True) for number in range(1, request.control_seeds + 1)]


def control_key(config: DictConfig, replicate_keys: Sequence[str]) -> tuple[str | None, int]:
    """The first replicate key the app's config holds as an integer (``seed`` for hpsweep's), and its value: what
    the base's control seeds vary. (None, 0) where the app has none."""
    for key in replicate_keys:
        value = OmegaConf.select(config, key, default=None, throw_on_missing=False)
        if isinstance(value, int) and not isinstance(value, bool):
            return key, value
    return None, 0


def rows_of(trainings: list[Training]) -> list[Row]:
    """The distinct rows the trainings answer, in plan order."""
    return list(dict.fromkeys(row for training in trainings for row in training.rows))


def compared_rows(trainings: list[Training]) -> list[Row]:
    """The rows a sweep's tables show and its log and ``hpsweep matrix`` count: each category's options (the
    base's training answers its own option of each); without categories, every row."""
    rows = rows_of(trainings)
    return [row for row in rows if row.category] or rows


def merge_identical(trainings: list[Training], fingerprints: list[str]) -> tuple[list[Training], list[str]]:
    """One training per fingerprint: trainings whose composed configs are the same (beyond what the plan
    foresaw by the base's choices) answer all their rows with one run."""
    merged: dict[str, Training] = {}
    for training, job_fingerprint in zip(trainings, fingerprints, strict=True):
        first = merged.get(job_fingerprint)
        if first is None:
            merged[job_fingerprint] = training
        else:
            rows = tuple(dict.fromkeys(first.rows + training.rows))
            merged[job_fingerprint] = replace(first, rows=rows, is_base=first.is_base or training.is_base)
    return list(merged.values()), list(merged)


def parse_overrides(arguments: list[str]) -> list[Override]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(arguments)


def _split_swept(combination: list[str], swept_keys: set[str],
                 replicate_keys: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The swept items of one combination: (setting, replicate)."""
    swept = [item for item in combination if bare_key(item) in swept_keys]
    return (tuple(item for item in swept if bare_key(item) not in replicate_keys),
            tuple(item for item in swept if bare_key(item) in replicate_keys))


def _base_choices(defaults: Mapping[str, str | None], combination: list[str]) -> dict[str, str | None]:
    """The group choices of the base config under these overrides (``optimizer=SGD`` makes SGD the base)."""
    choices = dict(defaults)
    for item in combination:
        key, _, value = item.partition("=")
        if bare_key(key) in defaults or key.startswith("+"):
            choices[bare_key(key)] = None if key.startswith("~") else value
    return choices


def existing_jobs(sweep_dir: Path, recorded: Mapping[str, str] = {}) -> dict[str, Path]:
    """Job directories already under ``sweep_dir``, by fingerprint: what each job recorded in ``job.json`` when
    it started, and what the sweep's manifest recorded (``recorded``: fingerprint -> relative directory)."""
    found = {job_fingerprint: Path(sweep_dir) / directory for job_fingerprint, directory in recorded.items()
             if (Path(sweep_dir) / directory).is_dir()}
    for path in sorted(Path(sweep_dir).glob(f"**/{JOB_FILE}")):
        if in_attempt(path, Path(sweep_dir)):
            continue  # an earlier attempt, archived: not where its training is
        record = read_job_record(path.parent)  # one cut short by a kill is set aside: that job runs again
        if record is not None:
            found[record["fingerprint"]] = path.parent
    return found


def assign_directories(sweep_dir: Path, wanted: list[tuple[str, str]],
                       recorded: Mapping[str, str] = {}) -> list[Path]:
    """Pick each job's directory: the one that already holds its fingerprint (to skip or resume it),
    else its readable subdir, suffixed with the fingerprint where another config took that name."""
    sweep_dir = Path(sweep_dir)
    existing = existing_jobs(sweep_dir, recorded)
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
