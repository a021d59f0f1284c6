"""Every option of every config group composes, and the objects it names exist."""


import pytest
from hydra.utils import get_class, get_method

from conftest import ROOT

GROUPS = ["model", "loss", "net", "data", "trainer", "logger", "callbacks", "paths", "hydra", "experiment", "debug"]


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
    cfg = compose_cfg(f"{group}={option}", *extra)
    from omegaconf import OmegaConf

    for key in cfg:  # every interpolation resolves
        if key != "hydra":
            OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
    for t in targets(cfg):
        try:
            get_class(t)
        except Exception:
            get_method(t)


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
            assert node._target_.rsplit(".", 1)[-1].lower() == option.replace("_", "").lower(), (group, option)
