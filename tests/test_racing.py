"""Racing replicates: an option clearly behind its comparison's leader stops training its remaining replicates,
says why, and the answer stays the one every replicate gives; a killed race resumes from what it recorded."""

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import CPU_SIZE, ROOT, sweep_counts
from test_sweep_plan import plan, real_group_options
from test_sweeps import ENV, results, run_sweep, sweep_command

from hpsweep.cli import main
from hpsweep.core.records import write_csv_atomic
from hpsweep.decide.race_record import RACE_FILE, phrase, read_race
from hpsweep.sweep.outcomes import Outcome
from hpsweep.sweep.racing import Race, training_bounds

IMAGES = 100


def outcomes_of(sweep_dir, values: dict[str, list[float]], categories: str = "loss_function") -> list[Outcome]:
    """A seeded sweep's outcomes; each option's replicates done as ``values`` lists them (seed order), each right on
    that fraction of 100 validation images, the first ones (written as val_probabilities.csv)."""
    outcomes = []
    for training in plan("model=test_resnet", f"category={categories}", "seed=1,2,3"):
        directory = sweep_dir / training.subdir
        outcome = Outcome(training, directory, training.subdir, None)
        seed, done = int(training.replicate[0].split("=")[1]), values.get(training.option, [])
        if seed <= len(done):
            right = round(done[seed - 1] * IMAGES)
            directory.mkdir(parents=True)
            write_csv_atomic(directory / "val_probabilities.csv", ["id", "target", "a", "b"],
                             [[f"img{image}", "a", float(image < right), float(image >= right)]
                              for image in range(IMAGES)])
            outcome.result = {"status": "completed", "metrics": {"val_f1": done[seed - 1]}}
            outcome.status = "completed"
        outcomes.append(outcome)
    return outcomes


def race(sweep_dir, outcomes, race_from=1, **stops) -> Race:
    stops = {"futility": 0.0, "efficacy": None, **stops}
    return Race(sweep_dir, outcomes, "val_f1", higher_is_better=True, alpha=0.05, race_from=race_from, **stops)


def label(outcome: Outcome) -> str:
    return f"{outcome.training.option} {outcome.training.replicate_label}"


def test_an_option_clearly_behind_the_leader_is_eliminated_once_seed_luck_can_be_measured(tmp_path):
    # one run each: nothing to measure seed luck with, so nothing is tested yet; the base runs one replicate ahead
    # of its rows (its third seed starts with their second)
    alone = outcomes_of(tmp_path / "alone", {"base": [0.9], "Focal": [0.91], "LabelSmoothing": [0.5]})
    assert sorted(map(label, race(tmp_path / "alone", alone).ready())) == [
        "Focal seed=2", "LabelSmoothing seed=2", "base seed=2", "base seed=3"]
    # the base ahead: its seeds give the noise every row's first run is tested against
    values = {"base": [0.90, 0.92, 0.89], "Focal": [0.91], "LabelSmoothing": [0.5]}
    outcomes = outcomes_of(tmp_path, values)
    assert sorted(map(label, race(tmp_path, outcomes).ready())) == ["Focal seed=2"]
    eliminated = [label(outcome) for outcome in outcomes if outcome.status == "eliminated"]
    assert eliminated == ["LabelSmoothing seed=2", "LabelSmoothing seed=3"]
    why = read_race(tmp_path)[("test_resnet", (), 0, "loss_function")]["LabelSmoothing"]
    assert why["after"] == 1 and why["leader"] == "Focal" and why["p_value"] < 1e-4
    assert "worse than the leader Focal by -0.4100: pooled t-test" in why["reason"]

    again = outcomes_of(tmp_path / "again", {})  # a re-run: the recorded elimination needs its result
    ready = race(tmp_path, again).ready()
    assert "LabelSmoothing seed=1" in map(label, ready) and len(ready) == 3 + 1, \
        "without the result it was made from, the recorded elimination does not stand"


