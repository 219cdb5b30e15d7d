"""Hydra's, OmegaConf's and Optuna's private calls that hpsweep makes, each through its one adapter module
(``hpsweep.core.hydra_private``, ``hpsweep.sweep.optuna_private``), called here on real objects: a new release
that moves or changes one fails here, by name, before it fails a sweep."""

import copy
from collections import Counter

import optuna
import pytest
from conftest import CONF_DIR
from hydra import compose, initialize_config_dir
from hydra._internal import defaults_list
from hydra._internal.config_repository import ConfigRepository
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf
from omegaconf import base as omegaconf_base

from hpsweep.core import hydra_private
from hpsweep.core.fingerprints import resolved_container, runtime_values_as_written
from hpsweep.sweep import optuna_private


@pytest.fixture(scope="module")
def hydra_app():
    """The seed app's primary config and Hydra's config loader for it, as a sweeper gets them."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        master = compose(config_name="config", overrides=[], return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        yield master, loader, OverridesParser.create(config_loader=loader)


def test_hydra_sweeps_a_product_in_its_basic_sweepers_order(hydra_app):
    _, _, parser = hydra_app
    overrides = parser.parse_overrides(["seed=1,2", "optimizer=SGD,AdamW"])
    assert hydra_private.product(overrides) == [["seed=1", "optimizer=SGD"], ["seed=1", "optimizer=AdamW"],
                                                ["seed=2", "optimizer=SGD"], ["seed=2", "optimizer=AdamW"]], \
        "Hydra's BasicSweeper.split_arguments changed: hpsweep.core.hydra_private.product"


def test_hydra_records_the_choices_in_an_order_hpsweep_can_put_back_to_the_defaults_lists(hydra_app):
    master, _, _ = hydra_app
    groups = [group for group in hydra_private.defaults_order(master.hydra.runtime.choices)
              if not group.startswith("hydra/")]
    assert groups[:7] == ["model", "data", "trainer", "logger", "optimizer", "scheduler", "scheduler_warmup"]


def test_hydra_applies_value_overrides_to_a_composed_config(hydra_app):
    master, _, parser = hydra_app
    cfg = OmegaConf.create(OmegaConf.to_container(master, resolve=False))
    hydra_private.apply_overrides(parser.parse_overrides(["seed=7", "+extra=3"]), cfg)
    assert (cfg.seed, cfg.extra) == (7, 3), \
        "Hydra's ConfigLoaderImpl._apply_overrides_to_config changed: hpsweep.core.hydra_private.apply_overrides"


def test_hydra_names_a_jobs_override_dirname(hydra_app):
    _, _, parser = hydra_app
    name = hydra_private.overrides_dirname(parser.parse_overrides(["seed=1", "optimizer=SGD"]), exclude_keys=["seed"],
                                           item_sep=",", kv_sep="=")
    assert name == "optimizer=SGD", "Hydra's get_overrides_dirname changed: hpsweep.core.hydra_private"


def test_hydra_keeps_the_apps_config_repository(hydra_app):
    master, loader, _ = hydra_app
    repository = hydra_private.caching_repository(loader, master.hydra.job.config_name, [])
    assert "SGD" in repository.get_group_options("optimizer"), \
        "Hydra's _parse_overrides_and_create_caching_repo changed: hpsweep.core.hydra_private.caching_repository"


COMPOSED = [[], ["optimizer=SGD"], ["loss_function=Focal", "seed=3"], ["model=test_efficientnet", "data.image_size=32"]]


def test_hydra_composes_as_its_own_with_each_config_file_read_once(hydra_app, monkeypatch):
    """``read_files_once`` (what ``hpsweep matrix`` composes through): the configs are Hydra's own, and every file is
    read once for all the compositions, where Hydra alone reads it again for each one."""
    _, loader, _ = hydra_app
    reads = Counter()
    reading = ConfigRepository.load_config
    monkeypatch.setattr(ConfigRepository, "load_config",
                        lambda self, config_path: reads.update([config_path]) or reading(self, config_path))

    def composed(config_loader) -> list[dict]:
        return [OmegaConf.to_container(config_loader.load_configuration("config", overrides, RunMode.RUN))
                for overrides in COMPOSED]

    hydras = composed(loader)
    assert max(reads.values()) == len(COMPOSED)  # Hydra alone: the primary config read again for each composition
    reads.clear()
    once = copy.copy(loader)  # the fixture's loader stays Hydra's own
    hydra_private.read_files_once(once)
    assert composed(once) == hydras, \
        "Hydra's _parse_overrides_and_create_caching_repo changed: hpsweep.core.hydra_private.read_files_once"
    assert reads and max(reads.values()) == 1, "Hydra's CachingConfigRepository or _process_config_searchpath " \
        f"changed: hpsweep.core.hydra_private.read_files_once read {reads.most_common(3)}"


# every option of every group (a new option file is tested without a new test), Hydra's own node changed, and value
# overrides, additions and deletions
OPTIONS = {group.name: sorted(path.stem for path in group.glob("*.yaml")) for group in sorted(CONF_DIR.iterdir())
           if group.is_dir() and group.name != "hydra"}
BESIDES = [[], ["model=test_efficientnet", "category=optimizer", "optimizer=SGD", "seed=43"],
           ["hydra/launcher=slurm", "data.image_size=32"], ["+extra=3", "~scheduler_warmup", "trainer.max_epochs=1"]]


def _flags(cfg) -> list[dict]:
    """Each dict node's own flags (struct, readonly, Hydra's and OmegaConf's own), depth first."""
    nodes = [cfg._get_node(key) for key in ([] if cfg._is_none() or cfg._is_missing() else cfg)]
    return [{name: value for name, value in cfg._metadata.flags.items() if value is not None},
            *(flags for node in nodes if OmegaConf.is_dict(node) for flags in _flags(node))]


