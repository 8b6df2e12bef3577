"""Make the ONNX models under models/ and torch's float64 answers for them (run once).

    .venv/bin/pip install torch==2.13.0 onnxscript && .venv/bin/python tests/onnxio/make_models.py

(``make_models.py decoder`` or ``layers`` makes only those models.)

Each model NAME gets models/NAME.onnx (exported from float32 torch modules by the
TorchScript exporter or the dynamo exporter) and models/NAME.npz holding the feeds
(``feed/<input>``), a cotangent for each output (``cotangent/<output>``), and torch's
answers in float64 on a double copy of the module with the same weights: the outputs
(``value/<output>``) and the VJP with respect to every input and every parameter whose
name is an initializer of the model (``grad/<name>``). `make test` only reads these files.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

HERE = Path(__file__).resolve().parent / "models"


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(5, 8), nn.Linear(8, 6), nn.Linear(6, 3)

    def forward(self, x):
        h = torch.tanh(self.fc1(x))
        h = torch.sigmoid(self.fc2(h)) * torch.relu(h[:, :6])
        return torch.log_softmax(self.fc3(h), dim=-1)


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2, padding=(1, 2), dilation=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, groups=2, dilation=2, bias=False)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg = nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False)
        self.conv1d = nn.Conv1d(4, 2, 2)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv1(x)))
        h = nn.functional.leaky_relu(self.conv2(h), 0.1)
        h = self.avg(self.pool(h))
        g = nn.functional.adaptive_avg_pool2d(h, 1).flatten(1)
        s = self.conv1d(h.flatten(2))  # (N, 4, L) -> (N, 2, L - 1)
        return self.fc(torch.cat([g, s.mean(-1), nn.functional.hardswish(s[:, :, 0])], 1))


class Block(nn.Module):
    """A pre-norm transformer block with hand-written attention (what the exporters see
    from GPT-style code): LayerNorm, split heads, softmax, GELU, residuals."""

    def __init__(self, d: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.up, self.down = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        split = lambda z: z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        att = (q @ k.transpose(-2, -1)) / (d // self.heads) ** 0.5
        mask = torch.ones(t, t).tril() == 0
        att = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        h = nn.functional.gelu(self.up(self.ln2(x)))
        return x + self.down(h).pow(2).sqrt().neg() * 0.1 + self.down(h)


class Flat(nn.Module):
    """x.view(x.size(0), -1) with a symbolic batch: Shape -> Gather -> Unsqueeze -> Concat
    -> Reshape, folded with the batch dim left to run time."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(x.view(x.size(0), -1) * x.size(1))


class Misc(nn.Module):
    """Indexing and shape ops: Gather (an embedding), GatherElements, Where, Expand, Slice
    with steps, Concat, ReduceSum/Mean, Pow, Div, Cast, Equal, Unsqueeze/Squeeze."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 4))

    def forward(self, x, ids):
        e = self.emb(ids)  # (2, 3, 4)
        picked = torch.gather(x, 1, torch.tensor([[0, 3, 1], [2, 2, 0]]))  # (2, 3)
        y = e * self.scale + picked.unsqueeze(-1)
        y = torch.where(y > 0, y, y.pow(3) / 2)
        z = y[:, ::2, 1:].sum(dim=1, keepdim=True).expand(2, 3, 3)
        w = torch.cat([z, y[..., :1]], dim=-1).mean(dim=-1)
        same = (ids == 2).to(x.dtype)
        return (w * (1 + same)).squeeze(), x.abs().sqrt().sum(-1) / 3


class Decoder(nn.Module):
    """An upsampling CNN head (what UNet / GAN decoders export): ConvTranspose, GroupNorm,
    InstanceNorm, PReLU, nearest and bilinear upsampling, PixelShuffle, a reflect pad, a
    dilated max pool, Mish."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.gn = nn.GroupNorm(2, 4)
        self.act = nn.PReLU(4)
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.inorm = nn.InstanceNorm2d(2, affine=True)
        self.shuffle = nn.PixelShuffle(2)
        self.pool = nn.MaxPool2d(2, stride=2, dilation=2)
        self.fc = nn.Linear(2, 3)

    def forward(self, x):
        h = self.act(self.gn(self.up(x)))  # (N, 4, 2H, 2W)
        h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
        h = self.shuffle(self.conv(h))  # (N, 2, 8H, 8W)
        h = nn.functional.mish(self.inorm(h))
        h = nn.functional.interpolate(h, size=(5, 6), mode="bilinear", align_corners=False)
        h = self.pool(nn.functional.pad(h, (1, 1, 2, 0), mode="reflect"))
        return self.fc(h.mean(dim=(2, 3)))


