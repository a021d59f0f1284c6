"""PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu 2016, section 3): Row LSTM and Diagonal BiLSTM.

Both map an image (N, C, H, W) to logits (N, levels, out_channels, H, W) as the PixelCNN nets do
(``genzoo.nets.pixelcnn``); the logits of pixel (i, j) depend only
on pixels before (i, j) in raster order. The paper's stack (its Table 4): a 7x7 conv with mask A, then
``layers`` LSTM layers with residual connections (each layer reads 2h features, its LSTM has h, a 1x1
conv brings them back to 2h and adds them to its input), then ReLU -> 1x1 conv -> ReLU -> 1x1 conv to
the ``levels`` logits.

- **Row LSTM**: a row at a time. The gates of pixel (i, j) come from an input-to-state conv over
  the layer's input at columns j - k//2 .. j of row i (mask B) and a state-to-state conv over the
  previous row's hidden state at columns j - k//2 .. j + k//2; the cell state is carried down
  each column. Its receptive field is a triangle: pixels far to the right in the rows above are out of
  reach.
- **Diagonal BiLSTM**: the input is skewed (row i shifted i columns right) so that a column-wise
  LSTM runs along diagonals. Left to right, the state of pixel (i, j) comes from (i-1, j) and
  (i, j-1), and the cell state flows along the row. The right-to-left direction runs on the mirrored
  image and is shifted down one row before the two are added, so that it only brings in rows above.
  It reaches every earlier pixel.

``ordered=True`` predicts a pixel's channels in order, R -> G -> B (the paper's section 3.4), as the
PixelCNN nets do: every feature belongs to one channel, the mask-A conv and each layer's
input-to-state conv read the current pixel through a channel mask (each of the LSTM's four gates
split alike), the 1x1 convs are masked like mask B; the state-to-state convs and the
right-to-left direction see only earlier pixels and need no mask.

``incremental(x)`` returns a sampler that carries these states and computes, for each new pixel, only
that pixel's column of every layer (``CachedSampler``): the same logits as the full pass, at a cost
per pixel that does not grow with the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.nets.pixelcnn import MaskedConv2d, _check_shape, _groups, _output_head, conv1x1

VARIANTS = ("row_lstm", "diagonal_bilstm")
FIRST_KERNEL = 7  # the paper's first layer: a 7x7 conv with mask A


def _lstm(gates: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM update from pre-activations (N, 4h, ...) ordered output, forget, input, content."""
    o, f, i, g = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _one(module: nn.Module, v: torch.Tensor) -> torch.Tensor:
    """A 1x1 conv (or a stack of them) on one pixel's features (N, C)."""
    return module(v[:, :, None, None])[:, :, 0, 0]


def _input_to_state(h: int, width: int, groups: int) -> nn.Conv2d:
    """(2h -> 4h gates) over the ``width`` columns j - width + 1 .. j of the current row (mask B: j
    included); with ordered channels its tap at j is masked by channel, alike in each of the 4 gates."""
    if groups == 1:
        return nn.Conv2d(2 * h, 4 * h, (1, width))
    return MaskedConv2d(2 * h, 4 * h, (1, width), "B", groups, centre=(0, width - 1), padding=0, out_period=h)


