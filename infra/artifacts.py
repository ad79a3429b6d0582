"""Job artefacts (package zip, main file, init action, models, pins) under content-hashed names."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from infra.config import REPO_ROOT

PACKAGE_NAME = "dataproc_faces"
# Where the package zip is built (FileAsset needs a file); tests point it at a temporary folder.
BUILD_DIR_ENV = "DATAPROC_FACES_BUILD_DIR"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's epoch: same bytes on every machine
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}
# The one fixed-name object: which artefacts the stack last deployed, as KEY=VALUE lines. The
# devhost reads it at boot, every few minutes and at each `submit` (infra/devhost.py,
# dataproc_faces/remote.py), so it follows an `up` that replaces the content-hashed objects.
CURRENT_OBJECT = "artifacts/current.env"
CURRENT_KEYS = {
    "DATAPROC_FACES_JOB_MAIN": "main",
    "DATAPROC_FACES_JOB_PACKAGE": "package",
    "DATAPROC_FACES_REQUIREMENTS": "requirements",
    "DATAPROC_FACES_CONSTRAINTS": "constraints",
}


class ArtifactError(pulumi.RunError):
    """A job file the program must upload is missing: one line, no traceback."""


@dataclass(frozen=True)
class SourceTree:
    """Where the files to upload live (the repository by default; tests may point elsewhere)."""

    root: Path = REPO_ROOT

    @property
    def package_dir(self) -> Path:
        return self.root / "spark" / PACKAGE_NAME

    @property
    def main_file(self) -> Path:
        return self.root / "spark" / "main.py"

    @property
    def init_action(self) -> Path:
        return self.root / "init_actions" / "install_opencv.sh"

    @property
    def requirements(self) -> Path:
        return self.root / "requirements.txt"

    @property
    def models_dir(self) -> Path:
        return self.package_dir / "models"

    @property
    def samples_dir(self) -> Path:
        return self.root / "samples"

    @property
    def constraints(self) -> Path:
        return self.root / "constraints.txt"

    @property
    def build_dir(self) -> Path:
        override = os.environ.get(BUILD_DIR_ENV)
        return Path(override) if override else self.root / "build" / "artifacts"


def content_hash(data: bytes) -> str:
    """First 16 hex digits of SHA-256: enough to tell versions apart, short enough for names."""
    return hashlib.sha256(data).hexdigest()[:16]


def hashed_name(filename: str, data: bytes) -> str:
    """`main.py` -> `main-<hash>.py`: a new name whenever the content changes."""
    stem, dot, suffix = filename.partition(".")
    return f"{stem}-{content_hash(data)}{dot}{suffix}"


def _package_files(package_dir: Path) -> list[Path]:
    files = []
    for path in package_dir.rglob("*"):
        rel = path.relative_to(package_dir)
        if not path.is_file() or any(part in _SKIP_DIRS for part in rel.parts):
            continue
        if path.suffix in _SKIP_SUFFIXES or path.name.startswith("."):
            continue
        files.append(path)
    return sorted(files, key=lambda p: p.relative_to(package_dir).as_posix())


def build_package_zip(package_dir: Path) -> bytes:
    """A zip of the package that is byte-identical for identical sources (sorted, fixed times)."""
    if not (package_dir / "__init__.py").is_file():
        raise ArtifactError(f"job package {package_dir} has no __init__.py: nothing to upload")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in _package_files(package_dir):
            arcname = f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}"
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the building machine
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def require_weights(models_dir: Path) -> None:
    """Every detector's weights ride in the package: without them its jobs would fail."""
    from dataproc_faces.detectors import weights
    from dataproc_faces.detectors.base import DetectorError

    for pinned in weights.ALL:
        try:
            weights.load(pinned, models_dir / pinned.file)
        except DetectorError as exc:
            raise ArtifactError(f"{exc}; run `make models` before `pulumi up`") from None


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise ArtifactError(f"{what} {path} is missing: it must exist before deploying") from None


