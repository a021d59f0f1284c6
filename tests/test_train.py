"""Training through train(cfg) on composed configs: every pair runs, run length is in generator
steps, outputs land where the README says, resume matches an uninterrupted run, bf16 works."""

from pathlib import Path

import pytest
import torch

from conftest import FAST, fast
from genzoo.errors import ConfigError
from genzoo.training import build_datamodule, build_model, train


@pytest.mark.parametrize("overrides", [
    ["data=digits", "loss=minimax"],
    ["data=digits", "loss=nonsaturating", "model.n_critic=3"],
    ["data=digits", "loss=lsgan"],
    ["data=mnist5k", "data.size=32"],
    ["data=digits", "net=mlp"],
    ["data=toy2d", "data.name=grid"],
    ["data=toy2d", "data.name=swiss_roll", "loss=minimax"],
    ["experiment=gan_toy2d"],
])
def test_model_data_pairs_train_for_a_few_generator_steps(compose_cfg, overrides):
    cfg = compose_cfg(*fast(*overrides, "trainer.max_steps=3", "data.batch_size=16"))
    metrics = train(cfg)
    k = cfg.model.n_critic
    assert metrics["model_step"] == 3.0
    assert torch.isfinite(torch.tensor([metrics["loss/d"], metrics["loss/g"]])).all()
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 3 * (k + 1)  # Lightning's optimiser steps: k critic + 1 generator per g step
    assert ckpt["genzoo"]["counters"]["model_step"] == 3


