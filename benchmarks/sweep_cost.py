"""What a sweep's answer costs: a seed-shaped sweep with and without one training per distinct config
(dedup) and pruning, CPU-seconds spent and the winners chosen, side by side; and a replicated sweep (three
seeds, five folds) with and without racing, shared trajectories and noise-aware pruning.

    python benchmarks/sweep_cost.py                  # both parts, about 30 minutes on 2 cores
    python benchmarks/sweep_cost.py --replicated     # the replicated arms only, about 20 minutes
    python benchmarks/sweep_cost.py --replicated --schemes "4 seeds" --arms "racing alone"   # the optimizer, 4 seeds

Two tiny models, five of the seed's categories plus one poorly chosen option (SGD at lr 1e-5, the kind of
option a category sweep exists to rule out), on the embedded digits. Each arm is a real sweep in a fresh
dir; its CPU-seconds are the sweep process's and its children's (``getrusage``). Without dedup every row
trains its own copy of the base combination, as before it was shared: that arm is the dedup arm plus each
shared training's own measured CPU time once more for every extra row it answers (the copies are the same
config, so they would cost the same). Prints the ratios and the projection for the seed's 68-run matrix.
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from hpsweep.decide.answers import answer  # noqa: E402
from hpsweep.decide.results import load  # noqa: E402

SWEEP = ["model=test_resnet,test_efficientnet", "category=optimizer,scheduler,loss_function,early_stopping,batch_size",
         "data.image_size=32", "trainer.max_epochs=10", "trainer.progress_bar=false", "logger.mode=offline"]
POOR_OPTION = ("# @package _global_\noptimizer:\n  _target_: torch.optim.SGD\n  _partial_: true\n  lr: 1.0e-5\n"
               "  momentum: 0.9\nrun_name_parts:\n  optimizer: opt_SGD_lr1e-5\n")
SEED_RUNS, SEED_TRAININGS, SEED_RUN_MINUTES = 68, 52, 45  # the seed's matrix; its runs' typical length
# The replicated arms: one model, a poor option, and early stopping long enough for patience 5 to stop.
REPLICATED = ["model=test_resnet", "data.image_size=16", "trainer.max_epochs=12", "trainer.progress_bar=false",
              "logger.mode=offline"]
REPLICATES = {"3 seeds": ["category=optimizer,loss_function,early_stopping", "seed=1,2,3"],
              "5 folds": ["category=optimizer,loss_function,early_stopping,fold"],
              # the optimizer alone with four seeds: the base, its twin, SGD and the poor option (4 rows x 4 seeds)
              "4 seeds": ["category=optimizer", "seed=1,2,3,4"]}
# AdamW at a learning rate a hair from the base's: a different config, the same effect (no dedup merges it)
TWIN_OPTION = ("_target_: timm.optim.create_optimizer_v2\n_partial_: true\nopt: adamw\nlr: 0.00101\n"
               "weight_decay: 0.001\n_run_name_: opt_AdamW_twin\n")
LEVERS = {"racing": "hydra.sweeper.racing", "sharing": "hydra.sweeper.share_trajectories",
          "pruning": "hydra.sweeper.pruner"}
ARMS = {"full": (), "racing alone": ("racing",), "sharing alone": ("sharing",), "pruning alone": ("pruning",),
        "all levers": ("racing", "sharing", "pruning")}


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def verdict_text(verdict) -> str:
    """The best mean and what the rule made of it: ``OneCycleLR (base kept)``."""
    return f"{verdict.top} ({'base kept' if verdict.kept_base and verdict.top != verdict.winner else 'chosen'})"


def category_rows(training) -> int:
    return sum(1 for row in training.rows if row["category"])


def run_sweep(conf: Path, sweep_dir: Path, arguments: list[str]) -> float:
    """Run one sweep; its CPU-seconds (the driver and every job)."""
    before = children_cpu_s()
    subprocess.run([sys.executable, str(ROOT / "run_experiments.py"), "--config-path", str(conf), "--config-name",
                    "config", "-m", *arguments, f"hydra.sweep.dir={sweep_dir}"],
                   check=True, capture_output=True, env={"WANDB_SILENT": "true", "PATH": "/usr/bin:/bin",
                                                         "HOME": str(Path.home()), "HF_HUB_OFFLINE": "1",
                                                         "PYTHONPATH": str(ROOT / "src")})  # this checkout's code
    return children_cpu_s() - before


def run_arm(conf: Path, sweep_dir: Path, pruner: str) -> dict:
    cpu_s = run_sweep(conf, sweep_dir, [*SWEEP, "hydra.sweeper.racing=false", "hydra.sweeper.share_trajectories=false",
                                        f"hydra.sweeper.pruner={pruner}"])
    sweeps = load([sweep_dir])
    trainings = sweeps[0].trainings
    epochs = sum(training.record.get("epochs_run") or 0 for training in trainings)
    # a shared training's copies: each extra category row it answers would have trained it once more
    total_s = sum(training.duration_s or 0 for training in trainings)
    shared_cpu_s = sum(cpu_s * (training.duration_s or 0) / total_s * (category_rows(training) - 1)
                       for training in trainings if training.is_base)
    winners = {(group.model, category.category): verdict_text(category.verdict)
               for group in answer(sweeps) for category in group.categories}
    return {"cpu_s": cpu_s, "trainings": len(trainings), "epochs": epochs, "shared_cpu_s": shared_cpu_s,
            "pruned": sum(training.status == "pruned" for training in trainings), "winners": winners,
            "rows": sum(category_rows(training) for training in trainings)}


def run_replicated_arm(conf: Path, sweep_dir: Path, replicates: list[str], levers: tuple[str, ...]) -> dict:
    """One arm of the replicated set: the levers named on, the others off (dedup is on in every arm)."""
    switches = [f"{key}={'median' if name == 'pruning' else 'true'}" if name in levers else
                f"{key}={'none' if name == 'pruning' else 'false'}" for name, key in LEVERS.items()]
    cpu_s = run_sweep(conf, sweep_dir, [*REPLICATED, *replicates, *switches])
    sweeps = load([sweep_dir])
    every = sweeps[0].trainings
    trained = [training for training in every if training.status in ("completed", "pruned")
               and not training.record.get("answered_by")]
    answers = [(group.model, category) for group in answer(sweeps) for category in group.categories]
    verdicts = {(model, category.category): verdict_text(category.verdict) for model, category in answers}
    decisions = {(model, category.category): category.verdict.winner for model, category in answers}
    return {"cpu_s": cpu_s, "trainings": len(trained), "epochs": sum(t.record.get("epochs_run") or 0 for t in trained),
            "eliminated": sum(training.status == "eliminated" for training in every),
            "answered": sum(bool(training.record.get("answered_by")) for training in every),
            "pruned": sum(training.status == "pruned" for training in every), "verdicts": verdicts,
            "decisions": decisions}


def replicated(root: Path, confs: dict[str, Path], schemes: list[str], chosen: list[str]) -> None:
    """The arms of the replicated set (``chosen``, always with ``full``), for each scheme of replicates: what each
    lever saves, and whether it changes any comparison's verdict."""
    projection = {}
    for scheme in schemes:
        replicates = REPLICATES[scheme]
        arms = {name: run_replicated_arm(confs[scheme], root / f"{scheme.replace(' ', '-')}-{name.replace(' ', '-')}",
                                         replicates, levers) for name, levers in ARMS.items()
                if name == "full" or name in chosen}
        full = arms["full"]
        print(f"\nreplicated arms, {scheme} (every comparison of one model; dedup on in every arm)")
        print(f"{'arm':<16}{'trainings':>10}{'epochs':>8}{'eliminated':>11}{'answered':>9}{'pruned':>8}{'CPU-s':>8}"
              f"{'x full':>8}{'x epochs':>9}  decisions")
        for name, arm in arms.items():
            same = sum(arm["decisions"].get(key) == winner for key, winner in full["decisions"].items())
            print(f"{name:<16}{arm['trainings']:>10}{arm['epochs']:>8}{arm['eliminated']:>11}{arm['answered']:>9}"
                  f"{arm['pruned']:>8}{arm['cpu_s']:>8.0f}{arm['cpu_s'] / full['cpu_s']:>8.2f}"
                  f"{arm['epochs'] / full['epochs']:>9.2f}  {same} of {len(full['decisions'])} as full")
        # the decision is the winner; the best mean may differ where options are within noise and the base is kept
        print("best mean (verdict) per comparison: " + " | ".join(arms))
        for key in full["verdicts"]:
            verdicts = [arms[name]["verdicts"].get(key) for name in arms]
            winners = {arms[name]["decisions"].get(key) for name in arms}
            differs = "" if len(winners) == 1 else "   <- decision differs"
            print(f"  {key[1]:<15}{' | '.join(map(str, verdicts))}{differs}")
        projection[scheme] = arms["all levers"]["cpu_s"] / full["cpu_s"] if "all levers" in arms else None
        print(json.dumps({name: {key: value for key, value in arm.items() if key not in ("verdicts", "decisions")}
                          for name, arm in arms.items()}), flush=True)
    full_hours = SEED_TRAININGS * 3 * SEED_RUN_MINUTES / 60
    if projection.get("3 seeds") is None:
        return
    print(f"\nseed matrix with three seeds ({SEED_TRAININGS} x 3 trainings, {SEED_RUN_MINUTES} min a run): "
          f"{full_hours:.0f} GPU-h every replicate; about {full_hours * projection['3 seeds']:.0f} GPU-h with every "
          f"lever if they save there what they saved here ({projection['3 seeds']:.2f}x); one replicate of every "
          f"row: {full_hours / 3:.0f} GPU-h")

