"""Read back what an offline W&B run wrote: its ``.wandb`` file is a LevelDB-style log of protobuf records.

wandb ships no public reader, so this follows the format: a 7-byte header (``:W&B``, magic 0xBEE1,
version 0), then 32 KiB blocks of chunks, each a 7-byte header (crc32, little-endian length, type
FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4) and its data; a block's tail shorter than a header is padding.
"""

import json
import struct
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    records, pending, offset = [], b"", HEADER
    while offset + HEADER <= len(data):
        room = BLOCK - offset % BLOCK
        if room < HEADER:
            offset += room
            continue
        _, length, kind = struct.unpack("<IHB", data[offset:offset + HEADER])
        chunk = data[offset + HEADER:offset + HEADER + length]
        offset += HEADER + length
        if kind == 0 and length == 0:
            break
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def read_run(run_dir: Path, wait_s: float = 20.0) -> dict:
    """The one offline W&B run under ``run_dir``: project, name, group, tags, config, history, summary."""
    files = run_files(run_dir)
    assert len(files) == 1, f"expected one offline W&B run under {run_dir}, found {files}"
    return read_run_file(files[0], wait_s)


def run_files(run_dir: Path) -> list[Path]:
    """The ``.wandb`` files under ``run_dir``, oldest first: a resumed run adds one per start."""
    return sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))


def read_run_file(path: Path, wait_s: float = 20.0) -> dict:
    """W&B's service process may still be writing the run's last records when ``finish`` has returned
    (seen under load), so this waits up to ``wait_s`` for the exit record."""
    deadline = time.monotonic() + wait_s
    while True:
        run = _read_run(path)
        if run["exit_code"] is not None or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def _read_run(path: Path) -> dict:
    run = {"history": [], "summary": {}, "exit_code": None, "preempting": False}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(project=record.run.project, name=record.run.display_name, run_id=record.run.run_id,
                       group=record.run.run_group, tags=list(record.run.tags),
                       config={item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "history":
            run["history"].append(_items(record.history.item))
        elif kind == "summary":
            run["summary"].update(_items(record.summary.update))
        elif kind == "preempting":
            run["preempting"] = True
        elif kind == "exit":
            run["exit_code"] = record.exit.exit_code
    return run


def _items(items) -> dict:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}