def test_default_run_leaves_samples_checkpoints_csv_and_offline_wandb(compose_cfg, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")  # no W&B login -> offline, without asking
    cfg = compose_cfg("logger=wandb", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
                      "net.generator.width=8", "net.discriminator.width=8", "trainer.max_steps=6", "trainer.log_every_n_steps=1",
                      "callbacks.model_checkpoint.every_n_steps=4", "callbacks.sample_grid.every_n_steps=4")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    assert cfg.logger.wandb.mode == "offline"
    assert sorted(p.name for p in (out / "checkpoints").glob("*.ckpt")) == ["g0000004.ckpt", "g0000006.ckpt", "last.ckpt"]
    assert sorted(p.name for p in (out / "samples").glob("*.png")) == ["g0000004.png", "g0000006.png", "last.png"]
    assert (out / "plots" / "losses.png").stat().st_size > 0
    rows = (out / "csv" / "metrics.csv").read_text().splitlines()
    assert "model_step" in rows[0] and "loss/d" in rows[0] and len(rows) > 1
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    from PIL import Image

    from genzoo.plotting import read_grid_info

    grid = Image.open(out / "samples" / "last.png")
    info = read_grid_info(out / "samples" / "last.png")  # 64 samples of 16 px, 8 per row, upscaled to >= 256 px
    assert (info["columns"], info["rows"], info["cell"]) == (8, 8, [16, 16]) and min(grid.size) >= 256


def test_toy2d_leaves_a_scatter_of_the_fixed_points_over_the_data(compose_cfg, tmp_path):
    """A 2-D run's picture is its fixed scatter inputs (num_scatter points from the grid's private seed)
    drawn over real points: redrawn from the checkpoint, it is the same image, byte for byte."""
    from PIL import Image

    from genzoo.callbacks.samples import save_samples
    from genzoo.evaluation import load_run
    from genzoo.sampling import grid_inputs

    cfg = compose_cfg(*fast("data=toy2d", "trainer.max_steps=2"), "logger=none")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    _, dm, model, _ = load_run(str(out / "checkpoints" / "last.ckpt"))
    from genzoo.callbacks import SampleGrid
    from genzoo.training import instantiate

    sg = instantiate(cfg.callbacks.sample_grid)
    assert isinstance(sg, SampleGrid)
    grid = grid_inputs(model, sg.num_samples, sg.nrow, sg.num_scatter, sg.seed, datamodule=dm)
    assert next(iter(grid.noise.values())).shape[0] == sg.num_scatter == 1000
    model.eval()
    again = save_samples(grid.sample(model), tmp_path / "again.png", grid.nrow, dm, title="model step 2", labels=grid.y)
    assert Image.open(again).tobytes() == Image.open(out / "samples" / "last.png").tobytes()


def final_weights(cfg):
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    return ckpt["state_dict"], ckpt


@pytest.mark.parametrize("model,n_critic,half", [("gan", 1, 20), ("gan", 2, 13), ("cgan", 1, 20)])
def test_resume_matches_uninterrupted_run(compose_cfg, model, n_critic, half):
    """N steps, stop, resume, N more == 2N uninterrupted; N is mid-epoch and 2N crosses the epoch end
    (digits: 25 training batches per epoch at batch 64). The conditional model also draws labels."""
    common = [*fast(f"model={model}"), f"model.n_critic={n_critic}", f"callbacks.model_checkpoint.every_n_steps={half}",
              "model.ema_decay=0.999"]  # the weight average resumes too
    full = compose_cfg(*common, f"trainer.max_steps={2 * half}", name="full")
    train(full)
    w_full, ck_full = final_weights(full)
    mid_ckpt = Path(full.paths.output_dir) / "checkpoints" / f"g{half:07d}.ckpt"

    resumed = compose_cfg(*common, f"trainer.max_steps={2 * half}", f"ckpt_path={mid_ckpt}", name="resumed")
    train(resumed)
    w_res, ck_res = final_weights(resumed)
    assert ck_res["genzoo"]["counters"]["model_step"] == 2 * half
    assert ck_res["global_step"] == ck_full["global_step"]
    assert w_full.keys() == w_res.keys()
    for name, t in w_full.items():  # weights, buffers, and the EMA's update count (extra state)
        assert torch.equal(t, w_res[name]) if torch.is_tensor(t) else t == w_res[name], name
    for a, b in zip(ck_full["optimizer_states"], ck_res["optimizer_states"]):
        for sa, sb in zip(a["state"].values(), b["state"].values()):
            assert torch.equal(sa["exp_avg"], sb["exp_avg"])

    # ...and an interruption really changes something (the test would notice a broken resume):
    other = compose_cfg(*common, f"trainer.max_steps={2 * half}", "seed=1", name="other")
    train(other)
    first = next(k for k in w_full if k.startswith("generator.") and k.endswith("weight"))
    assert not torch.equal(final_weights(other)[0][first], w_full[first])


def test_a_finished_run_extended_matches_the_longer_run(compose_cfg):
    """A run that ended at step 3, resumed with trainer.max_steps=28, == 28 steps uninterrupted, past the epoch end
    (digits: 25 batches per epoch). Lightning counts the epoch of a finished run as ended (its checkpoint says
    epoch 1); the sampler keeps its own epoch and position, and later epochs follow on from it."""
    common = fast("model=gan")
    full = compose_cfg(*common, "trainer.max_steps=28", name="full")
    train(full)
    short = compose_cfg(*common, "trainer.max_steps=3", name="short")
    train(short)
    assert final_weights(short)[1]["epoch"] == 1  # what made the resumed run draw another epoch's batches
    extended = compose_cfg(*common, "trainer.max_steps=28",
                           f"ckpt_path={Path(short.paths.output_dir) / 'checkpoints' / 'last.ckpt'}", name="extended")
    train(extended)
    w_full, w_ext = final_weights(full)[0], final_weights(extended)[0]
    for name, t in w_full.items():
        assert torch.equal(t, w_ext[name]) if torch.is_tensor(t) else t == w_ext[name], name


def test_bf16_mixed_precision_trains(compose_cfg):
    """bf16 autocast is really on (the first step's losses differ from fp32's, by bf16 rounding only),
    and every logged number and weight stays finite."""
    import math

    losses = {}
    for precision in ("32-true", "bf16-mixed"):
        cfg = compose_cfg(*fast(), f"trainer.precision={precision}", "trainer.max_steps=1", "metrics=none",
                          name=precision)
        metrics = train(cfg)
        assert metrics["model_step"] == 1 and all(math.isfinite(v) for v in metrics.values()), metrics
        state = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if torch.is_tensor(v) and v.is_floating_point())
        losses[precision] = torch.tensor([metrics["loss/d"], metrics["loss/g"]])
    assert not torch.equal(losses["32-true"], losses["bf16-mixed"])
    assert torch.allclose(losses["32-true"], losses["bf16-mixed"], rtol=0.05)