def test_the_base_and_the_leader_are_never_eliminated_and_nothing_before_race_from(tmp_path):
    behind = {"base": [0.5, 0.51, 0.5], "Focal": [0.95], "LabelSmoothing": [0.93]}
    outcomes = outcomes_of(tmp_path, behind)
    race(tmp_path, outcomes, race_from=2).ready()
    assert not [outcome for outcome in outcomes if outcome.status == "eliminated"], \
        "race_from=2: one round decides nothing"
    race(tmp_path, outcomes).ready()
    assert not [outcome for outcome in outcomes if outcome.status == "eliminated"], \
        "the base (far behind) and the leader Focal run on; LabelSmoothing is within noise of Focal"


def test_a_row_more_replicates_would_not_decide_stops_as_futile_and_a_decided_comparison_stops_its_leader(tmp_path):
    level = {"base": [0.90, 0.92, 0.915], "Focal": [0.905, 0.915], "LabelSmoothing": [0.50, 0.52]}
    outcomes = outcomes_of(tmp_path, level)
    assert race(tmp_path, outcomes).ready(), "futility 0: every row trains every replicate"
    outcomes = outcomes_of(tmp_path / "futile", level)
    assert race(tmp_path / "futile", outcomes, futility=0.2).ready() == [], "every row is decided after two seeds"
    states = {label(outcome): outcome.status for outcome in outcomes if outcome.status != "completed"}
    assert states == {"Focal seed=3": "stopped", "LabelSmoothing seed=3": "eliminated"}, "the base never waits"
    recorded = read_race(tmp_path / "futile")[("test_resnet", (), 0, "loss_function")]
    focal, leader = recorded["Focal"], recorded["CrossEntropy"]
    assert (focal["stop"], focal["after"], focal["leader"]) == ("futile", 2, "CrossEntropy") and focal["power"] < 0.1
    assert "within noise of CrossEntropy: stopped after 2 of 3 replicates, as the remaining ones would tell them " \
           "apart with probability 0.0" in focal["reason"]
    assert (focal["rule"], phrase(focal, "Focal")) == ("within_noise", "within noise of CrossEntropy")
    assert phrase(leader, "CrossEntropy") == "nothing left to decide"
    assert leader["stop"] == "futile" and "every other row is decided" in leader["reason"]
    assert "stop" not in recorded["LabelSmoothing"], "an elimination stays one"


def test_a_leader_that_beats_the_base_at_the_looks_boundary_wins_and_stops_its_comparison(tmp_path):
    clear = {"base": [0.80, 0.81, 0.805], "Focal": [0.99, 0.985], "LabelSmoothing": [0.50, 0.51]}
    outcomes = outcomes_of(tmp_path, clear)
    assert race(tmp_path, outcomes, efficacy="haybittle_peto").ready() == []
    assert {label(outcome): outcome.status for outcome in outcomes if outcome.status != "completed"} == {
        "Focal seed=3": "stopped", "LabelSmoothing seed=3": "eliminated"}
    recorded = read_race(tmp_path)[("test_resnet", (), 0, "loss_function")]
    focal, base = recorded["Focal"], recorded["CrossEntropy"]
    assert (focal["stop"], base["stop"], focal["leader"], focal["after"]) == ("efficacy", "efficacy", "Focal", 2)
    assert focal["reason"].startswith("won after 2 of 3 replicates: better than the base by +0.1825: Dunnett, "
                                      "2 option(s) against the base, one-sided")
    assert "< 0.001, the efficacy boundary of look 2; stage-wise p=" in focal["reason"]
    assert focal["boundaries"] == pytest.approx([0.001, 0.001, 0.048]) and 0.001 <= focal["stagewise"] < 0.002
    assert base["reason"].startswith("beaten by Focal after 2 of 3 replicates: it is better than the base")

    # ahead, but not beyond the small early boundary: the base and the leader train on, round by round
    close = {"base": [0.80, 0.82, 0.81], "Focal": [0.86, 0.85], "LabelSmoothing": [0.50, 0.52]}
    late = outcomes_of(tmp_path / "late", close)
    assert sorted(map(label, race(tmp_path / "late", late, efficacy="haybittle_peto").ready())) == ["Focal seed=3"]
    assert "Focal" not in read_race(tmp_path / "late").get(("test_resnet", (), 0, "loss_function"), {})


