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
the pixels before it. By default the channels of one pixel are conditionally independent given
them; with ``ordered=True`` they are predicted in order, R -> G -> B as in the PixelRNN paper
(section 3.4): every feature map belongs to one of the C channels (feature k to channel k mod C),
and at the current pixel a feature of channel g sees inputs of channels before g (mask A, the
first layer) or up to g (mask B, every later layer, 1x1 convs included). Off-centre taps (earlier
pixels) see every channel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.nets.common import gate

KINDS = ("plain", "gated")


def centre_mask(c_in: int, c_out: int, channels: int, strict: bool, out_period: int | None = None) -> torch.Tensor:
    """(c_out, c_in): which features of the current pixel each output feature may read when a
    pixel's ``channels`` values are predicted in order. Feature k belongs to value k mod ``channels``
    (outputs: (k mod ``out_period``) mod ``channels``, so that the two halves a, b of a gate
    tanh(a) * sigmoid(b) agree feature by feature); an output of value g reads inputs of earlier
    values (``strict``: mask A) or of values up to g (mask B). With one channel: mask A reads nothing
    of the current pixel, mask B everything."""
    g_out = (torch.arange(c_out)[:, None] % (out_period or c_out)) % channels
    g_in = torch.arange(c_in)[None, :] % channels
    return g_out > g_in if strict else g_out >= g_in


class MaskedConv2d(nn.Conv2d):
    """A conv whose kernel sees only rows above the centre tap and, in the centre row, the columns
    left of it; at the centre tap itself, nothing (mask ``A``) or everything (mask ``B``), or with
    ``channels`` > 1 the earlier values of the pixel (``centre_mask``). ``kernel`` k or (kh, kw);
    ``centre`` defaults to the middle tap, ``padding`` to half the kernel."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], mask: str, channels: int = 1,
                 centre: tuple[int, int] | None = None, padding: int | tuple[int, int] | None = None,
                 out_period: int | None = None) -> None:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        super().__init__(c_in, c_out, (kh, kw), padding=(kh // 2, kw // 2) if padding is None else padding)
        if mask not in ("A", "B"):
            raise ValueError(f"mask must be A or B, got {mask!r}")
        ci, cj = centre if centre is not None else (kh // 2, kw // 2)
        m = torch.ones_like(self.weight)
        m[:, :, ci, cj:] = 0
        m[:, :, ci + 1:] = 0
        m[:, :, ci, cj] = centre_mask(c_in, c_out, channels, mask == "A", out_period).to(m.dtype)
        self.register_buffer("mask", m, persistent=False)  # derived from the shape: not in checkpoints

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


def conv1x1(c_in: int, c_out: int, channels: int = 1) -> nn.Conv2d:
    """A 1x1 conv; with ``channels`` > 1 (values of a pixel in order) masked like mask B."""
    return nn.Conv2d(c_in, c_out, 1) if channels == 1 else MaskedConv2d(c_in, c_out, 1, "B", channels)


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ConfigError(f"The autoregressive nets model images (C, H, W); the data has shape {tuple(shape)}.")
    return tuple(shape)  # type: ignore[return-value]


def _groups(shape: tuple[int, int, int], ordered: bool, out_channels: int | None) -> int:
    """How many values of a pixel are predicted in order: C with ``ordered``, else 1 (together)."""
    if not ordered or shape[0] == 1:
        return 1
    if (out_channels or shape[0]) != shape[0]:
        raise ConfigError("model.channel_order=ordered predicts a pixel's channels one after another; with a palette "
                          "the model predicts one colour index per pixel. Use one or the other.")
    return shape[0]


class _OutputHead(nn.Sequential):
    """ReLU -> 1x1 conv -> ReLU -> 1x1 conv to ``levels`` logits for each of ``channels`` values:
    (N, width, H, W) -> (N, levels, channels, H, W)."""

    def __init__(self, width: int, out: int, levels: int, channels: int, groups: int = 1) -> None:
        # output feature l * channels + c is value c's level l: with ordered values (groups = channels)
        # it belongs to value c, as centre_mask counts
        super().__init__(nn.ReLU(), conv1x1(width, out, groups), nn.ReLU(), conv1x1(out, levels * channels, groups))
        self.levels, self.channels = levels, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y.view(y.shape[0], self.levels, self.channels, *y.shape[2:])


def _output_head(width: int, out: int, levels: int, channels: int = 1, groups: int = 1) -> _OutputHead:
    return _OutputHead(width, out, levels, channels, groups)


class _ResidualBlock(nn.Module):
    def __init__(self, h: int, groups: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), conv1x1(2 * h, h, groups), nn.ReLU(), MaskedConv2d(h, h, 3, "B", groups),
                                  nn.ReLU(), conv1x1(h, 2 * h, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MaskedPixelCNN(nn.Module):
    """``layers`` residual blocks of width ``hidden`` (2h channels between blocks, as in the paper);
    ``ordered``: a pixel's channels in order (R -> G -> B)."""

    def __init__(self, shape: Sequence[int], levels: int = 256, hidden: int = 32, layers: int = 5,
                 out_hidden: int = 64, out_channels: int | None = None, ordered: bool = False) -> None:
        super().__init__()
        self.shape, self.levels = _check_shape(shape), levels
        g = self.groups = _groups(self.shape, ordered, out_channels)
        self.first = MaskedConv2d(self.shape[0], 2 * hidden, 7, "A", g)
        self.blocks = nn.Sequential(*[_ResidualBlock(hidden, g) for _ in range(layers)])
        self.head = _output_head(2 * hidden, out_hidden, levels, out_channels or self.shape[0], g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.first(x)))


