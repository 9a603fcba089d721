"""The scenario service's HTTP API (SPEC section 4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from servicekit.pages import Page, paginate, paging
from services.scenario_service.application import (
    ChangeScenario,
    DefineScenario,
    ReceiveDocumentList,
    RequestDocument,
    Scenarios,
    SetHousehold,
    StartScenarios,
)
from services.scenario_service.domainmodel import (
    InvalidTrigger,
    RunStatus,
    ScenarioRun,
    check_trigger,
    end_of_day,
)
from services.scenario_service.domainmodel import Subject as DomainSubject
from services.scenario_service.household import MAX_PERSONS, expansion_problem, household_problem
from services.scenario_service.scheduler import RUNS_EXECUTED
from shared.events.codec import MAX_SCENARIO_ITEMS_BYTES, scenario_items_bytes
from shared.events.contracts import (
    Identifier,
    Instructions,
    Name,
    Period,
    PersonRole,
    RequestedItem,
    Scope,
    Subject,
    Title,
    Trigger,
    refuse_expanding_items,
)

router = APIRouter(responses=AUTHENTICATED)
Admin = Annotated[Identity, Depends(require("admin"))]
Staff = Annotated[Identity, Depends(require("admin", "adviser"))]
Adviser = Annotated[Identity, Depends(require("adviser"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _iso_text(value: Any) -> Any:
    """A moment is written as ISO 8601 text, as documented: pydantic would read a number as
    seconds since 1970 (a date or time of day too), which nobody means."""
    if value is not None and not isinstance(value, str):
        raise ValueError("must be ISO 8601 text")
    return value


IsoText = BeforeValidator(_iso_text)


class ScenarioIn(_Body):
    name: Name
    scope: Scope
    items: list[RequestedItem] = Field(
        min_length=1,
        max_length=200,
        description=f"at most {MAX_SCENARIO_ITEMS_BYTES} bytes as JSON (UTF-8), so that "
        "the events that carry them stay within the record limit",
    )
    trigger: Trigger | None = None

    @model_validator(mode="after")
    def _items_fit_a_record(self) -> ScenarioIn:
        """The items travel whole in ScenarioDefined/Changed/Scheduled: bound their size."""
        size = scenario_items_bytes(self.items)
        if size > MAX_SCENARIO_ITEMS_BYTES:
            raise ValueError(
                f"the items take {size} bytes as JSON, more than the "
                f"{MAX_SCENARIO_ITEMS_BYTES} bytes a scenario may: fewer items or shorter titles"
            )
        return self

    @model_validator(mode="after")
    def _items_ask_a_bounded_number(self) -> ScenarioIn:
        """Per-person and per-period items ask many documents: bound a run's requests."""
        problem = expansion_problem([item.model_dump() for item in self.items])
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _trigger_can_fire(self) -> ScenarioIn:
        """The domain's rule (``check_trigger``), told as a validation error of the body."""
        try:
            check_trigger(self.scope, self.trigger.model_dump() if self.trigger else None)
        except InvalidTrigger as error:
            raise ValueError(str(error)) from None
        return self

    def command(self, who: Identity) -> DefineScenario:
        return DefineScenario(
            who.tenant,
            self.name,
            self.scope,
            [i.model_dump() for i in self.items],
            self.trigger.model_dump() if self.trigger else None,
            who.actor,
        )


class ScenarioOut(BaseModel):
    scenario_id: UUID
    name: str
    scope: str
    items: list[RequestedItem]
    trigger: Trigger | None


class ScenarioCreated(BaseModel):
    scenario_id: UUID


class ScenarioList(BaseModel):
    scenarios: list[ScenarioOut]
    next_cursor: str | None = None


class RunsIn(_Body):
    dossier_id: Identifier
    subject: Subject
    scenario_ids: list[UUID] = Field(min_length=1, max_length=50)
    execute_on: Annotated[date | None, IsoText] = None
    execute_at_time: Annotated[time | None, IsoText] = None
    execute_at: Annotated[AwareDatetime | None, IsoText] = None


class RunOut(BaseModel):
    run_id: UUID
    scenario_id: UUID
    scenario_name: str
    dossier_id: str
    subject: Subject
    execute_at: datetime
    status: RunStatus
    executed_at: datetime | None = None


class RunsOut(BaseModel):
    runs: list[RunOut]