def won_early(tmp_path, real_fingerprints: bool = False) -> None:
    """A 3-seed sweep of the loss function whose Focal beat the base after 2 seeds (efficacy stopping)."""
    from fake_sweeps import fake_sweep

    seeds = {"base": [0.80, 0.81, 0.805], "Focal": [0.99, 0.985], "LabelSmoothing": [0.50, 0.51]}

    def value(training):
        number = int(training.replicate[0].split("=")[1])
        return seeds[training.option][number - 1] if number <= len(seeds[training.option]) else None

    trainings = fake_sweep(tmp_path, "model=test_resnet", "category=loss_function", "seed=1,2,3", value=value,
                           real_fingerprints=real_fingerprints)
    outcomes = []
    for training in trainings:
        outcome = Outcome(training, tmp_path / training.subdir, training.subdir, None)
        if value(training) is not None:
            right = round(value(training) * IMAGES)
            write_csv_atomic(outcome.directory / "val_probabilities.csv", ["id", "target", "a", "b"],
                             [[f"img{image}", "a", float(image < right), float(image >= right)]
                              for image in range(IMAGES)])
            outcome.result = json.loads((outcome.directory / "result.json").read_text())
            outcome.status = "completed"
        outcomes.append(outcome)
    assert race(tmp_path, outcomes, efficacy="haybittle_peto").ready() == []


def test_verify_trains_only_the_replicates_the_sweep_did_not_train(tmp_path, monkeypatch, capsys):
    """Focal won after 2 of 3 seeds: ``best --verify`` takes those two from the sweep and trains seed 3 alone."""
    from hpsweep.report import verify

    won_early(tmp_path, real_fingerprints=True)
    asked = []

    def train_combination(recommendation, best_dir, extra, replicates):
        asked.append(replicates)
        return [], "trained now in (not in this test)"

    monkeypatch.setattr(verify, "train_combination", train_combination)
    main(["best", str(tmp_path), "--verify"])
    assert asked == [[["seed=3"]]], "only the seed the race did not train"
    report = json.loads((tmp_path / "best" / "verify_best_test_resnet.json").read_text())
    assert report["trained"] == ("already trained in the sweep: test_resnet/loss_function/Focal/seed-1, "
                                 "test_resnet/loss_function/Focal/seed-2; trained now in (not in this test)")
    assert verify.as_sweeps([["seed=1"], ["seed=3"]]) == [["seed=1,3"]]
    assert verify.as_sweeps([["seed=1", "fold=0"], ["seed=2", "fold=1"]]) == [["seed=1", "fold=0"],
                                                                              ["seed=2", "fold=1"]]


def test_verify_counts_no_replicate_twice_from_an_earlier_verify(tmp_path, monkeypatch, capsys):
    """An earlier ``--verify`` trained seeds 1-3 of the combination; the sweep has seeds 1 and 2 of it now: the
    combination is seeds 1 and 2 from the sweep and seed 3 from the verify dir (the verify dir's seeds 1 and 2, of
    the same replicate labels, replaced the sweep's)."""
    from fake_sweeps import fake_sweep

    from hpsweep.report import verify

    won_early(tmp_path, real_fingerprints=True)
    fake_sweep(tmp_path / "verify" / "best_test_resnet", "model=test_resnet", "seed=1,2,3", value=lambda _: 0.97)
    monkeypatch.setattr(verify.subprocess, "run", lambda *args, **kwargs: None)  # the verify dir has them all
    main(["best", str(tmp_path), "--verify"])
    report = json.loads((tmp_path / "best" / "verify_best_test_resnet.json").read_text())
    assert report["combination"]["values"] == [0.99, 0.985, 0.97], "the sweep's two seeds, the verify dir's third"
    assert report["combination"]["n"] == 3


