"""Every use of Hydra's and OmegaConf's private API, in one place: what hpsweep does the way Hydra itself does it,
where Hydra offers no public call. ``tests/test_private_api.py`` fails loudly, naming the call, when a new Hydra or
OmegaConf moves or changes one of these (pinned: hydra-core 1.3.8, omegaconf 2.3)."""

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig
from omegaconf.basecontainer import BaseContainer

ConfigLoader = ConfigLoaderImpl  # the type of the config loader Hydra hands a sweeper


def product(overrides: list[Override]) -> list[list[str]]:
    """Every combination of the sweep ``overrides``, in Hydra's BasicSweeper's order (one batch)."""
    return BasicSweeper.split_arguments(overrides, None)[0]


def caching_repository(config_loader: ConfigLoaderImpl, config_name: str | None, hydra_overrides: list[str]):
    """The app's config repository, as its search path (with the command line's ``hydra.searchpath``) knows it."""
    _, repository = config_loader._parse_overrides_and_create_caching_repo(config_name, hydra_overrides)
    return repository


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
