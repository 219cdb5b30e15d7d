"""``hpsweep status <sweep dir>``: where every job of a sweep stands, and where its logs are.

Reads the sweep's ``sweep.json`` and each job's ``job.json`` / ``result.json``; asks SLURM (``squeue``)
about jobs that started under it but left no result yet.
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

from hpsweep.core.display import console
from hpsweep.core.manifest import MANIFEST_FILE, read_manifest
from hpsweep.core.provenance import code_label
from hpsweep.core.records import PACK_FILE, fields, read_job_record, read_json, read_result
from hpsweep.core.statuses import RowStatus, StopKind, TrainingStatus
from hpsweep.decide.race_record import elimination, read_race, stop_kind
from hpsweep.sweep.claims import describe, read_claim, stale_reason


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
    """One row per job of the sweep (``manifest``: its trainings): label, state (completed, failed, running,
    pending, interrupted, not started), SLURM id, log files and how often a stop signal (preemption, time-out)
    ended a start."""
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
        if result is not None:
            state = result.get("status", TrainingStatus.FAILED)
        elif record is None and (why := elimination(race, job)):
            state = RowStatus.ELIMINATED if stop_kind(why) == StopKind.ELIMINATED else f"stopped ({stop_kind(why)})"
        elif record is None and job.get("answered_by"):
            state = f"answered by {job['answered_by']}"  # its carrier writes its result when the rule stops
        elif claim is not None and stale_reason(directory, claim) is None:
            state = f"running ({describe(claim)})"  # its holder beats for it
        elif record is None:
            state = "not started"
        elif slurm_id:
            state = slurm.get(slurm_id, "interrupted").lower()  # started, no result, no longer queued
        else:
            state = "interrupted"  # started, no result, and nobody holds it
        logs = sorted(str(path) for path in directory.glob("*.log"))
        if slurm_id:
            logs += sorted(str(path) for path in sweep_dir.glob(f".submitit/*/{slurm_id}_*_log.*"))
        option = job["option"] + "".join(f" {key}={value}" for key, value in job.get("replicate", {}).items())
        pack = read_json(directory / PACK_FILE, fields(pack=str)) or {}
        made = (result or known).get("provenance")
        code = (code_label(made.get("code")) or "no commit") if isinstance(made, dict) else ""
        rows.append({**job, "option": option, "model": job["model"] or known.get("model"), "state": state,
                     "code": code,
                     "slurm_job_id": slurm_id, "logs": logs, "error": (result or {}).get("error"),
                     "stops": len(known.get("interruptions", [])), "pack": pack.get("pack")})
    return rows


def pack_states(rows: list[dict]) -> list[dict]:
    """One row per pack of trainings run side by side in one SLURM array task (``hpsweep.sweep.packs``): its
    task, its trainings and their states."""
    packs: dict[str, list[dict]] = {}
    for row in rows:
        if row["pack"]:
            packs.setdefault(row["pack"], []).append(row)
    found = []
    for name, members in packs.items():
        tasks = sorted({row["slurm_job_id"] for row in members if row["slurm_job_id"]})
        counts: dict[str, int] = {}
        for row in members:
            state = row["state"].split(" (")[0]  # running (host, pid ...): running
            counts[state] = counts.get(state, 0) + 1
        found.append({"pack": name, "task": ", ".join(tasks) or "not started",
                      "trainings": [" ".join(filter(None, (row["model"], row["category"], row["option"])))
                                    for row in members],
                      "state": ", ".join(f"{count} {state}" for state, count in counts.items())})
    return found


def print_status(sweep_dir: Path, verdicts=lambda: []) -> int:
    """Each training's state and each pack's, then ``verdicts()`` (lines: what the sweep says so far), then the
    count of every state, last, for scripts that read it."""
    from rich.table import Table

    if not (sweep_dir / MANIFEST_FILE).is_file():
        print(f"error: {sweep_dir} is not a sweep dir: it has no {MANIFEST_FILE}", file=sys.stderr)
        return 1
    manifest = read_manifest(sweep_dir)
    if manifest is None:
        print(f"error: the {MANIFEST_FILE} of {sweep_dir} could not be read: re-run the sweep's command to write it "
              "again; finished trainings are kept", file=sys.stderr)
        return 1
    rows = job_states(sweep_dir, manifest["trainings"])
    columns = ("model", "category", "option", "state", "code", "stops", "slurm job", "logs")
    cells = [(row["model"] or "", row["category"] or "-", row["option"], row["state"], row["code"],
              str(row["stops"] or ""), row["slurm_job_id"] or "", row["logs"]) for row in rows]
    out = console()
    if not out.is_terminal:  # piped or redirected: whole paths, one training per line, tab-separated (cut, grep)
        print("\t".join(columns))
        for *fields, logs in cells:
            print("\t".join([*fields, " ".join(logs)]))
    else:
        table = Table(title=f"sweep {sweep_dir}", title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")  # a path folded over lines stays whole, never "..."
        for *fields, logs in cells:
            table.add_row(*fields, "\n".join(logs))
        out.print(table)
    packs = pack_states(rows)
    if packs and not out.is_terminal:
        print("\t".join(("pack", "task", "trainings", "state")))
        for pack in packs:
            print("\t".join((pack["pack"], pack["task"], "; ".join(pack["trainings"]), pack["state"])))
    elif packs:
        table = Table(title="packs: trainings side by side in one SLURM array task", title_justify="left")
        for column in ("pack", "task", "trainings", "state"):
            table.add_column(column, overflow="fold")
        for pack in packs:
            table.add_row(pack["pack"], pack["task"], "\n".join(pack["trainings"]), pack["state"])
        out.print(table)
    for line in verdicts():
        out.print(line, soft_wrap=True, markup=False)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    out.print(", ".join(f"{count} {state}" for state, count in counts.items()))
    return 0
