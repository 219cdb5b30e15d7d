"""``hpsweep best``: each comparison's choices as an experiment config, and with ``--verify`` trained against the
base."""

import sys
from pathlib import Path

from hpsweep.cli.common import load_sweeps
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
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not written:
        print(f"error: no category sweep with results under {', '.join(map(str, directories))}", file=sys.stderr)
        return 1
    for _, path, command in written:
        print(f"wrote {path}\n  run it: {command}")
    if verify:
        reports = [verify_one(recommendation, path.parent.parent, verify_overrides)
                   for recommendation, path, _ in written]
        return 0 if all(report["trust"] is not False for report in reports) else 2
    return 0
