"""OpenVINO on one CPU thread: the precision it reports is the one in force."""

from __future__ import annotations

import pytest

from dataproc_faces.detectors import openvino_cpu, weights
from dataproc_faces.detectors.base import DetectorError


class Compiled:
    def __init__(self, hint: str) -> None:
        self.hint = hint

    def get_property(self, name: str) -> str:
        assert name == "INFERENCE_PRECISION_HINT"
        return self.hint


@pytest.mark.parametrize(
    ("hint", "expected"), [("bf16", "bf16"), ("<Type: 'bfloat16'>", "bf16"), ("f32", "fp32")]
)
def test_precision_names_what_openvino_chose(hint: str, expected: str) -> None:
    assert openvino_cpu.precision(Compiled(hint)) == expected


def test_a_forced_fp32_compile_reports_fp32_and_one_thread() -> None:
    model = weights.load(weights.RETINAFACE)
    compiled, runtime = openvino_cpu.compile_on_cpu(model, "RetinaFace", hint="f32")
    assert runtime.endswith(" fp32") and runtime.startswith("openvino ")
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    # pinned, every worker process's network thread would share one core
    assert compiled.get_property("ENABLE_CPU_PINNING") is False


def test_bytes_that_are_no_model_fail_with_one_line() -> None:
    with pytest.raises(
        DetectorError, match="OpenVINO cannot load the Thing model: Unable to read"
    ) as caught:
        openvino_cpu.compile_on_cpu(b"not an onnx file", "Thing")
    assert "\n" not in str(caught.value)


def test_first_line_drops_the_cpp_trail() -> None:
    exc = RuntimeError(
        "Exception from src/inference/src/cpp/core.cpp:105:\n"
        "Exception from src/inference/src/model_reader.cpp:188:\n"
        "Unable to read the model. Please check if the model format is supported.\n\n"
    )
    expected = "Unable to read the model. Please check if the model format is supported."
    assert openvino_cpu.first_line(exc) == expected
    assert openvino_cpu.first_line(RuntimeError("one\ntwo")) == "one"
    assert openvino_cpu.first_line(RuntimeError("")) == "RuntimeError"