def test_bad_data_size_for_dcgan_is_explained(compose_cfg):
    cfg = compose_cfg(*fast(), "data.size=30")
    with pytest.raises(Exception, match="Sizes that work: .*16.*28.*32.*64"):
        build_model(cfg, build_datamodule(cfg))


def test_toy2d_with_conv_nets_is_explained(compose_cfg):
    cfg = compose_cfg(*fast(), "data=toy2d", "net=dcgan")
    with pytest.raises(Exception, match="net=mlp"):
        build_model(cfg, build_datamodule(cfg))


def test_missing_checkpoint_is_explained_before_training(compose_cfg, tmp_path):
    cfg = compose_cfg(*fast(), f"ckpt_path={tmp_path}/nope.ckpt")
    with pytest.raises(ConfigError, match="not a file"):
        train(cfg)


def model_ema_updates(state_dict) -> int:
    return state_dict["ema._extra_state"]["num_updates"]


def test_ema_of_the_generator_follows_the_warmup_rule_and_is_what_sample_uses(compose_cfg):
    import pickle

    from genzoo.models.ema import EMA

    cfg = compose_cfg(*fast("trainer.max_steps=2", "metrics=none", "callbacks.model_checkpoint.every_n_steps=1",
                            "model.ema_decay=0.999"))
    train(cfg)
    # the averaged generator's grid, and the trained weights' from the same noise beside it
    samples = Path(cfg.paths.output_dir) / "samples"
    assert sorted(p.name for p in samples.glob("*.png")) == ["g0000002.png", "last.png", "raw_g0000002.png", "raw_last.png"]
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    one = torch.load(ckpts / "g0000001.ckpt", weights_only=False)["state_dict"]
    two = torch.load(ckpts / "g0000002.ckpt", weights_only=False)["state_dict"]
    key = "net.0.weight"
    # the EMA copies G at its first update; the second uses d = min(0.999, (1 + 1) / (10 + 1))
    assert torch.equal(one[f"ema.averaged.generator.{key}"], one[f"generator.{key}"])
    d = 2 / 11
    expected = d * one[f"generator.{key}"] + (1 - d) * two[f"generator.{key}"]
    assert torch.allclose(two[f"ema.averaged.generator.{key}"], expected, atol=1e-6)
    assert not torch.allclose(two[f"ema.averaged.generator.{key}"], two[f"generator.{key}"])
    assert not any(k.startswith("discriminator_ema") for k in two)  # EMA of the generator only
    assert EMA({}, 0.999).factor(10**6) == pytest.approx(0.999)
    assert model_ema_updates(two) == 2  # the update count is in the state dict (exact resume)
    # sample() uses the EMA weights unless asked not to
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm)
    model.load_state_dict(two)
    model.eval()
    z = torch.randn(4, model.z_dim)
    assert torch.equal(model.sample(noise={"z": z}), model.ema["generator"](z))
    assert not torch.equal(model.sample(noise={"z": z}), model.sample(noise={"z": z}, ema=False))
    pickle.loads(pickle.dumps(model))  # ddp_spawn pickles the module


