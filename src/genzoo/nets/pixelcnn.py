"""Autoregressive conv nets over pixels in raster order (seed claim C20): PixelCNN and Gated PixelCNN.

Both map an image (N, C, H, W) to logits (N, levels, C, H, W) where the logits at pixel (i, j)
depend only on pixels before (i, j) in raster order (rows top to bottom, each left to right).

- ``MaskedPixelCNN``: the PixelCNN of van den Oord, Kalchbrenner, Kavukcuoglu (2016, section 3.4 and Fig. 5): a 7x7 conv
  with mask A (the centre pixel excluded), residual blocks of 1x1 -> 3x3 mask B (centre included)
  -> 1x1 convs, and two 1x1 output layers. Its receptive field has a **blind spot**: pixels above
  and to the right that a stack of masked 3x3 kernels never reaches.
- ``GatedPixelCNN`` (van den Oord et al. 2016b, "Conditional Image Generation with PixelCNN
  Decoders", Fig. 2): a vertical stack (everything above) and a horizontal stack (the row so far),
  gated units tanh(a) * sigmoid(b), the vertical stack fed into the horizontal one after a shift of
  one row down, residual connections in the horizontal stack. No blind spot.

The nets read images of ``shape`` (C, H, W) and give ``levels`` logits for each of ``out_channels``
(default C) values per pixel: the C channels of a grey or colour image, or one palette index read
from the pixel's RGB palette colour (out_channels 1). Every value of pixel (i, j) is predicted from
the pixels before it; the channels of one pixel are conditionally independent given them (not the
paper's R -> G -> B order within a pixel).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from genzoo.errors import ConfigError

KINDS = ("plain", "gated")


class MaskedConv2d(nn.Conv2d):
    """A k x k conv whose kernel sees only rows above the centre and, in the centre row, the
    columns left of the centre (mask ``A``) or up to and including it (mask ``B``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, mask: str) -> None:
        super().__init__(c_in, c_out, kernel, padding=kernel // 2)
        if mask not in ("A", "B"):
            raise ValueError(f"mask must be A or B, got {mask!r}")
        m = torch.ones_like(self.weight)
        c = kernel // 2
        m[:, :, c, c + (mask == "B"):] = 0
        m[:, :, c + 1:] = 0
        self.register_buffer("mask", m, persistent=False)  # derived from the shape: not in checkpoints

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ConfigError(f"The autoregressive nets model images (C, H, W); the data has shape {tuple(shape)}.")
    return tuple(shape)  # type: ignore[return-value]


class _OutputHead(nn.Sequential):
    """ReLU -> 1x1 conv -> ReLU -> 1x1 conv to ``levels`` logits for each of ``channels`` values:
    (N, width, H, W) -> (N, levels, channels, H, W)."""

    def __init__(self, width: int, out: int, levels: int, channels: int) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(width, out, 1), nn.ReLU(), nn.Conv2d(out, levels * channels, 1))
        self.levels, self.channels = levels, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y.view(y.shape[0], self.levels, self.channels, *y.shape[2:])


def _output_head(width: int, out: int, levels: int, channels: int = 1) -> _OutputHead:
    return _OutputHead(width, out, levels, channels)


