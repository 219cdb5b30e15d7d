"""``hpsweep report``: sweeps' answers as one self-contained HTML page, to open in a browser or send by e-mail.

Everything is inline (CSS, SVG plots as data URIs, a few lines of script that sort the tables): the page makes
no request to any network. It is rendered from ``templates/report.html.j2`` with Jinja2 (autoescaped) from the
same answer ``hpsweep summary`` prints (``answers.answer``), and written atomically.

While a sweep runs, its page is *live*: it reloads itself in the browser every ``RELOAD_S``, and its driver
rewrites it as often (``Keeper``), however many trainings ended meanwhile: its cost is per period, not per
training (rewriting it after each of 800 fast jobs was a third of the driver's time). A job rewrites it at its end
only where no driver has for two periods (a driver gone while its SLURM jobs run on). The sweep's end writes it
once more without the reload. The plots cost about a second per model to draw, so a live page redraws them at
most every ``PLOTS_EVERY_S`` and keeps the last ones in between.
"""

import base64
import hashlib
import io
import json
import logging
import re
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from hpsweep.core.display import format_duration
from hpsweep.core.records import write_atomic
from hpsweep.core.statuses import RowStatus, TrainingStatus, said
from hpsweep.decide.answers import Group, answer
from hpsweep.decide.results import Sweep, load
from hpsweep.decide.statistics import signed
from hpsweep.report.best import experiment_yaml, final_groups, recommend
from hpsweep.report.plots import curves_figure, option_figure
from hpsweep.report.summary import greedy_lines, rows, verdict_lines

REPORT_DIR, REPORT_FILE = "report", "index.html"
SCRIPT = "sort_tables.js"  # the page's one script: it sorts the tables
SVG_URI = re.compile(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+")  # a plot, and nothing else, in an img's src
PLOTS_CACHE = ".plots.json"  # the live page's last drawn plots, beside it
PLOTS_EVERY_S = 60.0
RELOAD_S = 15  # how often a live page reloads itself
PROBLEMS = (RowStatus.FAILED, RowStatus.PRUNED, RowStatus.ELIMINATED, RowStatus.STOPPED)
# racing decided their rows without them; pending: not started. Neither trained, so neither is a cost.
NOT_TRAINED = (RowStatus.ELIMINATED, RowStatus.STOPPED, RowStatus.PENDING)

log = logging.getLogger(__name__)


def default_path(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / REPORT_DIR / REPORT_FILE


def write(sweeps: list[Sweep], out: Path, live: bool = False) -> Path:
    """Render the page of ``sweeps`` into ``out`` (atomically); ``live``: it reloads itself."""
    groups = answer(sweeps)
    plots = _plots(groups, out.parent / PLOTS_CACHE, live)
    html = render(sweeps, groups, plots, live)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, lambda temporary: temporary.write_text(html, encoding="utf-8"))
    return out


_DRAWING = threading.Lock()  # a driver's keeper and a training of the same process draw one at a time


def refresh(sweep_dir: Path, live: bool = True, unless_kept: bool = False) -> Path | None:
    """Rewrite a sweep's own page (``<sweep dir>/report/index.html``); never raises: a report that cannot be
    written must not fail the training that asked for it. ``unless_kept``: not where it was written in the last
    two reload periods (a driver keeps it)."""
    if unless_kept and _written_within(default_path(sweep_dir), 2 * RELOAD_S):
        return None
    with _DRAWING:
        return _refresh(sweep_dir, live)


def _written_within(path: Path, seconds: float) -> bool:
    """Whether ``path`` was written in the last ``seconds``, by its file time and this host's clock: it sets how
    often a page is drawn, never who does what, so another host's clock off by a minute costs a redraw at most."""
    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return False


class Keeper:
    """While its driver runs a sweep, the sweep's live page is written at once, then rewritten every ``RELOAD_S``
    (as often as a reader's browser reloads it), in a thread of the driver's: the first job need not wait for it."""

    def __init__(self, sweep_dir: Path):
        self.sweep_dir = Path(sweep_dir)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._keep, name="hpsweep-page", daemon=True)
        self.thread.start()

    def _keep(self) -> None:
        refresh(self.sweep_dir, live=True)
        while not self.stopped.wait(RELOAD_S):
            refresh(self.sweep_dir, live=True)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def _refresh(sweep_dir: Path, live: bool) -> Path | None:
    try:
        sweeps = [sweep for sweep in load([sweep_dir]) if sweep.directory == Path(sweep_dir) and sweep.manifest]
        if not sweeps or sweeps[0].manifest.get("report") is False:
            return None
        return write(sweeps, default_path(sweep_dir), live)
    except Exception as error:  # noqa: BLE001 (a damaged file, a full disk: the sweep goes on)
        log.warning("the report of %s was not rewritten: %s: %s", sweep_dir, type(error).__name__, error)
        return None


