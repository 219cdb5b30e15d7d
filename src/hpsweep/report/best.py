"""``hpsweep best``: each comparison's choices as a Hydra experiment config that trains as compared.

The config sets each category to its choice (the base option where the winner is within noise of it), the
model, and every fixed override the sweep applied to all its jobs (data, trainer, epochs...), so that
``python run_experiments.py --config-dir <dir> +experiment=best_<model>`` trains what the sweep compared.
Replicates (seeds, folds) are repeats, not choices: they are not written, and the printed command sweeps them.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from hpsweep.core.errors import ConfigError
from hpsweep.core.naming import project_name
from hpsweep.core.statuses import TrainingStatus
from hpsweep.core.trainings import BASE, bare_key, value_text
from hpsweep.decide.answers import Group, code_versions
from hpsweep.decide.stage_record import read_decisions

NOT_CARRIED = ("hydra", "logger")  # overrides that do not change what is trained
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


@dataclass
class Recommendation:
    """The chosen combination of one comparison: Hydra defaults entries, values and the replicates compared."""

    group: Group
    name: str
    defaults: list[tuple[str, str, str]] = field(default_factory=list)  # (group entry, option, why)
    notes: list[str] = field(default_factory=list)  # categories that keep an unset base, overrides not carried
    values: list[str] = field(default_factory=list)  # value overrides (data.image_size=32)
    changed: list[str] = field(default_factory=list)  # categories whose choice is not the base's

    @property
    def replicates(self) -> list[str]:
        """The replicate sweep of the comparison, as its jobs were given it: ``seed=1,2,3``."""
        values: dict[str, dict[str, None]] = {}  # key as given (+fold) -> its values, in order, once each
        for training in self.group.base.trainings if self.group.base else []:
            if training.entry.get("control"):
                continue  # the base's control seeds measure its seed luck: no replicate of the comparison
            replicate = training.entry.get("replicate", {})
            for item in training.entry.get("overrides", []):
                if bare_key(item) in replicate:
                    key, value = item.split("=", 1)
                    values.setdefault(key, {})[value] = None
        return [f"{key}={','.join(items)}" for key, items in values.items()]

    @property
    def overrides(self) -> list[str]:
        """The combination as command-line overrides (what the experiment config sets)."""
        return [f"{'' if entry.startswith('override') else '+'}{entry.split('/', 1)[1]}={option}"
                for entry, option, _ in self.defaults] + self.values


def experiment_name(model: str | None, setting: tuple[str, ...] = ()) -> str:
    """``best_<model>[_<setting>]``: ``best_test_resnet``, ``best_test_resnet_trainer_max_epochs_10``."""
    parts = ["best", *([project_name(model)] if model else [])]
    return "_".join([*parts, *(_UNSAFE.sub("_", item).strip("_") for item in setting)])


def recommend(group: Group) -> Recommendation:
    """The combination a comparison recommends: for a greedy sweep the last stage's base and winner, else each
    category's choice; then the sweep's fixed overrides and the comparison's setting."""
    manifest = group.sweep.manifest
    defaults = manifest.get("default_choices", {})
    recommendation = Recommendation(group, experiment_name(group.model, group.setting))

    def entry(category: str) -> str:
        return f"override /{category}" if category in defaults else f"/{category}"

    if group.model and "model" in defaults:
        recommendation.defaults.append((entry("model"), group.model, "the model compared"))
    chosen: dict[str, tuple[str | None, str]] = {}  # category -> (option or None for the base, why)
    stages = read_decisions(group.sweep.directory)
    if stages and group.sweep.redecided:
        raise ConfigError([f"{group.sweep.directory}: a greedy sweep's stages trained around the winners "
                           f"{group.sweep.redecided} chose, so another metric cannot choose its path; `hpsweep summary "
                           f"--metric {group.sweep.metric}` re-decides each stage's table, and a sweep run with "
                           f"hydra.sweeper.metric={group.sweep.metric} chooses by it"])
    for stage in stages:
        decision = next((item for item in stage["decisions"] if item["model"] == group.model
                         and tuple(item["setting"]) == group.setting), None)
        if decision is None:
            continue
        kept = decision["kept_base"] or decision["winner"] in (None, BASE)
        chosen[stage["category"]] = (None if kept else decision["winner"],
                                     f"stage {stage['stage']}: {decision['reason']}")
    searched: list[str] = []  # the winning trial's sampled values, where the winner is a searched option
    if not chosen:
        for answer in group.categories:
            verdict = answer.verdict
            kept = verdict.kept_base or verdict.winner in (None, BASE)
            row = next((row for row in answer.rows if row.option == verdict.winner), None)
            value = "" if row is None else f"{row.aggregate(group.sweep.metric).mean:.4f}"
            trial = f" (trial {row.trial} of {len(row.trials)})" if row is not None and row.trial is not None else ""
            chosen[answer.category] = (None if kept else verdict.winner,
                                       f"{group.sweep.metric} {value} (n={row.aggregate(group.sweep.metric).n})"
                                       f"{trial}: {verdict.reason}" if row else verdict.reason)
            if not kept and trial:
                searched += [f"{key}={value_text(item)}" for key, item in row.trainings[0].entry["params"].items()]
    for item in [*manifest.get("fixed", []), *group.setting]:
        key = bare_key(item)
        if key in chosen or key == "model" or key.split(".")[0].split("/")[0] in NOT_CARRIED:
            continue
        if item.startswith("~"):
            recommendation.notes.append(f"not carried: {item}")
        elif key in defaults or (item.startswith("+") and "." not in key):
            recommendation.defaults.append((entry(key), item.split("=", 1)[1], "fixed in the sweep"))
        else:
            recommendation.values.append(item.lstrip("+"))
    for category, (option, why) in chosen.items():
        if option is not None:
            recommendation.defaults.append((entry(category), option, why))
            recommendation.changed.append(category)
        elif defaults.get(category) is not None:
            recommendation.defaults.append((entry(category), defaults[category], f"base kept: {why}"))
        else:
            recommendation.notes.append(f"{category}: base kept (no option set): {why}")
    recommendation.values += searched
    return recommendation