def test_a_comparison_won_early_is_reported_as_won_by_the_summary_and_the_status(tmp_path, capsys):
    won_early(tmp_path)
    rows = answer_of(tmp_path)
    assert rows["Focal"]["best"] and rows["Focal"]["stopped"] == "efficacy" and rows["Focal"]["n"] == 2
    assert "better than the base by +0.1825" in rows["Focal"]["verdict"]
    assert rows["Focal"]["verdict"].endswith("; won after 2 of 3 replicates: better than the base by +0.1825: "
                                             + rows["Focal"]["verdict"].split("; won after 2 of 3 replicates: "
                                                                              "better than the base by +0.1825: ")[1])
    assert rows["Focal"]["p_adjusted"] < 0.002, "the win's stage-wise p, the sweep's one comparison"
    assert rows["CrossEntropy"]["stopped"] is None and rows["CrossEntropy"]["n"] == 3, "the base never waits"
    assert not rows["CrossEntropy"]["best"]
    assert rows["LabelSmoothing"]["stopped"] == "eliminated"
    capsys.readouterr()
    assert main(["summary", str(tmp_path), "--no-plots"]) == 0
    summary = " ".join(capsys.readouterr().out.split())
    assert "Focal ★ 2" in summary and "won early" in summary, "its note: won early"
    assert "loss_function: Focal, +0.1825 val_f1 over CrossEntropy (2 seeds vs the base's 3, p=" in summary
    assert ", won early)" in summary
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out.rstrip()
    assert out.splitlines()[-1] == "9 trainings: 7 completed, 2 not trained", "the counts last, for scripts"
    assert "test_resnet loss_function: Focal, +0.1825 val_f1 over CrossEntropy (2 seeds vs the base's 3, p=" in \
        " ".join(out.split())
    redecided = tmp_path / "by_accuracy.json"
    assert main(["summary", str(tmp_path), "--metric", "val_acc", "--json", str(redecided), "--no-plots"]) == 0
    notes = next(row["notes"] for row in json.loads(redecided.read_text()) if row["best"])
    assert "Focal, LabelSmoothing: stopped by the race on val_f1 (the sweep's own metric), not on val_acc" in notes


def test_a_leader_does_not_win_early_while_another_row_is_undecided(tmp_path):
    outcomes = outcomes_of(tmp_path, {"base": [0.80, 0.81, 0.805], "Focal": [0.99, 0.985],
                                      "LabelSmoothing": [0.98, 0.99]})
    ready = race(tmp_path, outcomes, efficacy="haybittle_peto").ready()
    assert sorted(map(label, ready)) == ["Focal seed=3", "LabelSmoothing seed=3"]
    assert not read_race(tmp_path)


def test_where_more_replicates_would_not_show_the_leader_better_than_the_base_every_row_stops(tmp_path):
    # Focal leads the base by a hair; LabelSmoothing trails Focal, which more seeds might decide, but not in its
    # favour: the base is kept whatever they say
    values = {"base": [0.900, 0.910, 0.904], "Focal": [0.905, 0.907], "LabelSmoothing": [0.899, 0.893]}
    outcomes = outcomes_of(tmp_path, values)
    assert race(tmp_path, outcomes, futility=0.4).ready() == []
    assert {outcome.status for outcome in outcomes if outcome.training.replicate == ("seed=3",)
            and not outcome.training.is_base} == {"stopped"}
    recorded = read_race(tmp_path)[("test_resnet", (), 0, "loss_function")]
    assert recorded["CrossEntropy"]["reason"].startswith("within noise of Focal")
    assert recorded["LabelSmoothing"]["reason"].startswith("the base is kept: more replicates would not show the "
                                                           "leader Focal better than it, and this row is behind it; "
                                                           "the base was within noise of Focal")
    assert phrase(recorded["LabelSmoothing"], "LabelSmoothing") == phrase(recorded["Focal"], "Focal") == \
        "cannot beat the base"
    assert recorded["Focal"]["reason"].startswith("the base is kept: more replicates would not show this row")


def test_a_training_answered_by_a_stopped_carrier_is_stopped_with_its_row_not_lost(tmp_path):
    level = {"base": [0.90, 0.92, 0.91], "Focal": [0.905, 0.915], "LabelSmoothing": [0.905, 0.915]}
    outcomes = outcomes_of(tmp_path, level)
    by_label = {label(outcome): outcome for outcome in outcomes}
    # as a shared trajectory would (its carrier the longest patience where the base is none of them)
    member, carrier = by_label["Focal seed=3"], by_label["LabelSmoothing seed=3"]
    member.status, member.answered_by = "answered", carrier
    carrier.answers.append(member)
    assert race(tmp_path, outcomes, futility=0.3).ready() == []
    assert {label(outcome): outcome.status for outcome in outcomes if outcome.status != "completed"} == {
        f"{option} seed=3": "stopped" for option in ("Focal", "LabelSmoothing")}, \
        "its carrier never trains: it is stopped with its own row (before, it ended failed, 'no result')"


