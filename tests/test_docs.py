"""The docs cannot drift from the code: every read-only command the README and docs/ show (summary, status, best,
report, matrix) runs on a real sweep, the suite's shared ``turned`` sweep, and every training command they show
(``python run_experiments.py -m ...``) is planned by ``hpsweep matrix`` with the same arguments, so every key,
option and model it names must exist. The site itself is built with ``mkdocs build --strict`` by ``make test``."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CONF_DIR, ROOT

from hpsweep.cli import main

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
READ_ONLY = ("summary", "status", "best", "report", "matrix")
SWEEP_PATH = re.compile(r"(?<![\w/])outputs/sweeps/[\w.-]+(?=/|\s|$)")


def shown_commands() -> list[tuple[str, str]]:
    """Each command of a shell code block of the docs (a fence with no language, or bash), continuation lines
    joined, with the file and line where it is shown."""
    found = []
    for path in DOCS:
        language, pending, start = None, "", 0
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                language = line.strip()[3:] if language is None else None
                continue
            if language not in ("", "bash", "sh", "console"):
                continue
            if not pending:
                start = number
            pending += line.strip().removeprefix("$ ")
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            if pending.startswith(("hpsweep ", "python run_experiments.py")):
                found.append((f"{path.relative_to(ROOT)}:{start}", pending))
            pending = ""
    return found


def words_of(line: str) -> list[str] | None:
    """The command's words without its comment; None for a placeholder (``...``, ``<date>``, ``$(...)``)."""
    words = shlex.split(line, comments=True)
    return None if re.search(r"\.\.\.|<\w|\$\(", " ".join(words)) else words


COMMANDS = [(where, words) for where, line in shown_commands() if (words := words_of(line))]
READ = [(where, words) for where, words in COMMANDS if words[0] == "hpsweep" and words[1] in READ_ONLY
        and words[1] != "matrix" and "--verify" not in words]
PLANNED = [(where, words) for where, words in COMMANDS  # a single run (no -m) is a plan of one training
           if words[:2] == ["python", "run_experiments.py"] and not any(word.startswith("--") for word in words)
           or words[:2] == ["hpsweep", "matrix"]]


def test_the_docs_show_the_commands_this_test_runs():
    """A guard: a change to the docs' code blocks that hid every command from this test would pass silently."""
    assert {words[1] for _, words in READ} >= {"summary", "status", "best", "report"}
    assert len(PLANNED) >= 10, PLANNED


@pytest.fixture(scope="module")
def shown_sweep(turned, tmp_path_factory) -> Path:
    """A copy of the suite's ``turned`` sweep where the docs keep theirs (``outputs/sweeps/<name>``): the commands
    write their exports and pages into it, not into the sweep other tests read."""
    outputs = tmp_path_factory.mktemp("docs") / "outputs"
    shutil.copytree(turned[0], outputs / "sweeps" / "shown")
    return outputs


@pytest.mark.slow
@pytest.mark.xdist_group("turned")
@pytest.mark.parametrize("where,words", READ, ids=[where for where, _ in READ])
def test_each_read_only_command_shown_runs_on_a_real_sweep(where, words, shown_sweep, monkeypatch, capsys):
    monkeypatch.chdir(shown_sweep.parent)  # outputs/ as in the docs; every sweep dir named is the real one
    arguments = [SWEEP_PATH.sub("outputs/sweeps/shown", word) for word in words[1:]]
    assert main(arguments) == 0, f"{where}: {' '.join(words)}\n{capsys.readouterr().out[-3000:]}"


@pytest.mark.parametrize("where,words", PLANNED, ids=[where for where, _ in PLANNED])
def test_each_training_command_shown_is_a_plan_hpsweep_matrix_accepts(where, words, tmp_path, monkeypatch, capsys):
    """``python run_experiments.py -m ARGS`` shown in the docs: ``hpsweep matrix ARGS`` composes every training
    it would run, so an unknown key, option, category or model fails here."""
    monkeypatch.chdir(tmp_path)  # no sweep dir of the docs exists here: the plan is counted from nothing
    overrides = [word for word in words[2:] if word != "-m"]
    overrides = [word for word in overrides if not word.startswith("hydra.sweep.dir=")]
    code = main(["--config-dir", str(CONF_DIR), "matrix", *overrides, "--results", str(tmp_path)])
    assert code == 0, f"{where}: {' '.join(words)}\n{capsys.readouterr().out[-3000:]}"


END_SCREEN = ("<!-- the end screen of tests/conftest.py's turned sweep: tests/test_docs.py writes it -->\n",
              "<!-- end of the end screen -->")


@pytest.mark.slow
@pytest.mark.xdist_group("turned")
def test_getting_started_shows_the_end_screen_the_suites_sweep_printed(turned):
    """The page shows the end of a real sweep, never a pasted one: the shared ``turned`` sweep's, as it printed it
    at 100 columns (its directory as a user's). Where the page shows another (numbers aside, which the machine's
    float arithmetic may move), this writes the sweep's own into it and fails: commit the page."""
    sweep_dir, _, _, printed, _ = turned
    screen = printed.rstrip().split("\n\n")[-1].replace(sweep_dir.parents[2].resolve().as_uri(),
                                                        "file:///home/you/project")
    assert screen.startswith("test_resnet\n  augmentation: ") and "the page, to open in a browser:" in screen
    assert [line for line in screen.splitlines() if len(line) > 100 and "file://" not in line] == []
    page = ROOT / "docs" / "getting-started.md"
    text = page.read_text()
    before, rest = text.split(END_SCREEN[0], 1)
    shown, after = rest.split(END_SCREEN[1], 1)
    block = f"```text\n{screen}\n```\n"
    if re.sub(r"\d", "#", shown) != re.sub(r"\d", "#", block):
        page.write_text(before + END_SCREEN[0] + block + END_SCREEN[1] + after)
        pytest.fail(f"{page} showed another end screen than the sweep prints: written anew from this run; commit it")


def test_the_newest_sweep_one_liner_picks_the_newest_timestamped_sweep(tmp_path):
    """The one-liner the docs give for "the last sweep" picks the newest timestamped dir, not a named one."""
    (line,) = [line for path in DOCS for line in path.read_text().splitlines() if "# the newest timestamped" in line]
    expression = re.search(r"\$\((.*?)\)\s", line).group(1)
    for name in ("2026-11-27_17-30-00", "2026-12-01_09-05-12", "demo", "mine", "2026-11-30_23-59-59"):
        (tmp_path / "outputs" / "sweeps" / name).mkdir(parents=True)
    picked = subprocess.run(["bash", "-c", expression], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert picked.stdout.strip().rstrip("/") == "outputs/sweeps/2026-12-01_09-05-12"


def test_the_readme_is_a_front_door_whose_links_lead_somewhere():
    """The README stays short (about 150 lines at most), and each file it links to exists (the site's own links
    are checked by mkdocs build --strict)."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    targets = [target for target in re.findall(r"\]\(([^)#\s]+)", text) if "://" not in target]
    assert targets and [target for target in targets if not (ROOT / target).exists()] == []
