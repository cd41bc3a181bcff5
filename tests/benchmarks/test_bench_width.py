"""benchmarks/bench_width.py: the cost model it prints next to each candidate's measured speed."""


import pytest

torch = pytest.importorskip("torch")

from fervid.training.network import EmotionVGG, NetConfig  # noqa: E402

from benchmark_scripts import load  # noqa: E402

bench_width = load("bench_width")


def _counted_by_torch(stages, convs, input_size) -> tuple[int, int]:
    """Multiply-adds from the real layers' output shapes (forward hooks), parameters from the module."""
    net = EmotionVGG(NetConfig(stages=stages, convs_per_stage=convs, input_size=input_size)).eval()
    macs = []

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            macs.append(output.numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1])
        else:
            macs.append(output.numel() * module.in_features)

    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 1, 48, 48))
    return sum(macs), sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("shape", ["32,64,128,256:1,2,2,2", "32,64,128,256,512:1,2,2,2,2", "40,80:2,1",
                                   "20,40,80,160:1,2,2,3@64"])
def test_cost_model_matches_the_network_torch_builds(shape):
    stages, convs, size = bench_width.parse_shape(shape)
    assert bench_width.conv_macs_and_params(stages, convs, size) == _counted_by_torch(stages, convs, size)