def test_a_decided_comparison_stops_while_another_of_its_model_trains_on(tmp_path):
    # loss_function: both options level with the base (decided); optimizer: SGD ahead, its third seed still to
    # decide whether it beats the base (undecided); the base never waits
    outcomes = outcomes_of(tmp_path, {"base": [0.90, 0.92], "Focal": [0.905, 0.915], "LabelSmoothing": [0.91, 0.905],
                                      "SGD": [0.95, 0.96]}, "loss_function,optimizer")
    ready = race(tmp_path, outcomes, futility=0.2).ready()
    assert {label(outcome) for outcome in ready} == {"base seed=3", "SGD seed=3"}, \
        "the optimizer comparison is undecided: its leader trains on"
    stopped = {label(outcome) for outcome in outcomes if outcome.status == "stopped"}
    assert stopped == {"Focal seed=3", "LabelSmoothing seed=3"}


def test_a_row_surely_within_min_effect_of_the_leader_stops_as_equivalent(tmp_path):
    level = {"base": [0.900, 0.902, 0.901], "Focal": [0.898, 0.901], "LabelSmoothing": [0.901, 0.900]}
    outcomes = outcomes_of(tmp_path, level)
    race(tmp_path, outcomes, min_effect=0.05).ready()
    recorded = read_race(tmp_path)[("test_resnet", (), 0, "loss_function")]
    assert recorded["Focal"]["stop"] == recorded["LabelSmoothing"]["stop"] == "equivalent"
    assert "inside +-0.05" in recorded["Focal"]["reason"] and recorded["Focal"]["after"] == 2
    assert [label(outcome) for outcome in outcomes if outcome.status == "stopped"] == \
        ["Focal seed=3", "LabelSmoothing seed=3"]
    outcomes = outcomes_of(tmp_path / "narrow", level)
    race(tmp_path / "narrow", outcomes, min_effect=0.001).ready()
    assert not read_race(tmp_path / "narrow"), "the interval is wider than +-0.001: no equivalence"


def test_the_race_takes_between_the_base_and_first_replicates_and_every_training():
    trainings = plan("model=test_resnet", "category=optimizer,loss_function", "seed=1,2,3")
    assert training_bounds(trainings, race_from=1) == (2 + 3, 12), \
        "each option's first replicate, and the base's first two (it runs one ahead)"
    assert training_bounds(trainings, race_from=2) == (3 + 6, 12)
    assert training_bounds(trainings, race_from=3) == (12, 12)
    assert training_bounds(plan("model=test_resnet", "category=optimizer"), 1) == (2, 2), "no replicates: no race"


def verdict_of(sweep_dir, outcomes: list[Outcome]) -> str:
    """What the sweep recommends from its completed trainings and race record: the verdict's own tests over the
    pooled model of the runs (as benchmarks/futility.py decides its simulated comparisons)."""
    import numpy as np

    from hpsweep.decide.inference import Evidence, Run
    from hpsweep.decide.race_record import stop_kind, won
    from hpsweep.decide.statistics import Candidate, compare, correct, decide, efficacy_boundaries

    stopped = next(iter(read_race(sweep_dir).values()), {})
    values: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, Run]] = {}
    for outcome in outcomes:
        if outcome.status == "completed":
            row = next(row.option for row in outcome.training.rows if row.category == "optimizer")
            key = " ".join(outcome.training.replicate)
            right = [float(row_[2]) for row_ in read_rows(outcome.directory / "val_probabilities.csv")]
            values.setdefault(row, {})[key] = outcome.result["metrics"]["val_f1"]
            labels = (tuple(f"img{image}" for image in range(IMAGES)), np.zeros(IMAGES, dtype=int),
                      np.array([0 if ok else 1 for ok in right]))
            runs.setdefault(row, {})[key] = Run(values[row][key], "split", lambda labels=labels: labels)
    candidates = [Candidate(row, found, complete=True, is_base=row == "AdamW",  # the base is never out of it
                            stopped=stop_kind(stopped[row]) if row in stopped and row != "AdamW" else None,
                            stop_reason=stopped.get(row, {}).get("reason"), won=won(stopped.get(row), row),
                            stagewise=(stopped.get(row) or {}).get("stagewise") if won(stopped.get(row), row) else None)
                  for row, found in values.items()]
    evidence = Evidence.of(runs, "val_f1")
    tests = compare(evidence, candidates, True, 0.05, efficacy_boundaries(0.05, 4, "haybittle_peto"))
    correct([tests], "none", 0.05)
    verdict = decide(candidates, tests, True, 0.05, evidence)
    return "AdamW" if verdict.kept_base else verdict.winner


