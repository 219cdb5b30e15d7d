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
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Glob, IntervalSweep, Override
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.basecontainer import BaseContainer
from omegaconf.errors import OmegaConfBaseException

from hpsweep.errors import ConfigError, closest, unknown_option
from hpsweep.records import JOB_FILE, in_attempt, read_job_record

BASE = "base"  # the option name of the base combination's row
DEFAULT_REPLICATES = ("seed", "data.fold", "fold")
_UNSAFE_IN_PATHS = re.compile(r"[^A-Za-z0-9._+-]")
# Config keys that do not change what a job computes: the W&B mode, the varied category's name, run names.
NOT_FINGERPRINTED = ("hydra", "logger", "category", "run_name_parts")
RUNTIME_RESOLVERS = ("hydra", "now")  # a job's place and time: left as written in a fingerprint


@dataclass(frozen=True)
class Row:
    """One line of the answer: an option of a category (or the base combination) for one model and setting."""

    model: str | None  # the model's option name; None where the app has no model group
    category: str | None  # None: the base combination
    option: str  # BASE for the base combination
    setting: tuple[str, ...] = ()  # swept values that are not replicates (trainer.max_epochs=10)
    stage: int = 0  # greedy sweeps: the stage that varies this row's category (0: a union sweep)
    trial: int | None = None  # a trial of a searched option (hpsweep.sweep.search)

    @property
    def label(self) -> str:
        return " / ".join(part for part in (self.model, self.category, self.option) if part) + \
            (f" trial {self.trial}" if self.trial is not None else "") + "".join(f" {item}" for item in self.setting)

    def as_dict(self) -> dict:
        return {"category": self.category, "option": self.option, "stage": self.stage, "trial": self.trial}


@dataclass(frozen=True)
class Training:
    """One config to train: the rows it answers (several where options equal the base) for one replicate."""

    overrides: tuple[str, ...]
    rows: tuple[Row, ...]
    replicate: tuple[str, ...] = ()  # the replicate overrides (seed=2, fold=fold3)
    is_base: bool = False  # the base combination of its model and setting
    swept: bool = False  # a category sweep's training (False: a plain multirun's, named by job number)
    params: tuple[tuple[str, object], ...] = ()  # a search trial's sampled values (key, value)
    control: bool = False  # one of the base's control seeds: it measures seed luck where no replicate is swept

    @property
    def trial(self) -> int | None:
        return self.rows[0].trial

    @property
    def model(self) -> str | None:
        return self.rows[0].model

    @property
    def category(self) -> str | None:
        return None if self.is_base else self.rows[0].category

    @property
    def option(self) -> str:
        return BASE if self.is_base else self.rows[0].option

    @property
    def setting(self) -> tuple[str, ...]:
        return self.rows[0].setting

    @property
    def stage(self) -> int:
        return self.rows[0].stage

    @property
    def replicate_label(self) -> str:
        return " ".join(self.replicate)

    @property
    def label(self) -> str:
        """What tables call it: ``test_resnet / optimizer / SGD seed=2``, or the base and the rows it answers."""
        if not self.swept:
            return " ".join(self.overrides) or BASE
        head = " / ".join(part for part in (self.model, self.category, self.option) if part) + \
            (f" trial {self.trial}" if self.trial is not None else "")
        shared = [f"{row.category}/{row.option}" for row in self.rows if row.category]
        tail = [*self.setting, *self.replicate]
        return head + (f" ({', '.join(shared)})" if self.is_base and shared else "") + \
            "".join(f" {item}" for item in tail)

    @property
    def subdir(self) -> str | None:
        """``<model>/<category>/<option>[/<swept values>]``, ``<model>/base[/...]`` for the base; None for a
        plain multirun's job, which goes where the app's ``hydra.sweep.subdir`` puts it (its job number)."""
        if not self.swept:
            return None
        swept = "_".join(_UNSAFE_IN_PATHS.sub("_", item.lstrip("+").replace("=", "-"))
                         for item in (*self.setting, *self.replicate))
        parts = (self.model, BASE) if self.is_base else (self.model, self.category, self.option)
        trial = f"trial-{self.trial}" if self.trial is not None else ""
        return "/".join(part for part in (*parts, trial, swept) if part)


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


