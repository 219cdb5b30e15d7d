"""Racing replicates: an option clearly behind its comparison's leader stops training its remaining replicates,
says why, and the answer stays the one every replicate gives; a killed race resumes from what it recorded."""

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import ROOT
from test_sweep_plan import plan
from test_sweeps import ENV, results, run_sweep, sweep_command

from hpsweep.cli import main
from hpsweep.records import write_csv_atomic
from hpsweep.sweep.outcomes import Outcome
from hpsweep.sweep.race_record import RACE_FILE, read_race
from hpsweep.sweep.racing import Race, training_bounds

IMAGES = 100


def outcomes_of(sweep_dir, right: dict[str, float], done_rounds: int, images: dict | None = None) -> list[Outcome]:
    """A seeded loss_function sweep's outcomes; each option's first ``done_rounds`` replicates done, with the
    fraction ``right[option]`` of 100 validation images right (written as val_probabilities.csv): the first ones,
    or those ``images[option]`` (a set of image numbers) names."""
    outcomes = []
    for training in plan("model=test_resnet", "category=loss_function", "seed=1,2,3"):
        directory = sweep_dir / training.subdir
        outcome = Outcome(training, directory, training.subdir, None)
        seed = int(training.replicate[0].split("=")[1])
        if seed <= done_rounds:
            fraction = right[training.option]
            correct = [image in images[training.option] if images and training.option in images else
                       image < fraction * IMAGES for image in range(IMAGES)]
            directory.mkdir(parents=True)
            write_csv_atomic(directory / "val_probabilities.csv", ["id", "target", "a", "b"],
                             [[f"img{image}", "a", 1.0 if ok else 0.0, 0.0 if ok else 1.0]
                              for image, ok in enumerate(correct)])
            outcome.result = {"status": "completed", "metrics": {"val_f1": fraction}}
            outcome.status = "completed"
        outcomes.append(outcome)
    return outcomes


def race(sweep_dir, outcomes, race_from=1, **stops) -> Race:
    return Race(sweep_dir, outcomes, "val_f1", higher_is_better=True, alpha=0.05, race_from=race_from, **stops)


def label(outcome: Outcome) -> str:
    return f"{outcome.training.option} {outcome.training.replicate_label}"


def test_an_option_clearly_behind_the_leader_is_eliminated_and_its_later_replicates_never_run(tmp_path):
    outcomes = outcomes_of(tmp_path, {"base": 0.9, "Focal": 0.88, "LabelSmoothing": 0.5}, done_rounds=1)
    ready = race(tmp_path, outcomes).ready()
    assert sorted(map(label, ready)) == ["Focal seed=2", "base seed=2", "base seed=3"], \
        "the base never waits; Focal's third replicate waits for its comparison's second round"
    eliminated = [label(outcome) for outcome in outcomes if outcome.status == "eliminated"]
    assert eliminated == ["LabelSmoothing seed=2", "LabelSmoothing seed=3"]
    why = read_race(tmp_path)[("test_resnet", (), 0, "loss_function")]["LabelSmoothing"]
    assert why["after"] == 1 and why["leader"] == "CrossEntropy" and why["p_value"] < 1e-6
    assert "McNemar on 100 images" in why["reason"]

    again = outcomes_of(tmp_path / "again", {}, done_rounds=0)  # a re-run: the recorded elimination needs its result
    ready = race(tmp_path, again).ready()
    assert "LabelSmoothing seed=1" in map(label, ready) and len(ready) == 3 + 2, \
        "without the result it was made from, the recorded elimination does not stand"


def test_the_base_and_the_leader_are_never_eliminated_and_nothing_before_race_from(tmp_path):
    behind = {"base": 0.5, "Focal": 0.95, "LabelSmoothing": 0.9}
    outcomes = outcomes_of(tmp_path, behind, done_rounds=1)
    assert not [outcome for outcome in outcomes if race(tmp_path, outcomes, race_from=2).ready() and
                outcome.status == "eliminated"], "race_from=2: one replicate decides nothing"
    race(tmp_path, outcomes).ready()
    assert not [outcome for outcome in outcomes if outcome.status == "eliminated"], \
        "the base (far behind) and the leader Focal run on; LabelSmoothing is within noise of Focal"


