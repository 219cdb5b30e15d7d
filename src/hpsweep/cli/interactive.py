"""``hpsweep interactive``: pick models, categories and a launcher from menus, see the matrix, confirm, launch."""

from pathlib import Path

from hpsweep.cli.matrix import matrix
from hpsweep.sweep.interactive import confirm, launch, pick, sweep_command


def run(args, parser) -> int:
    return interactive(args.config_dir, args.overrides)


def interactive(config_dir: Path, overrides: list[str]) -> int:
    """Pick models, categories and a launcher from menus, see the matrix, confirm, launch."""
    picked = pick(config_dir)
    if picked is None:
        return 1
    models, categories, launcher = picked
    if matrix(config_dir, [f"model={','.join(models)}", f"category={','.join(categories)}", *overrides],
              [Path("outputs")]) != 0:
        return 1
    if not confirm():
        print("nothing launched")
        return 0
    return launch(sweep_command(config_dir, models, categories, launcher, overrides))
