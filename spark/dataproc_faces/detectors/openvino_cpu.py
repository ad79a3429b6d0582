"""OpenVINO on one CPU thread: how the DNN detectors load their networks.

One thread per network, unpinned, because Spark already runs one task per core. OpenVINO
chooses the inference precision itself: bf16 on CPUs with AVX512-BF16 or AMX, fp32 elsewhere
(where RetinaFace runs its int8 network instead); which one is in force is reported so
manifests, summaries and galleries can say it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from dataproc_faces.detectors.base import DetectorError

# No CPU pinning: with one thread per network, OpenVINO pins every process's thread to the same
# core, so two Spark tasks ran their networks one after the other (measured here: two processes
# side by side 0.60-0.67 s per 8 runs pinned, 0.37-0.38 s unpinned, 0.37 s alone).
CONFIG = {
    "INFERENCE_NUM_THREADS": 1,
    "NUM_STREAMS": 1,
    "PERFORMANCE_HINT": "LATENCY",
    "ENABLE_CPU_PINNING": False,
    # Kernels are not cached per input shape: photos come in many sizes, and over 60 photos of
    # 1-12 MP the cache grew a worker from 577 to 752 MiB for no speed (15.9 against 15.7 CPU-s).
    "CPU_RUNTIME_CACHE_CAPACITY": 0,
}


def first_line(exc: BaseException) -> str:
    """OpenVINO's messages run over many lines, the first ones C++ source locations: the first
    line that says something, so a start-up error stays one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = [line for line in lines if not re.match(r"Exception from \S+:\d+:?$", line)]
    return (said or lines or [type(exc).__name__])[0]


def cpu_has_bf16() -> bool:
    """Whether OpenVINO runs bf16 on this CPU (AVX512-BF16 or AMX): it then picks bf16 itself."""
    try:
        import openvino as ov
    except ImportError:
        return False  # compile_on_cpu says what is missing
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def precision(compiled: Any) -> str:
    """`bf16` or `fp32`: what OpenVINO chose for this CPU."""
    hint = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
    return "bf16" if "bf16" in hint or "bfloat16" in hint else "fp32"


def pixels_input(model: Any, mean_bgr: tuple[float, float, float], outputs: tuple[str, ...]) -> Any:
    """`model` taking a BGR uint8 canvas (1, H, W, 3) as it is and returning only `outputs`.

    The conversion to float, the mean and the channel transpose run inside the compiled network
    (fused with its first layer), not in numpy: that was 5-10 ms per megapixel of float copies.
    Outputs nobody reads (landmarks) are cut off so their layers never run."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    wanted = [r for r in model.get_results() if r.output(0).get_any_name() in outputs]
    if len(wanted) != len(outputs):
        raise DetectorError(f"the model has no outputs {outputs}")
    model = ov.Model(wanted, model.get_parameters(), model.get_friendly_name())
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).mean(list(mean_bgr))
    return ppp.build()


def takes_pixels(model: Any) -> bool:
    """Whether the network's input is already uint8 pixels (a model saved after pixels_input)."""
    return model.inputs[0].get_element_type().get_type_name() == "u8"


def compile_on_cpu(
    model: bytes,
    what: str,
    shape: list[int] | None = None,
    hint: str | None = None,
    *,
    weights_bin: bytes | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> tuple[Any, str]:
    """The compiled network (ONNX bytes in, or OpenVINO IR xml with `weights_bin`; `shape` frees
    fixed input dims, -1 for any; `prepare` edits the graph first) and its runtime description,
    e.g. "openvino 2026.4.1 bf16"; DetectorError when it cannot start. `hint` ("bf16", "f32")
    overrides OpenVINO's own choice: for measuring only. A quantised IR reports "int8"."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise DetectorError(
            f"the {what} detector needs OpenVINO ({exc}): pip install -r requirements.txt"
        ) from exc
    try:
        core = ov.Core()
        if weights_bin is None:
            net = core.read_model(model, ov.Tensor(np.empty(0, np.uint8)))
        else:
            blob = ov.Tensor(np.frombuffer(weights_bin, np.uint8).copy())
            net = core.read_model(model.decode("utf-8"), blob)
        if shape:
            net.reshape({net.inputs[0]: ov.PartialShape(shape)})
        if prepare is not None:
            net = prepare(net)
        config = {**CONFIG, "INFERENCE_PRECISION_HINT": hint} if hint else CONFIG
        compiled = core.compile_model(net, "CPU", config)
    except DetectorError:
        raise
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
        raise DetectorError(f"OpenVINO cannot load the {what} model: {first_line(exc)}") from exc
    kind = "int8" if quantised(net) else precision(compiled)
    return compiled, f"openvino {ov.__version__.split('-')[0]} {kind}"


def quantised(model: Any) -> bool:
    """Whether the graph carries int8 quantisation (FakeQuantize nodes, as NNCF writes them)."""
    return any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