class _GatedLayer(nn.Module):
    """One gated layer. Vertical: a (k//2 + 1) x k conv over rows i - k//2 .. i. Horizontal: a
    1 x (k//2 + 1) conv over columns j - k//2 .. j (the first layer shifts its input one column right,
    so the current pixel is excluded: mask A). The vertical features enter the horizontal stack
    shifted one row down, so row i of the horizontal stack sees only rows above i through them.
    With ``groups`` > 1 (a pixel's channels in order) the horizontal conv reads the current pixel
    through a channel mask (A in the first layer, which then needs no shift; B later) and its 1x1
    conv is masked; the vertical stack sees only earlier rows of the horizontal one and needs none."""

    def __init__(self, c_in: int, h: int, kernel: int, first: bool, groups: int = 1) -> None:
        super().__init__()
        self.k, self.first, self.groups = kernel // 2, first, groups
        self.v = nn.Conv2d(c_in, 2 * h, (self.k + 1, kernel))
        self.h = (nn.Conv2d(c_in, 2 * h, (1, self.k + 1)) if groups == 1 else
                  MaskedConv2d(c_in, 2 * h, (1, self.k + 1), "A" if first else "B", groups, centre=(0, self.k), padding=0,
                               out_period=h))  # the gate's halves: feature k and h + k belong to one channel
        self.v_to_h = nn.Conv2d(2 * h, 2 * h, 1)
        self.h_out = conv1x1(h, h, groups)

    def forward(self, v_in: torch.Tensor, h_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.k
        v = self.v(F.pad(v_in, (k, k, k, 0)))  # row i: input rows i-k .. i
        v_down = F.pad(v, (0, 0, 1, 0))[:, :, :-1]  # row i: vertical features of row i-1
        # first layer: exclude the current pixel (ordered channels: its channel mask does that)
        h_src = F.pad(h_in, (1, 0))[:, :, :, :-1] if self.first and self.groups == 1 else h_in
        h = self.h(F.pad(h_src, (k, 0))) + self.v_to_h(v_down)
        out = self.h_out(gate(h))
        return gate(v), (out if self.first else h_in + out)


class GatedPixelCNN(nn.Module):
    def __init__(self, shape: Sequence[int], levels: int = 256, hidden: int = 32, layers: int = 5, kernel: int = 5,
                 out_hidden: int = 64, out_channels: int | None = None, ordered: bool = False) -> None:
        super().__init__()
        self.shape, self.levels = _check_shape(shape), levels
        if kernel < 3 or kernel % 2 == 0:
            raise ConfigError(f"net.network.kernel={kernel} must be odd and >= 3.")
        g = self.groups = _groups(self.shape, ordered, out_channels)
        self.layers = nn.ModuleList([_GatedLayer(self.shape[0] if i == 0 else hidden, hidden, kernel, first=i == 0,
                                                 groups=g) for i in range(layers)])
        self.head = _output_head(hidden, out_hidden, levels, out_channels or self.shape[0], g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = h = x  # the pixel values in [-1, 1] (their order matters between levels)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def incremental(self, x: torch.Tensor) -> GatedCache:
        if self.groups > 1:
            raise ConfigError("The cached Gated PixelCNN sampler draws a pixel's channels together; with "
                              "model.channel_order=ordered use model.sampler=naive (or auto).")
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
            v[:, :, r + k, k:k + self.cols] = gate(pre)
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
            out = layer.h_out(gate(pre)[:, :, None, None])[:, :, 0, 0]
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


pixel_net.forwards_to = (MaskedPixelCNN, GatedPixelCNN)  # its **kwargs: their arguments (genzoo.unknown_keys)
