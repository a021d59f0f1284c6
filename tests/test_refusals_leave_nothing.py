"""A refused command leaves everything as it was: no run folder, no W&B run, no data folder of a failed
download, and an existing run's folder byte for byte (issue 34). Each command runs through its real entry
point and error handler (``run_in_process``); the whole tree under the test's folder is compared, folders
included, before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_in_process
from test_reliability import QUICK, snapshot


def tree(root: Path) -> dict[Path, bytes | None]:
    """Every file (with its bytes) and every folder under ``root``."""
    return {**{p: None for p in root.rglob("*") if p.is_dir()}, **snapshot(root)}


def refused(script: str, *args: str, cwd: Path, named: str) -> None:
    r = run_in_process(script, *args, cwd=cwd)
    said = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(said) == 1 and named in said[0], r.stderr[-2000:]


@pytest.fixture
def offline_mnist(monkeypatch):
    """torchvision's MNIST download as it fails offline, after writing part of a file (as an interrupted
    download would) into the folder it made."""
    from urllib.error import URLError

    import torchvision.datasets as tvd

    def offline(self, *args, **kwargs):
        raw = Path(self.raw_folder)
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b partial")
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvd.MNIST, "download", offline)


def test_a_new_run_whose_download_fails_leaves_no_file_or_folder(tmp_path, offline_mnist):
    """The default loggers (W&B offline, CSV), the default run folder and data folder: all absent before."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "other.txt").write_text("another data set's file\n")
    before = tree(tmp_path)
    refused("train.py", "data=mnist", "data.download=true", "trainer.max_steps=2", cwd=tmp_path,
            named="Downloading MNIST into")
    assert tree(tmp_path) == before
    # data.root in a folder that does not exist yet: it goes again, and so does the folder above it
    refused("train.py", *QUICK, "data=mnist", "data.download=true", f"data.root={tmp_path}/new/mnist",
            f"hydra.run.dir={tmp_path}/runs/one", cwd=tmp_path, named="Downloading MNIST into")
    assert tree(tmp_path) == before


def test_a_refusal_after_the_data_is_read_leaves_no_run_folder(tmp_path):
    """Too few images for one batch is found while the data is prepared: before a logger starts."""
    import numpy as np
    from PIL import Image

    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(26):
        Image.fromarray(np.full((8, 8, 3), 9 * i, np.uint8)).save(pics / f"{i}.png")
    before = tree(tmp_path)
    refused("train.py", "data=image_folder", f"data.root={pics}", "data.size=16", "data.batch_size=25",
            "trainer.max_steps=2", cwd=tmp_path, named="data.held_out_fraction=0.1")
    assert tree(tmp_path) == before


def test_a_refused_resume_leaves_its_run_folder_as_it_was(tmp_path, tiny_run):
    good = tiny_run("gan_no_metrics").copy_to(tmp_path / "run")  # run/checkpoints/last.ckpt
    run = good.parent.parent
    (run / ".hydra").mkdir(exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text("# the run's record\n")
    (run / "train.log").write_text("[the run's log]\n")
    before = tree(tmp_path)
    for args, named in (((), "model._target_"), (("trainer.max_steps=-5",), "trainer.max_steps")):
        refused("train.py", *QUICK, f"hydra.run.dir={run}", "ckpt_path=last", "model=wgan_gp", *args, cwd=tmp_path,
                named=named)
        assert tree(tmp_path) == before
    # and a refused sample or eval command leaves no folder of its own
    refused("sample.py", f"ckpt_path={good}", "label=3", cwd=tmp_path, named="label=3")
    refused("eval.py", f"ckpt_path={good}", "metrics.split=valid", "wandb_mode=disabled", cwd=tmp_path,
            named="metrics.split")
    assert tree(tmp_path) == before