class _ResidualBlock(nn.Module):
    def __init__(self, h: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(2 * h, h, 1), nn.ReLU(), MaskedConv2d(h, h, 3, "B"), nn.ReLU(),
                                  nn.Conv2d(h, 2 * h, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MaskedPixelCNN(nn.Module):
    """``layers`` residual blocks of width ``hidden`` (2h channels between blocks, as in the paper)."""

    def __init__(self, shape: Sequence[int], levels: int = 256, hidden: int = 32, layers: int = 5,
                 out_hidden: int = 64, out_channels: int | None = None) -> None:
        super().__init__()
        self.shape, self.levels = _check_shape(shape), levels
        self.first = MaskedConv2d(self.shape[0], 2 * hidden, 7, "A")
        self.blocks = nn.Sequential(*[_ResidualBlock(hidden) for _ in range(layers)])
        self.head = _output_head(2 * hidden, out_hidden, levels, out_channels or self.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.first(x)))


class _GatedLayer(nn.Module):
    """One gated layer. Vertical: a (k//2 + 1) x k conv over rows i - k//2 .. i. Horizontal: a
    1 x (k//2 + 1) conv over columns j - k//2 .. j (the first layer shifts its input one column right,
    so the current pixel is excluded: mask A). The vertical features enter the horizontal stack
    shifted one row down, so row i of the horizontal stack sees only rows above i through them."""

    def __init__(self, c_in: int, h: int, kernel: int, first: bool) -> None:
        super().__init__()
        self.k, self.first = kernel // 2, first
        self.v = nn.Conv2d(c_in, 2 * h, (self.k + 1, kernel))
        self.h = nn.Conv2d(c_in, 2 * h, (1, self.k + 1))
        self.v_to_h = nn.Conv2d(2 * h, 2 * h, 1)
        self.h_out = nn.Conv2d(h, h, 1)

    @staticmethod
    def _gate(t: torch.Tensor) -> torch.Tensor:
        a, b = t.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, v_in: torch.Tensor, h_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.k
        v = self.v(F.pad(v_in, (k, k, k, 0)))  # row i: input rows i-k .. i
        v_down = F.pad(v, (0, 0, 1, 0))[:, :, :-1]  # row i: vertical features of row i-1
        h_src = F.pad(h_in, (1, 0))[:, :, :, :-1] if self.first else h_in  # first layer: exclude the current pixel
        h = self.h(F.pad(h_src, (k, 0))) + self.v_to_h(v_down)
        out = self.h_out(self._gate(h))
        return self._gate(v), (out if self.first else h_in + out)


class GatedPixelCNN(nn.Module):
    def __init__(self, shape: Sequence[int], levels: int = 256, hidden: int = 32, layers: int = 5, kernel: int = 5,
                 out_hidden: int = 64, out_channels: int | None = None) -> None:
        super().__init__()
        self.shape, self.levels = _check_shape(shape), levels
        if kernel < 3 or kernel % 2 == 0:
            raise ConfigError(f"net.network.kernel={kernel} must be odd and >= 3.")
        self.layers = nn.ModuleList([_GatedLayer(self.shape[0] if i == 0 else hidden, hidden, kernel, first=i == 0)
                                     for i in range(layers)])
        self.head = _output_head(hidden, out_hidden, levels, out_channels or self.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = h = x  # the pixel values in [-1, 1] (their order matters between levels)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def incremental(self, x: torch.Tensor) -> GatedCache:
        return GatedCache(self, x)


class GatedCache:
    """Gated PixelCNN logits one pixel at a time (the same contract as ``genzoo.nets.pixelrnn.CachedSampler``).

    The vertical stack of a row needs the whole row, so it is computed once per row, when the next row
    starts (k+1 input rows per layer); the horizontal stack is computed for the new pixel only, from
    the k+1 pixels left of it in the layer below and the vertical features of the row above. Work per
    pixel does not grow with the image, where the naive sampler runs the whole net."""

    def __init__(self, net: GatedPixelCNN, x: torch.Tensor) -> None:
        self.net, self.k = net, net.layers[0].k
        k = self.k
        self.padded = F.pad(x, (k + 1, k, k, 0))  # k+1 left: the first layer's one-column shift
        self.canvas = self.padded[:, :, k:, k + 1:x.shape[-1] + k + 1]  # a view: writes reach the padded copy
        n, _, self.rows, self.cols = x.shape
        hidden = net.layers[0].h_out.out_channels
        # per layer: the gated vertical outputs of every row (padded like the input), the vertical
        # pre-activations of the row above, the horizontal outputs of the current row (padded left)
        self.v = [x.new_zeros(n, hidden, self.rows + k, self.cols + 2 * k) for _ in net.layers]
        self.v_above = [x.new_zeros(n, 2 * hidden, self.cols) for _ in net.layers]
        self.h = [x.new_zeros(n, hidden, self.cols + k) for _ in net.layers]
        self.next = (0, 0)

    def _vertical_row(self, r: int) -> None:
        """Every layer's vertical stack at row ``r`` (whose pixels are all final now)."""
        k = self.k
        below = self.padded[:, :, r:r + k + 1, 1:]  # input rows r-k .. r, padded k each side
        for layer, v, above in zip(self.net.layers, self.v, self.v_above):
            pre = layer.v(below)[:, :, 0]  # (N, 2h, W)
            above.copy_(pre)
            v[:, :, r + k, k:k + self.cols] = layer._gate(pre)
            below = v[:, :, r:r + k + 1]

    def at(self, i: int, j: int) -> torch.Tensor:
        if (i, j) != self.next:
            raise RuntimeError(f"GatedCache.at({i}, {j}) called out of raster order (expected {self.next}).")
        if j == 0 and i > 0:
            self._vertical_row(i - 1)
        k = self.k
        src = self.padded[:, :, i + k, j:j + k + 1]  # the first layer's input: pixels j-k-1 .. j-1
        h = None
        for n_layer, (layer, hs, above) in enumerate(zip(self.net.layers, self.h, self.v_above)):
            pre = layer.h(src[:, :, None])[:, :, 0, 0]
            if i > 0:
                pre = pre + layer.v_to_h(above[:, :, j, None, None])[:, :, 0, 0]
            else:
                pre = pre + layer.v_to_h.bias  # row 0: the vertical features above are the padding's zeros
            out = layer.h_out(layer._gate(pre)[:, :, None, None])[:, :, 0, 0]
            h = out if n_layer == 0 else h + out
            hs[:, :, k + j] = h
            src = hs[:, :, j:j + k + 1]
        self.next = (i, j + 1) if j < self.cols - 1 else (i + 1, 0)
        return self.net.head(h[:, :, None, None])[..., 0, 0]


def pixel_net(shape: Sequence[int], levels: int, kind: str = "gated", **kwargs) -> nn.Module:
    """``kind``: ``plain`` (PixelCNN, with its blind spot) or ``gated`` (Gated PixelCNN)."""
    if kind not in KINDS:
        raise ConfigError(f"Unknown net.network.kind={kind!r}; choose plain (PixelCNN) or gated (Gated PixelCNN).")
    if kind == "plain":
        kwargs.pop("kernel", None)
        return MaskedPixelCNN(shape, levels, **kwargs)
    return GatedPixelCNN(shape, levels, **kwargs)