def test_averaged_generator_gets_batchnorm_statistics_of_its_own_weights():
    """The EMA's BatchNorm statistics are computed for the averaged weights (standing statistics), not
    averaged from the live network's: after recalibrate() they are the exact mean and (unbiased)
    variance of the averaged net's pre-norm activations over the calibration batches, recomputed only
    after an update or a restore; without standing statistics they are averaged as before."""
    import torch.nn as nn

    from genzoo.models.ema import EMA

    torch.manual_seed(0)
    live = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    live.train()
    for _ in range(5):
        live(torch.randn(32, 3) * 3 + 1)  # live running statistics that have nothing to do with the average
    ema = EMA({"g": live}, 0.9, standing_statistics=True)
    ema.update({"g": live})
    with torch.no_grad():
        live[0].weight.mul_(2.0)
    ema.update({"g": live})
    avg = ema["g"]
    batches = [torch.randn(50, 3, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    calls = []

    def forward(net):
        calls.append(1)
        for b in batches:
            net(b)

    avg.eval()
    ema.recalibrate("g", forward)
    pre = torch.cat([avg[0](b) for b in batches]).detach()
    means = torch.stack([avg[0](b).mean(0) for b in batches]).detach()
    variances = torch.stack([avg[0](b).var(0, unbiased=True) for b in batches]).detach()
    assert torch.allclose(avg[1].running_mean, means.mean(0), atol=1e-5)  # cumulative average over the batches
    assert torch.allclose(avg[1].running_mean, pre.mean(0), atol=1e-5)  # equal batch sizes: the overall mean
    assert torch.allclose(avg[1].running_var, variances.mean(0), atol=1e-5)
    assert not avg.training and avg[1].momentum == live[1].momentum  # mode and momentum restored
    ema.recalibrate("g", forward)
    assert len(calls) == 1  # current: not recomputed
    ema.update({"g": live})
    ema.recalibrate("g", forward)
    assert len(calls) == 2  # an update makes them stale
    ema.load_state_dict(ema.state_dict())
    ema.recalibrate("g", forward)
    assert len(calls) == 3  # so does a restore
    plain = EMA({"g": live}, 0.9)  # without standing statistics: averaged like the weights
    plain.update({"g": live})  # the first update copies
    before = plain["g"][1].running_mean.clone()
    live.train()
    live(torch.randn(32, 3) + 5)
    plain.update({"g": live})
    d = plain.factor(1)
    assert torch.allclose(plain["g"][1].running_mean, d * before + (1 - d) * live[1].running_mean, atol=1e-6)


def test_wandb_run_is_finished_on_every_path(compose_cfg, tmp_path, monkeypatch):
    """A bad input is refused before any W&B run starts; an error inside fit still finishes the run,
    so the next job of a multirun never logs into it."""
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    base = ["logger=wandb", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false", "metrics=none",
            "net.generator.width=8", "net.discriminator.width=8", "trainer.max_steps=2"]
    cfg = compose_cfg(*base, f"ckpt_path={tmp_path}/missing.ckpt", name="bad")
    with pytest.raises(ConfigError, match="is not a file"):
        train(cfg)
    assert wandb.run is None and not (Path(cfg.paths.output_dir) / "wandb").exists()

    cfg = compose_cfg(*base, "+callbacks.boom._target_=test_train.Boom", name="boom")
    with pytest.raises(RuntimeError, match="boom"):
        train(cfg)
    assert wandb.run is None
    assert list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))  # it had started, and was finished


class Boom(__import__("pytorch_lightning").Callback):
    """A callback that fails after the loggers started (stands for any bug during training)."""

    def on_train_start(self, trainer, pl_module):
        trainer.loggers[-1].experiment  # noqa: B018 - W&B has started a run
        raise RuntimeError("boom")


def test_optimized_metric_must_name_a_metric_the_run_logged():
    from omegaconf import OmegaConf

    from genzoo.training import objective

    cfg = OmegaConf.create({"optimized_metric": "fid/classifier/2k/train"})
    with pytest.raises(ConfigError, match="was never logged by this run. Metrics it logged: loss/d, model_step"):
        objective(cfg, {"loss/d": 1.0, "model_step": 2.0})
    assert objective(cfg, {"fid/classifier/2k/train": 3.5}) == 3.5
    assert objective(OmegaConf.create({"optimized_metric": None}), {}) is None


def test_the_progress_bar_counts_model_steps_of_the_run_and_can_be_turned_off(compose_cfg, capsys):
    """The bar shows model step N/total (3 model steps of WGAN-GP are 9 optimiser steps, 9 Lightning
    batches), and trainer.enable_progress_bar=false (a cluster log) trains without it instead of being
    refused for the bar callback."""
    common = ["logger=csv", "metrics=none", "model=wgan_gp", "model.n_critic=2", "trainer.max_steps=3",
              "trainer.enable_model_summary=false", "net.generator.width=8", "net.discriminator.width=8"]
    assert train(compose_cfg(*common, name="bar"))["model_step"] == 3
    shown = capsys.readouterr().out
    assert "model step 3/3" in shown and "steps/s" in shown and "9/9" not in shown
    assert train(compose_cfg(*common, "trainer.enable_progress_bar=false", name="no_bar"))["model_step"] == 3
    assert "model step 3/3" not in capsys.readouterr().out


