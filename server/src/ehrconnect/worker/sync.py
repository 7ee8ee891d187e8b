"""The background pull of one connection (job kind ``sync_connection``).

A run reads the source's CapabilityStatement, plans its steps (:mod:`ehrconnect.worker.plan`),
then streams page after page into the records table. Every page is stored in one transaction
together with the run's checkpoint (step, next page URL, counts) and a lease renewal, so a
worker killed at any point leaves either the whole page or none of it, and whoever claims the
job next resumes at the next unstored page. Memory holds one page at a time.

A full pass (the first sync, then every ``full_sync_every``-th) ends by marking the stored
resources it did not see as deleted at the source; incremental passes ask only for resources
changed since the previous successful run began (minus a margin for clock skew).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ehrconnect.api.context import AppContext
from ehrconnect.connections.service import destroy_tokens
from ehrconnect.connections.smart_cache import discovery_cache
from ehrconnect.kit.ids import new_id
from ehrconnect.kit.time import as_utc, utcnow
from ehrconnect.models import Connection, SyncRun
from ehrconnect.records import repository as records
from ehrconnect.smart import (
    FhirError,
    FhirSession,
    OriginViolation,
    ResourceNotFound,
    SmartError,
    SourceUnavailable,
    Unauthorized,
)
from ehrconnect.worker import fetch
from ehrconnect.worker.plan import Step, build_plan, shared_references, valid_fhir_id
from ehrconnect.worker.runner import JobContext, LeaseLost, PermanentFailure, RetryLater
from ehrconnect.worker.tokens import EXPIRED_CODE, ConnectionInactive, TokenManager, TokenUnavailable

logger = logging.getLogger("ehrconnect.worker.sync")

#: Incremental passes re-ask for this much before the previous run's start (clock skew).
SINCE_MARGIN = timedelta(minutes=5)


@dataclass
class RunState:
    """The checkpointed state of one run (mirrors ``SyncRun.progress``)."""

    run_id: str
    mode: Literal["full", "incremental"]
    started_at: datetime
    owner: records.RecordOwner
    fhir_base_url: str
    fhir_patient_id: str
    since: datetime | None = None
    steps: list[Step] = field(default_factory=list)
    step: int = 0
    next_url: str | None = None
    readable: list[str] = field(default_factory=list)
    refs: set[tuple[str, str]] = field(default_factory=set)
    failed_types: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    interruptions: int = 0
    planned: bool = False

    def progress(self) -> dict[str, Any]:
        return {
            "planned": self.planned, "steps": [s.as_dict() for s in self.steps], "step": self.step,
            "next_url": self.next_url, "readable": self.readable, "refs": sorted(list(r) for r in self.refs),
            "failed_types": sorted(self.failed_types), "interruptions": self.interruptions,
            "since": self.since.isoformat() if self.since else None,
        }

    def load(self, progress: dict[str, Any], counts: dict[str, int], errors: list[dict[str, Any]]) -> None:
        self.planned = bool(progress.get("planned"))
        self.steps = [Step.from_dict(s) for s in progress.get("steps", [])]
        self.step = int(progress.get("step", 0))
        self.next_url = progress.get("next_url")
        self.readable = list(progress.get("readable", []))
        self.refs = {(str(a), str(b)) for a, b in progress.get("refs", [])}
        self.failed_types = set(progress.get("failed_types", []))
        self.interruptions = int(progress.get("interruptions", 0))
        self.counts = dict(counts)
        self.errors = list(errors)


async def run_sync_job(ctx: AppContext, job: JobContext) -> None:
    """Job handler: run (or resume) the sync of `payload.connection_id`."""
    state = await _start_or_resume(ctx, job)
    if state is None:
        return
    try:
        await SyncEngine(ctx, job, state).execute()
    except ConnectionInactive as exc:
        await _finish(ctx, job, state, "failed", {"code": exc.status, "message": str(exc)})
        return
    except (fetch.FetchInterrupted, TokenUnavailable, SourceUnavailable, Unauthorized) as exc:
        message = str(exc) if not isinstance(exc, SmartError) else exc.message
        if job.is_last_attempt:
            await _finish(ctx, job, state, "failed", {"code": "source_unavailable", "message": message})
            raise PermanentFailure(message) from exc
        await _note_interruption(ctx, job, state)
        raise RetryLater(message, delay=getattr(exc, "retry_after", None)) from exc
    except LeaseLost:
        raise
    except Exception as exc:
        # A bug or an unexpected answer: the runner retries; the last attempt closes the run so
        # the connection is scheduled again instead of looking "running" forever.
        if job.is_last_attempt:
            await _finish(ctx, job, state, "failed", {"code": "internal_error", "message": type(exc).__name__})
        raise
    await _finish(ctx, job, state, "succeeded", None)


class SyncEngine:
    """Executes the steps of one run against the source."""

    def __init__(self, ctx: AppContext, job: JobContext, state: RunState) -> None:
        self.ctx = ctx
        self.job = job
        self.state = state
        self.tokens = TokenManager(ctx, state.owner.connection_id)
        self.fhir = FhirSession(
            ctx.http, state.fhir_base_url, self.tokens.access_token, on_unauthorized=self.tokens.on_unauthorized
        )
        self.limiter = fetch.source_limiter(ctx, state.fhir_base_url)

    async def execute(self) -> None:
        state = self.state
        if not state.planned:
            await self._plan()
        while state.step < len(state.steps):
            step = state.steps[state.step]
            try:
                if step.kind in ("everything", "search"):
                    await self._paged(step)
                elif step.kind == "read":
                    await self._read_patient(step)
                else:
                    await self._references()
            except (FhirError, OriginViolation) as exc:
                if isinstance(exc, Unauthorized):
                    raise
                # This type cannot be fetched now (scope, unsupported, bad link): note it, go on.
                rtype = step.resource_type or "*"
                state.failed_types.add(rtype)
                state.errors.append({"resource_type": rtype, "code": _error_code(exc), "message": exc.message})
            state.step += 1
            state.next_url = None
            await self._checkpoint([])

    async def _plan(self) -> None:
        try:
            # Shared, TTL-bound cache: syncs of many patients at one source read it once.
            caps = await discovery_cache(self.ctx).get_server_capabilities(self.state.fhir_base_url)
        except SourceUnavailable:
            raise
        except SmartError as exc:
            raise fetch.FetchInterrupted(f"CapabilityStatement unavailable: {exc.message}") from exc
        settings = self.ctx.settings
        self.state.steps = build_plan(
            caps, self.state.fhir_patient_id, mode=self.state.mode, since=self.state.since,
            page_size=settings.sync_page_size, use_everything=settings.sync_use_everything,
        )
        self.state.readable = sorted(t for t, r in caps.resources.items() if "read" in r.interactions)
        self.state.planned = True
        await self._checkpoint([])

    async def _paged(self, step: Step) -> None:
        state = self.state
        if step.kind == "everything":
            first = self.fhir.url_for(f"Patient/{state.fhir_patient_id}/$everything")
        else:
            first = self.fhir.url_for(step.resource_type or "")
        first = first.copy_merge_params(list(step.params))
        url: str | None = state.next_url or str(first)
        restarted = False
        readable = frozenset(state.readable)
        # The next page is fetched while the current one is being stored (at most two pages in
        # memory): the source's latency and our writes overlap instead of adding up.
        prefetch: asyncio.Task[dict[str, Any]] | None = None
        try:
            while url is not None:
                try:
                    if prefetch is not None:
                        bundle, prefetch = await prefetch, None
                    else:
                        bundle = await fetch.get_with_retries(self.fhir, self.limiter, url)
                except FhirError as exc:
                    # A resumed page link may have expired at the source (4xx): start the step over.
                    if url != str(first) and not restarted and not isinstance(exc, Unauthorized):
                        url, restarted = str(first), True
                        continue
                    raise
                if bundle.get("resourceType") != "Bundle":
                    raise FhirError("search did not return a Bundle")
                resources = fetch.bundle_resources(bundle)
                if step.kind == "search":
                    for resource in resources:
                        state.refs |= shared_references(resource, readable)
                state.next_url = fetch.next_link(self.fhir, bundle, url)
                del bundle
                if state.next_url is not None:
                    prefetch = asyncio.create_task(fetch.get_with_retries(self.fhir, self.limiter, state.next_url))
                await self._checkpoint(resources)
                url = state.next_url
        finally:
            if prefetch is not None:
                prefetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await prefetch

    async def _read_patient(self, step: Step) -> None:
        patient = await fetch.get_with_retries(self.fhir, self.limiter, f"Patient/{self.state.fhir_patient_id}")
        if patient.get("resourceType") != "Patient":
            raise FhirError("Patient read returned another resource type")
        self.state.refs |= shared_references(patient, frozenset(self.state.readable))
        await self._checkpoint([patient])

    async def _references(self) -> None:
        """Read referenced resources outside the compartment (one level, from compartment data)."""
        state = self.state
        pending = sorted(state.refs)
        if state.mode == "incremental" and pending:
            async with self.ctx.db.session() as session:
                have = await records.stored_keys(session, state.owner.connection_id, pending)
            pending = [key for key in pending if key not in have]
        batch: list[dict[str, Any]] = []
        for rtype, rid in pending:
            # One bad reference (e.g. from a checkpoint written before ids were validated) is
            # reported and skipped; it must not end the step, which would skip the deletion sweep.
            if not valid_fhir_id(rid):
                state.failed_types.add(rtype)
                state.errors.append({"resource_type": rtype, "code": "invalid_reference",
                                     "message": "a reference with an invalid FHIR id was skipped"})
                continue
            try:
                resource = await fetch.get_with_retries(self.fhir, self.limiter, f"{rtype}/{rid}")
            except ResourceNotFound:
                continue  # a dangling reference: nothing to store
            except (FhirError, OriginViolation) as exc:
                if isinstance(exc, Unauthorized):
                    raise
                state.failed_types.add(rtype)
                state.errors.append({"resource_type": rtype, "code": _error_code(exc), "message": exc.message})
                continue
            if isinstance(resource, dict) and resource.get("resourceType") == rtype:
                batch.append(resource)
            if len(batch) >= 100:
                await self._checkpoint(batch)
                batch = []
        await self._checkpoint(batch)

    async def _checkpoint(self, resources: list[dict[str, Any]]) -> None:
        """Store a page and the run's progress atomically, fenced by the job lease."""
        state = self.state
        async with self.ctx.db.session() as session:
            await self.job.fence(session)
            status = await session.scalar(select(Connection.status).where(Connection.id == state.owner.connection_id))
            if status != "active":
                # Disconnected or deleted mid-run: store nothing more.
                raise ConnectionInactive(status or "deleted", f"connection is {status or 'deleted'}")
            if resources:
                stats = await records.upsert_resources(session, state.owner, resources, utcnow())
                for rtype, n in stats.seen.items():
                    state.counts[rtype] = state.counts.get(rtype, 0) + n
            await session.execute(
                update(SyncRun)
                .where(SyncRun.id == state.run_id)
                .values(progress=state.progress(), counts=dict(state.counts), errors=list(state.errors))
                .execution_options(synchronize_session=False)
            )