def read_rows(path) -> list[list[str]]:
    import csv

    with open(path) as lines:
        return list(csv.reader(lines))[1:]


def four_seed_optimizer_sweep(sweep_dir, racing: bool) -> tuple[dict[str, int], str]:
    """The issue's optimizer sweep with four seeds: the base (AdamW), a twin of it, SGD a little behind and a
    hopeless option, each training faked (its validation images right as drawn for its option and seed); trained as
    the race lets them, every ready one at once, as free workers would. Returns each option's trainings and the
    sweep's answer."""
    import numpy as np

    options = {"AdamW": 0.90, "Twin": 0.90, "SGD": 0.86, "Hopeless": 0.30}
    trainings = plan("model=test_resnet", "category=optimizer", "seed=1,2,3,4",
                     group_options=lambda group: list(options) if group == "optimizer" else real_group_options(group))
    outcomes = [Outcome(training, sweep_dir / training.subdir, training.subdir, None) for training in trainings]
    rates = np.random.default_rng(0).beta(9, 1, IMAGES)  # each image's own difficulty, shared by every training

    def train(outcome: Outcome) -> None:
        seed = int(outcome.training.replicate[0].split("=")[1])
        option = outcome.training.option if outcome.training.category else "AdamW"
        shift = np.log(options[option] / (1 - options[option])) - np.log(0.9 / 0.1)
        logits = np.log(rates / (1 - rates)) + shift
        right = np.random.default_rng([seed, len(option)]).random(IMAGES) < 1 / (1 + np.exp(-logits))
        outcome.directory.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(outcome.directory / "val_probabilities.csv", ["id", "target", "a", "b"],
                         [[f"img{image}", "a", float(ok), float(not ok)] for image, ok in enumerate(right)])
        outcome.result = {"status": "completed", "metrics": {"val_f1": float(right.mean())}}
        outcome.status = "completed"

    race_of = Race(sweep_dir, outcomes, "val_f1", higher_is_better=True, alpha=0.05, race_from=1, enabled=racing,
                   futility=0.4, efficacy="haybittle_peto")
    while ready := race_of.ready():
        for outcome in ready:
            train(outcome)
    trained: dict[str, int] = {}
    for outcome in outcomes:
        name = outcome.training.option if outcome.training.category else "AdamW"
        trained[name] = trained.get(name, 0) + (outcome.status == "completed")
    return trained, verdict_of(sweep_dir, outcomes)


def test_the_base_runs_one_replicate_ahead_and_trains_only_what_a_decision_asks_for(tmp_path):
    """Replicates on demand: the base's seeds start one ahead of its rows' (its second seed measures the seed luck a
    first look tests one run of each row against), and none once every row is decided."""
    every, answer = four_seed_optimizer_sweep(tmp_path / "every", racing=False)
    assert sum(every.values()) == 16 and answer == "AdamW", "every replicate keeps the base: no option beats it"
    raced, raced_answer = four_seed_optimizer_sweep(tmp_path / "raced", racing=True)
    assert sum(raced.values()) <= 8 and raced_answer == answer, raced
    assert raced["Hopeless"] == 1, "out at the first look, against the base's two seeds"
    assert raced["AdamW"] <= max(raced[name] for name in ("Twin", "SGD", "Hopeless")) + 1, \
        "the base is never more than one replicate ahead of its rows"
    recorded = read_race(tmp_path / "raced")[("test_resnet", (), 0, "optimizer")]
    assert set(recorded) == set(every), "every row decided, the base's own stop recorded"


