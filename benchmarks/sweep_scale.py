"""A sweep's cost at scale: hundreds to thousands of no-op jobs through Hydra's BasicSweeper and the category sweeper.

    python benchmarks/sweep_scale.py --jobs 100,1000          # add 10000 for the largest (about an hour)
    python benchmarks/sweep_scale.py --ray auto --jobs 20,200  # on a running Ray cluster (scripts/ray_cluster.sh start)

For each sweeper and size N, one sweep of ``+x=range(0,N)`` over an app whose jobs do nothing but note when the
first of them started, in a fresh process measured from outside: its wall time, the time until its first job
started (everything the sweeper does before: planning, composing, checking), and the driver's peak resident
memory (ru_maxrss: jobs run in the driver's process with the basic launcher). Per job is the slope between the
smallest and each larger N, so start-up cancels out. One run each, on a quiet machine (each sweep's line says the
machine's 1-minute load average before and after it).

With ``--ray ADDRESS`` every job is a Ray task on that running cluster, through Hydra's Ray launcher
(``hydra/launcher=ray``) for both sweepers, with the same overrides. A third sweep gives the BasicSweeper the task
options hpsweep asks Ray for (``max_calls=1``: a fresh worker process per job, and ``max_retries=1``), which tells
Ray's cost of a fresh worker from the sweeper's own. The jobs run in Ray's workers, which the driver's environment
does not reach: the first job's file is named in the config (``+sweep_scale_first``) instead. The peak memory is the
driver's alone.
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
    first = cfg.get("sweep_scale_first") or os.environ["SWEEP_SCALE_FIRST"]
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
# on Ray: the BasicSweeper with the task options hpsweep asks Ray for (hpsweep.sweep.on_ray.RETRIES)
RAY_SWEEPERS = {"basic": [], "basic_fresh": ["+hydra.launcher.ray.remote.max_calls=1",
                                             "+hydra.launcher.ray.remote.max_retries=1"],
                "category": ["hydra/sweeper=category"]}


def on_ray(address: str) -> list[str]:
    """Hydra's Ray launcher on the running cluster at ``address``, the same for every sweeper (the plugin's default
    object store size, which Ray refuses when connecting, left out: hpsweep leaves it out itself)."""
    return ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}",
            "++hydra.launcher.ray.init.object_store_memory=null"]


def sweep(sweeper: str, jobs: int, work: Path, ray: str | None = None) -> dict:
    """One sweep of ``jobs`` no-op jobs (on the Ray cluster at ``ray``, if given): wall seconds, seconds to its
    first job, the driver's peak RSS in MB."""
    app, first = work / "app.py", work / f"first-{sweeper}-{jobs}"
    app.write_text(APP)
    engine = [*on_ray(ray), f"+sweep_scale_first={first}"] if ray else []
    command = [sys.executable, str(app), "-m", *(RAY_SWEEPERS if ray else SWEEPERS)[sweeper], *engine,
               f"+x=range(0,{jobs})", f"hydra.sweep.dir={work / f'{sweeper}-{jobs}'}", "hydra/job_logging=disabled",
               "hydra/hydra_logging=disabled"]
    load, started = os.getloadavg()[0], time.time()
    measured = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True,
                              env={**os.environ, "SWEEP_SCALE_FIRST": str(first)}, check=True)
    wall = time.time() - started
    return {"wall": wall, "first": float(first.read_text()) - started, "rss_mb": int(measured.stdout) / 1024,
            "load": (load, os.getloadavg()[0])}


def print_table(found: dict, sizes: list[int]) -> None:
    """The local table: both sweepers per size, per job as the slope from the smallest size."""
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


def print_ray_table(found: dict, sizes: list[int]) -> None:
    """The Ray table: the three sweeps per size; per job as the slope from the smallest size, ours against the
    BasicSweeper as Hydra has it and against the BasicSweeper asking Ray for what ours asks."""
    smallest = sizes[0]
    print("\n| jobs | BasicSweeper | Basic, max_calls=1 | category sweeper | per job, ours / Basic | "
          "per job, ours / Basic max_calls=1 | first job, ours / Basic / Basic max_calls=1 | peak RSS, ours / Basic |"
          "\n|---|---|---|---|---|---|---|---|")
    for jobs in sizes:
        basic, fresh, ours = (found[name, jobs] for name in RAY_SWEEPERS)
        slopes = ["", ""]
        if jobs > smallest:
            per = {name: (found[name, jobs]["wall"] - found[name, smallest]["wall"]) / (jobs - smallest)
                   for name in RAY_SWEEPERS}
            slopes = [f"{per['category']:.3f} / {per[name]:.3f} s = {per['category'] / per[name]:.2f}x"
                      for name in ("basic", "basic_fresh")]
        print(f"| {jobs} | {basic['wall']:.1f} s | {fresh['wall']:.1f} s | {ours['wall']:.1f} s | {slopes[0]} | "
              f"{slopes[1]} | {ours['first']:.1f} / {basic['first']:.1f} / {fresh['first']:.1f} s | "
              f"{ours['rss_mb']:.0f} / {basic['rss_mb']:.0f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="100,1000", help="sizes, comma-separated (the smallest is the baseline)")
    parser.add_argument("--only", choices=list(RAY_SWEEPERS), help="one sweeper alone (the BasicSweeper's 10,000 "
                        "jobs take about 30 minutes)")
    parser.add_argument("--ray", metavar="ADDRESS", help="run every job as a Ray task on the running cluster at "
                        "ADDRESS (auto: the one on this machine, scripts/ray_cluster.sh start; or HOST:PORT), and "
                        "the BasicSweeper a second time with hpsweep's task options (max_calls=1, max_retries=1)")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.jobs.split(","))
    every = RAY_SWEEPERS if args.ray else SWEEPERS
    if args.only and args.only not in every:
        parser.error(f"--only {args.only} is a sweep of --ray alone")
    sweepers = [args.only] if args.only else list(every)
    width = max(map(len, every))
    found = {}
    with tempfile.TemporaryDirectory() as work:
        for jobs in sizes:
            for sweeper in sweepers:
                found[sweeper, jobs] = sweep(sweeper, jobs, Path(work), args.ray)
                print(f"{sweeper:>{width}} {jobs:>6} jobs: {found[sweeper, jobs]['wall']:7.1f} s, first job after "
                      f"{found[sweeper, jobs]['first']:5.1f} s, driver peak {found[sweeper, jobs]['rss_mb']:6.0f} MB, "
                      "machine load {:.1f} -> {:.1f}".format(*found[sweeper, jobs]["load"]), flush=True)
    if len(sweepers) < len(every):
        return
    (print_ray_table if args.ray else print_table)(found, sizes)


if __name__ == "__main__":
    main()