def render(sweeps: list[Sweep], groups: list[Group], plots: dict[str, str], live: bool) -> str:
    """The page's HTML. Everything it shows comes from records others can write (configs, results, logs,
    paths): autoescaped as text, every one of them, and the page's only script is its own, allowed by its digest
    (a Content-Security-Policy that also forbids every request)."""
    from jinja2 import Environment, PackageLoader
    from markupsafe import Markup

    # autoescape=True: select_autoescape() goes by the name's ending, and report.html.j2 ends in .j2
    environment = Environment(loader=PackageLoader("hpsweep.report", "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)
    environment.filters["signed"] = signed
    environment.filters["said"] = said
    script = environment.loader.get_source(environment, SCRIPT)[0]
    table = rows(groups)
    owners = [number for number, group in enumerate(groups) for _ in group.rows]
    finals = final_groups(groups)
    context = {
        "script": Markup(script),  # the package's own file, not a sweep's
        "script_hash": "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode(),
        "live": live, "reload_s": RELOAD_S, "now": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "sweeps": [_sweep(sweep, [(number, group) for number, group in enumerate(groups) if group.sweep is sweep],
                          table, owners, plots, finals) for sweep in sweeps],
    }
    return environment.get_template("report.html.j2").render(**context)


def _sweep(sweep: Sweep, groups: list[tuple[int, Group]], table: list[dict], owners: list[int],
           plots: dict[str, str], finals: list[Group]) -> dict:
    manifest = sweep.manifest
    started, ended = _span(sweep)
    return {
        "directory": str(sweep.directory),
        "command": f"python {_script(sweep)} -m {' '.join(manifest.get('arguments', []))}" if manifest else "",
        "fixed": sweep.fixed,
        "started": started.strftime("%Y-%m-%d %H:%M") if started else "",
        "launcher": _launcher(sweep.directory),
        "metric": sweep.metric,
        "direction": "higher" if sweep.higher_is_better else "lower",
        "decided_by": sweep.decided_by,
        "cost": _cost(sweep),
        "progress": _progress(sweep, (ended - started).total_seconds() if started and ended else None),
        "greedy": greedy_lines(sweep),
        "groups": [_group(number, group, [row for row, owner in zip(table, owners, strict=True) if owner == number],
                          plots, group in finals) for number, group in groups],
        "problems": _problems(sweep),
        "verify": _verify(sweep.directory),
    }


def _group(number: int, group: Group, table: list[dict], plots: dict[str, str], final: bool) -> dict:
    """One comparison's part of the page; ``final``: it recommends a config (a greedy sweep's last stage)."""
    best = None
    if final and not group.sweep.redecided:
        try:
            recommendation = recommend(group)
            command = (f"python {_script(group.sweep)} --config-dir {group.sweep.directory / 'best'} "
                       f"+experiment={recommendation.name}")
            best = {"name": recommendation.name, "yaml": experiment_yaml(recommendation, command,
                                                                         [str(group.sweep.directory)]),
                    "command": f"hpsweep best {group.sweep.directory}", "run": command}
        except Exception as error:  # noqa: BLE001 (the rest of the page stays useful)
            best = {"name": "", "yaml": f"not written: {error}", "command": ""}
    return {
        "title": group.title, "model": group.model, "rows": table, "verdicts": verdict_lines(group, decided=False),
        "options_plot": plots.get(f"options-{number}"), "curves_plot": plots.get(f"curves-{number}"),
        "best": best,
    }


def _plots(groups: list[Group], cache: Path, live: bool) -> dict[str, str]:
    """Each group's plots as SVG data URIs; a live page reuses the cached ones while they are recent."""
    if live:
        try:
            cached = json.loads(cache.read_text())
            plots = cached["plots"]
            if time.time() - cached["drawn"] < PLOTS_EVERY_S and cached["groups"] == len(groups) and all(
                    isinstance(plot, str) and SVG_URI.fullmatch(plot) for plot in plots.values()):
                return plots  # anything but plots (another's hand in the file) is drawn anew
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass

    plots = {}
    for number, group in enumerate(groups):
        for name, draw in (("options", option_figure), ("curves", curves_figure)):
            figure = draw(group)
            if figure is not None:
                plots[f"{name}-{number}"] = _svg(figure)
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(cache, lambda temporary: temporary.write_text(json.dumps(
        {"drawn": time.time(), "groups": len(groups), "plots": plots})))
    return plots


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _script(sweep: Sweep) -> str:
    return Path((sweep.manifest.get("app") or {}).get("script") or "run_experiments.py").name


def _span(sweep: Sweep) -> tuple[datetime | None, datetime | None]:
    """When the sweep's first training started and its last one ended, by their records (``started_at``, an
    interrupted start's ``at`` less its duration, ``ended_at``): a re-run rewrites multirun.yaml, not these."""
    starts, ends = [], []
    for training in sweep.trainings:
        record = training.record
        starts.append(_time(record.get("started_at")))
        stops = record.get("interruptions")
        for stop in stops if isinstance(stops, list) else []:  # another tool's record may hold anything
            at = _time(_dict(stop).get("at"))
            starts.append(at and at - timedelta(seconds=_number(_dict(stop).get("duration_s"))))
        ends.append(_time(record.get("ended_at")))
    starts, ends = [moment for moment in starts if moment], [moment for moment in ends if moment]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def _time(value) -> datetime | None:
    """A record's ISO 8601 time (with its offset: records of several machines compare); None where it is not one."""
    try:
        found = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return found if found.tzinfo else found.astimezone()


def _dict(value) -> dict:
    """A record's field that should be a mapping, or nothing where a damaged record holds something else."""
    return value if isinstance(value, dict) else {}


def _number(value) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _launcher(sweep_dir: Path) -> str:
    """The Hydra launcher the sweep ran with (its multirun.yaml), by class name."""
    from omegaconf import OmegaConf

    try:
        target = OmegaConf.load(sweep_dir / "multirun.yaml").hydra.launcher._target_
    except Exception:  # noqa: BLE001 (absent or damaged: the page says nothing of it)
        return ""
    return str(target).rsplit(".", 1)[-1]


def _cost(sweep: Sweep) -> dict:
    """What the sweep trained and what it did not need to: merged rows, pruning, racing, shared trajectories."""
    trainings = [training for training in sweep.trainings if training.status not in NOT_TRAINED]
    seconds = sum(training.duration_s or 0 for training in trainings)
    on_gpu = any(str(_dict(training.record.get("setup")).get("device", "")).startswith("cuda")
                 for training in trainings)
    answered_rows = sum(len([row for row in training.rows if row.get("category") or training.is_base])
                        for training in sweep.trainings)
    statuses = [training.status for training in sweep.trainings]
    return {
        "trainings": len(trainings),
        "epochs": sum(_number(training.record.get("epochs_run")) for training in trainings),
        "hours": f"{seconds / 3600:.2f} {'GPU' if on_gpu else 'CPU'}-hours ({format_duration(seconds)})",
        "merged": answered_rows - len(sweep.trainings), "pruned": statuses.count(TrainingStatus.PRUNED),
        "eliminated": statuses.count(RowStatus.ELIMINATED), "stopped": statuses.count(RowStatus.STOPPED),
        "answered": sum(bool(training.record.get("answered_by")) for training in trainings),
    }


def _progress(sweep: Sweep, elapsed: float | None) -> dict:
    """Per model: done, running (started, no result yet), pending and failed; elapsed and an estimate of the
    rest (the mean time of a finished training, one after another)."""
    models: dict[str, dict[str, int]] = {}
    for training in sweep.trainings:
        counts = models.setdefault(training.model or "sweep", {"done": 0, "running": 0, "pending": 0, "failed": 0})
        state = {RowStatus.COMPLETED: "done", RowStatus.PRUNED: "done", RowStatus.ELIMINATED: "done",
                 RowStatus.STOPPED: "done", RowStatus.INCOMPLETE: "running"}.get(
            training.status, training.status)
        counts[state if state in counts else "pending"] += 1
    durations = [training.duration_s for training in sweep.trainings if training.duration_s]
    left = sum(counts["pending"] + counts["running"] for counts in models.values())
    return {
        "models": models, "elapsed": format_duration(elapsed) if elapsed is not None else "",
        "left": format_duration(left * sum(durations) / len(durations)) if durations and left else "",
    }


def _problems(sweep: Sweep) -> list[dict]:
    """Every failed, pruned, eliminated or stopped training, with its reason and its logs."""
    found = []
    for training in sweep.trainings:
        if training.status not in PROBLEMS:
            continue
        record = training.record
        if training.status == TrainingStatus.FAILED:
            error = _dict(record.get("error"))
            reason = f"{error.get('type', 'error')}: {error.get('message', '')}"
        elif training.status == TrainingStatus.PRUNED:
            reason = _dict(record.get("pruned")).get("reason", "pruned")
        else:
            reason = (training.eliminated or {}).get("reason", "eliminated by racing")
        label = " / ".join(part for part in (training.model, training.category, training.option) if part)
        found.append({"label": f"{label} {training.replicate}".strip(), "status": training.status,
                      "said": said(training.status), "reason": reason,
                      "logs": [str(path) for path in sorted(training.directory.glob("*.log"))]})
    return found


def _verify(sweep_dir: Path) -> list[dict]:
    reports = []
    for path in sorted((sweep_dir / "best").glob("verify_*.json")):
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return [report for report in reports if isinstance(report, dict)]
