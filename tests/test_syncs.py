"""No collective and no host sync from genzoo's code on a step where nothing is logged, evaluated or saved
(issue 35), counted through the real Trainer for every family (``sync_counter``).

The counted steps: model steps 4 to 10 of 12 (``CountSyncs``), with Lightning's logging, checkpoints, sample
grids, held-out and sample metrics, the critic diagnostics and the preemption agreement all at a cadence of
1,000 steps. The loss curves record every 2 model steps inside the window: recording must read nothing.
"""

from __future__ import annotations

import collections
import csv
from pathlib import Path

import pytest
import torch

from conftest import ROOT, fast, run_cli
from genzoo.training import train
from sync_counter import read_counts

FAMILIES = ["gan", "wgan", "wgan_gp", "fgan", "cgan", "vae", "cvae", "pixelcnn", "pixelrnn", "cyclegan"]
START, STOP, MAX_STEPS, NEVER = 3, 10, 12, 1000


def quiet_steps(family: str, out: Path, preemption_every: int = NEVER) -> list[str]:
    """Overrides for a run whose model steps START + 1 .. STOP log, evaluate and save nothing."""
    own = {"wgan": [f"callbacks.critic_diagnostics.every_n_steps={NEVER}"],
           "wgan_gp": [f"callbacks.critic_diagnostics.every_n_steps={NEVER}"],
           # its two image domains; a pool full after the first step: every later step swaps through it
           "cyclegan": ["data=unpaired_digits", "model.pool_size=2"],
           # their end-of-run grid and completions are sampled pixel by pixel (half a minute here), after the window;
           # the grid's per-step hook is EveryModelSteps', which the other callbacks run
           "pixelcnn": ["callbacks.sample_grid=null"], "pixelrnn": ["callbacks.sample_grid=null"]}
    return [f"model={family}", f"trainer.max_steps={MAX_STEPS}", "metrics=none", f"trainer.log_every_n_steps={NEVER}",
            f"callbacks.model_checkpoint.every_n_steps={NEVER}", f"callbacks.sample_grid.every_n_steps={NEVER}",
            f"callbacks.held_out.every_n_steps={NEVER}", "callbacks.held_out.max_examples=64",
            "callbacks.sample_grid.num_samples=4", "callbacks.sample_grid.nrow=2", "callbacks.loss_curves.every_n_steps=2",
            f"callbacks.preemption.every_n_steps={preemption_every}", *own.get(family, []),
            "+callbacks.count._target_=sync_counter.CountSyncs", f"+callbacks.count.out={out}",
            f"+callbacks.count.start={START}", f"+callbacks.count.stop={STOP}"]


def check_quiet(counts: dict) -> None:
    assert counts["error"] is None and counts["model_steps"] == STOP - START, counts
    assert counts["syncs"] == {}, f"host syncs from genzoo's code on quiet steps: {counts['syncs']}"
    assert counts["collectives"] == {}, f"collectives on quiet steps: {counts['collectives']}"
    # the host-side data pipeline reads once per epoch (a sampler's order), never per step
    assert sum(counts["data_pipeline"].values()) <= counts["epochs_begun"], counts["data_pipeline"]


#: in the fast tier: one adversarial family and one likelihood family (a few seconds each); every family in test-full
FAST_FAMILIES = ("gan", "vae")


@pytest.mark.parametrize("family", [f if f in FAST_FAMILIES else pytest.param(f, marks=pytest.mark.full) for f in FAMILIES])
def test_no_host_sync_and_no_collective_on_a_quiet_step(compose_cfg, tmp_path, family):
    cfg = compose_cfg(*fast(*quiet_steps(family, tmp_path / "counts")))
    assert train(cfg)["model_step"] == MAX_STEPS
    (counts,) = read_counts(tmp_path / "counts")
    check_quiet(counts)


def test_the_counter_sees_the_syncs_skip_step_needs(compose_cfg, tmp_path):
    """The control: model.nonfinite=skip_step must know before each optimiser step whether to take it (one
    host read per optimiser step, documented); a GAN takes 2 per model step, so 14 in the 7 counted steps."""
    cfg = compose_cfg(*fast(*quiet_steps("gan", tmp_path / "counts"), "model.nonfinite=skip_step"))
    train(cfg)
    (counts,) = read_counts(tmp_path / "counts")
    assert counts["collectives"] == {}
    assert sum(counts["syncs"].values()) == 2 * (STOP - START), counts["syncs"]
    assert all(site.startswith("Tensor.__bool__ at genzoo/models/guard.py:") for site in counts["syncs"]), counts["syncs"]


