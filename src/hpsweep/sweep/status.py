"""``hpsweep status <sweep dir>``: where every row of a sweep stands (``--trainings``: every training), and where its
logs are.

Reads the sweep's ``sweep.json`` and each job's ``job.json`` / ``result.json``; asks SLURM (``squeue``)
about jobs that started under it but left no result yet.
"""

import shutil
import subprocess
import time
from pathlib import Path

from hpsweep.core.display import console, print_table, say, say_error, table
from hpsweep.core.manifest import MANIFEST_FILE, read_manifest
from hpsweep.core.provenance import code_label
from hpsweep.core.records import PACK_FILE, fields, read_job_record, read_json, read_result
from hpsweep.core.statuses import RowStatus, TrainingStatus, counted, said
from hpsweep.decide.race_record import elimination, phrase, read_race, untrained_status
from hpsweep.sweep.claims import describe, queued, read_claim, stale_reason


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """SLURM's state (RUNNING, PENDING, ...) of the jobs it still knows; empty without SLURM."""
    if not job_ids or shutil.which("squeue") is None:
        return {}
    listed = subprocess.run(["squeue", "-h", "-o", "%i %T", "-j", ",".join(job_ids)], capture_output=True,
                            text=True).stdout
    return dict(line.split() for line in listed.splitlines() if len(line.split()) == 2)


def wait_for_slurm_jobs(sweep_dir: Path, poll_s: float = 5.0) -> None:
    """Wait until SLURM runs none of the sweep's jobs (found by submitit's folders, ``.submitit/<id>``)."""
    if shutil.which("squeue") is None:
        return
    array_ids = sorted({path.name.split("_")[0] for path in sweep_dir.glob(".submitit/*") if path.is_dir()})
    while array_ids and subprocess.run(["squeue", "-h", "-j", ",".join(array_ids)], capture_output=True,
                                       text=True).stdout.strip():
        time.sleep(poll_s)


def job_states(sweep_dir: Path, manifest: list[dict]) -> list[dict]:
    """One row per job of the sweep (``manifest``: its trainings): its row (model, category, option), replicate,
    state in the words a person reads (``statuses.said``: completed, pruned, failed, not trained, running, queued,
    interrupted), why (racing's phrase, who runs it), SLURM id, log files and how often a stop signal (preemption,
    time-out) ended a start."""
    race = read_race(sweep_dir)
    started = {job["directory"]: read_job_record(sweep_dir / job["directory"]) for job in manifest}
    slurm = slurm_states([record["slurm_job_id"] for record in started.values()
                          if record and record.get("slurm_job_id")])
    rows = []
    for job in manifest:
        directory = sweep_dir / job["directory"]
        record, result = started[job["directory"]], read_result(directory)
        known = record or {}
        slurm_id = known.get("slurm_job_id")
        claim = read_claim(directory) if result is None else None
        why = ""
        if result is not None:
            state = said(result.get("status", TrainingStatus.FAILED))
        elif record is None and (stop := elimination(race, job)):
            state, why = said(untrained_status(stop)), phrase(stop, job["option"])
        elif record is None and job.get("answered_by"):
            state, why = said(RowStatus.ANSWERED), f"answered by {job['answered_by']}"  # when its carrier stops
        elif claim is not None and stale_reason(directory, claim) is None:  # its holder beats for it
            state = said(RowStatus.PENDING) if queued(claim) else said(RowStatus.ELSEWHERE)
            why = f"launched by {describe(claim)}" if queued(claim) else describe(claim)
        elif record is None:
            state = said(RowStatus.PENDING)
        elif slurm_id and slurm_id in slurm:  # started, no result, still known to SLURM
            state = said(RowStatus.PENDING) if slurm[slurm_id] == "PENDING" else "running"
        else:
            state = said(RowStatus.INCOMPLETE)  # started, no result, and nobody holds it: a re-run resumes it
        logs = sorted(str(path) for path in directory.glob("*.log"))
        if slurm_id:
            logs += sorted(str(path) for path in sweep_dir.glob(f".submitit/*/{slurm_id}_*_log.*"))
        pack = read_json(directory / PACK_FILE, fields(pack=str)) or {}
        made = (result or known).get("provenance")
        code = (code_label(made.get("code")) or "no commit") if isinstance(made, dict) else ""
        option = job["option"] + "".join(f" {item}" for item in job.get("setting", []))
        rows.append({**job, "model": job["model"] or known.get("model"), "category": job["category"] or "-",
                     "row": option, "state": state, "why": why,
                     "replicate": " ".join(f"{key}={value}" for key, value in job.get("replicate", {}).items()),
                     "code": code, "slurm_job_id": slurm_id, "logs": logs, "error": (result or {}).get("error"),
                     "stops": len(known.get("interruptions", [])), "pack": pack.get("pack")})
    return rows