BROKEN = ("# @package _global_\noptimizer:\n  _target_: torch.optim.SGD\n  _partial_: true\n  lr: 1.0e-6\n"
          "run_name_parts:\n  optimizer: opt_Broken\n")
SWEEP = ["category=optimizer", "seed=1,2,3", "data.image_size=16", "trainer.max_epochs=2", "hydra.sweeper.pruner=none"]


@pytest.fixture(scope="module")
def broken_conf(tmp_path_factory):
    import shutil

    from conftest import CONF_DIR

    conf = tmp_path_factory.mktemp("racing") / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "optimizer" / "Broken.yaml").write_text(BROKEN)
    return conf


@pytest.fixture(scope="module")
def full_race(broken_conf):
    """The 3-seed sweep with every replicate trained (racing off), for the answer to compare with."""
    sweep_dir = broken_conf.parent / "full"
    finished = run_sweep(sweep_dir, *SWEEP, "hydra.sweeper.racing=false", config_dir=broken_conf)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return sweep_dir


def answer_of(sweep_dir) -> dict:
    report = sweep_dir / "answer.json"
    assert main(["summary", str(sweep_dir), "--json", str(report), "--no-plots"]) == 0
    return {row["option"]: row for row in json.loads(report.read_text())}


@pytest.mark.slow
def test_a_broken_option_trains_once_says_why_and_a_race_killed_after_its_first_round_resumes_to_the_same_answer(
        broken_conf, full_race, tmp_path, capsys):
    sweep_dir = tmp_path / "raced"
    process = subprocess.Popen(sweep_command(sweep_dir, *SWEEP, config_dir=broken_conf), cwd=ROOT, env=ENV,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (sweep_dir / RACE_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the first round is done and tested: the driver dies mid-race
    process.wait()
    before = {directory: result["run_name"] for directory, result in results(sweep_dir).items()}
    assert "test_resnet/optimizer/Broken/seed-1" in before and len(before) < 9

    finished = run_sweep(sweep_dir, *SWEEP, config_dir=broken_conf)
    assert finished.returncode == 0, finished.stderr[-3000:]
    trained = results(sweep_dir)
    assert all(trained[directory]["run_name"] == name for directory, name in before.items()), "nothing retrained"
    assert [directory for directory in trained if "/Broken/" in directory] == \
        ["test_resnet/optimizer/Broken/seed-1"], "eliminated after its first replicate (no pruning)"
    assert len(results(full_race)) == 9
    raced, full = answer_of(sweep_dir), answer_of(full_race)
    assert raced["Broken"]["status"] == "eliminated" and raced["Broken"]["eliminated"] is True
    assert raced["Broken"]["eliminated_after"] == 1 and raced["Broken"]["n"] == 1
    assert "worse than the leader" in raced["Broken"]["eliminated_by"]
    assert full["Broken"]["eliminated"] is False and full["Broken"]["n"] == 3
    assert [option for option, row in raced.items() if row["best"]] == \
        [option for option, row in full.items() if row["best"]], "the same winner as every replicate trained"

    capsys.readouterr()
    assert main(["status", str(sweep_dir)]) == 0
    counts = sweep_counts(capsys.readouterr().out)
    assert counts.pop("trainings") == 9 and counts.pop("completed") == len(trained)
    # Broken's two (SGD's too where its first seed falls clearly behind the base's three)
    assert counts == {"not trained": 9 - len(trained)} and counts["not trained"] >= 2, \
        "every training the race did not run is shown as not trained"
    # the sweep's own command line with its dir: what racing stopped is never to run, as the sweep itself says
    assert main(["--config-dir", str(broken_conf), "matrix", *CPU_SIZE, "hydra.sweeper.control_seeds=0", *SWEEP,
                 f"hydra.sweep.dir={sweep_dir}"]) == 0
    assert " ".join(capsys.readouterr().out.split()).endswith(
        f"{len(trained)} of 9 trainings are done in {sweep_dir}, {9 - len(trained)} not trained (racing decided their "
        "rows): nothing is left to run")


def test_the_stopping_simulation_trains_less_than_every_replicate_for_no_more_wrong_answers():
    """A small run of benchmarks/futility.py: simulated comparisons raced by the real Race and decided by the real
    rule; the defaults (futility 0.4, Haybittle-Peto efficacy) train under three quarters of the replicates of a
    one-category comparison and give no more wrong answers than one in its few cases."""
    import importlib.util

    from hpsweep.sweep.settings import SweepSettings

    spec = importlib.util.spec_from_file_location("futility", ROOT / "benchmarks" / "futility.py")
    simulation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(simulation)
    defaults = SweepSettings()
    ways = {"every replicate": None, "defaults": {"futility": defaults.futility, "efficacy": defaults.efficacy}}
    found = simulation.simulate(simulation.Noise(270, 0.92, 0.06), comparisons=6, ways=ways, seed=3)["found"]
    trained = {way: sum(found[kind][way]["trained"] for kind in found) for way in ways}
    wrong = {way: sum(found[kind][way]["false_win"] + found[kind][way]["miss"] for kind in found) for way in ways}
    # one comparison of two options and the base, three seeds each
    assert trained["every replicate"] == 3 * 6 * 9 and trained["defaults"] < 0.75 * trained["every replicate"]
    assert found["large"]["defaults"]["trained"] <= 6 * 7, \
        "a large effect is decided by the rows' second seed (the base's third, one ahead): at most 7 of 9 trainings"
    assert wrong["defaults"] <= wrong["every replicate"] + 1
    assert found["large"]["every replicate"]["false_win"] == found["large"]["defaults"]["false_win"] == 0


@pytest.mark.hostile
def test_a_race_record_whose_stop_gives_no_reason_is_read_as_none(tmp_path):
    """Every reader prints a stop's reason: a race.json without one (cut short, another tool's) is no record."""
    stop = {"after": 1, "stop": "futile"}
    (tmp_path / RACE_FILE).write_text(json.dumps({"comparisons": [
        {"model": "test_resnet", "setting": [], "stage": 0, "category": "optimizer", "eliminated": {"SGD": stop}}]}))
    assert read_race(tmp_path) == {}
    stop["reason"] = "within noise of AdamW"
    (tmp_path / RACE_FILE).write_text(json.dumps({"comparisons": [
        {"model": "test_resnet", "setting": [], "stage": 0, "category": "optimizer", "eliminated": {"SGD": stop}}]}))
    assert read_race(tmp_path)[("test_resnet", (), 0, "optimizer")]["SGD"]["reason"] == "within noise of AdamW"


@pytest.mark.hostile
def test_a_recorded_win_whose_stagewise_p_is_no_probability_is_decided_by_the_last_look(tmp_path):
    from fake_sweeps import by_option, fake_sweep

    fake_sweep(tmp_path, "model=test_resnet", "category=loss_function", "seed=1,2,3", value=by_option(
        {"base": [0.80, 0.81, 0.80], "Focal": [0.90, 0.91, 0.90], "LabelSmoothing": [0.80, 0.80, 0.81]}))
    won = {"after": 2, "stop": "efficacy", "leader": "Focal", "reason": "won after 2 of 3 replicates",
           "stagewise": "0.0001; rm -rf ~"}
    comparison = {"model": "test_resnet", "setting": [], "stage": 0, "category": "loss_function",
                  "eliminated": {"Focal": won}}
    (tmp_path / RACE_FILE).write_text(json.dumps({"comparisons": [comparison]}))
    rows = answer_of(tmp_path)
    assert isinstance(rows["Focal"]["p_adjusted"], float), "the last look's p, not the record's text"


@pytest.mark.parametrize(("stops", "rules"), [
    ({}, ["Pruned", "WorseThanLeader"]),
    ({"futility": 0.1}, ["Pruned", "WorseThanLeader", "Futile", "BaseKept", "LeaderAlone"]),
    ({"min_effect": 0.01, "efficacy": "haybittle_peto"},
     ["Pruned", "WorseThanLeader", "Equivalent", "Won", "BaseKept", "LeaderAlone"]),
], ids=["plain", "futility", "equivalence_and_efficacy"])
def test_a_race_applies_the_rules_its_settings_turn_on_in_their_order(tmp_path, stops, rules):
    applied = race(tmp_path, outcomes_of(tmp_path, {}), **stops).rules
    assert [type(rule).__name__ for rule in applied] == rules