def experiment_yaml(recommendation: Recommendation, command: str, sources: list[str]) -> str:
    """The experiment config's text; each line says why its option was chosen."""
    group = recommendation.group
    lines = [
        "# @package _global_",
        f"# The choices of `hpsweep best {' '.join(sources)}` for {group.model} by {group.sweep.metric} "
        f"({datetime.now():%Y-%m-%d %H:%M}), trained as compared.",
        *([f"# {group.sweep.metric} decides: {group.sweep.decided_by}"] if group.sweep.decided_by else []),
        f"# Run it: {command}",
        *provenance_lines(group),
    ]
    if recommendation.replicates:
        lines.append(f"# With the replicates compared: {command.replace(' +experiment', ' -m +experiment')} "
                     f"{' '.join(recommendation.replicates)}")
    lines.append("defaults:")
    # Hydra wants a defaults list's overrides at its end: groups the base lacks (/<group>) come first
    ordered = sorted(recommendation.defaults, key=lambda item: item[0].startswith("override"))
    lines += [f"  - {entry}: {option}  # {why}" for entry, option, why in ordered]
    lines += [f"  # {note}" for note in recommendation.notes]
    if recommendation.values:
        lines += ["", "# the sweep's fixed overrides (and a searched option's chosen values)",
                  OmegaConf.to_yaml(OmegaConf.from_dotlist(recommendation.values))]
    return "\n".join(lines).rstrip() + "\n"


def provenance_lines(group: Group) -> list[str]:
    """What made the numbers the config was chosen by: the chosen rows' code versions and data digests, and each
    comparison that mixes code or package versions."""
    chosen = [training for answer in group.categories for row in answer.rows if row.option == answer.verdict.winner
              for training in row.trainings if training.status == TrainingStatus.COMPLETED]
    data = sorted({str(((training.provenance or {}).get("data") or {}).get("digest") or
                        ((training.provenance or {}).get("data") or {}).get("layout") or "unrecorded")
                   for training in chosen})
    lines = [f"# Chosen from trainings of code {', '.join(code_versions(chosen)) or 'unrecorded'} on data "
             f"{', '.join(data) or 'unrecorded'}"]
    lines += [f"# mixed {'code' if answer.mixed_code else 'package'} versions in {answer.category}: "
              f"{', '.join(answer.code_versions)}" for answer in group.categories
              if answer.mixed_code or answer.mixed_packages]
    return lines


def final_groups(groups: list[Group]) -> list[Group]:
    """The comparisons that recommend something: each category-sweep comparison, and of a greedy sweep only
    the last stage of each model and setting (its base carries every earlier stage's winner)."""
    last: dict[tuple, int] = {}
    for group in groups:
        key = (group.sweep.directory, group.model, group.setting)
        last[key] = max(last.get(key, 0), group.stage)
    return [group for group in groups if group.categories
            and group.stage == last[(group.sweep.directory, group.model, group.setting)]]


def write_best(groups: list[Group], out_dir: Path | None, sources: list[str]) -> list[tuple[Recommendation, Path, str]]:
    """One experiment config per final comparison, into ``out_dir/experiment/`` (default: the sweep's own
    ``best/experiment/``, so the user's checkout stays clean). Returns (recommendation, file, command)."""
    written: list[tuple[Recommendation, Path, str]] = []
    for group in final_groups(groups):
        recommendation = recommend(group)
        directory = out_dir or group.sweep.directory / "best"
        path = directory / "experiment" / f"{recommendation.name}.yaml"
        if any(path == earlier for _, earlier, _ in written):
            raise ConfigError([f"{path}: several sweeps hold comparisons of {group.model}; name one sweep dir, "
                               "or leave --out unset (each sweep then gets its own best/ folder)"])
        command = f"python {_script(group)} --config-dir {directory} +experiment={recommendation.name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(experiment_yaml(recommendation, command, sources))
        written.append((recommendation, path, command))
    return written


def _script(group: Group) -> str:
    """The app's script as the user would type it: relative to here where it is below here."""
    script = Path(group.sweep.manifest.get("app", {}).get("script") or "run_experiments.py")
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)