async def _start_or_resume(ctx: AppContext, job: JobContext) -> RunState | None:
    connection_id = str(job.payload.get("connection_id", ""))
    async with ctx.db.session() as session:
        await job.fence(session)
        conn = await session.get(Connection, connection_id)
        if conn is None or conn.status != "active":
            return None
        if not conn.fhir_patient_id:
            raise PermanentFailure("connection has no patient context")
        owner = records.RecordOwner(conn.organization_id, conn.environment, conn.patient_pk, conn.id, conn.source_id)
        run_id = job.payload.get("run_id")
        run = await session.get(SyncRun, run_id) if isinstance(run_id, str) else None
        if run is not None and run.status != "running":
            return None  # finished before the previous worker could mark the job done
        if run is None:
            mode, since = await _choose_mode(session, ctx, conn)
            run = SyncRun(
                id=new_id("sync_run"), connection_id=conn.id, organization_id=conn.organization_id,
                environment=conn.environment, mode=mode, status="running", counts={}, errors=[],
                started_at=utcnow(), job_id=job.id, progress={"since": since.isoformat() if since else None},
            )
            session.add(run)
            await job.save_payload(session, {**job.payload, "run_id": run.id})
        conn.sync_status = "running"
        state = RunState(
            run_id=run.id, mode="full" if run.mode == "full" else "incremental", started_at=as_utc(run.started_at),
            owner=owner, fhir_base_url=conn.fhir_base_url, fhir_patient_id=conn.fhir_patient_id,
        )
        since_raw = (run.progress or {}).get("since")
        state.since = datetime.fromisoformat(since_raw) if isinstance(since_raw, str) else None
        state.load(run.progress or {}, run.counts or {}, run.errors or [])
        return state


