"""``hpsweep summary``: what won, per sweep, model and category: tables, CSV, JSON, Markdown (plots: ``plots``).

Every row shows its replicates (n, mean, std, min, max), its difference to the base combination and the
test behind it; every category says which option won and why (``hpsweep.decide.statistics``).
"""

import csv
import json
import os
from pathlib import Path

from hpsweep.core.display import console, format_duration, print_table, say, table
from hpsweep.core.statuses import RowStatus, StopKind, TrainingStatus, counted, said
from hpsweep.decide.answers import Group, code_versions
from hpsweep.decide.race_record import phrase
from hpsweep.decide.results import Sweep
from hpsweep.decide.stage_record import read_decisions
from hpsweep.decide.statistics import signed
from hpsweep.report.sentences import verdict_sentence

CSV_COLUMNS = ("sweep", "model", "setting", "stage", "category", "option", "is_base", "status", "n", "mean", "std",
               "min", "max", "delta_base", "p_base", "p_adjusted", "best", "metric", "values", "replicates", "verdict")
STYLES = {RowStatus.FAILED: "red", RowStatus.PRUNED: "yellow"}  # a row by its worst training's state


def rows(groups: list[Group]) -> list[dict]:
    """One object per sweep / model / setting / category / option: its replicate values, their aggregate, the
    difference to the base and whether it is its category's choice (``best``)."""
    table = []
    for group in groups:
        metric = group.sweep.metric
        answers = {answer.category: answer for answer in group.categories}
        for category, row in group.rows:
            answer = answers.get(category)
            completed = [training for training in row.trainings if training.status == TrainingStatus.COMPLETED]
            values = row.values(metric)
            aggregate = row.aggregate(metric)
            test = answer.against_base(row) if answer else None
            best = bool(answer and answer.is_winner(row))
            table.append({
                "sweep": str(group.sweep.directory), "model": group.model, "setting": list(group.setting),
                "fixed": group.sweep.fixed, "stage": group.stage, "category": category, "option": row.option,
                "is_base": row.is_base, "status": row.status, "statuses": row.statuses, "metric": metric,
                "n": aggregate.n, "mean": aggregate.mean, "std": aggregate.std, "min": aggregate.min,
                "max": aggregate.max, "values": [values[key] for key in sorted(values)],
                "replicates": sorted(values), "delta_base": test.difference if test else (0.0 if row.is_base and
                                                                                         aggregate.n else None),
                # the raw one-sided p against the base, the one corrected over the comparison's options and the
                # sweep's comparisons (what decides), the contrast's standard error and degrees of freedom
                "p_base": test.p_value if test else None, "p_adjusted": test.p_adjusted if test else None,
                "se": test.se if test else None, "df": test.df if test else None,
                "test": test.method if test else None, "best": best,
                # the difference significant half the time, and the one found with 80% power; whether the
                # category's best mean stays undecided, or untested against seed luck (one run each)
                "critical_base": test.critical if test else None,
                "detectable_base": test.detectable if test else None,
                "undecided": bool(best and answer.verdict.undecided is not None),
                "untested": bool(answer and answer.verdict.untested and row.option == answer.verdict.top),
                "expected_false_wins": group.expected_false_wins,
                "decided_by": group.sweep.decided_by,
                "answered_by": sorted({t.record["answered_by"] for t in row.trainings if t.record.get("answered_by")}),
                "eliminated": row.stopped == StopKind.ELIMINATED,
                "eliminated_after": row.eliminated["after"] if row.stopped == StopKind.ELIMINATED else None,
                # the test, or pruning
                "eliminated_by": row.eliminated["reason"] if row.stopped == StopKind.ELIMINATED else None,
                # how racing stopped it (eliminated, futile, equivalent, efficacy; null: it was not), after how
                # many replicates, and the probability that its remaining replicates would have decided it
                "stopped": row.stopped,
                "stopped_after": row.eliminated["after"] if row.eliminated else None,
                "stopped_because": row.eliminated["reason"] if row.eliminated else None,
                "stopped_phrase": phrase(row.eliminated, row.option) if row.eliminated else None,
                "power": row.eliminated.get("power") if row.eliminated else None,
                "verdict": answer.verdict.reason if best else None,
                "notes": answer.verdict.notes if best else [],
                "minutes": round(sum(t.duration_s or 0 for t in row.trainings) / 60, 2),
                "trial": row.trial,
                "trials": [{"trial": trial.trial, "n": trial.aggregate(metric).n, "mean": trial.aggregate(metric).mean,
                            "status": trial.status} for trial in row.trials],
                "directories": [str(t.directory) for t in row.trainings],
                # which code made its numbers, and whether its comparison mixes code or package versions
                "code_versions": code_versions(completed),
                "mixed_code": bool(answer and answer.mixed_code),
                "mixed_packages": bool(answer and answer.mixed_packages),
            })
    return table


