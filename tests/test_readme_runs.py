"""Every command in the README runs as written, shortened: train.py commands for 2 model steps (metrics off
unless the command names them, one seed of a sweep file's seeds), in the order the README gives them, so the
``<run>`` and ``<time>`` placeholders of eval.py, sample.py, resume and compare.py name the runs the earlier
commands wrote. The one command this machine cannot run is the SLURM launch (no cluster): its composition is
checked by test_docs, and the submitit launcher runs locally in test_evaluation. A download (no internet
here) reads a data tree written in the real layout instead. ``full`` tier: about 5 minutes on 2 cores."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, run_in_process
from datasets_on_disk import write_dataset
from test_docs import README, bash_lines

pytestmark = pytest.mark.full

#: the README lines this machine cannot run (no SLURM cluster)
README_COMMANDS_SKIPPED = ("hydra.launcher.partition",)
SHORT = ["trainer.max_steps=2", "trainer.enable_progress_bar=false"]
METRICS_SHORT = "metrics.num_samples=50"


def shortened(args: list[str], data_root: Path) -> list[str]:
    out = [a for a in args if not a.startswith("trainer.max_steps=")]
    keys = {a.split("=", 1)[0].lstrip("+~") for a in out if "=" in a}
    extra = list(SHORT)
    if not any(k == "metrics" or k.startswith("metrics.") for k in keys):
        # the full MNIST's classifier (8 epochs over 60,000 images) is too long for a shortened run, and
        # that run is not scored later; the other runs keep their metrics (eval.py scores with the run's)
        extra.append("metrics=none" if "data.download=true" in out else METRICS_SHORT)
    if "--config-dir" in out and "seed" not in keys:
        extra.append("seed=0")  # a sweep file's seeds: the first
    if "data.download=true" in out:
        extra += write_dataset("mnist", data_root)
    return out + extra


def newest(pattern: str, cwd: Path) -> str:
    found = sorted(cwd.glob(pattern), key=lambda p: p.stat().st_mtime)
    assert found, f"no {pattern} under {cwd}: the command before it wrote none"
    return str(found[-1].relative_to(cwd))


def default_run(cwd: Path) -> str:
    """The newest run of the default config (only this test's shortening overrides on its command line)."""
    import yaml

    short = {*SHORT, METRICS_SHORT}
    found = [p for p in cwd.glob("outputs/train/runs/*/checkpoints/last.ckpt")
             if set(yaml.safe_load((p.parents[1] / ".hydra" / "overrides.yaml").read_text()) or []) <= short]
    assert found, "no run of the default config to resume"
    return str(max(found, key=lambda p: p.stat().st_mtime).relative_to(cwd))


def test_every_readme_command_runs_as_written_shortened(tmp_path):
    (tmp_path / "sweeps").symlink_to(ROOT / "sweeps")  # the README's commands run from the repository's root
    lines = [line for line in bash_lines(README.read_text()) if line.startswith(("python src/", "make "))]
    ran = []
    for line in lines:
        if any(word in line for word in README_COMMANDS_SKIPPED):
            continue
        if "<run>" in line:  # a resume continues a run of the same config: the default one (make train's)
            run = (default_run(tmp_path) if line.startswith("python src/train.py")
                   else newest("outputs/train/runs/*/checkpoints/last.ckpt", tmp_path))
            line = line.replace("outputs/train/runs/<run>/checkpoints/last.ckpt", run)
        if "<time>" in line:
            line = line.replace("outputs/train/multiruns/<time>", newest("outputs/train/multiruns/*", tmp_path))
        assert "<" not in line, f"a placeholder this test cannot fill: {line}"
        words = shlex.split(line)
        if words[0] == "make":
            if words[1] != "train":
                continue  # make test / test-full / lint: the suite itself
            args = shlex.split(next((w.split("=", 1)[1] for w in words[2:] if w.startswith("ARGS=")), ""))
            script = "train.py"
        else:
            script, args = Path(words[1]).name, words[2:]
        if script == "train.py":
            args = shortened(args, tmp_path / "datasets")
        if any(a.startswith("trainer.devices=") for a in args):  # several processes: a real command line
            r = run_cli(*args, cwd=tmp_path, timeout=600)
        else:
            r = run_in_process(script, *args, cwd=tmp_path)
        assert r.returncode == 0, f"`{line}` exited {r.returncode}:\n{(r.stdout + r.stderr)[-2500:]}"
        ran.append(line)
    assert len(ran) >= 15, ran
    assert any("eval.py" in c for c in ran) and any("sample.py" in c for c in ran) and any("compare.py" in c for c in ran)


def test_the_skipped_commands_are_the_ones_named():
    """The skip list names real README lines (a stale entry would silently skip nothing)."""
    text = README.read_text()
    for word in README_COMMANDS_SKIPPED:
        assert re.search(re.escape(word), text), word