class RowLSTMLayer(nn.Module):
    def __init__(self, h: int, kernel: int = 3, groups: int = 1) -> None:
        super().__init__()
        self.h, self.p = h, kernel // 2
        # mask B of a 1 x k kernel keeps columns j - k//2 .. j: a 1 x (k//2 + 1) kernel over them
        self.input_to_state = _input_to_state(h, self.p + 1, groups)
        self.state_to_state = nn.Conv1d(h, 4 * h, kernel)  # unmasked: the whole previous row is earlier
        self.up = conv1x1(h, 2 * h, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, rows, cols = x.shape
        gates_in = self.input_to_state(F.pad(x, (self.p, 0)))
        h = x.new_zeros(n, self.h, cols)
        c = torch.zeros_like(h)
        out = []
        for i in range(rows):
            h, c = _lstm(gates_in[:, :, i] + self.state_to_state(F.pad(h, (self.p, self.p))), c)
            out.append(h)
        return x + self.up(torch.stack(out, 2))

    # --- one pixel at a time ---------------------------------------------------------------------------
    def start(self, n: int, cols: int, like: torch.Tensor) -> dict[str, torch.Tensor]:
        p, z = self.p, lambda c, w: like.new_zeros(n, c, w)
        return {"in": z(2 * self.h, cols + p), "h_prev": z(self.h, cols + 2 * p), "c_prev": z(self.h, cols),
                "h": z(self.h, cols + 2 * p), "c": z(self.h, cols)}

    def step(self, s: dict[str, torch.Tensor], v: torch.Tensor, j: int) -> torch.Tensor:
        """The layer's output at column j of the current row, from its input ``v`` (N, 2h) there."""
        p = self.p
        s["in"][:, :, p + j] = v
        gates = (self.input_to_state(s["in"][:, :, None, j:j + p + 1])[:, :, 0, 0]
                 + self.state_to_state(s["h_prev"][:, :, j:j + 2 * p + 1])[:, :, 0])
        h, c = _lstm(gates, s["c_prev"][:, :, j])
        s["h"][:, :, p + j], s["c"][:, :, j] = h, c
        return v + _one(self.up, h)

    def end_row(self, s: dict[str, torch.Tensor]) -> None:
        s["h_prev"], s["h"] = s["h"], torch.zeros_like(s["h"])
        s["c_prev"], s["c"] = s["c"], torch.zeros_like(s["c"])


def skew(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W + H - 1): row i moved i columns right, zeros elsewhere."""
    n, c, rows, cols = x.shape
    out = x.new_zeros(n, c, rows, cols + rows - 1)
    for i in range(rows):
        out[:, :, i, i:i + cols] = x[:, :, i]
    return out


def unskew(x: torch.Tensor, cols: int) -> torch.Tensor:
    return torch.stack([x[:, :, i, i:i + cols] for i in range(x.shape[2])], 2)


class DiagonalLSTM(nn.Module):
    """One direction, left to right: the state of (i, j) from those of (i-1, j) and (i, j-1)."""

    def __init__(self, h: int, groups: int = 1) -> None:
        super().__init__()
        self.h = h
        self.input_to_state = _input_to_state(h, 1, groups)  # 1x1 mask B (by channel where they are ordered)
        self.state_to_state = nn.Conv1d(h, 4 * h, 2)  # in the skewed map: rows r-1 and r of the previous column

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, rows, cols = x.shape
        gates_in = skew(self.input_to_state(x))
        inside = skew(x.new_ones(1, 1, rows, cols))[0, 0]  # states outside the image stay zero
        h = x.new_zeros(n, self.h, rows)
        c = torch.zeros_like(h)
        out = []
        for col in range(gates_in.shape[-1]):
            h, c = _lstm(gates_in[..., col] + self.state_to_state(F.pad(h, (1, 0))), c)
            h, c = h * inside[:, col], c * inside[:, col]
            out.append(h)
        return unskew(torch.stack(out, -1), cols)

    def step(self, v: torch.Tensor, h_up: torch.Tensor, h_left: torch.Tensor,
             c_left: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The state at one pixel from its input ``v`` (N, 2h) and its neighbours' states."""
        gates = _one(self.input_to_state, v) + self.state_to_state(torch.stack([h_up, h_left], -1))[:, :, 0]
        return _lstm(gates, c_left)


class DiagonalBiLSTMLayer(nn.Module):
    def __init__(self, h: int, groups: int = 1) -> None:
        super().__init__()
        self.h = h
        # the right-to-left direction reaches row i only from row i - 1 (shifted down): no channel mask
        self.forward_dir, self.backward_dir = DiagonalLSTM(h, groups), DiagonalLSTM(h)
        self.up = conv1x1(h, 2 * h, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (i, j) from (i-1, j) and (i, j+1): the future ...
        left, right = self.forward_dir(x), self.backward_dir(x.flip(-1)).flip(-1)
        right = F.pad(right, (0, 0, 1, 0))[:, :, :-1]  # ... until shifted down a row: row i gets row i-1's
        return x + self.up(left + right)

    # --- one pixel at a time ---------------------------------------------------------------------------
    def start(self, n: int, cols: int, like: torch.Tensor) -> dict[str, torch.Tensor]:
        z = lambda c, w: like.new_zeros(n, c, w)  # noqa: E731
        return {"in": z(2 * self.h, cols), "h_prev": z(self.h, cols), "h": z(self.h, cols),
                "c_left": z(self.h, 1)[..., 0], "r_prev": z(self.h, cols)}

    def step(self, s: dict[str, torch.Tensor], v: torch.Tensor, j: int) -> torch.Tensor:
        s["in"][:, :, j] = v
        h_left = s["h"][:, :, j - 1] if j else torch.zeros_like(s["c_left"])
        c_left = s["c_left"] if j else torch.zeros_like(s["c_left"])
        h, s["c_left"] = self.forward_dir.step(v, s["h_prev"][:, :, j], h_left, c_left)
        s["h"][:, :, j] = h
        return v + _one(self.up, h + s["r_prev"][:, :, j])

    def end_row(self, s: dict[str, torch.Tensor]) -> None:
        """The right-to-left states of the finished row (used by the next row), then the next row."""
        r = torch.zeros_like(s["r_prev"])
        h_right = c_right = torch.zeros_like(s["c_left"])
        for j in reversed(range(r.shape[-1])):
            h_right, c_right = self.backward_dir.step(s["in"][:, :, j], s["r_prev"][:, :, j], h_right, c_right)
            r[:, :, j] = h_right
        s["r_prev"], s["h_prev"], s["h"] = r, s["h"], torch.zeros_like(s["h"])


class PixelRNN(nn.Module):
    def __init__(self, shape: Sequence[int], levels: int = 256, variant: str = "row_lstm", hidden: int = 16,
                 layers: int = 2, kernel: int = 3, out_hidden: int = 32, out_channels: int | None = None,
                 ordered: bool = False) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"Unknown model.variant={variant!r}; choose row_lstm or diagonal_bilstm.")
        if variant == "row_lstm" and (kernel < 3 or kernel % 2 == 0):
            raise ConfigError(f"net.network.kernel={kernel} must be odd and >= 3 (the Row LSTM's 1 x k convs).")
        self.shape, self.levels, self.variant = _check_shape(shape), levels, variant
        g = self.groups = _groups(self.shape, ordered, out_channels)
        self.first = MaskedConv2d(self.shape[0], 2 * hidden, FIRST_KERNEL, "A", g)
        make = ((lambda: RowLSTMLayer(hidden, kernel, g)) if variant == "row_lstm" else
                (lambda: DiagonalBiLSTMLayer(hidden, g)))
        self.layers = nn.ModuleList([make() for _ in range(layers)])
        self.head = _output_head(2 * hidden, out_hidden, levels, out_channels or self.shape[0], g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.first(x)
        for layer in self.layers:
            y = layer(y)
        return self.head(y)

    def incremental(self, x: torch.Tensor) -> CachedSampler:
        if self.groups > 1:
            raise ConfigError("The cached PixelRNN sampler draws a pixel's channels together; with "
                              "model.channel_order=ordered use model.sampler=naive (or auto).")
        return CachedSampler(self, x)


class CachedSampler:
    """Logits one pixel at a time, carrying every layer's recurrent state.

    Call ``at(i, j)`` for every pixel in raster order: it returns the pixel's logits (N, levels,
    out_channels). Before each call the pixels before (i, j) must be final in ``canvas`` (the caller
    writes sampled values there). Each call computes the first conv on
    the 7x7 patch above and left of (i, j) and one column of each LSTM layer: O(layers) work per pixel,
    where the full pass costs O(H W layers)."""

    def __init__(self, net: PixelRNN, x: torch.Tensor) -> None:
        self.net, self.k = net, FIRST_KERNEL // 2
        self.padded = F.pad(x, (self.k,) * 4)
        self.canvas = self.padded[:, :, self.k:-self.k, self.k:-self.k]  # a view: writes reach the padded copy
        n, _, self.rows, self.cols = x.shape
        self.states = [layer.start(n, self.cols, x) for layer in net.layers]
        self.next = (0, 0)

    def at(self, i: int, j: int) -> torch.Tensor:
        if (i, j) != self.next:
            raise RuntimeError(f"CachedSampler.at({i}, {j}) called out of raster order (expected {self.next}).")
        first = self.net.first
        patch = self.padded[:, :, i:i + 2 * self.k + 1, j:j + 2 * self.k + 1]
        v = F.conv2d(patch, first.weight * first.mask, first.bias)[:, :, 0, 0]
        for layer, state in zip(self.net.layers, self.states):
            v = layer.step(state, v, j)
        if j == self.cols - 1:
            for layer, state in zip(self.net.layers, self.states):
                layer.end_row(state)
        self.next = (i, j + 1) if j < self.cols - 1 else (i + 1, 0)
        return self.net.head(v[:, :, None, None])[..., 0, 0]  # (N, levels, out_channels)


def pixel_rnn(shape: Sequence[int], levels: int, variant: str = "row_lstm", **kwargs) -> PixelRNN:
    return PixelRNN(shape, levels, variant=variant, **kwargs)


pixel_rnn.forwards_to = (PixelRNN,)  # its **kwargs: PixelRNN's arguments (genzoo.unknown_keys)
