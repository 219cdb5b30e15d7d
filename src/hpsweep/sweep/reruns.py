"""What a re-run of a sweep trains again: the data sets whose files changed since, and the done trainings that
other code made (``hydra.sweeper.rerun=stale_code``), compared with this driver's own provenance."""

import logging
import sys

from hpsweep.core.provenance import code_label, code_unknown, code_version, machine, package_versions, same_code
from hpsweep.core.statuses import RowStatus
from hpsweep.data.digests import DataDigests
from hpsweep.sweep.outcomes import Outcome

log = logging.getLogger(__name__)


def driver_provenance() -> dict:
    """This driver's code and packages: what done trainings are compared with, and what another app's jobs
    record. A code version without a commit is said once here, never per job."""
    code = code_version(sys.argv[0])
    why = code_unknown(code, sys.argv[0])
    if why:
        log.info("the trainings' code is recorded without a commit: %s", why)
    return {"code": code, "data": None, "packages": package_versions(), **machine()}

def changed_data(digests: DataDigests, sources: list[dict]) -> str:
    """The recorded data sets (``data_sources`` of the manifest) whose files changed since, in words."""
    changed = []
    for source in sources:
        now = digests.of(source.get("keys") or {})
        recorded = (source.get("data") or {}).get("digest")
        if (now or {}).get("digest") != recorded:
            changed.append(f"{source['data'].get('root')}: {recorded} -> {(now or {}).get('digest')}")
    return "; ".join(changed)

def stale_code(outcomes: list[Outcome], provenance: dict, rerun: str, say: bool = True) -> list[Outcome]:
    """The done trainings that other code made (another commit, a dirty diff, other package versions), said
    in one line (unless not ``say``); with ``hydra.sweeper.rerun=stale_code`` they train again, from nothing."""
    stale, unrecorded = [], 0
    for outcome in outcomes:
        if outcome.status != RowStatus.SKIPPED or outcome.previous is None:
            continue
        same = same_code(outcome.previous.get("provenance"), provenance)
        unrecorded += same is None
        if same is False:
            stale.append(outcome)
    if stale and say:
        labels = sorted({code_label(o.previous["provenance"].get("code")) or "no commit" for o in stale})
        log.warning("%d training(s) were made by other code (%s)%s", len(stale), ", ".join(labels),
                    ": training them again (hydra.sweeper.rerun=stale_code)" if rerun == "stale_code"
                    else "; hydra.sweeper.rerun=stale_code trains them again")
    if unrecorded and say:
        log.info("%d training(s) do not record their code (made before hpsweep recorded it)", unrecorded)
    if rerun == "stale_code":
        for outcome in stale:
            outcome.status, outcome.fresh = RowStatus.PENDING, True
    return stale


def say_new_data(outcomes: list[Outcome], manifest: dict | None, made_of: dict[str, tuple[str, str | None]]) -> None:
    """Say how many trainings are new only because the files they read changed (their config was trained before,
    on other data): they train again, and their earlier results count nowhere. ``made_of``: each fingerprint's
    parts, the config's alone and the data's."""
    before = {entry.get("config_fingerprint"): entry.get("data_digest") for entry in (manifest or {}).get(
        "trainings", []) if entry.get("config_fingerprint")}
    new = [outcome for outcome in outcomes if made_of[outcome.fingerprint][0] in before
           and before[made_of[outcome.fingerprint][0]] != made_of[outcome.fingerprint][1]]
    if new:
        log.warning("%d training(s) are new: the data they read changed since they were trained; they train "
                    "again, and their earlier results stay on disk, out of every table", len(new))
