"""Each job's config as Hydra composes it, composed once per distinct set of config-group choices.

Hydra composes a job in two steps (``ConfigLoaderImpl._load_configuration_impl``): the overrides that choose
config files (``model=resnet``, ``+experiment=x``, ``db@backup=mysql``) build the defaults list and the config
from it; the other overrides (``optimizer.lr=0.1``, ``+x=3``) are then applied to that config one after another.
The first step is nearly all of the cost (about 50 ms a job), and every job of a sweep over values alone shares
it. The composer takes it once per distinct choice of files, then applies each job's value overrides with
Hydra's own function to a copy of the config without Hydra's node (its keys and types checked as Hydra checks
them), and keeps what the driver needs of Hydra's node (the group choices, the job's subdir) without copying
it. A job that sets a value under ``hydra.`` or names its subdir after its own values gets a copy of everything.
"""

import copy
from dataclasses import dataclass

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from hpsweep.core.fingerprints import task_config
from hpsweep.core.hydra_private import ConfigLoader, apply_overrides, caching_repository, overrides_dirname


class Base:
    """The composition of one choice of config files, shared by every job that chooses them, and what the
    composer reads from its Hydra node once."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.choices = dict(cfg.hydra.runtime.choices)
        self.dirname_settings = OmegaConf.to_container(cfg.hydra.job.config.override_dirname)
        raw = OmegaConf.to_container(cfg.hydra.sweep, resolve=False).get("subdir")
        names = _interpolated(raw) if isinstance(raw, str) else [""]
        # a subdir made of Hydra's node alone (``${hydra.job.num}``, the override dirname) is every job's own;
        # one that reads the job's values (or a resolver) is read from the job's own full config
        self.subdir_shared = all(name.startswith("hydra.") for name in names)
        # the common ones, without OmegaConf's grammar: each job's number and override dirname put in place
        rest = raw.replace(NUM, "").replace(DIRNAME, "") if isinstance(raw, str) else "${"
        self.subdir_text = raw if "${" not in rest and "\\" not in rest else None


NUM, DIRNAME = "${hydra.job.num}", "${hydra.job.override_dirname}"


@dataclass
class Composed:
    """A job's composed config: its task config (no Hydra node), its group choices and where it names its dir."""

    task: DictConfig
    choices: dict
    base: Base | DictConfig  # the composition of its group choices (shared), or the job's own full config
    task_lines: list[str]  # hydra.overrides.task
    dirname: str  # hydra.job.override_dirname

    def subdir(self, number: int) -> str:
        """Where the app's ``hydra.sweep.subdir`` puts it as job ``number`` (``${hydra.job.num}``)."""
        if isinstance(self.base, Base) and self.base.subdir_text is not None:
            return self.base.subdir_text.replace(NUM, str(number)).replace(DIRNAME, self.dirname)
        hydra = self.base.cfg.hydra if isinstance(self.base, Base) else self.base.hydra
        with open_dict(hydra):
            hydra.job.num = number
            if isinstance(self.base, Base):  # what this job's own config holds where the shared one reads it
                hydra.job.override_dirname = self.dirname
                hydra.overrides.task = self.task_lines
        return str(hydra.sweep.subdir)


class Composer:
    """Composes the jobs of one sweep from its primary config, as ``load_sweep_config`` would, for less."""

    def __init__(self, config_loader: ConfigLoader, master: DictConfig):
        self.loader, self.master = config_loader, master
        self.parser = OverridesParser.create(config_loader=config_loader)
        self.parsed: dict[str, Override] = {}  # an override line shared by many jobs, parsed once
        self.hydra_lines = list(master.hydra.overrides.hydra)
        # the config groups as this app's search path (with its own hydra.searchpath) knows them
        self.repository = caching_repository(config_loader, master.hydra.job.config_name, self.hydra_lines)
        self.bases: dict[tuple[str, ...], Base | Exception] = {}
        self.groups: dict[str, bool] = {}  # an override's key -> whether it is a config group (or the search path)

    def compose(self, overrides: list[str]) -> Composed:
        """A job's config. Raises ``HydraException`` where Hydra would not compose it, with Hydra's message."""
        parsed = self.parse(overrides)
        chooses = [override for override in parsed if self.chooses_files(override)]
        values = [override for override in parsed if override not in chooses]
        base = self.base([override.input_line for override in chooses])
        apps = [override for override in parsed if not override.is_hydra_override()]
        task_lines = [override.input_line for override in apps]
        dirname = overrides_dirname(apps, **base.dirname_settings)
        if any(override.is_hydra_override() for override in values) or not base.subdir_shared:
            cfg = copy.deepcopy(base.cfg)
            _apply(values, cfg)
            with open_dict(cfg.hydra):
                cfg.hydra.overrides.task = task_lines
                cfg.hydra.overrides.hydra = self.hydra_lines + [override.input_line for override in parsed
                                                                 if override.is_hydra_override()]
                cfg.hydra.job.override_dirname = dirname
            return Composed(task_config(cfg), base.choices, cfg, task_lines, dirname)
        task = task_config(base.cfg)
        OmegaConf.set_struct(task, True)  # as Hydra's root: a value override may not add a key without +
        _apply(values, task)
        return Composed(task, base.choices, base, task_lines, dirname)

    def parse(self, overrides: list[str]) -> list[Override]:
        """Hydra's parse of each override line (its error, as Hydra raises it)."""
        new = [line for line in overrides if line not in self.parsed]
        if new:
            self.parsed.update(zip(new, self.parser.parse_overrides(new), strict=True))
        return [self.parsed[line] for line in overrides]

    def chooses_files(self, override: Override) -> bool:
        """Whether an override takes part in the defaults list (chooses, adds or removes a config file), as
        Hydra's ``defaults_list.Overrides`` tells; a search path changes which files there are."""
        key = override.key_or_group
        if key not in self.groups:  # a repository lookup, once per key
            self.groups[key] = key.startswith("hydra.searchpath") or self.repository.group_exists(key)
        return self.groups[key] and (key.startswith("hydra.searchpath") or not isinstance(override.value(), dict))

    def base(self, choosing: list[str]) -> Base:
        """The config of these group overrides, composed once (its error, once)."""
        key = tuple(choosing)
        if key not in self.bases:
            try:
                self.bases[key] = Base(self.loader.load_sweep_config(self.master, choosing))
            except HydraException as error:
                self.bases[key] = error
            except ValueError as error:  # Hydra's own for a group given a number (``fold=2``)
                self.bases[key] = HydraException(str(error))
        found = self.bases[key]
        if isinstance(found, Exception):
            raise found
        return found


def _apply(values: list[Override], cfg: DictConfig) -> None:
    """Hydra's own application of value overrides, its OmegaConf errors raised as Hydra raises them."""
    try:
        apply_overrides(values, cfg)
    except OmegaConfBaseException as error:
        raise HydraException(str(error)) from error


def _interpolated(text: str) -> list[str]:
    """What ``${...}`` interpolations in ``text`` name (a resolver call, ``${now:...}``, names itself)."""
    names, start = [], text.find("${")
    while start != -1:
        end = text.find("}", start)
        names.append(text[start + 2:end if end != -1 else len(text)].strip())
        start = text.find("${", start + 2)
    return names


def composition_error(error: Exception) -> str:
    """Hydra's message for a job that does not compose, in one line (its cause where Hydra wraps one)."""
    text = str(error) or str(error.__cause__ or type(error).__name__)
    return " ".join(text.split("\nConfig search path")[0].split())