def test_a_row_more_replicates_would_not_decide_stops_as_futile_and_a_decided_comparison_stops_its_leader(tmp_path):
    # Focal is right on 90 images as the base is, disagreeing on 4 of them, 2 each way: more seeds would not decide it
    level = {"base": 0.9, "Focal": 0.9, "LabelSmoothing": 0.5}
    outcomes = outcomes_of(tmp_path, level, done_rounds=1, images={"Focal": {*range(88), 90, 91}})
    assert race(tmp_path, outcomes, futility=0.0).ready(), "futility 0: every row trains every replicate"
    outcomes = outcomes_of(tmp_path / "futile", level, done_rounds=1, images={"Focal": {*range(88), 90, 91}})
    assert race(tmp_path / "futile", outcomes, futility=0.2).ready() == [], "every row is decided after one seed"
    states = {label(outcome): outcome.status for outcome in outcomes}
    assert states == {"base seed=1": "completed", "base seed=2": "stopped", "base seed=3": "stopped",
                      "Focal seed=1": "completed", "Focal seed=2": "stopped", "Focal seed=3": "stopped",
                      "LabelSmoothing seed=1": "completed", "LabelSmoothing seed=2": "eliminated",
                      "LabelSmoothing seed=3": "eliminated"}
    recorded = read_race(tmp_path / "futile")[("test_resnet", (), 0, "loss_function")]
    focal, leader = recorded["Focal"], recorded["CrossEntropy"]
    assert (focal["stop"], focal["after"], focal["leader"]) == ("futile", 1, "CrossEntropy") and focal["power"] < 0.1
    assert "within noise of CrossEntropy (stopped after 1 of 3 replicates: the remaining ones would decide it " \
           "with probability 0.0" in focal["reason"]
    assert leader["stop"] == "futile" and "every other row is decided" in leader["reason"]
    assert "stop" not in recorded["LabelSmoothing"], "an elimination stays one"
    note = next(outcome.note for outcome in outcomes if label(outcome) == "Focal seed=2")
    assert note.startswith("stopped after 1 replicate(s), within noise of CrossEntropy")


def test_a_leader_that_beats_the_base_at_the_looks_boundary_wins_and_stops_its_comparison(tmp_path):
    # Focal right on 19 images the base gets wrong and none the other way (p=4e-6); LabelSmoothing far behind
    clear = {"base": 0.8, "Focal": 0.99, "LabelSmoothing": 0.5}
    outcomes = outcomes_of(tmp_path, clear, done_rounds=1)
    assert race(tmp_path, outcomes, efficacy="obrien_fleming").ready() == []
    assert {label(outcome): outcome.status for outcome in outcomes if outcome.status != "completed"} == {
        **{f"{option} seed={seed}": "stopped" for option in ("base", "Focal") for seed in (2, 3)},
        "LabelSmoothing seed=2": "eliminated", "LabelSmoothing seed=3": "eliminated"}
    recorded = read_race(tmp_path)[("test_resnet", (), 0, "loss_function")]
    focal, base = recorded["Focal"], recorded["CrossEntropy"]
    assert (focal["stop"], base["stop"], focal["leader"], focal["after"]) == ("efficacy", "efficacy", "Focal", 1)
    assert focal["reason"].startswith("won after 1 of 3 replicates: better than the base by +0.1900 (McNemar on 100 "
                                      "images of 1 replicate(s) pooled: 19 right only by Focal, 0 only by CrossEntropy")
    assert focal["reason"].endswith("p=3.81e-06 < 0.000687, the efficacy boundary)")
    assert base["reason"].startswith("beaten by Focal after 1 of 3 replicates: it is better than the base")

    # 7 images ahead (p=0.016): below Pocock's first boundary (0.023), far above O'Brien-Fleming's (0.0007)
    close = {"base": 0.8, "Focal": 0.87, "LabelSmoothing": 0.5}
    early = outcomes_of(tmp_path / "pocock", close, done_rounds=1)
    assert race(tmp_path / "pocock", early, efficacy="pocock").ready() == []
    late = outcomes_of(tmp_path / "late", close, done_rounds=1)
    assert sorted(map(label, race(tmp_path / "late", late, efficacy="obrien_fleming").ready())) == \
        ["Focal seed=2", "base seed=2"], "not decided yet: the base and the leader train on, round by round"
    assert "Focal" not in read_race(tmp_path / "late").get(("test_resnet", (), 0, "loss_function"), {})


