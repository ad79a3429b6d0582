"""The validators wrapped as CrossGuard ResourceValidationPolicy objects (no pack built here)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from infra.policy.validators import VALIDATORS, Validator

PACK_NAME = "dataproc-faces-baseline"


def _policy(validator: Validator) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in validator(args.resource_type, args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=validator.name,
        description=validator.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def build_policies() -> list[ResourceValidationPolicy]:
    """One mandatory policy per validator."""
    return [_policy(v) for v in VALIDATORS]
