"""Loading emotion CNNs: a broken model folder is one error naming the file; the shipped int8 graphs compute the
same logits on every x86 CPU."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from fervid.inference.align import preprocess_faces
from fervid.inference.models import EmotionCNN, available_models, resolve_model_dir

from conftest import needs_avx2_emulation, run_onnx, synthetic_faces


@needs_avx2_emulation
@pytest.mark.parametrize("model", available_models())
def test_int8_model_gives_the_same_logits_on_an_avx2_only_cpu(model, tmp_path, astronaut_rgb):
    """7-bit weights keep the 16-bit pair sums of an AVX2-only CPU's int8 kernel from overflowing (8-bit ones
    changed 3-4% of FER2013 PublicTest labels there): on an emulated AVX2 CPU the logits are exactly the native
    ones."""
    cnn = EmotionCNN(model)
    assert cnn.precision == "int8"
    grey = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)
    crops, _ = preprocess_faces(grey, cnn.config.normalization, eyes=[((200.0, 100.0), (265.0, 100.0))],
                                template=cnn.config.template)
    faces = np.concatenate([crops, crops[:, :, ::-1], synthetic_faces(30)[0]])
    inputs = {cnn.input_name: cnn.config.normalization(faces).astype(np.float32)}
    int8_file = resolve_model_dir(model) / cnn.config.int8_file
    native = run_onnx(int8_file, inputs, tmp_path)
    np.testing.assert_array_equal(run_onnx(int8_file, inputs, tmp_path, emulate_avx2=True), native)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "config.json").write_text("{oops", encoding="utf-8"), "config.json: not a readable model config"),
    (lambda d: (d / "config.json").write_text('{"name": "x"}', encoding="utf-8"), "config.json: not an emotion model's config"),
    (lambda d: (d / "model_int8.onnx").write_bytes(b"not a graph"), "model_int8.onnx: ONNX Runtime cannot load it"),
])
def test_a_broken_model_folder_is_one_error_naming_the_file(tmp_path, damage, message):
    """A hand-edited config or a cut-short download gave a KeyError, JSONDecodeError or InvalidProtobuf traceback."""
    import shutil

    from fervid.inference.models import MODELS, EmotionCNN, ModelError

    folder = Path(shutil.copytree(MODELS["fer2013_vgg"], tmp_path / "copy"))
    damage(folder)
    with pytest.raises(ModelError, match=message):
        EmotionCNN(folder)


def test_a_temporal_model_folder_is_named_as_one_when_given_as_the_cnn():
    from fervid.inference.models import WEIGHTS_DIR, EmotionCNN, ModelError

    with pytest.raises(ModelError, match="a temporal model .* not an emotion CNN"):
        EmotionCNN(WEIGHTS_DIR / "temporal_lstm_ferplus_vgg")
