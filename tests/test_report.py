"""``hpsweep report``: one self-contained HTML page that holds the summary's answer, kept current while a sweep
runs, and that a real browser renders with its tables."""

import html
import json
import re
import shutil
import subprocess
import time

import pytest
from fake_sweeps import by_option, fake_sweep
from PIL import Image

from hpsweep.cli import main
from hpsweep.core.records import write_json_atomic

SEEDS = "seed=1,2,3"
PROGRESS = re.compile(r'<td class="text">([^<]+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>')
RELOADS = '<meta http-equiv="refresh"'


def summary_rows(sweep, tmp_path) -> list[dict]:
    out = tmp_path / "summary.json"
    assert main(["summary", str(sweep), "--json", str(out), "--no-plots"]) == 0
    return json.loads(out.read_text())


def report(sweep, tmp_path) -> str:
    out = tmp_path / "page.html"
    assert main(["report", str(sweep), "--out", str(out)]) == 0
    return out.read_text()


def assert_holds_the_answer(page: str, rows: list[dict]) -> None:
    text = html.unescape(page)
    for row in rows:
        for key in ("model", "category", "option", "status"):
            assert row[key] in text, (key, row[key])
        for line in [row["verdict"], *row["notes"]] if row["best"] else []:
            assert line in text, line
    assert "http://" not in page and "https://" not in page, "no resource from any network"
    assert 'src="data:image/svg+xml;base64,' in page, "the plots are inline"


def test_the_report_of_a_finished_sweep_holds_every_row_and_verdict_of_the_summary(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet,test_efficientnet", "category=optimizer,loss_function", SEEDS,
               value=by_option({"base": [0.80, 0.82, 0.78] * 2, "SGD": [0.90, 0.91, 0.93] * 2,
                                "Focal": [0.80, 0.83, 0.79] * 2, "LabelSmoothing": [0.81, "failed", 0.8] * 2}))
    rows = summary_rows(sweep, tmp_path)
    page = report(sweep, tmp_path)
    assert_holds_the_answer(page, rows)
    assert RELOADS not in page, "a finished sweep's page does not reload itself"
    assert "NonFiniteLossError: diverged" in page, "each failed training with its reason"
    assert "best_test_resnet" in page and "override /optimizer: SGD" in html.unescape(page), "the best config"
    assert {match[0]: match[1:] for match in PROGRESS.findall(page)} == {
        "test_resnet": ("11", "0", "0", "1"), "test_efficientnet": ("11", "0", "0", "1")}


def test_the_report_of_a_half_finished_sweep_shows_what_runs_what_waits_and_what_failed(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer,loss_function", SEEDS,
               value=by_option({"base": [0.80, 0.82, 0.78], "SGD": [0.90, None, None], "Focal": ["failed", 0.8, None],
                                "LabelSmoothing": [None, None, None]}))
    write_json_atomic(sweep / "test_resnet/optimizer/SGD/seed-2/job.json", {"fingerprint": "x", "status": "running"})
    rows = summary_rows(sweep, tmp_path)
    page = report(sweep, tmp_path)
    assert_holds_the_answer(page, rows)
    assert PROGRESS.findall(page) == [("test_resnet", "5", "1", "5", "1")], "done, running, pending, failed"
    assert "SGD: not all replicates completed, so not compared" in html.unescape(page)


@pytest.mark.xdist_group("turned")
def test_a_running_sweep_keeps_its_page_current_and_stops_reloading_at_its_end(turned):
    sweep_dir, _, _, printed, snapshots = turned
    page = (sweep_dir / "report" / "index.html").resolve()
    assert "the page, to open in a browser:" in printed and printed.rstrip().endswith(page.as_uri()), \
        "the sweep ends naming its page, as a file:// address"
    live = [snapshot for snapshot in snapshots if RELOADS in snapshot]
    done = [int(PROGRESS.search(snapshot)[2]) for snapshot in live]
    assert len(set(done)) >= 2 and done == sorted(done), f"the progress counts change between trainings: {done}"
    final = snapshots[-1]
    assert RELOADS not in final and PROGRESS.search(final).groups() == ("test_resnet", "8", "0", "0", "0")


def test_a_driver_keeps_its_live_page_once_per_reload_period_and_a_job_then_leaves_it(tmp_path, monkeypatch):
    """The page's cost is per reload period, not per training: a keeper rewrites it every period however many
    trainings ended; a job's own rewrite at its end is skipped while a driver keeps the page."""
    from hpsweep.report import page

    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer", value=by_option({"base": 0.8, "SGD": 0.7}))
    drawn = []
    real_refresh = page._refresh
    monkeypatch.setattr(page, "_refresh", lambda *args: drawn.append(args) or real_refresh(*args))
    monkeypatch.setattr(page, "RELOAD_S", 0.5)
    keeper = page.Keeper(sweep)
    time.sleep(2.8)  # the first drawing of the plots takes up to about a second
    keeper.stop()
    kept = len(drawn)
    # at most once a period: 6 where the first drawing is quick, fewer where it takes its second
    assert 2 <= kept <= 6 and all(live for _, live in drawn), "about every 0.5 s, live"
    assert page.default_path(sweep).is_file()
    assert page.refresh(sweep, unless_kept=True) is None and len(drawn) == kept, "kept by a driver: left to it"
    monkeypatch.setattr(page, "RELOAD_S", 0.05)
    time.sleep(0.2)
    assert page.refresh(sweep, unless_kept=True) == page.default_path(sweep), "no driver keeps it: the job does"


