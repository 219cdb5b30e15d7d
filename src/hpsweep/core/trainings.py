"""What a training is, as every layer names it: the rows it answers, its replicate, the base's name.

The planner (``hpsweep.sweep.plan``) makes these; the manifest records them; the decisions and reports read them.
Only hydra's override type here: nothing above ``hpsweep.core`` is imported.
"""

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.override_parser.types import Override

BASE = "base"  # the option name of the base combination's row
DEFAULT_REPLICATES = ("seed", "data.fold", "fold")
_UNSAFE_IN_PATHS = re.compile(r"[^A-Za-z0-9._+-]")


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


def bare_key(override: Override | str) -> str:
    """The key of an override without its ``+``/``~``/``++`` prefix: ``+fold=fold0`` -> ``fold``."""
    key = override.key_or_group if isinstance(override, Override) else override.split("=", 1)[0]
    return key.lstrip("+~")


def replicate_dict(replicate: Sequence[str]) -> dict[str, str]:
    """``("seed=2", "+fold=fold3")`` -> ``{"seed": "2", "fold": "fold3"}``."""
    return {bare_key(item): item.split("=", 1)[1] for item in replicate}


def value_text(value) -> str:
    """A sampled value as a Hydra override's value: floats keep their digits, strings are quoted."""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    return str(value).lower() if isinstance(value, bool) else str(value)
