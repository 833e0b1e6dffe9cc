"""An endpoint of the tests' own that starts their own job type (tests/outside_jobs.py), made
as a user's would be: with web.job_views.starts_job, on an app with the blueprint added."""

from flask import Flask
from marshmallow import Schema, fields, validate

from tests.outside_jobs import take_steps
from tests.settings import settings_for
from web import create_app
from web.job_views import Accepted, accept_job, starts_job
from web.openapi import Blueprint

bp = Blueprint("own", __name__, url_prefix="/own", description="A job type of the tests' own.")


class StepsArgs(Schema):
    steps = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100))
    before = fields.String()
    after = fields.String()
    flaky = fields.Boolean()


@bp.post("/steps")
@starts_job(bp, StepsArgs)
def start_steps(args: dict) -> Accepted:
    """Take some steps, in the background."""
    return accept_job(take_steps, args)


def own_app(database_url: str, redis_url: str, **environ: str) -> Flask:
    """The API with the endpoint added, on that database and Redis."""
    return create_app(settings_for(database_url, redis_url, **environ), blueprints=[bp])
