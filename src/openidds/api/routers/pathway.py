"""The pathway's records: evaluations, trials, implants, flags, follow-ups, interrogations, the remote."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from openidds.api.answers import (
    EvaluationOut,
    FlagOut,
    FollowUpOut,
    ImplantOut,
    ImplantRecordedOut,
    InterrogationOut,
    RemoteRequestOut,
    TrialOut,
)
from openidds.api.deps import Actor, OnceOnly, Tx
from openidds.api.routers.common import READS, WRITES, Json, program_json, record_of, records_of, row
from openidds.api.schemas import (
    EvaluationIn,
    FollowUpIn,
    Id,
    ImplantIn,
    InterrogationIn,
    ResolveIn,
    TrialIn,
)
from openidds.db.models import (
    Evaluation,
    Flag,
    FollowUp,
    Implant,
    Interrogation,
    RemoteRequest,
    Trial,
)
from openidds.service import pathway
from openidds.service.flags import flag_json

router = APIRouter(prefix="/api/v1")


@router.get(
    "/patients/{patient_id}/evaluations",
    tags=["pathway"],
    response_model=list[EvaluationOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def evaluations(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    return records_of(s, actor, patient_id, Evaluation, Evaluation.id)


@router.post(
    "/patients/{patient_id}/evaluations",
    status_code=201,
    tags=["pathway"],
    response_model=EvaluationOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def record_evaluation(patient_id: Id, body: EvaluationIn, once: OnceOnly) -> Json:
    return once.run(
        body, 201, lambda: row(pathway.record_evaluation(once.s, once.actor, patient_id, body.to_command(), once.at))
    )


@router.get(
    "/patients/{patient_id}/trials",
    tags=["pathway"],
    response_model=list[TrialOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def trials(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    return records_of(s, actor, patient_id, Trial, Trial.id)


@router.post(
    "/patients/{patient_id}/trials",
    status_code=201,
    tags=["pathway"],
    response_model=TrialOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def record_trial(patient_id: Id, body: TrialIn, once: OnceOnly) -> Json:
    return once.run(
        body, 201, lambda: row(pathway.record_trial(once.s, once.actor, patient_id, body.to_command(), once.at))
    )


@router.get(
    "/patients/{patient_id}/implants",
    tags=["pathway"],
    response_model=list[ImplantOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def implants(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    return records_of(s, actor, patient_id, Implant, Implant.implanted_at)


@router.post(
    "/patients/{patient_id}/implants",
    status_code=201,
    tags=["pathway"],
    response_model=ImplantRecordedOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def record_implant(patient_id: Id, body: ImplantIn, once: OnceOnly) -> Json:
    def use_case() -> Json:
        done = pathway.record_implant(once.s, once.actor, patient_id, body.to_command(), once.at)
        return {"implant": row(done.implant), "program": None if done.program is None else program_json(done.program)}

    return once.run(body, 201, use_case)


@router.get(
    "/patients/{patient_id}/flags",
    tags=["follow-ups"],
    response_model=list[FlagOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def flags(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    """Flags the use cases raised (pocket fill, unchecked refill, interrogation discrepancies), open or resolved."""
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(select(Flag).where(Flag.patient_id == patient_id).order_by(Flag.raised_at, Flag.id))
    return [flag_json(f) for f in found]


@router.get(
    "/patients/{patient_id}/flags/{flag_id}",
    tags=["follow-ups"],
    response_model=FlagOut,
    response_model_exclude_unset=True,
    responses=READS,
)
def read_flag(patient_id: Id, flag_id: Id, s: Tx, actor: Actor) -> Json:
    return flag_json(record_of(s, actor, patient_id, Flag, flag_id))


@router.post(
    "/patients/{patient_id}/flags/{flag_id}/resolve",
    tags=["follow-ups"],
    response_model=FlagOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def resolve_flag(patient_id: Id, flag_id: Id, body: ResolveIn, once: OnceOnly) -> Json:
    return once.run(
        body,
        200,
        lambda: flag_json(pathway.resolve_flag(once.s, once.actor, patient_id, flag_id, body.resolution, once.at)),
    )


@router.get(
    "/patients/{patient_id}/follow-ups",
    tags=["follow-ups"],
    response_model=list[FollowUpOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def follow_ups(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    return records_of(s, actor, patient_id, FollowUp, FollowUp.at)


@router.post(
    "/patients/{patient_id}/follow-ups",
    status_code=201,
    tags=["follow-ups"],
    response_model=FollowUpOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def record_follow_up(patient_id: Id, body: FollowUpIn, once: OnceOnly) -> Json:
    return once.run(
        body, 201, lambda: row(pathway.record_follow_up(once.s, once.actor, patient_id, body.to_command(), once.at))
    )


@router.post(
    "/patients/{patient_id}/follow-ups/{follow_up_id}/resolve",
    tags=["follow-ups"],
    response_model=FollowUpOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def resolve_follow_up(patient_id: Id, follow_up_id: Id, body: ResolveIn, once: OnceOnly) -> Json:
    """A follow-up's urgent flags are seen to, with what was done (kept and audited)."""
    return once.run(
        body,
        200,
        lambda: row(pathway.resolve_follow_up(once.s, once.actor, patient_id, follow_up_id, body.resolution, once.at)),
    )


@router.get(
    "/patients/{patient_id}/interrogations",
    tags=["pump"],
    response_model=list[InterrogationOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def interrogations(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    return records_of(s, actor, patient_id, Interrogation, Interrogation.at)


@router.post(
    "/patients/{patient_id}/interrogations",
    status_code=201,
    tags=["pump"],
    response_model=InterrogationOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def record_interrogation(patient_id: Id, body: InterrogationIn, once: OnceOnly) -> Json:
    """The pump's report against the twin: a reservoir outside its band, or a program other than the running one,
    raises a flag."""
    return once.run(
        body,
        201,
        lambda: row(pathway.record_interrogation(once.s, once.actor, patient_id, body.to_command(), once.at)),
    )


@router.get(
    "/patients/{patient_id}/remote-requests",
    tags=["pump"],
    response_model=list[RemoteRequestOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def remote_requests(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    return records_of(s, actor, patient_id, RemoteRequest, RemoteRequest.at)


@router.post(
    "/patients/{patient_id}/remote-requests",
    status_code=201,
    tags=["pump"],
    response_model=RemoteRequestOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def request_bolus(patient_id: Id, once: OnceOnly) -> Json:
    """The patient presses the remote: the twin decides, with the reason. Presses at once are decided one after
    the other, so the lockout and the daily maximum hold."""
    return once.run(None, 201, lambda: row(pathway.request_bolus(once.s, once.actor, patient_id, once.at)))