STEP_LR_G = ["+model.scheduler_g._target_=torch.optim.lr_scheduler.StepLR", "+model.scheduler_g._partial_=true",
             "+model.scheduler_g.step_size=10"]


def test_a_resume_refuses_a_learning_rate_change_only_where_the_model_says_a_scheduler_owns_the_rate(compose_cfg):
    """The model says which of its optimisers a scheduler drives (not the config's key names): a new
    model.optimizer_d.lr is applied under a generator-only scheduler, a new model.optimizer_g.lr is refused."""
    from omegaconf import OmegaConf

    from genzoo.training import apply_resume_rules

    def built(*overrides, name):
        cfg = compose_cfg(*fast(*overrides), name=name)
        return cfg, build_model(cfg, build_datamodule(cfg))

    cfg, model = built(*STEP_LR_G, name="stored")
    assert model.scheduled_optimizers() == ("optimizer_g",)
    stored = {"config": OmegaConf.to_container(cfg, resolve=True)}
    cfg, model = built(*STEP_LR_G, "model.optimizer_d.lr=0.001", name="d")
    assert apply_resume_rules(cfg, model, "x.ckpt", stored) == ["model.optimizer_d.lr=0.001 (the checkpoint had 0.0002)"]
    assert model.resume_overrides == {1: {"lr": 0.001}}
    cfg, model = built(*STEP_LR_G, "model.optimizer_g.lr=0.001", name="g")
    with pytest.raises(ConfigError, match=r"model.optimizer_g.lr changed \(0.0002 -> 0.001\) but the run has a learning-rate"):
        apply_resume_rules(cfg, model, "x.ckpt", stored)
    assert built(name="plain")[1].scheduled_optimizers() == ()


