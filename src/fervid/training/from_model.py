"""A trainable network rebuilt from an exported model folder (imports torch): the inverse of
:func:`fervid.training.export.export_onnx`, so a shipped model can start a second training stage
(``init_from = "ferplus_vgg"``) without the checkpoint it was exported from.

The export folds every convolution's BatchNorm into its weights and a bias (eval mode: ``w' = w * g / s``,
``b' = beta - mean * g / s``), and a folded graph cannot say which ``g``, ``beta``, ``mean`` and ``var`` it came
from. Any choice that computes the same function in eval mode will do for inference, but training runs BatchNorm
on batch statistics, so the choice matters: here every BatchNorm gets the real mean and variance of its
convolution's output over the faces given (``w' * x``), and the scale and shift that map it back to ``w' * x + b'``.
In eval mode the network is then exactly the exported one; in training mode, where a batch's statistics are close
to those, it starts where the exported network is instead of at a re-normalised copy of it. A network without
BatchNorm (``batch_norm = false``, the published design's) has nothing folded: its convolutions' weights and biases
are the graph's own.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from onnx import numpy_helper

from fervid.inference.align import Normalization
from fervid.inference.models import ModelConfig, resolve_model_dir
from fervid.training.network import EmotionVGG, NetConfig


def network_from_model(model: str | Path, faces: torch.Tensor, batch_size: int = 512
                       ) -> tuple[EmotionVGG, Normalization]:
    """The network of an exported model folder or shipped name, and the normalisation its inputs need.

    ``faces``: normalised training faces (N, 1, 48, 48) as the model was trained on, whose statistics every
    convolution's BatchNorm takes (a few thousand are plenty; a network without BatchNorm reads none).
    """
    folder = resolve_model_dir(model)
    config = ModelConfig.load(folder / "config.json")
    net_shape = {k: v for k, v in config.net.items() if k != "flip_tta"}
    if config.net.get("flip_tta") or "stages" not in net_shape:
        raise ValueError(f"{folder}: not a single exported network (an ensemble, or exported with flip averaging)")
    net = EmotionVGG(NetConfig.from_dict(net_shape))
    graph = onnx.load(str(folder / "model.onnx")).graph
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    state = net.state_dict()
    for key in state:  # the 1-d BatchNorm after the dense layer, and the dense layers, keep their names
        if f"net.{key}" in weights:
            state[key] = weights[f"net.{key}"]
    convs = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in net.body if isinstance(m, torch.nn.BatchNorm2d)]
    folded = [(weights[n.input[1]], weights[n.input[2]]) for n in graph.node if n.op_type == "Conv"]
    if len(folded) != len(convs):
        raise ValueError(f"{folder}: {len(folded)} convolutions in the graph, {len(convs)} in its network shape")
    net.load_state_dict(state)
    for conv, (weight, bias) in zip(convs, folded):
        conv.weight.data.copy_(weight)
        if conv.bias is not None:  # no BatchNorm after it: the graph's bias is the convolution's own
            conv.bias.data.copy_(bias)
    if not norms:
        return net.eval(), config.normalization
    statistics = [_running_statistics(n) for n in norms]
    # first the exported function exactly (statistics 0 and 1 - eps, scale 1, shift the folded bias) ...
    for norm, (running_mean, running_var), (_, bias) in zip(norms, statistics, folded):
        running_mean.zero_()
        running_var.fill_(1.0 - norm.eps)
        norm.weight.data.fill_(1.0)
        norm.bias.data.copy_(bias)
    net.eval()
    # ... then each BatchNorm's real input statistics over the faces, with the scale and shift that keep it
    sums = [torch.zeros(n.num_features, dtype=torch.float64) for n in norms]
    squares = [torch.zeros_like(s) for s in sums]
    pixels = [0] * len(norms)  # values per channel seen: faces x output height x width

    def accumulate(k: int):
        def hook(_module, _inputs, out: torch.Tensor) -> None:  # None: the output passes on unchanged
            sums[k].add_(out.double().sum((0, 2, 3)))
            squares[k].add_(out.double().pow(2).sum((0, 2, 3)))
            pixels[k] += out.shape[0] * out.shape[2] * out.shape[3]
        return hook

    hooks = [conv.register_forward_hook(accumulate(k)) for k, conv in enumerate(convs)]
    with torch.no_grad():
        for i in range(0, len(faces), batch_size):
            net.body(faces[i : i + batch_size].float())
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        for norm, (running_mean, running_var), total, total_squares, n in zip(norms, statistics, sums, squares,
                                                                               pixels):
            mean = total / n
            var = (total_squares / n - mean.pow(2)).clamp_min(0.0)
            running_mean.copy_(mean.float())
            running_var.copy_(var.float())
            norm.weight.data.copy_(torch.sqrt(var + norm.eps).float())
            norm.bias.data.add_(mean.float())
    return net, config.normalization


def _running_statistics(norm: torch.nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``norm``'s running mean and variance (typed optional by torch: a BatchNorm built with
    ``track_running_stats=False`` has none)."""
    assert norm.running_mean is not None and norm.running_var is not None, "EmotionVGG's BatchNorms track them"
    return norm.running_mean, norm.running_var
