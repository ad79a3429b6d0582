"""Sample images uploaded to the input bucket (config seed_samples), so a first job has input.

The files are the repository's `samples/` folder, listed when the program runs: every image
(by extension, the formats the job reads) becomes `<upload_images_to>samples/<name>`; anything
else there (a README, hidden files) is skipped. The objects are ordinary stack resources:
editing a sample updates its object, removing one (or turning seed_samples off) deletes it.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from infra.artifacts import ArtifactError
from infra.config import REPO_ROOT

# The formats the job decodes (spark/dataproc_faces/imaging/codec.py FORMATS), by file extension.
CONTENT_TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".ppm": "image/x-portable-pixmap",
}
SAMPLES_FOLDER = "samples/"  # below the images prefix


def sample_images(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted; names the job would skip (. or _) are left."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in CONTENT_TYPES and not p.name.startswith((".", "_"))
    )


def _resource_key(path: Path) -> str:
    """`My Photo.PNG` -> `my-photo-png`: a stable, readable part of a resource name."""
    return "".join(c if c.isalnum() else "-" for c in path.name.lower())


class Samples(pulumi.ComponentResource):
    """One BucketObject per sample image, under `<images_prefix>samples/` in the input bucket."""

    objects: list[gcp.storage.BucketObject]
    uri: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        bucket: gcp.storage.Bucket,
        images_prefix: str,
        folder: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Samples", name, None, opts)
        files = sample_images(folder)
        if not files:
            raise ArtifactError(
                f"config key 'dataproc-faces:seed_samples' is true but {folder} holds no images"
                f" ({', '.join(sorted(CONTENT_TYPES))}); accepted: false, or add images there"
            )
        prefix = f"{images_prefix}{SAMPLES_FOLDER}"
        self.objects = [
            gcp.storage.BucketObject(
                f"{name}-{_resource_key(path)}",
                bucket=bucket.name,
                name=f"{prefix}{path.name}",
                source=pulumi.FileAsset(str(path)),
                content_type=CONTENT_TYPES[path.suffix.lower()],
                metadata={"source-path": path.relative_to(REPO_ROOT).as_posix()}
                if path.is_relative_to(REPO_ROOT)
                else {},
                opts=pulumi.ResourceOptions(parent=self),
            )
            for path in files
        ]
        self.uri = pulumi.Output.concat("gs://", bucket.name, "/", prefix)
        self.register_outputs({"uri": self.uri, "count": len(self.objects)})
