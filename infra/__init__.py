"""The dataproc-faces Pulumi program: one ComponentResource per concern, composed in platform.py."""