class DocumentRequestIn(_Body):
    dossier_id: Identifier
    subject: Subject
    document_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,99}$")]
    title: Title | None = None
    action_point: StrictBool | None = None
    due_at: Annotated[AwareDatetime | None, IsoText] = Field(
        default=None, description="When the client should have delivered it: a moment with offset."
    )
    due_on: Annotated[date | None, IsoText] = Field(
        default=None,
        description="Or a date: the end of that day (23:59:59) in Europe/Amsterdam.",
    )
    period: Period | None = Field(
        default=None,
        description='What the document covers in time ("2024", "januari 2026"): with the '
        "subject (and its person) and the type, which document it is (SPEC section 9).",
    )
    instructions: Instructions | None = Field(
        default=None, description="A note to the client, shown with the action point."
    )

    @model_validator(mode="after")
    def _one_due_date(self) -> DocumentRequestIn:
        if self.due_at is not None and self.due_on is not None:
            raise ValueError("give due_at (a moment) or due_on (a date), not both")
        return self

    def due(self) -> datetime | None:
        return end_of_day(self.due_on) if self.due_on is not None else self.due_at


class DocumentRequestCreated(BaseModel):
    request_id: UUID


class DocumentListIn(_Body):
    dossier_id: Identifier
    subject: Subject
    reference: Identifier
    items: list[RequestedItem] = Field(
        min_length=1,
        max_length=500,
        description="Each item one document (with its `period`, if any): `per_person` and "
        "`periods` belong to scenario items.",
    )

    @model_validator(mode="after")
    def _named_documents(self) -> DocumentListIn:
        refuse_expanding_items(self.items)
        return self


class HouseholdPerson(_Body):
    role: PersonRole
    id: Identifier | None = Field(
        default=None, description="Tells two persons of one role apart (two `other`s)."
    )
    name: Name


class HouseholdIn(_Body):
    persons: list[HouseholdPerson] = Field(
        max_length=MAX_PERSONS,
        description="Each person told apart by role and id; empty: a per-person item asks "
        "the applicant (aanvrager) alone.",
    )

    @model_validator(mode="after")
    def _persons_told_apart(self) -> HouseholdIn:
        problem = household_problem([p.model_dump(exclude_none=True) for p in self.persons])
        if problem:
            raise ValueError(problem)
        return self


class HouseholdOut(BaseModel):
    dossier_id: str
    persons: list[HouseholdPerson]


DossierId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]


class DocumentListCreated(BaseModel):
    document_list_id: UUID
    reference: str
    request_ids: list[UUID]
    created: bool


def _app(request: Request) -> Scenarios:
    return request.app.state.application  # type: ignore[no-any-return]


def _scenario_out(raw: dict[str, Any]) -> ScenarioOut:
    return ScenarioOut.model_validate(raw)


def _run_out(run: ScenarioRun) -> RunOut:
    return RunOut(
        run_id=run.id,
        scenario_id=run.scenario_id,
        scenario_name=run.scenario_name,
        dossier_id=run.dossier_id,
        subject=Subject.model_validate(run.subject),
        execute_at=run.execute_at,
        status=RunStatus(run.status),
        executed_at=run.executed_at,
    )


@router.post(
    "/scenarios",
    status_code=201,
    response_model=ScenarioCreated,
    tags=["scenarios"],
    responses=errors(400, 409, 413),
)
async def define_scenario(body: ScenarioIn, who: Admin, request: Request) -> ScenarioCreated:
    scenario_id = await asyncio.to_thread(_app(request).define_scenario, body.command(who))
    return ScenarioCreated(scenario_id=scenario_id)


@router.get("/scenarios", response_model=ScenarioList, tags=["scenarios"])
async def list_scenarios(
    who: Staff,
    request: Request,
    page: Annotated[Page, Depends(paging("scenarios", 2))],
    scope: Annotated[str | None, Query(max_length=64)] = None,
) -> ScenarioList:
    """The office's scenarios by name, a page at a time."""
    found = await asyncio.to_thread(_app(request).get_scenarios, who.tenant, scope)
    chosen, next_cursor = paginate(found, lambda s: (s["name"], s["scenario_id"]), page)
    return ScenarioList(scenarios=[_scenario_out(s) for s in chosen], next_cursor=next_cursor)


@router.get(
    "/scenarios/{scenario_id}",
    response_model=ScenarioOut,
    tags=["scenarios"],
    responses=errors(404),
)
async def get_scenario(scenario_id: UUID, who: Staff, request: Request) -> ScenarioOut:
    found = await asyncio.to_thread(_app(request).get_scenario, who.tenant, scenario_id)
    return _scenario_out(found)


@router.put(
    "/scenarios/{scenario_id}",
    response_model=ScenarioOut,
    tags=["scenarios"],
    responses=errors(400, 404, 409, 413),
)
async def change_scenario(
    scenario_id: UUID, body: ScenarioIn, who: Admin, request: Request
) -> ScenarioOut:
    app = _app(request)
    command = ChangeScenario(**vars(body.command(who)), scenario_id=scenario_id)
    await asyncio.to_thread(app.change_scenario, command)
    return _scenario_out(await asyncio.to_thread(app.get_scenario, who.tenant, scenario_id))


