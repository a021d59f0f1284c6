"""Counting, through the real Trainer, the host syncs and collectives genzoo's own code makes per model step.

A host sync is a call that makes the host wait for the device: ``Tensor.item``, ``tolist``, ``cpu``, ``numpy``,
``bool(t)`` / ``if t:``, ``float(t)``, ``int(t)``, ``t`` used as a Python index, ``f"{t}"``, ``repr(t)``,
``torch.equal`` / ``torch.allclose``. It is counted when the frame that makes the call is genzoo's
(``src/genzoo/**`` or ``src/*.py``): a torch or Lightning function that genzoo calls and that reads a host
tensor inside (Adam's step counter lives on the host) is not genzoo's sync. genzoo's reads made inside a
DataLoader's iteration (a sampler drawing an epoch's order, a collate function) are the host-side data
pipeline, working on host tensors before Lightning moves the batch to the device: they are counted
apart (``data_pipeline``). On a CPU every tensor is a host
tensor, so this counts what *would* stall a GPU. It cannot see syncs made inside C++ (a boolean-mask index,
``torch.nonzero``); ``torch.cuda.set_sync_debug_mode`` does that on a GPU.

A collective is a call of a ``torch.distributed`` Python function (all_reduce, broadcast, all_gather, barrier,
...) from anywhere, genzoo, Lightning or torch; DDP's gradient all-reduce runs in C++ (the reducer's hooks)
and never passes through them, so it is not counted (the DDP test checks that the ranks' weights still agree).

``CountSyncs`` is a callback (``+callbacks.count._target_=sync_counter.CountSyncs``): it installs the
counters when training starts, counts from the end of model step ``start`` to the end of model step
``stop`` (hook to same hook: every hook of every batch in between exactly once per batch), and writes
``rank<r>.json`` under ``out`` when training ends, in every process of a DDP run.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist

SRC = Path(__file__).resolve().parents[1] / "src"
GENZOO = str(SRC / "genzoo") + os.sep
DATA_LOADER = os.sep.join(("torch", "utils", "data", ""))

#: Tensor methods that copy a device value to the host (and so wait for the device)
SYNC_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__", "__format__",
                "__repr__", "__array__", "equal", "allclose")
#: torch functions that return a Python value computed on the device
SYNC_FUNCTIONS = ("equal", "allclose", "is_nonzero")
COLLECTIVES = ("all_reduce", "all_reduce_coalesced", "broadcast", "broadcast_object_list", "all_gather",
               "all_gather_into_tensor", "all_gather_object", "all_gather_coalesced", "gather", "gather_object",
               "scatter", "scatter_object_list", "reduce", "reduce_scatter", "reduce_scatter_tensor", "all_to_all",
               "all_to_all_single", "barrier", "monitored_barrier", "send", "recv", "isend", "irecv",
               "batch_isend_irecv")


def is_genzoo(filename: str) -> bool:
    return filename.startswith(GENZOO) or (os.path.dirname(filename) == str(SRC) and filename.endswith(".py"))


def in_data_loader(frame) -> bool:
    while frame is not None:
        if DATA_LOADER in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def first_genzoo_frame(frame) -> str | None:
    while frame is not None:
        if is_genzoo(frame.f_code.co_filename):
            return f"{os.path.relpath(frame.f_code.co_filename, SRC)}:{frame.f_lineno}"
        frame = frame.f_back
    return None


class Counter:
    """Patches the sync methods and the collectives; counts while ``on`` (a context manager: patches undone on exit)."""

    def __init__(self, anywhere: bool = False) -> None:
        self.on = False
        #: count syncs made by any code (a unit test of one function, torch's insides included), not only genzoo's
        self.anywhere = anywhere
        self.syncs: collections.Counter[str] = collections.Counter()
        self.collectives: collections.Counter[str] = collections.Counter()
        #: genzoo's reads inside a DataLoader's iteration: the host-side data pipeline (samplers, collation),
        #: which works on host tensors before Lightning moves the batch to the device
        self.data: collections.Counter[str] = collections.Counter()
        self._undo: list[tuple[Any, str, Any]] = []

    def _patch(self, owner: Any, name: str, make) -> None:
        original = getattr(owner, name, None)
        if original is None:
            return
        self._undo.append((owner, name, original))
        setattr(owner, name, make(original))

    def _sync(self, name: str):
        def make(original):
            def counted(*args, **kwargs):
                if self.on:
                    caller = sys._getframe(1)
                    if self.anywhere or is_genzoo(caller.f_code.co_filename):
                        here = caller.f_code.co_filename
                        here = os.path.relpath(here, SRC) if is_genzoo(here) else here.split("site-packages" + os.sep)[-1]
                        site = f"{name} at {here}:{caller.f_lineno}"
                        (self.data if in_data_loader(caller) else self.syncs)[site] += 1
                return original(*args, **kwargs)
            return counted
        return make

    def _collective(self, name: str):
        def make(original):
            def counted(*args, **kwargs):
                if self.on:
                    caller = sys._getframe(1)
                    here = caller.f_code.co_filename
                    here = os.path.relpath(here, SRC) if is_genzoo(here) else here.split("site-packages" + os.sep)[-1]
                    # the call site, and the innermost genzoo frame that led to it (a hook genzoo runs, or fit itself)
                    self.collectives[f"{name} at {here}:{caller.f_lineno} via {first_genzoo_frame(caller)}"] += 1
                return original(*args, **kwargs)
            return counted
        return make

    def __enter__(self) -> Counter:
        for name in SYNC_METHODS:
            self._patch(torch.Tensor, name, self._sync(f"Tensor.{name}"))
        for name in SYNC_FUNCTIONS:
            self._patch(torch, name, self._sync(f"torch.{name}"))
        for name in COLLECTIVES:
            self._patch(dist, name, self._collective(name))
        return self

    def __exit__(self, *exc) -> None:
        self.on = False
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo = []


def checksum(module: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in module.parameters()))


class CountSyncs(pl.Callback):
    """Counts genzoo's host syncs and every collective from the end of model step ``start`` to the end of
    model step ``stop``; writes ``{out}/rank<r>.json``."""

    def __init__(self, out: str, start: int = 3, stop: int = 10) -> None:
        self.out, self.start, self.stop = Path(out), start, stop
        self.counter = Counter()
        self.state = "before"
        self.batches = self.epochs = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.counter.__enter__()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.state == "counting":
            self.epochs += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.state == "counting":
            self.batches += 1
        if self.state == "before" and pl_module.model_step >= self.start:
            self.state, self.first = "counting", pl_module.model_step
            self.counter.on = True
        elif self.state == "counting" and pl_module.model_step >= self.stop:
            self.counter.on = False
            self.state, self.last = "done", pl_module.model_step

    def _write(self, trainer, pl_module, error: str | None = None) -> None:
        self.counter.__exit__()
        steps = (self.last - self.first) if self.state == "done" else 0
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps({
            "rank": trainer.global_rank, "world_size": trainer.world_size, "model_steps": steps,
            "batches": self.batches, "epochs_begun": self.epochs, "syncs": dict(self.counter.syncs),
            "collectives": dict(self.counter.collectives), "data_pipeline": dict(self.counter.data),
            "checksum": checksum(pl_module), "error": error}, indent=1))

    def on_train_end(self, trainer, pl_module) -> None:
        self._write(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._write(trainer, pl_module, repr(exception))


def read_counts(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(Path(out).glob("rank*.json"))]
