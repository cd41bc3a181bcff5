"""A trainable network rebuilt from an exported model folder: the shipped models, and tiny runs exported here."""

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fervid.evaluation.datasets import load_fer2013  # noqa: E402
from fervid.inference.align import Normalization  # noqa: E402
from fervid.inference.models import EmotionCNN, available_models  # noqa: E402
from fervid.training.export import export_ensemble, export_onnx  # noqa: E402
from fervid.training.from_model import network_from_model  # noqa: E402
from fervid.training.train import load_net, predict_logits, train  # noqa: E402

from conftest import synthetic_faces, write_fer2013_csv  # noqa: E402
from training.test_train import tiny_config  # noqa: E402

SHIPPED_CNNS = [m for m in available_models() if not m.startswith("temporal")]


@pytest.mark.parametrize("model", SHIPPED_CNNS)
def test_a_shipped_model_rebuilds_to_the_network_its_onnx_graph_computes(model):
    cnn = EmotionCNN(model, precision="fp32")
    images, _ = synthetic_faces(300, seed=5)
    x = cnn.config.normalization(images)
    net, norm = network_from_model(model, torch.from_numpy(x[:256]))
    assert norm.matches(cnn.config.normalization)
    np.testing.assert_allclose(predict_logits(net, torch.from_numpy(x[256:])).numpy(), cnn(x[256:]).logits,
                               atol=1e-3)


def test_batchnorm_takes_the_real_statistics_so_training_mode_starts_where_the_export_is(fer_csv, tmp_path):
    run = train(tiny_config(fer_csv, epochs=2), tmp_path / "run", progress=False)
    # BatchNorm scales far from 1, as a long run's are (2 tiny epochs leave them near their initial 1)
    state = torch.load(run / "last.pt", weights_only=False)
    rng = np.random.default_rng(0)
    for key, value in state["model"].items():
        if key.startswith("body.") and key.endswith(".weight") and value.ndim == 1:
            value.mul_(torch.from_numpy(rng.uniform(2.0, 4.0, len(value)).astype(np.float32)))
    torch.save(state, run / "scaled.pt")
    folder = export_onnx(run, tmp_path / "model", checkpoint="scaled.pt")
    trained = load_net(run / "scaled.pt")
    faces = torch.from_numpy(EmotionCNN(folder).config.normalization(load_fer2013(fer_csv, "Training").images))
    rebuilt, _ = network_from_model(folder, faces)

    first_conv, first_norm = rebuilt.body[0], rebuilt.body[1]
    with torch.no_grad():
        out = first_conv(faces)
    np.testing.assert_allclose(first_norm.running_mean, out.mean((0, 2, 3)), atol=1e-4)
    np.testing.assert_allclose(first_norm.running_var, out.var((0, 2, 3), unbiased=False), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(predict_logits(rebuilt, faces[:64]), predict_logits(trained, faces[:64]), atol=1e-4)

    def conv_features(net, training):  # the convolutions' output, BatchNorm on this batch's statistics or stored ones
        net.train(training)
        with torch.no_grad():
            out = net.body(faces[:256])
        net.eval()
        return out

    # the same eval-mode function with each BatchNorm an identity plus the folded bias: training mode then
    # re-normalises every convolution's output to unit variance, far from what the exported network computes
    identity_norms = copy.deepcopy(rebuilt)
    for norm in (m for m in identity_norms.body if isinstance(m, torch.nn.BatchNorm2d)):
        norm.bias.data.sub_(norm.running_mean * norm.weight / torch.sqrt(norm.running_var + norm.eps))
        norm.weight.data.fill_(1.0)
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)
    exported = conv_features(rebuilt, training=False)
    np.testing.assert_allclose(conv_features(identity_norms, training=False), exported, atol=1e-3)
    drift = (conv_features(rebuilt, training=True) - exported).abs().mean() / exported.abs().mean()
    identity_drift = (conv_features(identity_norms, training=True) - exported).abs().mean() / exported.abs().mean()
    assert drift < 0.1 and identity_drift > 0.5


def test_a_second_stage_starts_from_an_exported_folder_and_keeps_its_normalisation_on_other_faces(fer_csv, tmp_path):
    first = train(tiny_config(fer_csv, epochs=2), tmp_path / "first", progress=False)
    folder = export_onnx(first, tmp_path / "model", checkpoint="last.pt")
    # a learning rate too small to move the weights: the second stage scores what the exported network scores
    second = train(tiny_config(fer_csv, epochs=1, lr=1e-9, weight_decay=0.0, init_from=str(folder)),
                   tmp_path / "second", progress=False)
    first_acc = json.loads((first / "metrics.jsonl").read_text().splitlines()[-1])["val_acc"]
    second_acc = json.loads((second / "metrics.jsonl").read_text().splitlines()[-1])["val_acc"]
    assert second_acc == pytest.approx(first_acc, abs=0.01)

    # fine-tuned on other faces, the network goes on with the inputs it learnt on (a normalisation refitted on the
    # new faces would feed it inputs it never saw; such a run used to be refused)
    other_faces = write_fer2013_csv(tmp_path / "other.csv", {"Training": 300, "PublicTest": 50}, seed=7)
    tuned = train(tiny_config(other_faces, epochs=1, init_from=str(folder)), tmp_path / "tuned", progress=False)
    kept = Normalization.from_dict(json.loads((tuned / "normalization.json").read_text(encoding="utf-8")))
    assert kept.matches(EmotionCNN(folder).config.normalization)
    assert not kept.matches(Normalization.fit(load_fer2013(other_faces, "Training").images))
    ensemble = export_ensemble([first, first], tmp_path / "ens", checkpoint="last.pt")
    with pytest.raises(ValueError, match="not a single exported network"):
        train(tiny_config(fer_csv, epochs=1, init_from=str(ensemble)), tmp_path / "bad2", progress=False)
