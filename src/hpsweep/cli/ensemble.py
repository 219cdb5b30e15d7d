"""``hpsweep ensemble``: one submission from many runs' test probabilities."""

from pathlib import Path

from hpsweep.core.display import say_error
from hpsweep.core.errors import ConfigError
from hpsweep.report.ensemble import ensemble as average


def run(args, parser) -> int:
    return ensemble(args.directories, args.out)


def ensemble(directories: list[Path], out: Path) -> int:
    """Average the test probabilities of the runs found into one submission; report its out-of-fold F1."""
    try:
        report = average(directories, out)
    except ConfigError as error:
        say_error(str(error))
        return 1
    print(f"ensemble of {len(report['runs'])} runs, each weighing {report['weight']:.4g}:")
    for run in report["runs"]:
        print(f"  {run}")
    if report["oof_f1"] is not None:
        print(f"macro F1 {report['oof_f1']:.4f}: {report['oof']}")
    else:
        print(report["oof"])
    print(f"wrote {report['out']} ({report['images']} test images)")
    return 0