def test_a_comparison_won_early_is_reported_as_won_by_the_summary_and_the_status(tmp_path, capsys):
    from fake_sweeps import fake_sweep

    seed_one = {"base": 0.8, "Focal": 0.99, "LabelSmoothing": 0.5}
    trainings = fake_sweep(tmp_path, "model=test_resnet", "category=loss_function", "seed=1,2,3",
                           value=lambda t: seed_one[t.option] if t.replicate == ("seed=1",) else None)
    outcomes = []
    for training in trainings:
        outcome = Outcome(training, tmp_path / training.subdir, training.subdir, None)
        if training.replicate == ("seed=1",):
            write_csv_atomic(outcome.directory / "val_probabilities.csv", ["id", "target", "a", "b"],
                             [[f"img{image}", "a", float(image < seed_one[training.option] * IMAGES),
                               float(image >= seed_one[training.option] * IMAGES)] for image in range(IMAGES)])
            outcome.result = json.loads((outcome.directory / "result.json").read_text())
            outcome.status = "completed"
        outcomes.append(outcome)
    assert race(tmp_path, outcomes, efficacy="obrien_fleming").ready() == []

    rows = answer_of(tmp_path)
    assert rows["Focal"]["best"] and rows["Focal"]["stopped"] == "efficacy" and rows["Focal"]["n"] == 1
    assert rows["Focal"]["verdict"].startswith("won after 1 of 3 replicates: better than the base by +0.1900")
    assert rows["CrossEntropy"]["stopped"] == "efficacy" and not rows["CrossEntropy"]["best"]
    assert rows["LabelSmoothing"]["stopped"] == "eliminated"
    capsys.readouterr()
    assert main(["summary", str(tmp_path), "--no-plots"]) == 0
    assert "completed (efficacy after 1)" in capsys.readouterr().out
    assert main(["status", str(tmp_path)]) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "3 completed, 4 stopped (efficacy), 2 eliminated"


def test_a_leader_does_not_win_early_while_another_row_is_undecided(tmp_path):
    # LabelSmoothing within noise of Focal, and more seeds may tell them apart: no win is taken from Focal yet
    outcomes = outcomes_of(tmp_path, {"base": 0.8, "Focal": 0.99, "LabelSmoothing": 0.97}, done_rounds=1)
    ready = race(tmp_path, outcomes, efficacy="obrien_fleming").ready()
    assert sorted(map(label, ready)) == ["Focal seed=2", "LabelSmoothing seed=2", "base seed=2"]
    assert not read_race(tmp_path)


def test_where_more_replicates_would_not_show_the_leader_better_than_the_base_every_row_stops(tmp_path):
    # Focal leads the base by one image (2 against 1); LabelSmoothing trails Focal by 6 (1 against 7), which more
    # seeds might decide, but not in its favour: the base is kept whatever they say
    images = {"base": set(range(90)), "Focal": {*range(89), 90, 91}, "LabelSmoothing": {*range(84), 92}}
    outcomes = outcomes_of(tmp_path, {"base": 0.9, "Focal": 0.91, "LabelSmoothing": 0.85}, done_rounds=1,
                           images=images)
    assert race(tmp_path, outcomes, futility=0.4).ready() == []
    assert {outcome.status for outcome in outcomes if outcome.training.replicate != ("seed=1",)} == {"stopped"}
    recorded = read_race(tmp_path)[("test_resnet", (), 0, "loss_function")]
    assert recorded["CrossEntropy"]["reason"].startswith("within noise of Focal")
    assert recorded["LabelSmoothing"]["reason"].startswith("the base is kept: more replicates would not show the "
                                                           "leader Focal better than it (within noise of Focal")
    assert recorded["LabelSmoothing"]["reason"].endswith("and this row is behind it")
    assert recorded["Focal"]["reason"].startswith("the base is kept: more replicates would not show this row")


def test_a_training_answered_by_a_stopped_carrier_is_stopped_with_its_row_not_lost(tmp_path):
    level = {"base": 0.9, "Focal": 0.9, "LabelSmoothing": 0.9}
    outcomes = outcomes_of(tmp_path, level, done_rounds=1, images={"Focal": {*range(88), 90, 91}})
    by_label = {label(outcome): outcome for outcome in outcomes}
    for seed in (2, 3):  # as a shared trajectory would: Focal's later seeds answered by the base's
        member, carrier = by_label[f"Focal seed={seed}"], by_label[f"base seed={seed}"]
        member.status, member.answered_by = "answered", carrier
        carrier.answers.append(member)
    assert race(tmp_path, outcomes, futility=0.3).ready() == []
    assert {label(outcome): outcome.status for outcome in outcomes if outcome.status != "completed"} == {
        f"{option} seed={seed}": "stopped" for option in ("base", "Focal", "LabelSmoothing") for seed in (2, 3)}, \
        "its carrier never trains: it is stopped with its own row (before, it ended failed, 'no result')"


