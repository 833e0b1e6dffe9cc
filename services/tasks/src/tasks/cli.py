"""Operations from a terminal: `flask products …`, `flask jobs …` and `flask keys …`."""

import time
import uuid
from collections.abc import Callable

import click
from flask.cli import AppGroup
from sqlalchemy import select

from tasks.api_keys import SCOPES, KeyNotFound, create_key, list_keys, revoke_key
from tasks.errors import JobConflict, JobNotFound
from tasks.extensions import db
from tasks.jobs import cancel_job, find_job, retry_job
from tasks.models import Job, JobState
from tasks.roles import grant_app_role
from tasks.seeding import seed_products
from tasks.settings import current_settings

products_cli = AppGroup("products", help="Manage products.")
jobs_cli = AppGroup("jobs", help="Show and steer background jobs.")
keys_cli = AppGroup("keys", help="Make, list and revoke API keys.")
roles_cli = AppGroup("roles", help="PostgreSQL roles of the stack.")


@products_cli.command("seed")
@click.option("--count", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--sku-prefix", default=None, help="Prefix of the generated skus (random if unset).")
def seed_command(count: int, sku_prefix: str | None) -> None:
    """Insert COUNT realistic products with COPY."""
    started = time.monotonic()
    prefix = seed_products(count, sku_prefix)
    click.echo(f"inserted {count} products (sku {prefix}…) in {time.monotonic() - started:.1f}s")


def _line(job: Job) -> str:
    progress = ""
    if job.progress_total is not None:
        progress = f" {job.progress_done or 0}/{job.progress_total}"
    return f"{job.id}  {job.state:<9}  {job.kind}{progress}  {job.error or ''}".rstrip()


def _job(job_id: str) -> Job:
    try:
        return find_job(job_id)
    except JobNotFound as error:
        raise click.ClickException(str(error)) from None


@jobs_cli.command("list")
@click.option("--state", type=click.Choice([s.value for s in JobState]), default=None)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def list_command(state: str | None, limit: int) -> None:
    """The newest jobs, optionally in one state."""
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if state:
        query = query.where(Job.state == state)
    for job in db.session.scalars(query):
        click.echo(_line(job))


@jobs_cli.command("show")
@click.argument("job_id")
def show_command(job_id: str) -> None:
    """Everything about one job."""
    job = _job(job_id)
    for column in Job.__table__.columns:
        click.echo(f"{column.name:>15}: {getattr(job, column.name)}")


def _steer(action: Callable[[uuid.UUID], Job], job_id: str) -> None:
    try:
        click.echo(_line(action(_job(job_id).id)))
    except (JobConflict, JobNotFound) as error:
        raise click.ClickException(str(error)) from None


@jobs_cli.command("retry")
@click.argument("job_id")
def retry_command(job_id: str) -> None:
    """Queue a failed, dead or cancelled job again."""
    _steer(retry_job, job_id)


@jobs_cli.command("cancel")
@click.argument("job_id")
def cancel_command(job_id: str) -> None:
    """Cancel a queued or running job."""
    _steer(cancel_job, job_id)


@jobs_cli.command("watch")
@click.argument("job_id")
@click.option("--interval", default=0.5, show_default=True, type=click.FloatRange(0.05))
def watch_command(job_id: str, interval: float) -> None:
    """Follow a job with a live progress bar until it ends."""
    job = _job(job_id)
    with click.progressbar(length=100, label=f"{job.kind} {job.id}", show_percent=True) as bar:
        shown = 0
        while True:
            db.session.refresh(job)
            if job.progress_total:
                percent = int(100 * (job.progress_done or 0) / job.progress_total)
                bar.update(percent - shown)
                shown = percent
            if job.state not in (JobState.QUEUED, JobState.RUNNING):
                break
            db.session.commit()  # end the read transaction, so the next refresh sees new rows
            time.sleep(interval)
    click.echo(_line(job))
    if job.state != JobState.SUCCEEDED:
        raise SystemExit(1)


@keys_cli.command("create")
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="What the key may do (repeat for more); every scope when none is given.",
)
def create_key_command(name: str, scopes: tuple[str, ...]) -> None:
    """Make a key. It is shown once, alone on the last line: `... | tail -1` takes it."""
    row, key = create_key(name, scopes or SCOPES)
    click.echo(f"made key {row.prefix} ({row.name}) with scopes {', '.join(row.scopes)};")
    click.echo("it is shown only now, on the next line:")
    click.echo(key)


@keys_cli.command("list")
def list_keys_command() -> None:
    """Every key: prefix, name, scopes, when made, last used and revoked."""
    for row in list_keys():
        used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never"
        revoked = (
            f"  revoked {row.revoked_at.isoformat(timespec='seconds')}" if row.revoked_at else ""
        )
        click.echo(
            f"{row.prefix}  {row.name:<20}  {','.join(row.scopes):<15}  "
            f"made {row.created_at.isoformat(timespec='seconds')}  used {used}{revoked}"
        )


@keys_cli.command("revoke")
@click.argument("prefix")
def revoke_key_command(prefix: str) -> None:
    """Revoke the key with PREFIX: it is refused from the next request on."""
    try:
        row = revoke_key(prefix)
    except KeyNotFound as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"revoked key {row.prefix} ({row.name})")


@roles_cli.command("grant-app")
def grant_app_command() -> None:
    """Make DATABASE_APP_ROLE (password DATABASE_APP_PASSWORD) able to read and write rows,
    and nothing else. Run as the schema's owner, after `flask db upgrade`."""
    settings = current_settings()
    role, password = settings.database_app_role, settings.database_app_password
    if not role or not password:
        raise click.ClickException("set DATABASE_APP_ROLE and DATABASE_APP_PASSWORD")
    grant_app_role(role, password.get_secret_value())
    click.echo(f"role {role} can read and write rows, and nothing more")
