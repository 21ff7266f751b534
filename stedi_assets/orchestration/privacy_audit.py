"""The scheduled privacy audit as a Dagster job: every row of every zone table against its
privacy invariant, each table's result an observation on its asset's Events tab, and a failed
run when any row breaks one. A job of its own, not an asset check: a materialization would run
an asset's checks, and the audit reads every row."""

from collections.abc import Iterator

import dagster as dg
from dagster_pyspark import PySparkResource

from stedi_assets.audit.privacy import Finding, audit
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.settings import ConsentPolicy


@dg.op(out={})
def audit_privacy(
    context: dg.OpExecutionContext, pyspark: PySparkResource, lake: LakeResource
) -> Iterator[dg.AssetObservation]:
    """Audit every published zone table, each result an observation of its asset (yielded, so
    that it is recorded before a failure); the run fails, naming the tables, when any row
    breaks its rule."""
    since_consent = lake.consent_policy is ConsentPolicy.SINCE_CONSENT
    findings = audit(pyspark.spark_session, lake.layout, since_consent)
    skipped = [finding.table.name for finding in findings if not finding.audited]
    if skipped:
        context.log.warning(
            f"Not audited, not published yet (or a table they are judged by is not): {skipped}"
        )
    for finding in findings:
        if finding.audited:
            yield _observation(finding)
    broken = [f"{f.table.name} ({f.violating_rows} rows)" for f in findings if f.violating_rows]
    if broken:
        raise dg.Failure(
            "Privacy audit failed: rows outside the privacy rule in " + ", ".join(broken) + ". "
            "A table built since the consent changed holds none: materialize these tables; if "
            "they are up to date, a build let the rows through (see the observations' examples)."
        )
    audited = sum(finding.audited for finding in findings)
    context.log.info(f"Privacy audit: {audited} tables audited, no row breaks a rule")


def _observation(finding: Finding) -> dg.AssetObservation:
    metadata: dict[str, object] = {
        "privacy_audit": "failed" if finding.violating_rows else "passed",
        "rule": finding.table.privacy_rule,
        "violating_rows": finding.violating_rows,
    }
    if finding.examples:
        metadata["examples"] = dg.MetadataValue.json(list(finding.examples))
    return dg.AssetObservation(asset_key=finding.table.key, metadata=metadata)


@dg.job(
    description="Check every row of every zone table against its privacy rule (a run checks "
    "the rows it adds and those of the keys whose consent, owner or device readings changed)."
)
def privacy_audit_job() -> None:
    audit_privacy()


privacy_audit_schedule = dg.ScheduleDefinition(
    name="privacy_audit_schedule",
    job=privacy_audit_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night, after the vacuum, check every row of every zone table against "
    "its privacy rule; a failure fails the run.",
)
