"""What several commands share: the sweeps a reading command reads, and the paths it was given."""

from pathlib import Path

from hpsweep.core.display import say_error
from hpsweep.core.errors import ConfigError
from hpsweep.decide.results import decide_by, load


def load_sweeps(directories: list[Path], metric: str | None, direction: str | None) -> list | None:
    """The sweeps under ``directories``, decided by ``metric`` where given; None, having said why, where a path
    does not exist, nothing is there, or no training recorded the metric."""
    if missing_paths(directories):
        return None
    sweeps = load(directories)
    if not sweeps:
        say_error(f"no result.json or sweep.json under {', '.join(map(str, directories))}")
        return None
    try:
        decide_by(sweeps, metric, direction)
    except ConfigError as error:
        say_error(str(error))
        return None
    return sweeps


def missing_paths(paths: list[Path]) -> bool:
    """Say which of ``paths`` do not exist (a typo, or the wrong directory to run from)."""
    missing = [path for path in paths if not path.exists()]
    for path in missing:
        say_error(f"{path} does not exist (relative paths start at {Path.cwd()})")
    return bool(missing)
