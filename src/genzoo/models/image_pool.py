"""CycleGAN's image pool (Shrivastava et al. 2017; the reference's ``ImagePool``, batched): the critics
see, besides the current fakes, fakes from earlier steps, which damps the oscillation between G and D."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from genzoo.errors import ConfigError


class ImagePool(nn.Module):
    """A buffer of up to ``size`` past generated images (the reference's ``ImagePool``, batched).

    ``query(images)`` returns, per image in order: the image itself while the pool fills (and the
    image goes in), then with probability 1/2 the image, else a random stored image, which the new
    one replaces. ``size=0``: no pool.

    The whole batch is decided at once with tensor operations on the images' device, with no host read:
    how many images still fit is a count the host keeps (no value of the images decides it), and the
    swaps are draws from the device's generator (``torch.rand`` / ``torch.randint`` on that device: the
    global CPU generator on a CPU, the CUDA one on a GPU; both are restored on resume). Images of one
    batch that draw the same stored slot see each other as the loop over the batch would: the later one
    gets the image the earlier one put there, and the pool keeps the last.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        if not isinstance(size, int) or size < 0:
            raise ConfigError(f"model.pool_size={size!r} must be an integer >= 0 (0: no pool; the reference uses 50).")
        self.size = size
        self.images: torch.Tensor | None = None  # (size, C, H, W), allocated at the first query
        self.count = 0

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        images = images.detach()
        if self.images is None:
            self.images = torch.zeros(self.size, *images.shape[1:], dtype=images.dtype, device=images.device)
        n, dev = images.shape[0], images.device
        # drawn for every image, full pool or not: the RNG stream does not depend on the pool's fill
        swap = torch.rand(n, device=dev) > 0.5
        slot = torch.randint(self.size, (n,), device=dev)
        stored = images.to(self.images.dtype)
        free = min(n, self.size - self.count)  # the first `free` images fill the pool and come back as they are
        if free > 0:
            self.images[self.count:self.count + free] = stored[:free]
            self.count += free
        out = images.clone()
        if free < n:
            out[free:] = self._swap(images[free:], stored[free:], swap[free:], slot[free:])
        return out

    def _swap(self, images: torch.Tensor, stored: torch.Tensor, swap: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        """The full pool's rule for a batch, as the reference's loop over it would apply it, image by image."""
        m, dev = images.shape[0], images.device
        shape = (-1,) + (1,) * (images.dim() - 1)
        order = torch.arange(m, device=dev)
        # image i finds in its slot the last earlier image of the batch swapped into that slot, else the pool's
        earlier = (slot[:, None] == slot[None, :]) & swap[None, :] & (order[None, :] < order[:, None])
        prev = torch.where(earlier, order[None, :], -1).amax(1)
        found = torch.where((prev >= 0).view(shape), stored[prev.clamp(min=0)], self.images[slot])
        # each slot ends with the last image of the batch swapped into it, if any
        slots = torch.arange(self.size, device=dev)
        writer = torch.where((slot[None, :] == slots[:, None]) & swap[None, :], order[None, :], -1).amax(1)
        self.images.copy_(torch.where((writer >= 0).view(shape), stored[writer.clamp(min=0)], self.images))
        return torch.where(swap.view(shape), found.to(images.dtype), images)

    def state(self) -> dict[str, Any]:
        return {"count": self.count, "images": None if self.images is None else self.images.detach().cpu()}

    def restore(self, state: dict[str, Any], device: torch.device) -> None:
        self.count = int(state["count"])
        images = state["images"]
        if images is not None and images.shape[0] != self.size:
            raise ConfigError(f"The checkpoint's image pool holds {images.shape[0]} images but model.pool_size="
                              f"{self.size}; resume with the pool size it was trained with.")
        self.images = None if images is None else images.to(device)
