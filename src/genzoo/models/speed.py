"""The speed options every family takes: ``model.compile`` (torch.compile each net) and
``model.channels_last`` (4-D weights and image batches in the channels_last layout). Both keep the
maths and the state dict's keys, so checkpoints load either way."""

from __future__ import annotations

import torch

from genzoo.errors import ConfigError


def _inputs_channels_last(module: torch.nn.Module, args: tuple) -> tuple:
    """Forward pre-hook of ``model.channels_last``: 4-D inputs (image batches) in channels_last layout
    (a no-op for those already in it); a module-level function, so a spawned DDP process can pickle it."""
    return tuple(a.contiguous(memory_format=torch.channels_last) if torch.is_tensor(a) and a.ndim == 4 else a
                 for a in args)


class SpeedOptions:
    """Mixed into ``GenerativeModule``; uses its ``nets()``, ``compile_backend`` and ``channels_last``."""

    compile_backend: str | None
    channels_last: bool

    def speed_options(self, compile: bool | str = False, channels_last: bool = False) -> None:
        """``channels_last``: every 4-D weight, and every image batch a net is given, in the channels_last
        layout (faster convolutions on tensor cores; the same maths). ``compile``: torch.compile each of
        ``nets()`` in place (``nn.Module.compile``: state dict keys unchanged, so checkpoints load either
        way) when fitting starts; true means the default backend (inductor), a string names another."""
        if compile is True:
            compile = "inductor"
        if compile not in (False, None):
            from torch._dynamo import list_backends

            backends = list_backends(exclude_tags=())
            if not isinstance(compile, str) or compile not in backends:
                raise ConfigError(f"model.compile={compile!r}: choose false, true (inductor) or a torch.compile backend: "
                                  f"{', '.join(backends)}.")
        if not isinstance(channels_last, bool):
            raise ConfigError(f"model.channels_last={channels_last!r}: choose true or false.")
        self.compile_backend = compile or None
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)  # 4-D weights only; the EMA's copies too
            for net in self.nets():
                net.register_forward_pre_hook(_inputs_channels_last)

    def on_fit_start(self) -> None:
        # compiled here, not when built: a spawned DDP process pickles the module, and compiled code does not pickle
        if self.compile_backend is not None:
            import torch._dynamo.config as dynamo_config

            nets = self.nets()
            # every nn.Module.compile shares one code object (Module._call_impl) and so one recompile limit (8):
            # past it, further variants (another net, eval mode, no_grad, a new batch size) would run eager
            dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 8 * len(nets))
            for net in nets:
                if getattr(net, "_compiled_call_impl", None) is None:
                    net.compile(backend=self.compile_backend)
