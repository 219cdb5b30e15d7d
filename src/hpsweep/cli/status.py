"""``hpsweep status``: where each training of a sweep stands, and what its verdicts say so far."""

from pathlib import Path

from hpsweep.decide.answers import answer
from hpsweep.decide.results import load
from hpsweep.report.sentences import verdict_sentence
from hpsweep.sweep.status import print_status


def run(args, parser) -> int:
    return status(args.sweep_dir, args.trainings, args.wide)


def status(sweep_dir: Path, trainings: bool = False, wide: bool = False) -> int:
    """Each row's state (``trainings``: each training's), what the sweep's verdicts say so far (each category's in
    one sentence, after its model), and the count of every state."""

    def verdicts() -> list[str]:
        groups = answer(sweep for sweep in load([sweep_dir]) if sweep.directory == sweep_dir)
        return [f"{group.model or 'sweep'} {verdict_sentence(group, item)}" for group in groups
                for item in group.categories]

    return print_status(sweep_dir, verdicts, trainings, wide)