def chromium() -> str:
    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if found is None:
        pytest.skip("no headless browser: install Debian's chromium (apt-get install chromium; make test does it "
                    "as root) to open the report in one")
    return found


@pytest.mark.xdist_group("turned")
def test_the_page_opens_in_a_real_browser_with_its_tables(turned, tmp_path):
    sweep_dir, *_ = turned
    page = sweep_dir / "report" / "index.html"
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"]
    shot = tmp_path / "page.png"
    subprocess.run([*browser, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    image = Image.open(shot).convert("L")
    assert image.getextrema()[1] - image.getextrema()[0] > 100 and len(image.getcolors(1 << 16)) > 20, "not blank"
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert dom.count("<table") >= 2 and '<table class="sortable answer">' in dom
    # the star marks the summary's choice: documents where its one seed proves the win, else the base kept
    chosen = next(row["option"] for row in summary_rows(sweep_dir, tmp_path) if row["best"])
    assert f"{chosen} ★" in dom and "<img" in dom


def test_a_record_damaged_inside_is_shown_without_a_traceback(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer", value=by_option({"base": 0.8, "SGD": "failed"}))
    record = sweep / "test_resnet/optimizer/SGD/result.json"
    # valid JSON, a status, but fields of the wrong kind (a hand edit, another tool's file)
    record.write_text(json.dumps({"status": "failed", "error": "diverged", "epochs_run": "three", "setup": "cpu",
                                  "duration_s": "long"}))
    (sweep / "multirun.yaml").write_text("hydra: [not, a, mapping")
    page = report(sweep, tmp_path)
    assert "test_resnet / optimizer / SGD" in page and "error: " in page


HOSTILE = '<img src="x" onerror="document.title=\'owned\'">'  # what an external script may print


@pytest.mark.hostile
def test_text_from_records_stays_text_in_the_page_and_in_the_browser(tmp_path):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer", value=by_option({"base": 0.8, "SGD": "failed"}))
    record = sweep / "test_resnet/optimizer/SGD/result.json"
    result = json.loads(record.read_text())
    result["error"] = {"type": "TypeError", "message": f"expected <class 'int'>; the script printed {HOSTILE}"}
    record.write_text(json.dumps(result))
    (sweep / "test_resnet/optimizer/SGD" / f"{HOSTILE}.log").write_text("a log named by markup")
    page = report(sweep, tmp_path)
    assert HOSTILE not in page and "<class 'int'>" not in page, "escaped in the source"
    assert "expected &lt;class &#39;int&#39;&gt;" in page and "&lt;img src=&#34;x&#34; onerror=" in page
    assert "script-src 'sha256-" in page and "default-src 'none'" in page, "only the page's own script runs"
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    out = tmp_path / "page.html"
    opened = subprocess.run([*browser, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120,
                            check=True)
    dom = opened.stdout
    assert '<img src="x"' not in dom and "owned" not in dom.split("<title>")[1].split("</title>")[0]
    assert "expected &lt;class 'int'&gt;" in dom, "the message survives as text"
    assert "Content Security Policy" not in opened.stderr, "the sorting script is allowed by its digest"


def test_the_summary_fits_100_columns_shows_every_column_when_wide_and_ends_with_the_page_to_open(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer,loss_function", SEEDS,
               value=by_option({"base": [0.80, 0.82, 0.78], "SGD": [0.80, 0.82, 0.78 + 2.6e-5],
                                "Focal": [0.80, 0.83, 0.79], "LabelSmoothing": [0.81, 0.80, 0.8]}))
    assert main(["report", str(sweep)]) == 0
    page = sweep / "report" / "index.html"
    assert " ".join(capsys.readouterr().out.split()) == f"wrote {page} the page, to open in a browser: " \
                                                        f"{page.resolve().as_uri()}"
    assert main(["summary", str(sweep), "--no-plots"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("category"))
    assert "min" not in header and "time" not in header, "min, max and time are --wide's"
    sgd = next(line for line in lines if line.split()[:1] == ["SGD"])
    assert "+0.0000087" in sgd and "e-0" not in "\n".join(lines), "a difference in fixed decimals, never +8.7e-06"
    assert lines[-1].endswith(" " + (sweep / "report" / "index.html").resolve().as_uri()), \
        "the last line names the page, as a file:// address"
    assert main(["summary", str(sweep), "--no-plots", "--wide"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("category"))
    assert all(column in header for column in ("min", "max", "Δ base", "p adj.", "time"))