async def _choose_mode(
    session: AsyncSession, ctx: AppContext, conn: Connection
) -> tuple[Literal["full", "incremental"], datetime | None]:
    every = max(1, ctx.settings.full_sync_every)
    if conn.full_sync_at is None or conn.sync_count % every == 0:
        return "full", None
    last = (
        await session.execute(
            select(SyncRun.started_at)
            .where(SyncRun.connection_id == conn.id, SyncRun.status == "succeeded")
            .order_by(SyncRun.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if last is None:
        return "full", None
    return "incremental", as_utc(last) - SINCE_MARGIN


async def _note_interruption(ctx: AppContext, job: JobContext, state: RunState) -> None:
    state.interruptions += 1
    async with ctx.db.session() as session:
        await job.fence(session)
        run = await session.get(SyncRun, state.run_id)
        if run is not None:
            run.progress = state.progress()


async def _finish(
    ctx: AppContext, job: JobContext, state: RunState, status: str, error: dict[str, Any] | None
) -> None:
    now = utcnow()
    async with ctx.db.session() as session:
        await job.fence(session)
        run = await session.get(SyncRun, state.run_id)
        locked = select(Connection).where(Connection.id == state.owner.connection_id).with_for_update()
        conn = (await session.execute(locked)).scalar_one_or_none()
        progress = state.progress()
        if status == "succeeded" and state.mode == "full" and "*" not in state.failed_types:
            deleted = await records.mark_deleted(
                session, state.owner.connection_id, not_seen_since=state.started_at, now=now,
                exclude_types=sorted(state.failed_types),
            )
            progress["deleted"] = deleted
        if error is not None:
            state.errors.append(error)
        if run is not None:
            run.status = status
            run.finished_at = now
            run.duration_ms = int((now - as_utc(run.started_at)).total_seconds() * 1000)
            run.counts = dict(state.counts)
            run.errors = list(state.errors)
            run.progress = progress
        if conn is not None:
            conn.sync_status = status
            conn.updated_at = now
            if conn.status == "active":
                interval = timedelta(seconds=ctx.settings.sync_interval_seconds)
                if status == "succeeded":
                    conn.last_synced_at = now
                    conn.sync_count += 1
                    if state.mode == "full":
                        conn.full_sync_at = now
                # Without a refresh token there is no next pull: the sweep expires the connection
                # when its access token ends, or now when its lifetime is unknown.
                conn.next_sync_at = now + interval if conn.refresh_token_encrypted else None
                if status == "succeeded" and not conn.refresh_token_encrypted and conn.token_expires_at is None:
                    _mark_expired(conn, now)
    logger.info(
        "sync run finished",
        extra={"connection_id": state.owner.connection_id, "run_id": state.run_id, "status": status,
               "mode": state.mode, "resources": sum(state.counts.values())},
    )


def _mark_expired(conn: Connection, now: datetime) -> None:
    conn.status = "expired"
    conn.failure_code = EXPIRED_CODE
    conn.failure_at = now
    conn.failure_detail = "no refresh token was granted and the access token lifetime is unknown"
    destroy_tokens(conn)


def _error_code(exc: SmartError) -> str:
    if isinstance(exc, OriginViolation):
        return "origin_violation"
    status = getattr(exc, "status_code", None)
    if status == 403:
        return "forbidden"
    if status in (404, 410):
        return "not_found"
    return "fhir_error"


__all__ = ["RunState", "SyncEngine", "run_sync_job"]
