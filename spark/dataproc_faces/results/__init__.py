"""What a results folder holds: its layout (one object, the only place that knows the folder's
paths), the manifest, the ledger that makes runs resumable, the gallery and the marker and lock
that make a folder ours."""
