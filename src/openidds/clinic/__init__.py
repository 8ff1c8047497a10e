"""Clinic rules, the pure core of the clinic service: no I/O, no clock, no database.

- indications: the conditions the therapy treats (data/indications.toml, cited and versioned);
- evaluation: the candidate checklist → eligible / not-eligible / needs-review, with reasons;
- trial: trial doses and outcome (≥ 50 % pain relief; Ashworth fall ≥ 1 point [U]; baclofen screening);
- scales and followup: NRS, Oswestry, PHQ-9, Modified Ashworth, Penn, side effects and complications, flags;
- roles: the role × action matrix and `allowed`;
- dashboard: refill due and urgency order;
- audit: the hash-chained audit trail and `verify`.
"""

from openidds.clinic.audit import GENESIS, AuditFinding, AuditRecord, append, canonical_json, record_hash, verify
from openidds.clinic.citations import SOURCES, Citation, Reason
from openidds.clinic.dashboard import (
    ActiveAlarm,
    DashboardRow,
    PatientSnapshot,
    ProjectedAlarm,
    refill_status,
    triage,
)
from openidds.clinic.evaluation import Candidate, ChecklistItem, Evaluation, evaluate_candidate
from openidds.clinic.followup import (
    ADVERSE_EVENTS,
    AdverseEvent,
    Flag,
    FollowUpAssessment,
    FollowUpVisit,
    adverse_event_flags,
    ashworth,
    assess_follow_up,
    oswestry,
    pain_score,
    penn,
    phq9,
)
from openidds.clinic.indications import Indication, IndicationCatalog
from openidds.clinic.roles import ACTIONS, MATRIX, ROLES, Decision, allowed, matrix_markdown
from openidds.clinic.trial import SideEffect, Trial, TrialDose, TrialOutcome, evaluate_trial

__all__ = [
    "ACTIONS",
    "ADVERSE_EVENTS",
    "GENESIS",
    "MATRIX",
    "ROLES",
    "SOURCES",
    "ActiveAlarm",
    "AdverseEvent",
    "AuditFinding",
    "AuditRecord",
    "Candidate",
    "ChecklistItem",
    "Citation",
    "DashboardRow",
    "Decision",
    "Evaluation",
    "Flag",
    "FollowUpAssessment",
    "FollowUpVisit",
    "Indication",
    "IndicationCatalog",
    "PatientSnapshot",
    "ProjectedAlarm",
    "Reason",
    "SideEffect",
    "Trial",
    "TrialDose",
    "TrialOutcome",
    "adverse_event_flags",
    "allowed",
    "append",
    "ashworth",
    "assess_follow_up",
    "canonical_json",
    "evaluate_candidate",
    "evaluate_trial",
    "matrix_markdown",
    "oswestry",
    "pain_score",
    "penn",
    "phq9",
    "record_hash",
    "refill_status",
    "triage",
    "verify",
]