class Encoder(nn.Module):
    """A token model as torch's own layers write it: Embedding with cumsum positions (Mod),
    causal scaled_dot_product_attention, nn.TransformerEncoderLayer (pre-norm, GELU)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(11, 8)
        self.enc = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                              activation="gelu", norm_first=True)
        self.head = nn.Linear(8, 11)

    def forward(self, ids):
        # from the ids' values, not their shape: the dynamo exporter would fold the position
        # embedding into a constant, cut off from emb.weight
        pos = torch.cumsum((ids >= 0).long(), dim=1) - 1
        h = self.emb(ids) + self.emb(pos % 11)
        q = h.unsqueeze(1)
        a = nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).squeeze(1)
        return self.head(self.enc(h + a)).log_softmax(-1)


class Vision(nn.Module):
    """A CNN of torch's activations and LocalResponseNorm (which the dynamo exporter
    writes as a 3-D AveragePool, TorchScript with an If on the rank), ending in
    F.normalize."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.lrn = nn.LocalResponseNorm(2)

    def forward(self, x):
        h = nn.functional.avg_pool2d(self.lrn(torch.relu(self.bn(self.conv(x)))), 3)
        h = (nn.functional.hardtanh(h) + nn.functional.silu(h) + nn.functional.elu(h, 0.5)
             + nn.functional.softplus(h, beta=2))
        h = (torch.clamp(h, min=-0.5) + nn.functional.relu6(h)
             + nn.functional.hardsigmoid(h) + nn.functional.logsigmoid(h))
        return nn.functional.normalize(h.flatten(1), dim=1)


def export(name: str, module: nn.Module, feeds: dict[str, np.ndarray], output_names,
           *, dynamo: bool, opset: int, dynamic: dict | None = None) -> None:
    module.eval()
    torch.manual_seed(0)
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    buf = io.BytesIO()
    kwargs = dict(input_names=list(feeds), output_names=output_names, opset_version=opset,
                  dynamo=dynamo)
    if dynamic:
        kwargs["dynamic_axes"] = dynamic
    if not dynamo:
        kwargs["do_constant_folding"] = False  # keep weights as the parameters they are
    torch.onnx.export(module, args, buf, **kwargs)
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model)
    (HERE / f"{name}.onnx").write_bytes(model.SerializeToString())

    params = dict(module.named_parameters())
    # an initializer is the parameter only where it holds its value (the dynamo exporter's
    # optimizer fuses BatchNormalization into the Conv before it, for one)
    inits = {i.name for i in model.graph.initializer
             if i.name in params and np.array_equal(onnx.numpy_helper.to_array(i),
                                                    params[i.name].detach().float().numpy())}
    double = module.double()
    params = dict(double.named_parameters())
    leaves = {k: torch.from_numpy(v.astype(np.float64) if v.dtype.kind == "f" else v)
              .requires_grad_(v.dtype.kind == "f") for k, v in feeds.items()}
    outs = double(*leaves.values())
    outs = outs if isinstance(outs, tuple) else (outs,)
    rng = np.random.default_rng(1)
    record: dict[str, np.ndarray] = {f"feed/{k}": v for k, v in feeds.items()}
    cots = []
    for out_name, out in zip(output_names, outs):
        cot = rng.normal(size=tuple(out.shape)).round(2)
        cots.append(torch.from_numpy(cot))
        record[f"cotangent/{out_name}"] = cot.astype(np.float32)
        record[f"value/{out_name}"] = out.detach().numpy()
    wrt = {k: v for k, v in leaves.items() if v.requires_grad}
    wrt.update({k: p for k, p in params.items() if k in inits})
    print(name, "parameters checked:", sorted(k for k in params if k in inits))
    grads = torch.autograd.grad(outs, list(wrt.values()), cots, allow_unused=True)
    for k, g in zip(wrt, grads):
        record[f"grad/{k}"] = np.zeros(tuple(wrt[k].shape)) if g is None else g.numpy()
    np.savez(HERE / f"{name}.npz", **record)
    module.float()
    print(name, sorted({n.op_type for n in model.graph.node}))


