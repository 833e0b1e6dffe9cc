"""The job ledger: what workers record of a job's deliveries, progress and end, in its row.

Each entry is one conditional UPDATE, committed on its own. Its statements are compiled once
and prepared on each of the ledger's connections as it opens (PREPARE), then run by name
(EXECUTE): SQLAlchemy's compile cache and parameter processing on every execution cost as
much CPU as the rest of the entry, and PostgreSQL's parsing and planning of each a third of
its own. (Behind PgBouncer, run it in session mode: in transaction mode a prepared statement
may not be found on the server connection an entry gets.) Its WHERE names the states the
job may leave and, for what only the current delivery may record, the delivery's number:
the entries of two deliveries of one task may come in any order and the ledger stays right.
A delivery's last entry rides out a database that blinks (a restart): it is tried again,
with backoff, for as long as the delivery may still run.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Text,
    Update,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import NullType
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from tasks.errors import DATABASE_ERRORS, describe
from tasks.models import ACTIVE_STATES, Job, JobState
from tasks.observability.tracing import as_an_event

log = logging.getLogger(__name__)

FINISHABLE_STATES = (*ACTIVE_STATES, JobState.FAILED, JobState.DEAD)


@dataclass(frozen=True)
class Claim:
    """A delivery of a job's task, as counted in the ledger."""

    delivery: int
    state: str
    checkpoint: Any

    @property
    def runnable(self) -> bool:
        return self.state == JobState.RUNNING


# The statements, built once: each entry only sends its parameters. States are matched
# against a bound array: an IN list's parameters would be expanded at every execution.
def _state_in(states: tuple[str, ...]) -> ColumnElement[bool]:
    return Job.state == any_(array(states))


_job = bindparam("job_id", type_=Uuid)
_delivery = bindparam("delivery")
_error = bindparam("error", type_=Text)
# In SET expressions columns hold the values before the update; RETURNING gives after.
_poison = (Job.attempts - bindparam("retries")) > bindparam("max_redeliveries")
_given_up = func.concat(
    "given up after ",
    Job.attempts + 1,
    " deliveries: the task never finished (its worker died or was killed each time)",
)
CLAIM = (
    update(Job)
    .where(Job.id == _job, _state_in(ACTIVE_STATES))
    .values(
        attempts=Job.attempts + 1,
        deliveries=Job.deliveries + 1,
        state=case((_poison, JobState.DEAD), else_=JobState.RUNNING),
        error=case((_poison, _given_up), else_=Job.error),
        finished_at=case((_poison, func.now()), else_=None),
        started_at=func.coalesce(Job.started_at, func.now()),
        claimed_at=func.now(),
        updated_at=func.now(),
    )
    .returning(Job.deliveries, Job.state, Job.checkpoint)
)


def owned(job_id: Any, delivery: Any) -> ColumnElement[bool]:
    """The job still runs, as this delivery's: not cancelled, not taken over by another."""
    return and_(Job.id == job_id, Job.deliveries == delivery, Job.state == JobState.RUNNING)


OWNS = select(Job.id).where(owned(_job, _delivery))


def _of_delivery(*states: str) -> Update:
    return update(Job).where(Job.id == _job, Job.deliveries == _delivery, _state_in(states))


PROGRESS = _of_delivery(JobState.RUNNING).values(
    progress_done=bindparam("done"),
    progress_total=func.coalesce(bindparam("total"), Job.progress_total),
    updated_at=func.now(),
)
SUCCEEDED = (
    update(Job)
    .where(Job.id == _job, _state_in(FINISHABLE_STATES))
    .values(
        state=JobState.SUCCEEDED,
        result=bindparam("result", type_=JSONB(none_as_null=True)),
        error=None,
        finished_at=func.now(),
        updated_at=func.now(),
    )
)
RETRYING = _of_delivery(JobState.RUNNING).values(
    state=JobState.QUEUED, error=_error, updated_at=func.now()
)
FAILED = _of_delivery(*ACTIVE_STATES).values(
    state=bindparam("state"), error=_error, finished_at=func.now(), updated_at=func.now()
)