@router.delete(
    "/scenarios/{scenario_id}", status_code=204, tags=["scenarios"], responses=errors(404, 409)
)
async def delete_scenario(scenario_id: UUID, who: Admin, request: Request) -> Response:
    await asyncio.to_thread(_app(request).delete_scenario, who.tenant, scenario_id, who.actor)
    return Response(status_code=204)


@router.post(
    "/scenario-runs",
    status_code=201,
    response_model=RunsOut,
    tags=["scenario runs"],
    responses=errors(400, 409, 413),
)
async def start_scenarios(body: RunsIn, who: Adviser, request: Request) -> RunsOut:
    command = StartScenarios(
        who.tenant,
        body.dossier_id,
        DomainSubject.of(body.subject.model_dump()),
        body.scenario_ids,
        who.actor,
        execute_at=body.execute_at,
        execute_on=body.execute_on,
        execute_at_time=body.execute_at_time,
    )
    runs = await asyncio.to_thread(_app(request).start_scenarios, command, datetime.now(UTC))
    RUNS_EXECUTED.inc(sum(1 for run in runs if run.status == RunStatus.EXECUTED))
    return RunsOut(runs=[_run_out(run) for run in runs])


@router.get(
    "/scenario-runs/{run_id}", response_model=RunOut, tags=["scenario runs"], responses=errors(404)
)
async def get_run(run_id: UUID, who: Staff, request: Request) -> RunOut:
    run = await asyncio.to_thread(_app(request).get_run, who.tenant, run_id)
    return _run_out(run)


@router.delete(
    "/scenario-runs/{run_id}", status_code=204, tags=["scenario runs"], responses=errors(404, 409)
)
async def cancel_run(run_id: UUID, who: Adviser, request: Request) -> Response:
    await asyncio.to_thread(_app(request).cancel_run, who.tenant, run_id)
    return Response(status_code=204)


@router.post(
    "/document-requests",
    status_code=201,
    response_model=DocumentRequestCreated,
    tags=["document requests"],
    responses=errors(400, 409, 413),
)
async def request_document(
    body: DocumentRequestIn, who: Adviser, request: Request
) -> DocumentRequestCreated:
    command = RequestDocument(
        who.tenant,
        body.dossier_id,
        DomainSubject.of(body.subject.model_dump()),
        body.document_type,
        body.title,
        body.action_point,
        who.actor,
        body.due(),
        body.period,
        body.instructions,
    )
    request_id = await asyncio.to_thread(_app(request).request_document, command)
    return DocumentRequestCreated(request_id=request_id)


@router.post(
    "/document-lists",
    status_code=201,
    response_model=DocumentListCreated,
    tags=["document requests"],
    responses=errors(400, 409, 413),
)
async def receive_document_list(
    body: DocumentListIn, who: Staff, request: Request
) -> DocumentListCreated:
    """A document list (stukkenlijst); posting the same ``reference`` again changes nothing.

    A repeat answers as the first post did (201, the same list and request ids), with
    ``created: false``: a client that retries after a lost answer sees what it expected.
    Another list (dossier, subject or items) under a known reference is a 409.
    """
    command = ReceiveDocumentList(
        who.tenant,
        body.dossier_id,
        DomainSubject.of(body.subject.model_dump()),
        body.reference,
        [i.model_dump() for i in body.items],
        who.actor,
    )
    document_list, created = await asyncio.to_thread(_app(request).receive_document_list, command)
    return DocumentListCreated(
        document_list_id=document_list.id,
        reference=document_list.reference,
        request_ids=document_list.request_ids,
        created=created,
    )


@router.put(
    "/dossiers/{dossier_id}/household",
    response_model=HouseholdOut,
    tags=["households"],
    responses=errors(400, 413),
)
async def set_household(
    dossier_id: DossierId, body: HouseholdIn, who: Adviser, request: Request
) -> HouseholdOut:
    """The dossier's persons (SPEC section 9): scenario items with `per_person` ask each of
    them when their run executes (runs executed before keep whom they asked)."""
    persons = [person.model_dump(exclude_none=True) for person in body.persons]
    command = SetHousehold(who.tenant, dossier_id, persons, who.actor)
    stored = await asyncio.to_thread(_app(request).set_household, command)
    return HouseholdOut(dossier_id=dossier_id, persons=stored)  # type: ignore[arg-type]


@router.get(
    "/dossiers/{dossier_id}/household",
    response_model=HouseholdOut,
    tags=["households"],
)
async def get_household(dossier_id: DossierId, who: Adviser, request: Request) -> HouseholdOut:
    """The dossier's persons; none while the adviser named nobody."""
    persons = await asyncio.to_thread(_app(request).get_household, who.tenant, dossier_id)
    return HouseholdOut(dossier_id=dossier_id, persons=persons)  # type: ignore[arg-type]
