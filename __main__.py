"""Pulumi entry point: read and validate the stack config, declare the platform, export outputs."""

from infra import config, platform

# A bad key raises config.ConfigError, a pulumi.RunError: Pulumi prints its one line, no traceback.
platform.build(config.load())