def _number(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _mean_std(row: dict) -> str:
    if row["mean"] is None:
        return ""
    return _number(row["mean"]) + (f" ± {row['std']:.4f}" if row["std"] is not None else "")


def _signed(value) -> str:
    return "" if value is None else signed(value)


def _mark(row: dict) -> str:
    return "".join([_searched(row), " ★" if row["best"] else "",
                    " (base)" if row["is_base"] and row["option"] != "base" else "",
                    " (shared trajectory)" if row["answered_by"] else ""])


def _searched(row: dict) -> str:
    """A searched option's best trial, and the spread of its trials' means."""
    if row["trial"] is None:
        return ""
    means = [trial["mean"] for trial in row["trials"] if trial["mean"] is not None]
    spread = f", trials {min(means):.4f}-{max(means):.4f}" if means else ""
    return f" (trial {row['trial']}, best of {len(row['trials'])}{spread})"


def verdict_lines(group: Group, decided: bool = True, explain: bool = True) -> list[str]:
    """Each category's verdict in one sentence, and where its numbers mix code versions; ``explain``: the test behind
    it and its notes, then how the sweep corrected its comparisons; ``decided``: first, which metric decided and
    why."""
    direction = "higher" if group.sweep.higher_is_better else "lower"
    lines = [f"decided by {group.sweep.metric} ({direction} is better): {group.sweep.decided_by}"] \
        if decided and group.categories and group.sweep.decided_by else []
    for answer in group.categories:
        verdict = answer.verdict
        lines.append(verdict_sentence(group, answer))
        if explain:
            lines.append(f"    the test: {verdict.reason}")
            lines += [f"    note: {note}" for note in verdict.notes]
        if answer.mixed_code or answer.mixed_packages:
            mixed = "code" if answer.mixed_code else "package"
            lines.append(f"    mixed {mixed} versions: its numbers were made by {', '.join(answer.code_versions)}"
                         f"{'' if answer.mixed_code else ' with different package versions'}; "
                         "hydra.sweeper.rerun=stale_code trains what other code made again")
    return lines + ([correction_line(group)] if explain and group.categories else [])


def correction_line(group: Group) -> str:
    """How the group's comparisons were corrected together, and what that leaves of false wins."""
    sweep = group.sweep
    how = {"bh": f"false discovery rate {sweep.fdr:g} (Benjamini-Hochberg) over the sweep's comparisons",
           "holm": f"family-wise error {sweep.fdr:g} (Holm) over the sweep's comparisons",
           "none": f"each comparison at {sweep.fdr:g}, uncorrected across the sweep"}[sweep.multiplicity]
    stage = f" of stage {group.stage}" if group.stage else ""
    expected = f"at most about {group.expected_false_wins:.2f} of its wins are expected to be false" \
        if group.expected_false_wins else "nothing won, so nothing won falsely"
    return f"corrected: Dunnett within each category, {how}{stage}; {expected}"


COLUMNS = ("category", "option", "n", "mean ± std", "Δ base", "p adj.", "note")
WIDE = ("min", "max", "time")  # --wide adds these
LEAVE_OUT = ("p adj.", "note", "category")  # the order columns go where the terminal is too narrow
LEGEND = ("★ the category's choice · n: replicates completed · Δ base: the mean minus the base's · p adj.: the "
          "p against the base, corrected over the sweep's comparisons; a win needs less than {level:g}")


def print_summary(groups: list[Group], sweeps: list[Sweep], wide: bool = False, explain: bool = False) -> None:
    """Each group's table, then each category's verdict in one sentence. The table fits the terminal, leaving out
    columns in ``LEAVE_OUT``'s order and saying so; ``wide``: every column, as wide as it needs. ``explain``: the
    tests behind each verdict, its notes and the sweep's correction."""
    out = console()
    table_rows, owners = rows(groups), _owners(groups)
    for number, group in enumerate(groups):
        say(out, group.title, style="bold")
        ours = [row for row, owner in zip(table_rows, owners, strict=True) if owner == number]
        print_table(out, _table(ours, group.sweep.metric, wide), LEAVE_OUT, wide)
        for line in verdict_lines(group, decided=explain, explain=explain):
            text = line.lstrip()
            say(out, text, indent=line[:len(line) - len(text)], hang="    ")
        out.print()
    if groups and any(group.categories for group in groups):
        say(out, LEGEND.format(level=groups[0].sweep.fdr) + ("" if explain else "; --explain shows the tests"),
            style="dim")
    for sweep in sweeps:
        for line in greedy_lines(sweep):
            say(out, line, hang="    ")
        if sweep.single_runs:
            where = Path(os.path.commonpath(sweep.single_runs))
            say(out, f"{len(sweep.single_runs)} single run(s) outside any sweep, under {where}, are not in these "
                     f"tables: hpsweep summary {where} compares them")
        if sweep.left_out:
            say(out, f"{sweep.directory}: {len(sweep.left_out)} result(s) of an earlier plan of this sweep (other "
                     "settings) are not in its comparisons")
    say(out, counts_line([training.status for sweep in sweeps for training in sweep.trainings]))


def print_answers(groups: list[Group], out) -> None:
    """The end of a sweep: per model (setting, stage), each category's verdict in one sentence."""
    for group in (group for group in groups if group.categories):
        stage = f", stage {group.stage}" if group.stage else ""
        say(out, " ".join([group.model or "sweep", *group.setting]) + stage, style="bold")
        for answer in group.categories:
            say(out, verdict_sentence(group, answer), indent="  ", hang="    ")


def counts_line(statuses: list[str]) -> str:
    """``24 trainings: 12 completed, 12 not trained``, in the words a person reads (``core.statuses.said``)."""
    return f"{len(statuses)} trainings: {counted(said(status) for status in statuses)}"


def _table(ours: list[dict], metric: str, wide: bool):
    """A group's rows: the category named once, a note only where a row has something to say; a column that is empty
    in every row is left out."""
    headers = [*COLUMNS, *(WIDE if wide else ())]
    cells = []
    for position, row in enumerate(ours):
        first = position == 0 or ours[position - 1]["category"] != row["category"]
        cell = {"category": (row["category"] or "-") if first else "", "option": f"{row['option']}{_mark(row)}",
                "n": str(row["n"]), "mean ± std": _mean_std(row), "Δ base": "" if row["is_base"] else
                _signed(row["delta_base"]), "p adj.": _number(row["p_adjusted"], 3), "note": _note(row),
                "min": _number(row["min"]), "max": _number(row["max"]),
                "time": format_duration(row["minutes"] * 60) if row["minutes"] else ""}
        cells.append(cell)
    shown = [header for header in headers if header == "option" or any(cell[header] for cell in cells)]
    view = table(*(f"{metric} {header}" if header == "mean ± std" else header for header in shown),
                 right=("n", f"{metric} mean ± std", "Δ base", "p adj.", "min", "max", "time"))
    for cell, row in zip(cells, ours, strict=True):
        view.add_row(*(cell[header] for header in shown), style=STYLES.get(row["status"]))
    return view


def _note(row: dict) -> str:
    """What a row has to say beside its numbers: racing's reason for stopping it, or its trainings' states where
    not every one completed (``1 completed, 2 failed``)."""
    if row["stopped_phrase"]:
        return row["stopped_phrase"]
    if set(row["statuses"]) == {TrainingStatus.COMPLETED}:
        return ""
    return counted(said(state) for state, count in row["statuses"].items() for _ in range(count))


def _owners(groups: list[Group]) -> list[int]:
    """The group of each row of ``rows(groups)``, in order."""
    return [number for number, group in enumerate(groups) for _ in group.rows]


def greedy_lines(sweep: Sweep) -> list[str]:
    """A greedy sweep's decisions, stage by stage, as recorded when they were made."""
    stages = read_decisions(sweep.directory)
    if not stages:
        return []
    lines = [f"greedy stages of {sweep.directory}:"]
    for stage in stages:
        for item in stage["decisions"]:
            chosen = "base kept" if item["kept_base"] else item["winner"]
            lines.append(f"  stage {stage['stage']} {stage['category']}, {item['model']}: {chosen} - {item['reason']}"
                         f" -> carries {' '.join(item['overrides']) or 'the base'}")
    return lines


def write_csv(table: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in table:
            writer.writerow({**row, "setting": " ".join(row["setting"]), "values": " ".join(map(str, row["values"])),
                             "replicates": " ".join(row["replicates"])})


def write_json(table: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=2) + "\n")


def write_markdown(groups: list[Group], path: Path, images: list[Path]) -> None:
    """Markdown tables per comparison, the verdicts, and the plots embedded by paths relative to the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table_rows, owners = rows(groups), _owners(groups)
    lines = ["# Sweep summary", ""]
    for number, group in enumerate(groups):
        metric = group.sweep.metric
        lines += [f"## {group.title}", "",
                  f"| category | option | status | n | {metric} mean ± std | min | max | Δ base | p adj. |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for row in (row for row, owner in zip(table_rows, owners, strict=True) if owner == number):
            option = (f"**{row['option']}**" if row["best"] else row["option"]) + _mark(row)
            lines.append(f"| {row['category'] or '-'} | {option} | {row['status']} | {row['n']} | {_mean_std(row)} | "
                         f"{_number(row['min'])} | {_number(row['max'])} | {_signed(row['delta_base'])} | "
                         f"{_number(row['p_adjusted'], 3)} |")
        lines += [""] + [f"- {line.strip()}" for line in verdict_lines(group)] + [""]
    lines += [f"![{image.stem}]({image.relative_to(path.parent)})" for image in images]
    path.write_text("\n".join(lines) + "\n")
