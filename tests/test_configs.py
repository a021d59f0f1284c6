"""Every option of every config group composes, and the objects it names exist."""


import pytest
from hydra.utils import get_class, get_method

from conftest import ROOT

GROUPS = ["model", "loss", "net", "data", "trainer", "logger", "callbacks", "paths", "hydra", "experiment", "debug",
          "metrics", "optimizer"]


def options(group):
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


def targets(node):
    from omegaconf import DictConfig, ListConfig

    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield node._target_
        for k in node:
            if k != "hydra":
                yield from targets(node._get_node(k))
    elif isinstance(node, ListConfig):
        for v in node:
            yield from targets(v)


def test_every_group_the_issue_names_exists():
    for g in GROUPS:
        assert options(g), g


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS if g != "hydra" for o in options(g)])
def test_option_composes_and_targets_import(compose_cfg, group, option):
    extra = ["data.root=/tmp"] if (group, option) == ("data", "image_folder") else []
    # the optimizer group is placed at model.optimizer_g / model.optimizer_d by the model configs
    choice = f"optimizer@model.optimizer_g={option}" if group == "optimizer" else f"{group}={option}"
    cfg = compose_cfg(choice, *extra)
    from omegaconf import OmegaConf

    for key in cfg:  # every interpolation resolves
        if key != "hydra":
            OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
    for t in targets(cfg):
        try:
            get_class(t)
        except Exception:
            get_method(t)
    from genzoo.unknown_keys import check_known_keys

    check_known_keys(cfg, added=[])  # every key the option sets is one its target takes


def test_target_names_match_config_names():
    """Configs mirror code: the class a model/loss/data config builds is named like the file."""
    from omegaconf import OmegaConf

    for group in ("model", "loss", "data"):
        for option in options(group):
            node = OmegaConf.load(ROOT / "conf" / group / f"{option}.yaml")
            node = node if "_target_" in node else node[group]  # `@package _global_` configs nest it
            if node._target_.endswith("FDivergence"):  # one class, one table row per config
                assert node.divergence == option
                continue
            if node._target_.endswith("renamed_loss"):  # an old name that now only says the new one
                assert node.old == option and (ROOT / "conf" / group / f"{node.new}.yaml").is_file()
                continue
            assert node._target_.rsplit(".", 1)[-1].lower() == option.replace("_", "").lower(), (group, option)


def test_renamed_fgan_row_is_refused_with_its_new_name(compose_cfg):
    from genzoo.errors import ConfigError
    from genzoo.training import build_datamodule, build_model

    cfg = compose_cfg("model=fgan", "loss=gan")
    with pytest.raises(ConfigError, match="loss=gan was renamed loss=gan_divergence"):
        build_model(cfg, build_datamodule(cfg))


@pytest.mark.parametrize("model,loss,optimizer,critic_norm", [
    ("gan", "NonSaturating", "Adam", "batch"), ("cgan", "NonSaturating", "Adam", "batch"),
    ("fgan", "FDivergence", "Adam", "batch"), ("wgan", "Wasserstein", "RMSprop", "batch"),
    ("wgan_gp", "Wasserstein", "Adam", "layer"),
])
def test_a_model_config_brings_its_own_family_defaults(compose_cfg, model, loss, optimizer, critic_norm):
    """model=<name> alone picks its nets, loss, metrics and optimisers; model=wgan/wgan_gp/fgan/cgan
    extend model=gan (its z_dim, no weight average) and change only what differs (cgan averages G,
    wgan_gp's critic is half as wide)."""
    cfg = compose_cfg(f"model={model}")
    assert cfg.loss._target_.endswith(loss) and cfg.metrics.extractor == "classifier"
    assert cfg.model.optimizer_g._target_ == cfg.model.optimizer_d._target_ == f"torch.optim.{optimizer}"
    assert "betas" not in cfg.model.optimizer_g or optimizer == "Adam"  # RMSprop takes no betas
    assert cfg.net.discriminator.norm == critic_norm
    assert cfg.model.z_dim == 64  # inherited from model=gan
    assert cfg.model.ema_decay == (0.999 if model == "cgan" else None)
    assert cfg.net.discriminator.width == (32 if model == "wgan_gp" else 64)


