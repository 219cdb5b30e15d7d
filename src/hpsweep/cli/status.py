"""``hpsweep status``: where each training of a sweep stands, and what its verdicts say so far."""

from pathlib import Path

from hpsweep.decide.answers import answer
from hpsweep.decide.results import load
from hpsweep.report.summary import correction_line
from hpsweep.sweep.status import print_status


def run(args, parser) -> int:
    return status(args.sweep_dir, args.trainings, args.wide)


def status(sweep_dir: Path, trainings: bool = False, wide: bool = False) -> int:
    """Each row's state (``trainings``: each training's), what the sweep's verdicts say so far (each category's
    choice, and the sweep's expected false wins), and the count of every state."""

    def verdicts() -> list[str]:
        groups = answer(sweep for sweep in load([sweep_dir]) if sweep.directory == sweep_dir)
        return [f"{group.model or 'sweep'}: "
                + "; ".join(f"{item.category}: {_choice(item.verdict)}" for item in group.categories)
                + f" ({correction_line(group)})" for group in groups if group.categories]

    return print_status(sweep_dir, verdicts, trainings, wide)


def _choice(verdict) -> str:
    if verdict.winner is None:
        return "no winner"
    if verdict.kept_base:
        return "base kept" + (f" ({verdict.top} untested against seed luck)" if verdict.untested else "")
    return f"{verdict.winner} wins"