def test_loss_curves_read_late_hold_the_logged_values(compose_cfg, tmp_path):
    """The loss curves keep their values on the device until a logging step, a checkpoint or the end reads
    them: the history is the same whether every step is logged or none, and equals the logged losses."""
    histories = {}
    for every in (1, NEVER):
        cfg = compose_cfg(*fast("trainer.max_steps=6", "metrics=none", f"trainer.log_every_n_steps={every}",
                                "callbacks.loss_curves.every_n_steps=2"), name=f"log{every}")
        train(cfg)
        ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
        (state,) = [v for k, v in ckpt["callbacks"].items() if k.startswith("LossCurves")]
        histories[every] = state["history"]
        if every == 1:
            rows = list(csv.DictReader(open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")))
            logged = {int(float(r["model_step"])): float(r["loss/d"]) for r in rows if r.get("loss/d")}
    assert histories[1] == histories[NEVER]
    assert [s for s, _ in histories[1]["loss/d"]] == [2, 4, 6] and sorted(histories[1]) == ["loss/d", "loss/g"]
    for step, value in histories[1]["loss/d"]:
        assert value == pytest.approx(logged[step], rel=1e-6)


# --- two processes ------------------------------------------------------------------------------------------
DDP_FAMILIES = FAMILIES


def ddp_counts(tmp_path: Path, family: str, *extra: str) -> list[dict]:
    out = tmp_path / "counts"
    r = run_cli(*fast(*quiet_steps(family, out), "trainer.devices=2", "trainer.accelerator=cpu", *extra),
                cwd=tmp_path, timeout=600, env={"PYTHONPATH": str(ROOT / "tests")})
    assert r.returncode == 0, r.stderr[-3000:]
    counts = read_counts(out)
    assert [c["rank"] for c in counts] == [0, 1] and all(c["world_size"] == 2 for c in counts)
    # DDP still averages the gradients (in its C++ reducer, which the counter does not see): equal weights
    assert counts[0]["checksum"] == pytest.approx(counts[1]["checksum"], rel=1e-6, abs=1e-6)
    return counts


@pytest.mark.ddp
@pytest.mark.cli
@pytest.mark.full
@pytest.mark.parametrize("family", DDP_FAMILIES)
def test_ddp_no_host_sync_and_no_collective_on_a_quiet_step(tmp_path, family):
    """Two gloo processes: Lightning's own per-batch SIGTERM broadcast is off too (genzoo's preemption
    agrees on signals on its cadence), so no collective at all runs on a quiet step but DDP's gradients'."""
    for counts in ddp_counts(tmp_path, family):
        check_quiet(counts)


@pytest.mark.ddp
@pytest.mark.cli
@pytest.mark.full
def test_ddp_preemption_agrees_exactly_every_n_model_steps(tmp_path):
    """The control under DDP: with callbacks.preemption.every_n_steps=2 the ranks agree at model steps 4, 6
    and 8 of the counted window (the check at 10 runs after the counter stops): 3 all-reduces, each with
    Lightning's barrier before it, and 3 host reads, on every rank; nothing else."""
    for counts in ddp_counts(tmp_path, "gan", "callbacks.preemption.every_n_steps=2"):
        assert sum(counts["syncs"].values()) == 3 and all("genzoo/callbacks/preemption.py:" in s for s in counts["syncs"])
        kinds = collections.Counter()
        for site, n in counts["collectives"].items():
            kinds[site.split(" ")[0]] += n
        assert kinds == {"barrier": 3, "all_reduce": 3}, counts["collectives"]
        assert all(" via genzoo/callbacks/preemption.py:" in site for site in counts["collectives"]), counts["collectives"]


def test_the_fp16_gradient_penalty_reads_no_scale_on_the_host():
    """Under a GradScaler (precision=16-mixed) the penalty unscales the critic's input gradient by the scale
    as a device tensor, not by GradScaler.get_scale() (a host read per critic step); same value."""
    from genzoo.losses.wasserstein import critic_input_gradient_norm
    from sync_counter import Counter

    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    x = torch.randn(4, 3, 2, 2)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    with Counter(anywhere=True) as counter:  # torch's own reads included (get_scale's .item())
        counter.on = True
        norms = critic_input_gradient_norm(critic, x, scaler=scaler)
        counter.on = False
    assert counter.syncs == {}
    assert torch.allclose(norms, critic_input_gradient_norm(critic, x), rtol=1e-6)
    assert torch.allclose(norms, critic[1].weight.norm().expand(4), rtol=1e-6)  # a linear critic: ||w|| everywhere


def test_a_preemption_cadence_below_one_is_one_clear_error():
    from genzoo.callbacks import Preemption
    from genzoo.errors import ConfigError

    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match=r"callbacks\.preemption\.every_n_steps=.* must be an integer >= 1"):
            Preemption(every_n_steps=bad)
    assert Preemption().every_n_steps == 10
