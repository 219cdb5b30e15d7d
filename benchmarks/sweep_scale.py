"""A sweep's cost at scale: hundreds to thousands of no-op jobs through Hydra's BasicSweeper and the category sweeper.

    python benchmarks/sweep_scale.py --jobs 100,1000          # add 10000 for the largest (about an hour)

For each sweeper and size N, one sweep of ``+x=range(0,N)`` over an app whose jobs do nothing but note when the
first of them started, in a fresh process measured from outside: its wall time, the time until its first job
started (everything the sweeper does before: planning, composing, checking), and the driver's peak resident
memory (ru_maxrss: jobs run in the driver's process with the basic launcher). Per job is the slope between the
smallest and each larger N, so start-up cancels out. One run each, on a quiet machine.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = '''
import os, time

import hydra


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg) -> None:
    first = os.environ["SWEEP_SCALE_FIRST"]
    if not os.path.exists(first):
        with open(first, "w") as handle:
            handle.write(repr(time.time()))


if __name__ == "__main__":
    main()
'''
MEASURE = '''
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode:
    sys.exit(done.stderr[-2000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
'''
SWEEPERS = {"basic": [], "category": ["hydra/sweeper=category"]}


def sweep(sweeper: str, jobs: int, work: Path) -> dict:
    """One sweep of ``jobs`` no-op jobs: wall seconds, seconds to its first job, the driver's peak RSS in MB."""
    app, first = work / "app.py", work / f"first-{sweeper}-{jobs}"
    app.write_text(APP)
    command = [sys.executable, str(app), "-m", *SWEEPERS[sweeper], f"+x=range(0,{jobs})",
               f"hydra.sweep.dir={work / f'{sweeper}-{jobs}'}", "hydra/job_logging=disabled",
               "hydra/hydra_logging=disabled"]
    started = time.time()
    measured = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True,
                              env={**os.environ, "SWEEP_SCALE_FIRST": str(first)}, check=True)
    wall = time.time() - started
    return {"wall": wall, "first": float(first.read_text()) - started, "rss_mb": int(measured.stdout) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="100,1000", help="sizes, comma-separated (the smallest is the baseline)")
    parser.add_argument("--only", choices=list(SWEEPERS), help="one sweeper alone (the BasicSweeper's 10,000 jobs "
                        "take about 30 minutes)")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.jobs.split(","))
    sweepers = [args.only] if args.only else list(SWEEPERS)
    found = {}
    with tempfile.TemporaryDirectory() as work:
        for jobs in sizes:
            for sweeper in sweepers:
                found[sweeper, jobs] = sweep(sweeper, jobs, Path(work))
                print(f"{sweeper:>8} {jobs:>6} jobs: {found[sweeper, jobs]['wall']:7.1f} s, first job after "
                      f"{found[sweeper, jobs]['first']:5.1f} s, driver peak {found[sweeper, jobs]['rss_mb']:6.0f} MB",
                      flush=True)
    if len(sweepers) < len(SWEEPERS):
        return
    smallest = sizes[0]
    print("\n| jobs | BasicSweeper | category sweeper | per job, ours / Basic | first job, ours / Basic | "
          "peak RSS, ours / Basic |\n|---|---|---|---|---|---|")
    for jobs in sizes:
        basic, ours = found["basic", jobs], found["category", jobs]
        slope = ""
        if jobs > smallest:
            per = {name: (found[name, jobs]["wall"] - found[name, smallest]["wall"]) / (jobs - smallest)
                   for name in SWEEPERS}
            slope = f"{per['category']:.3f} / {per['basic']:.3f} s = {per['category'] / per['basic']:.2f}x"
        print(f"| {jobs} | {basic['wall']:.1f} s | {ours['wall']:.1f} s | {slope} | {ours['first']:.1f} / "
              f"{basic['first']:.1f} s | {ours['rss_mb']:.0f} / {basic['rss_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