# What each entry is called in a trace (an event on the job's span, not a span of its own).
ENTRY_NAMES: dict[Any, str] = {
    CLAIM: "job claimed",
    OWNS: "job ownership checked",
    PROGRESS: "job progress",
    SUCCEEDED: "job succeeded",
    RETRYING: "job retrying",
    FAILED: "job failed",
}


# PREPARE takes PostgreSQL's own placeholders ($1, $2, ...), not psycopg2's.
_NUMBERED = PGDialect_psycopg2(paramstyle="numeric_dollar")


def _declared(type_: Any) -> str:
    return "unknown" if isinstance(type_, NullType) else str(type_.compile(dialect=_NUMBERED))


@dataclass(frozen=True)
class _Prepared:
    """A statement as each ledger connection prepares it, and how an entry runs it (by
    its prepared name, with its parameters in order, each processed as SQLAlchemy would: a
    UUID as text, JSON; the statement's constants bound once). `name` names it in a trace."""

    name: str
    prepare: str
    execute: str
    order: tuple[str, ...]
    constants: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]

    @classmethod
    def compile(cls, statement: Any, dialect: Dialect) -> "_Prepared":
        compiled = statement.compile(dialect=_NUMBERED)
        processors = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        constants = {
            name: processors[name](value) if name in processors else value
            for name, value in compiled.construct_params(_check=False).items()
            if not compiled.binds[name].required
        }
        name = ENTRY_NAMES[statement]
        handle = "ledger_" + name.replace(" ", "_")
        order = tuple(compiled.positiontup or ())
        # Declared where SQLAlchemy knows the type: PostgreSQL cannot infer a constant's in
        # concat(); `unknown` lets it infer the others from their context.
        types = ", ".join(_declared(compiled.binds[each].type) for each in order)
        placeholders = ", ".join(["%s"] * len(order))
        return cls(
            name,
            f"PREPARE {handle} ({types}) AS {compiled.string}",
            f"EXECUTE {handle}({placeholders})",
            order,
            constants,
            processors,
        )

    def parameters(self, given: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            self.constants[name]
            if name in self.constants
            else self.processors[name](given[name])
            if name in self.processors
            else given[name]
            for name in self.order
        )


@dataclass(frozen=True)
class _Outcome:
    """What an entry did: the rows it changed, and the first it returned."""

    rowcount: int
    row: tuple[Any, ...] | None

    def first(self) -> tuple[Any, ...] | None:
        return self.row