def row_states(trainings: list[dict]) -> list[dict]:
    """One line per row (model, category, option) of the sweep: its replicates' states counted, why racing or
    another driver has the rest, their code versions, SLURM jobs, stops and logs."""
    grouped: dict[tuple, list[dict]] = {}
    for training in trainings:
        grouped.setdefault((training["model"], training["category"] or "-", training["row"]), []).append(training)
    return [{"model": model, "category": category, "row": option,
             "state": counted([training["state"] for training in members]),
             "why": "; ".join(dict.fromkeys(training["why"] for training in members if training["why"])),
             "code": ", ".join(dict.fromkeys(training["code"] for training in members if training["code"])),
             "slurm_job_id": ", ".join(dict.fromkeys(str(training["slurm_job_id"]) for training in members
                                                     if training["slurm_job_id"])),
             "stops": sum(training["stops"] for training in members),
             "logs": [path for training in members for path in training["logs"]]}
            for (model, category, option), members in grouped.items()]


def pack_states(rows: list[dict]) -> list[dict]:
    """One row per pack of trainings run side by side in one SLURM array task (``hpsweep.sweep.packs``): its
    task, its trainings and their states."""
    packs: dict[str, list[dict]] = {}
    for row in rows:
        if row["pack"]:
            packs.setdefault(row["pack"], []).append(row)
    return [{"pack": name, "task": ", ".join(sorted({row["slurm_job_id"] for row in members if row["slurm_job_id"]}))
             or "not started",
             "trainings": [" ".join(filter(None, (row["model"], row["category"], row["row"], row["replicate"])))
                           for row in members],
             "state": counted([row["state"] for row in members])} for name, members in packs.items()]


# Each view's columns: (header, the row's field); a column empty in every row is not shown. In a terminal, the
# columns a narrow one leaves out first (LEAVE_OUT).
ROW_COLUMNS = (("model", "model"), ("category", "category"), ("option", "row"), ("replicates", "state"),
               ("note", "why"), ("code", "code"), ("slurm job", "slurm_job_id"), ("stops", "stops"), ("logs", "logs"))
TRAINING_COLUMNS = (("model", "model"), ("category", "category"), ("option", "row"), ("replicate", "replicate"),
                    ("state", "state"), ("note", "why"), ("code", "code"), ("slurm job", "slurm_job_id"),
                    ("stops", "stops"), ("logs", "logs"))
LEAVE_OUT = ("logs", "code", "stops", "slurm job", "note", "replicate")


def print_status(sweep_dir: Path, verdicts=lambda: [], trainings: bool = False, wide: bool = False) -> int:
    """One line per row of the sweep (``trainings``: per training), each pack's state, then ``verdicts()`` (lines:
    what the sweep says so far), then the count of every training's state, last, for scripts that read it. In a
    terminal the table fits its width (``wide``: every column); piped, every line is tab-separated."""
    if not (sweep_dir / MANIFEST_FILE).is_file():
        say_error(f"{sweep_dir} is not a sweep dir: it has no {MANIFEST_FILE}")
        return 1
    manifest = read_manifest(sweep_dir)
    if manifest is None:
        say_error(f"the {MANIFEST_FILE} of {sweep_dir} could not be read: re-run the sweep's command to write it "
                  "again; finished trainings are kept")
        return 1
    found = job_states(sweep_dir, manifest["trainings"])
    shown = found if trainings else row_states(found)
    columns = TRAINING_COLUMNS if trainings else ROW_COLUMNS
    cells = [[_cell(row[key]) for _, key in columns] for row in shown]
    kept = [number for number in range(len(columns)) if any(row[number] for row in cells)]
    headers = [columns[number][0] for number in kept]
    out = console()
    packs = pack_states(found)
    if not out.is_terminal:  # piped or redirected: whole paths, one line each, tab-separated (cut, grep)
        _print_tabs(headers, [[row[number] for number in kept] for row in cells])
        if packs:
            _print_tabs(["pack", "task", "trainings", "state"], [
                [pack["pack"], pack["task"], "; ".join(pack["trainings"]), pack["state"]] for pack in packs])
    else:
        say(out, f"sweep {sweep_dir}", style="bold")
        view = table(*headers, right=("stops",))
        for row in cells:
            view.add_row(*(row[number] for number in kept))
        print_table(out, view, leave_out=LEAVE_OUT, wide=wide)
        if packs:
            say(out, "packs: trainings side by side in one SLURM array task", style="bold")
            view = table("pack", "task", "trainings", "state")
            for pack in packs:
                view.add_row(pack["pack"], pack["task"], "; ".join(pack["trainings"]), pack["state"])
            print_table(out, view, leave_out=("trainings",), wide=wide)
    for line in verdicts():
        say(out, line)
    say(out, f"{len(found)} trainings: {counted([row['state'] for row in found])}")
    return 0


def _cell(value) -> str:
    """A field as one cell: paths joined by spaces, a zero count left blank."""
    return " ".join(value) if isinstance(value, list) else str(value or "")


def _print_tabs(headers: list[str], rows: list[list[str]]) -> None:
    print("\t".join(headers))
    for row in rows:
        print("\t".join(row))
