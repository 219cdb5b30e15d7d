"""``hpsweep run --models A B --categories X Y``: the seed runner's flags, forwarded to ``run_experiments.py -m``."""

import argparse
from pathlib import Path

from hpsweep.cli.matrix import matrix
from hpsweep.cli.summary import summary
from hpsweep.sweep.interactive import launch, sweep_command


def run(args, parser: argparse.ArgumentParser) -> int:
    """``hpsweep run --models A B --categories X Y``: the seed runner's habits on top of the Hydra command."""
    if args.summary:
        return summary([Path("outputs")], None, None, None, None)
    # --models/--categories take every following word; those with "=" are Hydra overrides
    overrides = [word for word in args.models + args.categories if "=" in word] + args.overrides
    models = [word for word in args.models if "=" not in word]
    categories = [word for word in args.categories if "=" not in word]
    if args.all:
        models, categories = ["all"], ["all"]
    if not models or not categories:
        parser.error("name --models and --categories, or --all")
    if args.matrix:
        return matrix(args.config_dir, [f"model={','.join(models)}", f"category={','.join(categories)}",
                                        *overrides], [Path("outputs")])
    return launch(sweep_command(args.config_dir, models, categories, args.launcher, overrides))