def test_matrix_shortcuts_compose_every_option_as_hydra_does(hydra_app):
    """``read_files_once`` and ``many_compositions`` together (what ``hpsweep matrix`` composes through) change no
    composition, as written, resolved or in its nodes' flags: every option of every group of the seed's config.
    Composing the first ones again after all the others shows the configs read once stay as they were read."""
    master, loader, _ = hydra_app
    # the n-th option of every group at once (a group the defaults list lacks added): every option in a few
    overrides = [[f"{'' if group in master.hydra.runtime.choices else '+'}{group}={options[number % len(options)]}"
                  for group, options in OPTIONS.items()]
                 for number in range(max(map(len, OPTIONS.values())))] + BESIDES

    def composed(config_loader, lines: list[list[str]]) -> list[tuple]:
        configs = [config_loader.load_configuration("config", items, RunMode.RUN) for items in lines]
        with runtime_values_as_written():  # ${now:...} and ${hydra:...} as written; the rest resolved
            return [(OmegaConf.to_container(cfg), resolved_container(cfg), _flags(cfg)) for cfg in configs]

    hydras = composed(loader, overrides)
    once = copy.copy(loader)  # the fixture's loader stays Hydra's own
    hydra_private.read_files_once(once)
    hydra_calls = defaults_list._create_interpolation_map, omegaconf_base.parse
    with hydra_private.many_compositions():
        ours, again = composed(once, overrides), composed(once, overrides[:3])
    assert ours == hydras, "Hydra's composition changed under hpsweep.core.hydra_private.read_files_once or " \
        "many_compositions (ConfigLoaderImpl._compose_config_from_defaults_list, _load_single_config, " \
        "_embed_result_config, defaults_list._create_interpolation_map or omegaconf.base.parse)"
    assert again == hydras[:3]
    assert (defaults_list._create_interpolation_map, omegaconf_base.parse) == hydra_calls  # put back on leaving


def test_matrix_shortcuts_resolve_a_defaults_list_interpolation(tmp_path):
    """A defaults list that picks an option by interpolation (``- pair: ${first}_${second}``) still gets it with
    ``many_compositions``, which builds Hydra's map of known choices only for such a list."""
    for path, text in {"config.yaml": "defaults:\n  - first: a\n  - second: b\n  - pair: ${first}_${second}\n"
                                      "  - _self_\n",
                       "first/a.yaml": "x: 1\n", "first/c.yaml": "x: 3\n", "second/b.yaml": "y: 2\n",
                       "pair/a_b.yaml": "name: a and b\n", "pair/c_b.yaml": "name: c and b\n"}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    loader = hydra_private.ConfigLoader(config_search_path=create_config_search_path(str(tmp_path)))
    hydras = [OmegaConf.to_container(loader.load_configuration("config", items, RunMode.RUN))
              for items in ([], ["first=c"])]
    hydra_private.read_files_once(loader)
    with hydra_private.many_compositions():
        ours = [OmegaConf.to_container(loader.load_configuration("config", items, RunMode.RUN))
                for items in ([], ["first=c"])]
    assert [config["pair"]["name"] for config in ours] == ["a and b", "c and b"]
    assert ours == hydras


@pytest.mark.parametrize("status, value", [(JobStatus.COMPLETED, {"val_f1": 0.5}),
                                           (JobStatus.FAILED, FloatingPointError("diverged"))],
                         ids=["returned", "raised"])
def test_a_job_return_keeps_what_it_returned_or_raised(status, value):
    back = hydra_private.return_value(hydra_private.job_return(status, value))
    assert back is value, "Hydra's JobReturn._return_value changed: hpsweep.core.hydra_private.job_return"


def test_omegaconf_registers_resolvers_where_they_can_be_put_back():
    resolvers = hydra_private.resolvers()
    assert isinstance(resolvers, dict) and "oc.env" in resolvers, \
        "OmegaConf's BaseContainer._resolvers changed: hpsweep.core.hydra_private.resolvers"


def test_optuna_trials_are_reached_by_their_study():
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    trial = study.ask()
    trial.report(0.5, step=1)
    frozen = optuna_private.frozen(study, trial)
    assert frozen.intermediate_values == {1: 0.5}, "Optuna's Study._storage or Trial._trial_id changed: frozen"
    again = optuna_private.running_trial(study, frozen)
    assert again.number == trial.number, "Optuna's Trial(study, trial_id) changed: running_trial"
    assert isinstance(optuna_private.storage(study), optuna.storages.BaseStorage), \
        "Optuna's Study._storage changed: hpsweep.sweep.optuna_private.storage"
