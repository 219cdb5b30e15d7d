"""Every use of Hydra's and OmegaConf's private API, in one place: what hpsweep does the way Hydra itself does it,
where Hydra offers no public call. ``tests/test_private_api.py`` fails loudly, naming the call, when a new Hydra or
OmegaConf moves or changes one of these (pinned: hydra-core 1.3.8, omegaconf 2.3)."""

import copy
import dataclasses
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

from hydra._internal import defaults_list
from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.config_repository import CachingConfigRepository
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf, flag_override
from omegaconf import base as omegaconf_base
from omegaconf.basecontainer import BaseContainer
from omegaconf.errors import OmegaConfBaseException

ConfigLoader = ConfigLoaderImpl  # the type of the config loader Hydra hands a sweeper


def product(overrides: list[Override]) -> list[list[str]]:
    """Every combination of the sweep ``overrides``, in Hydra's BasicSweeper's order (one batch)."""
    return BasicSweeper.split_arguments(overrides, None)[0]


def caching_repository(config_loader: ConfigLoaderImpl, config_name: str | None, hydra_overrides: list[str]):
    """The app's config repository, as its search path (with the command line's ``hydra.searchpath``) knows it."""
    _, repository = config_loader._parse_overrides_and_create_caching_repo(config_name, hydra_overrides)
    return repository


class _FilesReadOnce(CachingConfigRepository):
    """Hydra's caching repository for one composition, over files read once for every composition (``shared``).

    Hydra reads a file's config while it builds the defaults list (only to read it) and again to merge it. It copies
    a config it merges under a package (every group's option) as it embeds it, so that one is handed over shared;
    one merged at the root (the primary config: Hydra merges it without copying it, and takes its ``hydra`` node out
    where a schema checks it) first gets its own copy, once a composition. Each composition gets its own
    ``ConfigResult`` (Hydra may set its ``config``) and header."""

    def __init__(self, shared: CachingConfigRepository, merged: dict):  # no super().__init__: it copies the sources
        self.delegate, self.cache, self.shared, self.owned = shared.delegate, {}, shared, set()
        self.merged = merged  # Hydra's node as merged before, by the defaults it was merged from: for every composition

    def load_config(self, config_path: str):
        key = f"config_path={config_path}"
        if key not in self.cache:
            found = self.shared.load_config(config_path)
            self.cache[key] = found and dataclasses.replace(found, header=dict(found.header))
        return self.cache[key]

    def own_copy_unless_embedded(self, default) -> None:
        """Before Hydra merges ``default``'s config: its own copy unless Hydra embeds it under a package (and copies
        it there), decided as ``ConfigLoaderImpl._embed_result_config`` decides it."""
        loaded = self.load_config(default.config_path)
        key = f"config_path={default.config_path}"
        if loaded is None or key in self.owned:
            return
        package = loaded.header.get("package") if default.package is None else default.package
        if default.primary or not package:
            loaded.config = copy.deepcopy(loaded.config)
            self.owned.add(key)


def read_files_once(config_loader: ConfigLoaderImpl) -> None:
    """Make ``config_loader`` read each config file once for all its compositions: Hydra builds a fresh repository
    for each one and reads every file again, a third of a composition's time (``hpsweep matrix`` composes one job
    per option). One repository per search path (the primary config's, and any ``hydra.searchpath`` given). Hydra's
    own node, merged from the same files for every job, is merged once and copied (``_compose_resumed``)."""
    shared: dict[tuple, CachingConfigRepository] = {}
    merged: dict[tuple, dict] = {}

    def parse_and_share(self, config_name, overrides):  # Hydra's own, but for the repository
        parsed = OverridesParser.create().parse_overrides(overrides=overrides)
        key = (config_name, tuple(item.input_line for item in parsed if item.key_or_group == "hydra.searchpath"))
        if key not in shared:
            shared[key] = CachingConfigRepository(self.repository)
            self._process_config_searchpath(config_name, parsed, shared[key])
        return parsed, _FilesReadOnce(shared[key], merged.setdefault(key, {}))

    def load_single_config(self, default, repo):  # Hydra's own, once the config merged is this composition's
        if isinstance(repo, _FilesReadOnce):
            repo.own_copy_unless_embedded(default)
        return ConfigLoaderImpl._load_single_config(self, default, repo)

    config_loader._parse_overrides_and_create_caching_repo = types.MethodType(parse_and_share, config_loader)
    config_loader._load_single_config = types.MethodType(load_single_config, config_loader)
    config_loader._compose_config_from_defaults_list = types.MethodType(_compose_resumed, config_loader)