def test_the_summary_asks_its_callbacks_and_loggers_and_keeps_the_metrics_line_short(tmp_path):
    """A callback or logger under another class name keeps its summary line (the summary asks the objects, not
    their names); of 30 metrics the line shows the optimised one first and what fits, and says where the rest are."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from genzoo.callbacks import SampleGrid, SampleQuality
    from genzoo.loggers import CSVLogger
    from genzoo.run_summary import METRICS_WIDTH, summary

    class Grid(SampleGrid):
        pass

    class Quality(SampleQuality):
        pass

    class Csv(CSVLogger):
        pass

    grid = Grid(str(tmp_path / "samples"))
    grid.last_path = tmp_path / "samples" / "last.png"
    quality = Quality(dirpath=str(tmp_path / "plots"))
    values = {f"metric_{i:02d}/classifier/2000/train": float(i) for i in range(30)}
    quality.history, quality.seconds = [(6, values)], 2.5
    csv = Csv(str(tmp_path), name="csv", version="")
    csv.log_metrics({"loss/d": 1.0}, step=0)
    csv.save()
    cfg = OmegaConf.create({"paths": {"output_dir": str(tmp_path)}, "optimized_metric": "metric_29/classifier/2000/train"})
    model = SimpleNamespace(model_step=6, interrupted=None)
    text = summary(cfg, SimpleNamespace(global_step=12, callbacks=[grid, quality]), model, [csv])
    lines = text.strip().splitlines()
    assert f"Samples:        {grid.last_path}" in lines and f"CSV metrics:    {tmp_path / 'csv' / 'metrics.csv'}" in lines
    [metrics] = [line for line in lines if line.startswith("Metrics (step 6): ")]
    shown = metrics.split(": ", 1)[1].split("   (")[0].split(", ")
    assert shown[0] == "metric_29/classifier/2000/train 29" and shown[1] == "metric_00/classifier/2000/train 0"
    assert len(", ".join(shown)) <= METRICS_WIDTH and 1 < len(shown) < 30
    assert metrics.endswith(f"(+{30 - len(shown)} more in {tmp_path / 'csv' / 'metrics.csv'}; 2.5 s spent evaluating)")


class Warns(__import__("pytorch_lightning").Callback):
    """A callback that warns and logs once the run has started (stands for any warning during training)."""

    def on_train_start(self, trainer, pl_module):
        import logging
        import warnings

        warnings.warn("a warning raised during the run", UserWarning, stacklevel=1)
        logging.getLogger("genzoo.test").warning("a line of genzoo's logger")


def test_the_run_log_holds_the_summary_and_the_runs_warnings(compose_cfg, recwarn):
    """train.log in the run folder is what the run said (its summary) and warned, each with its time, and the
    warning is still shown as before (recorded here by pytest)."""
    cfg = compose_cfg(*fast("trainer.max_steps=2", "+callbacks.warns._target_=test_train.Warns"))
    train(cfg)
    log = (Path(cfg.paths.output_dir) / "train.log").read_text()
    assert "[genzoo.run][WARNING] - UserWarning: a warning raised during the run" in log
    assert "[genzoo.test][WARNING] - a line of genzoo's logger" in log
    assert "[genzoo.run][INFO] - Trained 2 model steps" in log and f"Output folder:  {cfg.paths.output_dir}" in log
    assert any("a warning raised during the run" in str(w.message) for w in recwarn)


@pytest.mark.parametrize("overrides,message", [
    (["model=cyclegan"], "model=cyclegan trains on two unpaired image domains, but data=digits holds images. Use "
                         "experiment=cyclegan_digits|cyclegan_horse2zebra or one of data=unpaired, data=unpaired_digits."),
    # the data's kind is the first thing said (data=text's resnet1d nets do not fit PixelCNN either)
    (["model=pixelcnn", "data=text"], "model=pixelcnn trains on images, but data=text holds text (one-hot characters). "
                                      "Use experiment=pixelcnn_mnist_binarized or one of data=celeba, "),
    (["model=vae", "data=toy2d"], "model=vae trains on images, but data=toy2d holds 2-D points. Use "
                                  "experiment=vae_mnist5k_iwae|vae_mnist_iwae or one of "),
    (["data=unpaired_digits"], "model=gan trains on images, 2-D points or text (one-hot characters), but "
                               "data=unpaired_digits holds two unpaired image domains. Use one of data=celeba, "),
])
def test_a_family_meeting_the_wrong_kind_of_data_is_refused_first_with_the_fix(compose_cfg, overrides, message):
    """The family says which kinds of data it trains on, the data module what it holds; a mismatch is one line
    naming the experiments and data options that fit, before anything is built or written."""
    cfg = compose_cfg(*FAST, *overrides)
    with pytest.raises(ConfigError) as refused:
        train(cfg)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert not Path(cfg.paths.output_dir).exists()


def test_every_family_and_data_option_declares_a_known_kind_of_data():
    import hydra
    import yaml

    from genzoo import models
    from genzoo.building import CONFIG_DIR
    from genzoo.data.base import DATA_KINDS, GenDataModule
    from genzoo.models.base import GenerativeModule

    families = [c for c in vars(models).values() if isinstance(c, type) and issubclass(c, GenerativeModule)]
    assert len(families) >= 5 and all(set(c.data_kinds) <= set(DATA_KINDS) for c in families)
    kinds = {}
    for path in sorted((CONFIG_DIR / "data").glob("*.yaml")):
        cls = hydra.utils.get_class(yaml.safe_load(path.read_text())["_target_"])
        assert issubclass(cls, GenDataModule) and cls.data_kind in DATA_KINDS, path.name
        kinds[path.stem] = cls.data_kind
    assert {kinds["digits"], kinds["toy2d"], kinds["text"], kinds["unpaired_digits"]} == set(DATA_KINDS)


@pytest.mark.cli
def test_a_command_line_run_logs_lightnings_lines_and_its_summary_to_train_log_and_shows_them_plain(tmp_path):
    """python src/train.py: Hydra's job log (train.log) gets Lightning's lines and genzoo's summary with their time
    and source; the console shows them as written (no log prefix)."""
    from conftest import run_in_process

    r = run_in_process("train.py", *fast("trainer.max_steps=2"), f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "[pytorch_lightning.utilities.rank_zero][INFO] - GPU available: " in log
    assert "[genzoo.run][INFO] - Trained 2 model steps" in log
    shown = (r.stdout + r.stderr).splitlines()
    assert any(line.startswith("GPU available: ") for line in shown) and "Trained 2 model steps (4 optimiser steps)." in shown
    assert not [line for line in shown if "][INFO] - " in line]
