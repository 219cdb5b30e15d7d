"""Search inside a category: an option file's ``search:`` mapping of dotted config keys to spaces.

    search:
      optimizer.lr: {low: 1.0e-5, high: 1.0e-2, log: true}     # a float, sampled on a log scale
      data.batch_size: {low: 16, high: 128, step: 16}          # an int
      loss_function._target_: {choices: [a, b]}                # one of these

Each of ``hydra.sweeper.n_trials`` trials of a searched option is an ordinary training of the sweep, with
the sampled values as overrides; Optuna chooses them (``hpsweep.sweep.studies.Search``).
"""

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from hpsweep.core.errors import ConfigError
from hpsweep.core.trainings import value_text
from hpsweep.train.validation import config_problems

SEARCH_KEY = "search"


@dataclass(frozen=True)
class Space:
    """The values one config key may take."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: int | float | None = None
    choices: tuple | None = None

    @property
    def kind(self) -> str:
        if self.choices is not None:
            return "categorical"
        return "int" if all(isinstance(value, int) and not isinstance(value, bool)
                            for value in (self.low, self.high, self.step or 1)) else "float"

    def contains(self, value) -> bool:
        if self.choices is not None:
            return value in self.choices
        return self.low <= value <= self.high


def parse_spaces(search: dict, where: str) -> tuple[list[Space], list[str]]:
    """The spaces of a ``search:`` mapping, and every problem of it, each naming ``where`` (the option)."""
    spaces, problems = [], []
    if not isinstance(search, dict) or not search:
        return [], [f"{where}: search must map config keys to spaces, e.g. optimizer.lr: {{low: 1.0e-5, high: 0.01, "
                    "log: true}"]
    for key, space in search.items():
        prefix = f"{where}: search.{key}"
        if not isinstance(space, dict):
            problems.append(f"{prefix}={space!r}: expected {{low, high[, log | step]}} or {{choices: [...]}}")
            continue
        unknown = set(space) - {"low", "high", "log", "step", "choices"}
        if unknown:
            problems.append(f"{prefix}: unknown field(s) {', '.join(sorted(unknown))}; a space has low, high, log, "
                            "step, or choices")
            continue
        if "choices" in space:
            if not isinstance(space["choices"], list) or not space["choices"]:
                problems.append(f"{prefix}.choices={space['choices']!r}: expected a non-empty list")
                continue
            spaces.append(Space(key, choices=tuple(space["choices"])))
            continue
        low, high = space.get("low"), space.get("high")
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (low, high)):
            problems.append(f"{prefix}: low={low!r} and high={high!r} must both be numbers")
            continue
        if low >= high:
            problems.append(f"{prefix}: low={low!r} must be below high={high!r}")
            continue
        log, step = bool(space.get("log", False)), space.get("step")
        if log and low <= 0:
            problems.append(f"{prefix}: log=true needs low > 0 (got low={low!r})")
            continue
        if log and step is not None:
            problems.append(f"{prefix}: log and step cannot go together")
            continue
        spaces.append(Space(key, low, high, log, step))
    return spaces, problems


def space_problems(spaces: list[Space], raw_option: DictConfig, composed: DictConfig, where: str) -> list[str]:
    """Keys a space names that the composed config lacks, or that the option file itself does not set."""
    problems = []
    for space in spaces:
        if OmegaConf.select(composed, space.key, default="<missing>") == "<missing>":
            problems.append(f"{where}: search.{space.key}: the composed config has no key {space.key}")
        elif OmegaConf.select(raw_option, space.key, default="<missing>") == "<missing>":
            problems.append(f"{where}: search.{space.key}: the option does not set {space.key}; a searched key "
                            "must be one of the option's own values")
    return problems


def bound_overrides(spaces: list[Space]) -> list[list[str]]:
    """Two sets of overrides at the spaces' edges (every low, every high), to check before sampling."""
    def edge(space: Space, pick: int):
        return space.choices[pick] if space.choices else (space.low, space.high)[pick]

    return [[f"{space.key}={value_text(edge(space, pick))}" for space in spaces] for pick in (0, -1)]


def find_searches(trainings: list, tasks: list[DictConfig], loader, compose: Callable[[list[str]], DictConfig],
                  hpsweep_app: bool) -> dict[tuple[str, str], list[Space]]:
    """The searched options of a sweep ((category, option) -> their spaces), every space checked before anything
    runs: its fields, its keys (in the composed task configs ``tasks`` and set by the option itself, as Hydra's
    ``loader`` reads it) and the values at its edges (``compose``: a job's task config from its overrides).
    Raises ``ConfigError`` naming every problem."""
    spaces, problems, seen = {}, [], set()
    for training, cfg in zip(trainings, tasks, strict=True):
        key = (training.category, training.option)
        if training.category is None or key in seen:
            continue
        seen.add(key)
        if not cfg.get(SEARCH_KEY):
            continue
        where = f"{training.category}/{training.option}"
        found, option_problems = parse_spaces(OmegaConf.to_container(cfg[SEARCH_KEY]), where)
        option_problems += space_problems(found, _raw_option(loader, *key), cfg, where)
        if hpsweep_app and not option_problems:
            for edge in bound_overrides(found):
                edge_cfg = compose([*training.overrides, *edge])
                option_problems += [f"{where}: at the edge of its search space ({' '.join(edge)}): {problem}"
                                    for problem in config_problems(edge_cfg)
                                    if any(space.key in problem for space in found)]
        problems += option_problems
        spaces[key] = found
    if problems:
        raise ConfigError(problems, summary=f"{len(problems)} problem(s) in search spaces; nothing was started")
    return spaces


def _raw_option(loader, category: str, option: str) -> DictConfig:
    """An option file's own content, placed at its package (``@package _global_``: the root)."""
    found = loader.repository.load_config(f"{category}/{option}")
    if found is None:
        return OmegaConf.create()
    package = found.header.get("package") or category
    if package == "_global_":
        return found.config
    root = OmegaConf.create()
    OmegaConf.update(root, package.replace("/", "."), found.config, force_add=True)
    return root