class Ledger:
    def __init__(self, database_url: str, engine_options: dict[str, Any]) -> None:
        # Every entry is one statement, committed on its own (autocommit connections), with
        # no ping on checkout (a round trip each time): a connection found dead is replaced
        # and the entry sent again (see _execute).
        self.engine = create_engine(
            database_url,
            **{**engine_options, "pool_pre_ping": False, "isolation_level": "AUTOCOMMIT"},
        )
        self._statements = {
            statement: _Prepared.compile(statement, self.engine.dialect)
            for statement in ENTRY_NAMES
        }
        event.listen(self.engine, "connect", self._prepare)

    def _prepare(self, connection: Any, _record: Any) -> None:
        with connection.cursor() as cursor:
            for statement in self._statements.values():
                cursor.execute(statement.prepare)
        connection.commit()

    def _execute(self, statement: Any, **parameters: Any) -> _Outcome:
        prepared = self._statements[statement]
        delivery = {"job.delivery": parameters["delivery"]} if "delivery" in parameters else {}
        for attempt in (1, 2):
            with as_an_event(prepared.name, delivery):
                try:
                    return self._send(prepared, prepared.parameters(parameters))
                except DBAPIError as error:
                    # A connection PostgreSQL closed (it restarted, say) is invalidated by now.
                    if attempt == 2 or not error.connection_invalidated:
                        raise
        raise AssertionError("unreachable")

    def _send(self, prepared: _Prepared, parameters: tuple[Any, ...]) -> _Outcome:
        """One EXECUTE on a pooled connection's cursor. A SQLAlchemy Connection around it
        (its execution context and result) cost as much CPU as psycopg2 itself; failures
        are what SQLAlchemy would raise, and a connection found dead is invalidated."""
        dialect = self.engine.dialect
        connection = None
        try:
            connection = self.engine.raw_connection()
            with connection.cursor() as cursor:
                cursor.execute(prepared.execute, parameters)
                return _Outcome(cursor.rowcount, cursor.fetchone() if cursor.description else None)
        except dialect.loaded_dbapi.Error as error:
            dbapi_connection = None if connection is None else connection.dbapi_connection
            disconnected = dialect.is_disconnect(error, dbapi_connection, None)
            if disconnected and connection is not None:
                connection.invalidate(error)
            raise DBAPIError.instance(
                prepared.execute,
                parameters,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=disconnected and connection is not None,
                dialect=dialect,
            ) from error
        finally:
            if connection is not None:
                connection.close()

    def _record(self, patience: float, statement: Update, **parameters: Any) -> bool:
        """An entry that ends a delivery: tried again for up to `patience` seconds while
        PostgreSQL is unavailable, since the work it records is done and must not be
        done again. Whether the job's row took it."""

        def waiting(state: RetryCallState) -> None:
            log.warning(
                "could not record job %s's end yet (%s); trying again in %.1fs",
                parameters["job_id"],
                describe(state.outcome.exception()),  # type: ignore[union-attr, arg-type]
                state.upcoming_sleep,
            )

        for attempt in Retrying(
            retry=retry_if_exception_type(DATABASE_ERRORS),
            stop=stop_after_delay(max(patience, 0)),
            wait=wait_exponential_jitter(multiplier=0.1, max=2, jitter=0.1),
            before_sleep=waiting,
            reraise=True,
        ):
            with attempt:
                return self._execute(statement, **parameters).rowcount > 0
        raise AssertionError("unreachable")

    def claim(self, job_id: uuid.UUID, retries: int, max_redeliveries: int) -> Claim | None:
        """Count this delivery and mark the job running; None when the job is over or unknown.

        A delivery that is neither the first nor a Celery retry is a redelivery: the message
        came back because a worker died holding it. Past `max_redeliveries` of those the job
        is dead (the claim is not runnable), so a task that kills its worker cannot loop.
        """
        row = self._execute(
            CLAIM, job_id=job_id, retries=retries, max_redeliveries=max_redeliveries
        ).first()
        return None if row is None else Claim(*row)

    def owns(self, job_id: uuid.UUID, delivery: int) -> bool:
        """Whether the job still runs, and as this delivery's: not cancelled, not taken over."""
        return self._execute(OWNS, job_id=job_id, delivery=delivery).first() is not None

    def progress(self, job_id: uuid.UUID, delivery: int, done: int, total: int | None) -> None:
        self._execute(PROGRESS, job_id=job_id, delivery=delivery, done=done, total=total)

    def succeeded(self, job_id: uuid.UUID, result: Any, patience: float = 0) -> None:
        """Any delivery that finishes the work ends the job succeeded, even one that another
        delivery's failure overtook: the work is done. Only a cancel stands."""
        self._record(patience, SUCCEEDED, job_id=job_id, result=result)

    def retrying(
        self, job_id: uuid.UUID, delivery: int, error: BaseException, patience: float = 0
    ) -> None:
        """Back to queued until the retry is delivered, unless that delivery claimed it."""
        self._record(patience, RETRYING, job_id=job_id, delivery=delivery, error=describe(error))

    def failed(
        self,
        job_id: uuid.UUID,
        delivery: int,
        error: BaseException,
        dead: bool,
        patience: float = 0,
    ) -> bool:
        """Only the latest delivery may fail a job: an older one's failure says nothing of it.
        Whether this failure ended the job (not one cancelled or taken over meanwhile)."""
        return self._record(
            patience,
            FAILED,
            job_id=job_id,
            delivery=delivery,
            state=JobState.DEAD if dead else JobState.FAILED,
            error=describe(error),
        )