def bare_key(override: Override | str) -> str:
    """The key of an override without its ``+``/``~``/``++`` prefix: ``+fold=fold0`` -> ``fold``."""
    key = override.key_or_group if isinstance(override, Override) else override.split("=", 1)[0]
    return key.lstrip("+~")


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
        for combination in BasicSweeper.split_arguments(overrides, None)[0]:
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
                    for combination in BasicSweeper.split_arguments(others, None)[0]]

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


def replicate_dict(replicate: Sequence[str]) -> dict[str, str]:
    """``("seed=2", "+fold=fold3")`` -> ``{"seed": "2", "fold": "fold3"}``."""
    return {bare_key(item): item.split("=", 1)[1] for item in replicate}


def task_config(cfg: DictConfig) -> DictConfig:
    """A job's task config: its composed config without Hydra's node."""
    return OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])


def fingerprint(task_cfg: DictConfig, data: str | None = None) -> str:
    """A digest of everything that decides what a job computes: its fully resolved config, without the keys
    that only name or log it (``NOT_FINGERPRINTED``), so rows that share a config share its training; and the
    digest of the files it reads (``data``: ``hpsweep.provenance.data_digest``), so new labels or images make a
    new training.

    Where and when a job runs is not what it computes: ``${hydra:...}`` and ``${now:...}`` stay as written
    (the driver knows neither a job's output dir nor its start), and so does any value whose resolver fails
    outside a job; the driver and the job then compute the same digest."""
    return _digest(_fingerprinted(task_cfg), data)


def fingerprints(task_cfg: DictConfig, data: str | None) -> tuple[str, str]:
    """``fingerprint(task_cfg)`` and ``fingerprint(task_cfg, data)``, the config resolved once."""
    container = _fingerprinted(task_cfg)
    return _digest(container, None), _digest(container, data)


def _fingerprinted(task_cfg: DictConfig) -> dict:
    kept = OmegaConf.masked_copy(task_cfg, [key for key in task_cfg if key not in NOT_FINGERPRINTED])
    with runtime_values_as_written():
        container = resolved_container(kept)
    if isinstance(container.get("trainer"), dict):
        container["trainer"].pop("progress_bar", None)
    if isinstance(container.get("data"), dict):
        container["data"].pop("fingerprint", None)  # how the files are digested, not what they hold
    return container


def _digest(container: dict, data: str | None) -> str:
    if data is not None:
        container = {"config": container, "data": data}
    return hashlib.sha256(json.dumps(container, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextmanager
def runtime_values_as_written():
    """While it is entered, ``${hydra:path}`` and ``${now:pattern}`` resolve to their own text. Hydra registers both
    resolvers globally (``hydra.core.utils.setup_globals``); they are put back as they were on exit."""
    resolvers = BaseContainer._resolvers
    saved = {name: resolvers.get(name) for name in RUNTIME_RESOLVERS}
    for name in RUNTIME_RESOLVERS:
        OmegaConf.register_new_resolver(name, functools.partial(_as_written, name), replace=True)
    try:
        yield
    finally:
        for name, resolver in saved.items():
            if resolver is None:
                resolvers.pop(name, None)
            else:
                resolvers[name] = resolver


def _as_written(name: str, *arguments) -> str:
    return f"${{{name}:{','.join(map(str, arguments))}}}"


def resolved_container(node: DictConfig | ListConfig) -> dict | list:
    """``node`` as plain data, resolved; a value that does not resolve here (an environment variable or a resolver
    only a job has) is kept as written instead of failing the whole."""
    try:
        return OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException:
        pass
    raw = OmegaConf.to_container(node, resolve=False)
    resolved = {} if isinstance(raw, dict) else [None] * len(raw)
    for key in (raw if isinstance(raw, dict) else range(len(raw))):
        try:
            value = node[key]
        except OmegaConfBaseException:
            resolved[key] = raw[key]
            continue
        resolved[key] = resolved_container(value) if OmegaConf.is_config(value) else value
    return resolved


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