def single(root: Path, conf: Path) -> None:
    """The single-replicate arms: dedup and pruning against one training per row."""
    arms = {pruner: run_arm(conf, root / f"sweep-{pruner}", pruner) for pruner in ("none", "median", "hyperband")}
    plain = arms["none"]
    no_dedup_cpu_s = plain["cpu_s"] + plain["shared_cpu_s"]
    print(f"{plain['rows']} rows: {plain['rows']} trainings without dedup (one per row), {plain['trainings']} with it")
    print(f"{'arm':<34}{'trainings':>10}{'epochs':>8}{'pruned':>8}{'CPU-s':>9}{'x no dedup':>12}")
    print(f"{'no dedup, no pruning (projected)':<34}{plain['rows']:>10}{'':>8}{'':>8}{no_dedup_cpu_s:>9.0f}"
          f"{1.0:>12.2f}")
    for name, arm in (("dedup, no pruning", plain), ("dedup + median pruning", arms["median"]),
                      ("dedup + hyperband pruning", arms["hyperband"])):
        print(f"{name:<34}{arm['trainings']:>10}{arm['epochs']:>8}{arm['pruned']:>8}{arm['cpu_s']:>9.0f}"
              f"{arm['cpu_s'] / no_dedup_cpu_s:>12.2f}")
    print("\nbest mean (verdict) per model and category: none | median | hyperband")
    for key in plain["winners"]:
        chosen = [arms[pruner]["winners"].get(key) for pruner in ("none", "median", "hyperband")]
        marks = "" if len(set(chosen)) == 1 else "   <- differs"
        print(f"  {key[0]:<18}{key[1]:<15}{' | '.join(map(str, chosen))}{marks}")
    median_saved = 1 - arms["median"]["cpu_s"] / plain["cpu_s"]
    dedup_hours = SEED_TRAININGS * SEED_RUN_MINUTES / 60
    print(f"\nseed matrix projection ({SEED_RUN_MINUTES} min a run): {SEED_RUNS * SEED_RUN_MINUTES / 60:.0f} GPU-h "
          f"one run per row; {dedup_hours:.0f} GPU-h with dedup ({SEED_TRAININGS} trainings); about "
          f"{dedup_hours * (1 - median_saved):.0f} GPU-h with median pruning if it saves there what it saved here "
          f"({median_saved:.0%}; it depends on how many options fall clearly behind)")
    print(json.dumps({name: {key: value for key, value in arm.items() if key != "winners"}
                      for name, arm in arms.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the sweep dirs here")
    parser.add_argument("--replicated", action="store_true", help="only the replicated arms")
    parser.add_argument("--schemes", default=",".join(REPLICATES), help=f"replicated: of {', '.join(REPLICATES)}")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"replicated: of {', '.join(ARMS)} (full always)")
    args = parser.parse_args()
    schemes, arms = args.schemes.split(","), args.arms.split(",")
    if unknown := [name for name in schemes if name not in REPLICATES] + [name for name in arms if name not in ARMS]:
        parser.error(f"unknown scheme or arm: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        conf = root / "conf"
        shutil.rmtree(conf, ignore_errors=True)
        shutil.copytree(ROOT / "conf", conf)
        (conf / "optimizer" / "SGD_lr1e-5.yaml").write_text(POOR_OPTION)
        twin = root / "conf-twin"  # the four-seed scheme's: the others' rows stay as they were measured
        shutil.rmtree(twin, ignore_errors=True)
        shutil.copytree(conf, twin)
        (twin / "optimizer" / "AdamW_twin.yaml").write_text(TWIN_OPTION)
        if not args.replicated:
            single(root, conf)
        replicated(root, {scheme: twin if scheme == "4 seeds" else conf for scheme in schemes}, schemes, arms)

if __name__ == "__main__":
    main()
