"""Read at a glance: every line fits the terminal (COLUMNS, else 100 piped) at 80, 100 and 160 columns, no word or
number is cut, each verdict is one plain sentence of at most two lines at 100 columns without nested parentheses,
one word per state, and a sweep shows its progress as it runs."""

import json
import re
import time
from pathlib import Path

import pytest
from fake_sweeps import by_option, fake_sweep

from hpsweep.cli import main
from hpsweep.core.display import columns, console, print_table, table, wrap
from hpsweep.core.statuses import SAID, RowStatus, said
from hpsweep.decide.race_record import RACE_FILE, phrase
from hpsweep.sweep import progress
from hpsweep.sweep.progress import Progress

WIDTHS = (80, 100, 160)
URL_OR_PATH = re.compile(r"^\s*\S*(/|file:)\S*$")  # a line that is one path: it may run past the edge, whole
SEEDS = ["seed=1,2,3", "hydra.sweeper.control_seeds=0"]


def too_wide(text: str, width: int) -> list[str]:
    """The lines wider than ``width`` that are more than a path."""
    return [line for line in text.splitlines() if len(line.rstrip()) > width and not URL_OR_PATH.match(line)]


def nested_parentheses(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        depth = 0
        for char in line:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth > 1:
                found.append(line)
                break
    return found


@pytest.fixture
def raced(tmp_path) -> Path:
    """A loss_function sweep of three seeds: Focal wins clearly; LabelSmoothing, one seed, racing stopped it as
    worse than the leader; an optimizer sweep where SGD is within noise of the base."""
    sweep_dir = tmp_path / "outputs" / "sweeps" / "raced"
    values = {"base": [0.80, 0.81, 0.79], "Focal": [0.90, 0.91, 0.89], "LabelSmoothing": [0.60, None, None],
              "SGD": [0.815, 0.80, 0.80]}
    fake_sweep(sweep_dir, "model=test_resnet", "category=optimizer,loss_function", *SEEDS,
               value=by_option(values))
    race = {"comparisons": [{"model": "test_resnet", "setting": [], "stage": 0, "category": "loss_function",
                             "eliminated": {"LabelSmoothing": {
                                 "after": 1, "test": "pooled t-test, 4 df", "p_value": 0.001, "leader": "Focal",
                                 "difference": -0.3, "rule": "worse",
                                 "reason": "worse than the leader Focal by -0.3000: pooled t-test, 4 df, p=0.001 < "
                                           "0.05"}}}]}
    (sweep_dir / RACE_FILE).write_text(json.dumps(race))
    return sweep_dir


def test_the_console_is_as_wide_as_columns_says_and_100_where_nothing_does(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert columns() == 100, "piped (pytest captures stdout) and no COLUMNS: 100"
    for width in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(width))
        assert console().width == width


def test_a_table_too_wide_leaves_columns_out_in_the_stated_order_and_says_which(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "40")
    view = table("option", "mean", "note", "p adj.", right=("mean", "p adj."))
    view.add_row("LabelSmoothing", "0.9964", "within noise of Focal", "0.696")
    print_table(console(), view, leave_out=("p adj.", "note"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["LabelSmoothing", "0.9964"], "whole cells: nothing wrapped or cut"
    assert " ".join(" ".join(lines[2:]).split()) == "(left out to fit 40 columns: p adj., note; --wide shows them)"
    assert all(len(line) <= 40 for line in lines)
    view = table("option", "mean", "note", "p adj.")
    view.add_row("LabelSmoothing", "0.9964", "within noise of Focal", "0.696")
    print_table(console(), view, wide=True)
    assert "within noise of Focal  0.696" in capsys.readouterr().out, "--wide: as wide as it needs, never squeezed"


def test_sentences_break_between_words_and_a_path_stays_whole():
    path = "/a/very/long/path/" + "x" * 60
    lines = wrap(f"the page, to open in a browser: file://{path}", 40)
    assert lines[-1].strip() == f"file://{path}"
    assert all(len(line) <= 40 for line in lines[:-1])
    assert " ".join(line.strip() for line in lines).split() == f"the page, to open in a browser: file://{path}".split()


def test_one_word_for_each_state():
    assert {said(status) for status in RowStatus} == {"completed", "pruned", "failed", "not trained", "queued",
                                                      "running", "interrupted"}
    assert said(RowStatus.STOPPED) == said(RowStatus.ELIMINATED) == "not trained"
    assert set(SAID) == set(RowStatus), "every state has its word"


@pytest.mark.parametrize("why,option,said_as", [
    ({"rule": "worse", "leader": "SGD"}, "Adam", "worse than SGD"),
    ({"rule": "within_noise", "leader": "AdamW"}, "SGD", "within noise of AdamW"),
    ({"rule": "base_kept", "leader": "Focal"}, "Focal", "cannot beat the base"),
    ({"rule": "won", "leader": "Focal"}, "Focal", "won early"),
    ({"rule": "alone", "leader": "Focal"}, "Focal", "nothing left to decide"),
    # a record written before the rule was: read from its stop and its reason
    ({"stop": "futile", "leader": "Focal", "reason": "the base is kept: more replicates would not show"}, "Focal",
     "cannot beat the base"),
    ({"leader": "SGD", "test": "pooled t-test", "reason": "worse than the leader SGD"}, "Adam", "worse than SGD"),
    ({"stop": "efficacy", "leader": "Focal", "reason": "beaten by Focal"}, "CrossEntropy", "beaten early by Focal"),
])
def test_racing_says_why_it_stopped_a_row_in_a_short_phrase(why, option, said_as):
    assert phrase({"after": 1, "reason": "", **why}, option) == said_as


@pytest.mark.parametrize("width", WIDTHS)
def test_summary_fits_the_terminal_and_says_each_verdict_in_one_plain_sentence(raced, width, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["summary", str(raced), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert too_wide(out, width) == [] and nested_parentheses(out) == []
    text = " ".join(out.split())
    assert "loss_function: Focal, +0.1000 val_f1 over CrossEntropy (3 seeds each, p<0.001, under 0.05)" in text
    assert "optimizer: keep AdamW (base); SGD led by +0.0050 val_f1, within seed noise (3 seeds each, p=" in text
    assert out.splitlines()[-1] == "12 trainings: 10 completed, 2 not trained"
    if width == 80:
        assert "left out to fit 80 columns" in text, "narrow: what was left out is said"
    if width == 160:
        assert "worse than Focal" in out and "p adj." in out, "wide enough: the note and p adj. shown"
    for name in ("Dunnett", "df", "Benjamini"):  # the tests' details: --explain's
        assert name not in out
    assert main(["summary", str(raced), "--no-plots", "--explain"]) == 0
    explained = capsys.readouterr().out
    assert "Dunnett" in explained and too_wide(explained, width) == []


def test_each_verdict_takes_at_most_two_lines_at_100_columns(raced, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    main(["summary", str(raced), "--no-plots"])
    lines = capsys.readouterr().out.splitlines()
    for start, line in enumerate(lines):
        if line.startswith(("optimizer:", "loss_function:")):
            follow = [more for more in lines[start + 1:start + 3] if more.startswith("    ")]
            assert len(follow) <= 1, lines[start:start + 3]


def test_summary_wide_shows_every_column_whole_in_any_terminal(raced, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    main(["summary", str(raced), "--no-plots", "--wide"])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("category"))
    assert header.split() == ["category", "option", "n", "val_f1", "mean", "±", "std", "Δ", "base", "p", "adj.",
                              "note", "min", "max", "time"]
    assert "…" not in out and "left out" not in out


def test_the_progress_says_each_finished_training_in_one_line_and_the_counts_every_interval(monkeypatch, capsys):
    from hpsweep.core.trainings import Row, Training
    from hpsweep.sweep.outcomes import Outcome

    monkeypatch.setenv("COLUMNS", "100")
    trainings = [Training((f"optimizer={name}", f"seed={seed}"), (Row("test_resnet", "optimizer", name),),
                          (f"seed={seed}",), swept=True) for name in ("AdamW", "SGD") for seed in (1, 2)]
    outcomes = [Outcome(training, Path(f"/tmp/nowhere/{n}"), f"fp{n}", None) for n, training in enumerate(trainings)]
    with Progress(outcomes, "val_f1", every_s=0.05) as shown:
        assert progress.quiet_jobs, "a job run in this process keeps its console lines to its log"
        shown.started(outcomes[0])
        outcomes[0].status = RowStatus.PRUNED
        outcomes[0].result = {"status": "pruned", "pruned": {"epoch": 4}, "metrics": {"val_f1": 0.97},
                              "duration_s": 2.0}
        shown.finished(outcomes[0])
        outcomes[1].status = RowStatus.STOPPED
        time.sleep(0.3)
    assert not progress.quiet_jobs
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "[1/4] test_resnet optimizer/AdamW seed=1 pruned at epoch 4, val_f1 0.9700, 2 s"
    last = " ".join(out.split("1 of 4 trainings done")[-1].split())
    assert last.startswith("· 0 running · 2 queued · 1 not trained · 0 failed") and last.endswith("left"), \
        "the counts, and an estimate once a training has ended"
    assert too_wide(out, 100) == []
    assert not any("\x1b" in line for line in lines), "piped: no control characters"


def test_the_progress_of_an_array_reads_each_trainings_records_before_the_launcher_returns(tmp_path, monkeypatch,
                                                                                           capsys):
    """SLURM returns a job array at its end: meanwhile a training without a job record waits in SLURM's queue, one
    with a result has ended, and its line comes then, once."""
    from hpsweep.core.trainings import Row, Training
    from hpsweep.sweep.outcomes import Outcome

    monkeypatch.setattr(progress, "POLL_S", 0.0)
    trainings = [Training((f"seed={seed}",), (Row("test_resnet", "optimizer", "SGD"),), (f"seed={seed}",), swept=True)
                 for seed in (1, 2, 3)]
    outcomes = [Outcome(training, tmp_path / str(n), f"fp{n}", None) for n, training in enumerate(trainings)]
    for outcome in outcomes:
        outcome.directory.mkdir()
    shown = Progress(outcomes, "val_f1", every_s=60)
    for outcome in outcomes:
        shown.started(outcome)
    (outcomes[0].directory / "job.json").write_text(json.dumps({"started_at": "now"}))
    (outcomes[1].directory / "job.json").write_text(json.dumps({"started_at": "now"}))
    (outcomes[1].directory / "result.json").write_text(json.dumps(
        {"status": "completed", "fingerprint": "fp1", "metrics": {"val_f1": 0.9}, "duration_s": 3.0}))
    assert shown.counts().startswith("1 of 3 trainings done · 1 running · 1 queued · 0 not trained · 0 failed")
    assert capsys.readouterr().out == "[1/3] test_resnet optimizer/SGD seed=2 completed, val_f1 0.9000, 3 s\n"
    outcomes[1].status = RowStatus.COMPLETED
    shown.finished(outcomes[1])  # the array's end: said already
    assert capsys.readouterr().out == ""