def _write_once(directory: Path, name: str, data: bytes) -> Path:
    """Write build output atomically; the name is content-hashed, so an existing file is final."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if not target.exists():
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return target


def render_current(uris: dict[str, str], settings: Mapping[str, str] | None = None) -> str:
    """The text of CURRENT_OBJECT: `uris` keyed like CURRENT_KEYS' values, then `settings`
    (the runner's DATAPROC_FACES_* variables: which runner, the cluster, the batch image, ...)."""
    lines = [f"{key}={uris[role]}" for key, role in CURRENT_KEYS.items()]
    lines += [f"{key}={value}" for key, value in sorted((settings or {}).items())]
    return (
        "# the artefacts and runner settings this stack last deployed (infra/artifacts.py)\n"
        + "\n".join(lines)
        + "\n"
    )


class Artifacts(pulumi.ComponentResource):
    """Uploads everything a node or a job run needs; outputs are gs:// URIs."""

    job_main_uri: pulumi.Output[str]
    job_package_uri: pulumi.Output[str]
    init_action_uri: pulumi.Output[str]
    requirements_uri: pulumi.Output[str]
    constraints_uri: pulumi.Output[str]
    model_uris: pulumi.Output[dict[str, str]]
    objects: list[gcp.storage.BucketObject]
    current: gcp.storage.BucketObject
    current_uri: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        bucket: gcp.storage.Bucket,
        tree: SourceTree | None = None,
        settings: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Artifacts", name, None, opts)
        tree = tree or SourceTree()
        self._bucket = bucket
        self._prefix = name
        self.objects = []

        require_weights(tree.models_dir)
        package = build_package_zip(tree.package_dir)
        package_name = hashed_name(f"{PACKAGE_NAME}.zip", package)
        package_path = _write_once(tree.build_dir, package_name, package)
        self.job_package_uri = self._upload("package", f"artifacts/{package_name}", package_path)

        main = _read(tree.main_file, "job main file")
        self.job_main_uri = self._upload(
            "main", f"artifacts/{hashed_name('main.py', main)}", tree.main_file
        )
        init = _read(tree.init_action, "init action")
        self.init_action_uri = self._upload(
            "init-action",
            f"artifacts/init/{hashed_name(tree.init_action.name, init)}",
            tree.init_action,
        )
        reqs = _read(tree.requirements, "requirements file")
        self.requirements_uri = self._upload(
            "requirements", f"artifacts/{hashed_name('requirements.txt', reqs)}", tree.requirements
        )
        # The devhost installs the requirements under the same transitive pins as the tests.
        pins = _read(tree.constraints, "constraints file")
        self.constraints_uri = self._upload(
            "constraints", f"artifacts/{hashed_name('constraints.txt', pins)}", tree.constraints
        )
        # Detector weights (optional): also inside the zip, uploaded alone for jobs that want a URI.
        models: dict[str, pulumi.Output[str]] = {}
        if tree.models_dir.is_dir():
            for path in _package_files(tree.models_dir):
                rel = path.relative_to(tree.models_dir).as_posix()
                models[rel] = self._upload(
                    f"model-{rel.replace('/', '-')}",
                    f"artifacts/models/{hashed_name(rel, path.read_bytes())}",
                    path,
                )
        self.model_uris = pulumi.Output.all(**models) if models else pulumi.Output.from_input({})
        self.current = gcp.storage.BucketObject(
            f"{name}-current",
            bucket=bucket.name,
            name=CURRENT_OBJECT,
            # The runner's settings ride here too: the devhost's startup script runs only at
            # boot, and an `up` that pushes a new batch image or changes the runner reboots
            # nothing; the sync follows this object and restarts the page when it changes.
            content=pulumi.Output.all(
                uris=pulumi.Output.all(
                    main=self.job_main_uri,
                    package=self.job_package_uri,
                    requirements=self.requirements_uri,
                    constraints=self.constraints_uri,
                ),
                settings=(
                    pulumi.Output.all(**dict(settings))
                    if settings
                    else pulumi.Output.from_input({})
                ),
            ).apply(lambda v: render_current(v["uris"], v["settings"])),
            content_type="text/plain",
            # A fixed name: replacing it create-before-delete would delete the new content.
            # Kept out of `objects`, so nothing that waits for the artefacts is replaced with it.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        # From the bucket's name, not the object's outputs: the devhost's startup script names
        # this URI and stays the same when the artefacts change.
        self.current_uri = pulumi.Output.concat("gs://", bucket.name, f"/{CURRENT_OBJECT}")
        self.register_outputs(
            {
                "job_main_uri": self.job_main_uri,
                "job_package_uri": self.job_package_uri,
                "init_action_uri": self.init_action_uri,
                "requirements_uri": self.requirements_uri,
                "constraints_uri": self.constraints_uri,
                "current_uri": self.current_uri,
                "model_uris": self.model_uris,
            }
        )

    def _upload(self, key: str, object_name: str, path: Path) -> pulumi.Output[str]:
        obj = gcp.storage.BucketObject(
            f"{self._prefix}-{key}",
            bucket=self._bucket.name,
            name=object_name,
            source=pulumi.FileAsset(str(path)),
            content_type="application/octet-stream",
            metadata={"source-path": path.relative_to(REPO_ROOT).as_posix()}
            if path.is_relative_to(REPO_ROOT)
            else {},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.objects.append(obj)
        return pulumi.Output.concat("gs://", obj.bucket, "/", obj.name)