def _compose_resumed(self: ConfigLoaderImpl, defaults: list, repo) -> DictConfig:
    """Hydra's ``ConfigLoaderImpl._compose_config_from_defaults_list``, resumed from a copy of Hydra's own node where
    an earlier composition merged it from the same defaults (those under ``hydra/``, first in every defaults list):
    each merge depends only on the configs merged before it and on its default's file, package and primary flag, and
    a copy stands for the configs it copies. Hydra's node is a third of the merges of a composition of the seed."""
    if not isinstance(repo, _FilesReadOnce):
        return ConfigLoaderImpl._compose_config_from_defaults_list(self, defaults, repo)
    hydras = next((number for number, default in enumerate(defaults)
                   if not (default.config_path or "").startswith("hydra/")), len(defaults))
    key = tuple((default.config_path, default.package, default.primary) for default in defaults[:hydras])
    start = hydras if key in repo.merged else 0
    cfg = copy.deepcopy(repo.merged[key]) if start else OmegaConf.create()
    with flag_override(cfg, "no_deepcopy_set_nodes", True):
        for number, default in enumerate(defaults[start:], start):
            loaded = self._load_single_config(default=default, repo=repo)
            try:
                cfg.merge_with(loaded.config)
            except OmegaConfBaseException as e:
                raise ConfigCompositionException(
                    f"In '{default.config_path}': {type(e).__name__} raised while composing config:\n{e}"
                ).with_traceback(sys.exc_info()[2]) from e
            if number + 1 == hydras and not start:
                repo.merged[key] = copy.deepcopy(cfg)
                repo.merged[key]._set_flag("no_deepcopy_set_nodes", None)  # as Hydra's fresh config has it
    _strip_defaults(cfg)
    return cfg


def _strip_defaults(cfg) -> None:  # Hydra's own, nested in _compose_config_from_defaults_list
    if isinstance(cfg, DictConfig):
        if cfg._is_missing() or cfg._is_none():
            return
        with flag_override(cfg, ["readonly", "struct"], False):
            if cfg._get_flag("HYDRA_REMOVE_TOP_LEVEL_DEFAULTS"):
                cfg._set_flag("HYDRA_REMOVE_TOP_LEVEL_DEFAULTS", None)
                cfg.pop("defaults", None)
        for _key, value in cfg.items_ex(resolve=False):
            _strip_defaults(value)


@contextmanager
def many_compositions() -> Iterator[None]:
    """While it is entered, each composition in this process costs about a third less and is unchanged (``hpsweep
    matrix`` composes one job per option): Hydra builds the map of known choices that resolves a defaults list's
    interpolations (``- db: ${mode}_db``) only for a defaults list that has one (it builds it for every file it
    reads, and uses it for nothing else), and OmegaConf parses each distinct interpolation once (it parses it again
    each time it resolves it; a parse tree is only read after)."""
    building, parsing = defaults_list._create_interpolation_map, omegaconf_base.parse
    parsed: dict[tuple, object] = {}

    def map_on_demand(overrides, defaults, self_added):
        return building(overrides, defaults, self_added) if any(
            default.is_interpolation() for default in defaults) else None

    def parse_once(value, parser_rule="configValue", lexer_mode="DEFAULT_MODE"):
        key = (value, parser_rule, lexer_mode)
        if key not in parsed:
            parsed[key] = parsing(value, parser_rule, lexer_mode)
        return parsed[key]

    defaults_list._create_interpolation_map, omegaconf_base.parse = map_on_demand, parse_once
    try:
        yield
    finally:
        defaults_list._create_interpolation_map, omegaconf_base.parse = building, parsing


def apply_overrides(values: list[Override], cfg: DictConfig) -> None:
    """Hydra's own application of value overrides (``a.b=1``, ``+c=2``, ``~d``) to a composed config."""
    ConfigLoaderImpl._apply_overrides_to_config(values, cfg)


def overrides_dirname(overrides: list[Override], exclude_keys: list[str], item_sep: str, kv_sep: str) -> str:
    """``hydra.job.override_dirname`` of a job with ``overrides``."""
    return get_overrides_dirname(overrides=overrides, exclude_keys=exclude_keys, item_sep=item_sep, kv_sep=kv_sep)


def defaults_order(choices) -> list[str]:
    """The config groups of ``hydra.runtime.choices`` in the order their options merge (the defaults list's): Hydra
    records the choices walking that list backwards."""
    return list(reversed(list(choices)))


def return_value(job_return):
    """What a job returned or raised, without the ``return_value`` property re-raising its failure."""
    return job_return._return_value


def job_return(status: JobStatus, value) -> JobReturn:
    """A ``JobReturn`` as a launcher makes it: ``value`` returned (completed) or raised (failed)."""
    return JobReturn(status=status, _return_value=value)


def resolvers() -> dict:
    """OmegaConf's registry of resolvers by name (``${hydra:...}``, ``${now:...}``), to put one back as it was."""
    return BaseContainer._resolvers
