"""``hpsweep interactive`` and ``hpsweep run``: the seed's menu and flags, as a front for the Hydra command.

Both build the same ``python run_experiments.py -m ...`` command a user could type, print it, and run
it: nothing here launches jobs any other way. The menus only pick; ``hpsweep.cli`` shows the matrix between
the picking and the launch (this module does not import the command line).
"""

import shlex
import subprocess
import sys
from pathlib import Path

from hpsweep.core.compose import compose_config
from hpsweep.core.display import columns, command_lines

NOT_SWEEPABLE = {"model", "data", "trainer", "logger", "experiment"}  # groups, not categories
# the launchers offered: Hydra's basic one, hpsweep's local and slurm presets, Ray's plugin where it is installed
LAUNCHERS = ("basic", "local", "slurm", "ray")
# Ray: the running cluster this machine belongs to (ray start); another is named with a later override of it
LAUNCHER_OVERRIDES = {"ray": ["hydra.launcher.ray.init.address=auto"]}


def sweep_command(config_dir: Path, models: list[str], categories: list[str], launcher: str = "basic",
                  overrides: list[str] = ()) -> list[str]:
    """The ``run_experiments.py`` command line of a category sweep (run from the project root)."""
    command = [sys.executable, "run_experiments.py"]
    if config_dir.resolve() != Path("conf").resolve():
        command += ["--config-path", str(config_dir.resolve()), "--config-name", "config"]
    command += ["-m", f"model={','.join(models)}", f"category={','.join(categories)}"]
    if launcher != "basic":
        command += [f"hydra/launcher={launcher}", *LAUNCHER_OVERRIDES.get(launcher, [])]
    return command + list(overrides)


def launch(command: list[str]) -> int:
    print("equivalent command:", flush=True)
    print(command_lines([shlex.quote(word) for word in ["python", *command[1:]]], columns()), flush=True)
    return subprocess.run(command).returncode


def pick(config_dir: Path) -> tuple[list[str], list[str], str] | None:
    """Models, categories and a launcher picked from menus; None where the user left a menu."""
    import questionary
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    sweeper = compose_config(config_dir, []).hydra.sweeper
    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        models = loader.get_group_options("model")
        # the seed's categories first, then every other folder of options (augmentation, fold, your own)
        groups = [group for group in loader.list_groups("") if group not in NOT_SWEEPABLE and
                  not group.startswith("hydra") and loader.get_group_options(group)]
        categories = list(dict.fromkeys([*sweeper.categories, *sorted(groups)]))
        option_counts = {category: len(loader.get_group_options(category)) for category in categories}
        launchers = ["basic", *loader.get_group_options("hydra/launcher")]
    launchers = list(dict.fromkeys(name for name in launchers if name in LAUNCHERS))

    chosen_models = questionary.checkbox(
        "Models (space to select, enter to go on):", choices=models,
        validate=lambda picked: bool(picked) or "pick at least one model").ask()
    if not chosen_models:
        return None
    chosen_categories = questionary.checkbox(
        "Categories:", choices=[questionary.Choice(
            f"{name} ({option_counts[name]} options"
            + (", repeats each row: a replicate, not a choice" if name in sweeper.replicates else "") + ")",
            value=name) for name in categories],
        validate=lambda picked: bool(picked) or "pick at least one category").ask()
    if not chosen_categories:
        return None
    launcher = questionary.select("Launcher:", choices=launchers).ask()
    return None if launcher is None else (chosen_models, chosen_categories, launcher)


def confirm() -> bool:
    import questionary

    return bool(questionary.confirm("Launch this sweep?", default=True).ask())
