"""Read what an offline W&B run recorded (its ``run-<id>.wandb`` file), as ``wandb sync`` would send it.

The file is a LevelDB-style log (32 KiB blocks of chunks: crc32, length, type) of W&B's protobuf
``Record``s, after a 7-byte header. Tests only: it checks the report against what W&B really holds.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, chunks = HEADER, b""
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # a block's tail too short for a chunk header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            break
        chunks += data[pos:pos + length]
        pos += length
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def offline_run(run_dir: Path) -> dict:
    """{"id", "project", "config" (top-level keys, JSON-decoded), "summary" (key path tuple -> value)}."""
    (path,) = Path(run_dir).glob("run-*.wandb")
    out: dict = {"config": {}, "summary": {}}
    for r in records(path):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            out["id"], out["project"] = r.run.run_id, r.run.project
        elif kind == "config":
            for item in r.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "summary":
            for item in r.summary.update:
                key = tuple(item.nested_key) if item.nested_key else (item.key,)
                out["summary"][key] = json.loads(item.value_json)
    return out


def scalar_keys(summary: dict) -> set[str]:
    return {k[0] for k, v in summary.items() if len(k) == 1 and isinstance(v, (int, float)) and not k[0].startswith("_")}


def image_keys(summary: dict) -> set[str]:
    return {k[0] for k, v in summary.items() if len(k) == 2 and k[1] == "_type" and v == "image-file"}
