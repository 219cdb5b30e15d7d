"""``hpsweep sync``: upload a sweep's offline W&B runs."""

import subprocess
import sys
from pathlib import Path


def run(args, parser) -> int:
    return sync(args.sweep_dir, args.dry_run)


def sync(sweep_dir: Path, dry_run: bool) -> int:
    """Upload every offline W&B run of a sweep with ``wandb sync`` (from a machine with internet).

    A requeued job has one offline run directory per start, all with the same run id; wandb syncs them
    in order of start time, into one run. Runs already synced are skipped, so running it again is safe.
    """
    runs = sorted(str(path) for path in sweep_dir.glob("**/wandb/offline-run-*") if path.is_dir())
    if not runs:
        print(f"error: no offline W&B runs under {sweep_dir} (wandb/offline-run-* in its job dirs)",
              file=sys.stderr)
        return 1
    dry = ["--dry-run"] if dry_run else []
    return subprocess.run([sys.executable, "-m", "wandb", "sync", *dry, *runs]).returncode