def main() -> None:
    HERE.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.normal(size=s).astype(np.float32)
    torch.manual_seed(0)
    mlp, cnn, block, misc, flat = MLP(), CNN(), Block(), Misc(), Flat()
    with torch.no_grad():
        # no two parameters alike (exporters share equal initializers: LayerNorm's ones)
        for module in (mlp, cnn, block, misc, flat):
            for p in module.parameters():
                p.add_(0.1 * torch.randn_like(p))
        cnn.bn.running_mean.copy_(torch.linspace(-0.2, 0.3, 4))  # non-trivial statistics
        cnn.bn.running_var.copy_(torch.linspace(0.5, 2.0, 4))
    export("mlp_ts13", mlp, {"x": f32(4, 5)}, ["y"], dynamo=False, opset=13)
    export("mlp_ts17_batch", mlp, {"x": f32(3, 5)}, ["y"], dynamo=False, opset=17,
           dynamic={"x": {0: "batch"}, "y": {0: "batch"}})
    export("flat_ts13_batch", flat, {"x": f32(3, 2, 3)}, ["y"], dynamo=False, opset=13,
           dynamic={"x": {0: "batch"}, "y": {0: "batch"}})
    export("cnn_ts13", cnn, {"x": f32(2, 3, 9, 8)}, ["y"], dynamo=False, opset=13)
    export("cnn_dynamo18", cnn, {"x": f32(2, 3, 9, 8)}, ["y"], dynamo=True, opset=18)
    export("block_ts17", block, {"x": f32(2, 5, 8)}, ["y"], dynamo=False, opset=17)
    export("block_ts14", block, {"x": f32(2, 5, 8)}, ["y"], dynamo=False, opset=14)
    export("block_dynamo18", block, {"x": f32(2, 5, 8)}, ["y"], dynamo=True, opset=18)
    export("block_dynamo20", block, {"x": f32(2, 5, 8)}, ["y"], dynamo=True, opset=20)
    ids = np.array([[1, 2, 6], [2, 0, 3]], dtype=np.int64)
    export("misc_ts16", misc, {"x": f32(2, 4), "ids": ids}, ["w", "r"], dynamo=False,
           opset=16)
    export("misc_dynamo18", misc, {"x": f32(2, 4), "ids": ids}, ["w", "r"], dynamo=True,
           opset=18)
    decoder()
    layers()


def decoder() -> None:
    """The Decoder models, with their own seeds (added later: the others stay as made)."""
    rng = np.random.default_rng(5)
    torch.manual_seed(5)
    module = Decoder()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = rng.normal(size=(2, 3, 2, 3)).astype(np.float32)
    export("decoder_ts17", module, {"x": x}, ["y"], dynamo=False, opset=17)
    export("decoder_dynamo18", module, {"x": x}, ["y"], dynamo=True, opset=18)


def layers() -> None:
    """The Encoder and Vision models (torch's own layers), with their own seeds."""
    rng = np.random.default_rng(6)
    torch.manual_seed(6)
    encoder, vision = Encoder(), Vision()
    with torch.no_grad():
        for module in (encoder, vision):
            for p in module.parameters():
                p.add_(0.1 * torch.randn_like(p))
        vision.bn.running_mean.copy_(torch.linspace(-0.2, 0.3, 4))
        vision.bn.running_var.copy_(torch.linspace(0.5, 2.0, 4))
    ids = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.int64)
    export("encoder_ts17", encoder, {"ids": ids}, ["y"], dynamo=False, opset=17)
    export("encoder_dynamo18", encoder, {"ids": ids}, ["y"], dynamo=True, opset=18)
    x = rng.normal(size=(2, 3, 8, 8)).astype(np.float32)
    export("vision_dynamo18", vision, {"x": x}, ["y"], dynamo=True, opset=18)
    # TorchScript writes LocalResponseNorm with an If on the input's rank (folded)
    export("vision_ts17", vision, {"x": x}, ["y"], dynamo=False, opset=17)


if __name__ == "__main__":
    import sys

    {"decoder": decoder, "layers": layers}.get(" ".join(sys.argv[1:]), main)()