def test_the_base_trains_on_while_any_comparison_it_answers_is_undecided(tmp_path):
    from test_sweep_plan import plan as planned

    outcomes = []
    for training in planned("model=test_resnet", "category=loss_function,optimizer", "seed=1,2,3"):
        outcome = Outcome(training, tmp_path / training.subdir, training.subdir, None)
        if training.replicate == ("seed=1",):
            outcome.directory.mkdir(parents=True)
            # loss_function: Focal equal to the base on every image (decided); optimizer: SGD far ahead on one
            # seed, with its second seed still to decide (undecided)
            fraction = {"SGD": 0.97}.get(training.option, 0.9)
            write_csv_atomic(outcome.directory / "val_probabilities.csv", ["id", "target", "a", "b"],
                             [[f"img{image}", "a", float(image < fraction * IMAGES), float(image >= fraction * IMAGES)]
                              for image in range(IMAGES)])
            outcome.result, outcome.status = {"status": "completed", "metrics": {"val_f1": fraction}}, "completed"
        outcomes.append(outcome)
    ready = race(tmp_path, outcomes, futility=0.2).ready()
    assert {label(outcome) for outcome in ready} >= {"base seed=2", "SGD seed=2"}, \
        "the optimizer comparison is undecided: its base and its leader train on"
    stopped = {label(outcome) for outcome in outcomes if outcome.status == "stopped"}
    assert stopped == {"Focal seed=2", "Focal seed=3", "LabelSmoothing seed=2", "LabelSmoothing seed=3"}


def test_a_row_surely_within_min_effect_of_the_leader_stops_as_equivalent(tmp_path):
    level = {"base": 0.9, "Focal": 0.895, "LabelSmoothing": 0.9}
    outcomes = outcomes_of(tmp_path, level, done_rounds=2)
    race(tmp_path, outcomes, futility=0.0, min_effect=0.01).ready()
    recorded = read_race(tmp_path)[("test_resnet", (), 0, "loss_function")]
    assert recorded["Focal"]["stop"] == recorded["LabelSmoothing"]["stop"] == "equivalent"
    assert "inside +-0.01" in recorded["Focal"]["reason"] and recorded["Focal"]["after"] == 2
    assert [label(outcome) for outcome in outcomes if outcome.status == "stopped"] == \
        ["base seed=3", "Focal seed=3", "LabelSmoothing seed=3"]
    outcomes = outcomes_of(tmp_path / "wide", level, done_rounds=2)
    race(tmp_path / "wide", outcomes, futility=0.0, min_effect=0.001).ready()
    assert list(read_race(tmp_path / "wide")[("test_resnet", (), 0, "loss_function")]) == ["LabelSmoothing"], \
        "a difference of 0.005 is no equivalence within +-0.001; none at all is"


def test_the_race_takes_between_the_base_and_first_replicates_and_every_training():
    trainings = plan("model=test_resnet", "category=optimizer,loss_function", "seed=1,2,3")
    assert training_bounds(trainings, race_from=1) == (3 + 3, 12), "every base, and each option's first replicate"
    assert training_bounds(trainings, race_from=3) == (12, 12)
    assert training_bounds(plan("model=test_resnet", "category=optimizer"), 1) == (2, 2), "no replicates: no race"


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
    counts = {state: int(count) for count, state in (part.split(" ", 1) for part in
                                                     capsys.readouterr().out.rstrip().splitlines()[-1].split(", "))}
    assert counts.pop("completed") == len(trained) and sum(counts.values()) == 9 - len(trained)
    assert counts["eliminated"] == 2 and set(counts) <= {"eliminated", "stopped (futile)"}, \
        "every training the race did not run is shown as eliminated, or stopped where more seeds would not decide it"


def test_the_stopping_simulation_trains_half_of_every_replicate_for_no_more_wrong_answers():
    """A small run of benchmarks/futility.py: simulated comparisons raced by the real Race and decided by the real
    rule; the defaults (futility 0.4, O'Brien-Fleming efficacy) train about half the replicates and give no more
    wrong answers than one in its few cases."""
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
    assert trained["every replicate"] == 3 * 6 * 9 and trained["defaults"] < 0.6 * trained["every replicate"]
    assert found["large"]["defaults"]["trained"] <= 6 * 4, "a large effect is decided after the first seed"
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