def test_build_model_passes_only_what_the_family_declares(compose_cfg):
    from genzoo.errors import ConfigError
    from genzoo.training import build_datamodule, build_model

    cfg = compose_cfg("model=gan")
    dm = build_datamodule(cfg)
    from omegaconf import open_dict

    with open_dict(cfg):  # a family that declares no loss refuses one; nets must be the family's keys
        cfg.net.encoder = cfg.net.pop("generator")
    with pytest.raises(ConfigError, match="model=gan takes nets generator, discriminator"):
        build_model(cfg, dm)
    cfg = compose_cfg("model=gan")
    with open_dict(cfg):
        cfg.loss = None
    with pytest.raises(ConfigError, match="model=gan needs a loss"):
        build_model(cfg, dm)


@pytest.mark.parametrize("objective", sorted(p.stem for p in (ROOT / "sweeps" / "objective").glob("*.yaml")))
def test_every_sweep_objective_builds_its_model(compose_cfg, tmp_path, objective):
    """The loss-comparison sweeps' values compose and build (a renamed loss would fail here, not in
    the middle of a multirun)."""
    from genzoo.training import build_datamodule, build_model, compose_config

    # what `--config-dir sweeps` does: the sweeps folder joins the search path of conf/
    widths = (["net.encoder.width=8", "net.decoder.width=8"] if objective.startswith("vae")
              else ["net.generator.width=8", "net.discriminator.width=8"])
    cfg = compose_config([f"hydra.searchpath=[file://{ROOT / 'sweeps'}]", f"+objective={objective}", *widths], tmp_path)
    model = build_model(cfg, build_datamodule(cfg))
    assert model.name == cfg.model.name
    if model.uses_loss:
        assert model.loss.name == (cfg.loss.get("divergence") or model.loss.name)


def test_an_added_key_is_accepted_only_where_something_reads_it(compose_cfg):
    """A ``+key`` outside a ``_target_`` node counts as read only when an interpolation names it whole (a key
    that is a prefix of a read one, ``paths.output_di`` of ``${paths.output_dir}``, is not)."""
    from genzoo.errors import ConfigError
    from genzoo.unknown_keys import check_known_keys

    cfg = compose_cfg("+steps_a=7", "trainer.max_steps=${steps_a}", "+paths.output_di=x")
    check_known_keys(cfg, added=["steps_a"])  # read by trainer.max_steps
    with pytest.raises(ConfigError, match=r"\+paths.output_di= is a key nothing in this run reads.*paths.output_dir"):
        check_known_keys(cfg, added=["steps_a", "paths.output_di"])
    with pytest.raises(ConfigError, match="model.z_dm: genzoo.models.GAN takes no argument z_dm.*model.z_dim"):
        check_known_keys(compose_cfg("+model.z_dm=3"), added=[])


def forwards_anything(**kwargs):
    """A factory with ``**kwargs`` and no ``forwards_to``: what it takes is known only when it is called."""
    return _takes_width(**kwargs)


def _takes_width(width: int = 1) -> dict:
    if width < 0:  # a bug inside the target: a keyword error that names no key of the config
        return _takes_width(depth=width)
    return {"width": width}


def test_a_key_a_factory_refuses_when_called_is_one_clear_error_and_a_bug_inside_stays_a_bug():
    """The second layer behind ``unknown_keys``: a keyword TypeError naming a key of the node becomes a
    ConfigError naming the key; a TypeError from inside the target (a keyword that is not a config key) is
    left as it is, with its traceback."""
    from genzoo.composition import instantiate
    from genzoo.errors import ConfigError
    from genzoo.unknown_keys import arguments

    node = {"_target_": "test_configs.forwards_anything", "widht": 3}
    assert arguments(node["_target_"]) is None  # nothing to check beforehand
    with pytest.raises(ConfigError, match="test_configs.forwards_anything takes no argument widht"):
        instantiate(node)
    assert instantiate({"_target_": "test_configs.forwards_anything", "width": 3}) == {"width": 3}
    with pytest.raises(Exception) as bug:
        instantiate({"_target_": "test_configs.forwards_anything", "width": -1})
    assert not isinstance(bug.value, ConfigError) and "unexpected keyword argument 'depth'" in str(bug.value.__cause__)
