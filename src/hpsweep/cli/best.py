"""``hpsweep best``: each comparison's choices as an experiment config, and with ``--verify`` trained against the
base."""

from pathlib import Path

from hpsweep.cli.common import load_sweeps
from hpsweep.core.display import console, say, say_error
from hpsweep.core.errors import ConfigError
from hpsweep.decide.answers import answer
from hpsweep.report.best import write_best
from hpsweep.report.verify import verify as verify_one


def run(args, parser) -> int:
    return best(args.directories, args.out, args.metric, args.direction, args.verify, args.verify_overrides)


def best(directories: list[Path], out_dir: Path | None, metric: str | None, direction: str | None, verify: bool,
         verify_overrides: list[str]) -> int:
    """Write each comparison's choices (decided by ``metric`` where given) as an experiment config; with
    ``verify``, train the combination against the base."""
    sweeps = load_sweeps(directories, metric, direction)
    if sweeps is None:
        return 1
    try:
        written = write_best(answer(sweeps), out_dir, [str(directory) for directory in directories])
    except ConfigError as error:
        say_error(str(error))
        return 1
    if not written:
        say_error(f"no category sweep with results under {', '.join(map(str, directories))}")
        return 1
    out = console()
    for recommendation, path, command in written:
        if not recommendation.changed:  # the config is the base: training it again answers nothing new
            say(out, f"{recommendation.group.model or 'sweep'}: every category kept the base; the config is the base "
                     "unchanged")
        say(out, f"wrote {path}")
        say(out, f"run it: {command}", indent="  ")
    if verify:
        reports = [verify_one(recommendation, path.parent.parent, verify_overrides)
                   for recommendation, path, _ in written]
        return 0 if all(report["trust"] is not False for report in reports) else 2
    return 0
