import uuid

import pytest

from tasks.errors import JobNotFound
from tasks.jobs import parse_job_id

pytestmark = pytest.mark.unit

JOB_ID = uuid.UUID("0123abcd-4567-89ef-0123-456789abcdef")


def test_a_job_id_is_read_from_its_ascii_hex_digits():
    assert parse_job_id(str(JOB_ID)) == JOB_ID
    assert parse_job_id(str(JOB_ID).upper()) == JOB_ID
    assert parse_job_id(JOB_ID.hex) == JOB_ID


def fullwidth(text: str) -> str:
    return "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in text)


@pytest.mark.parametrize(
    "text",
    [
        fullwidth(str(JOB_ID)),
        "{" + str(JOB_ID) + "}",
        "urn:uuid:" + str(JOB_ID),
        "+" + JOB_ID.hex[1:],
        "0-1-23abcd456789ef0123456789abcdef",
    ],
    ids=["fullwidth-digits", "braces", "urn", "sign", "hyphens-anywhere"],
)
def test_any_other_spelling_is_no_job(text):
    with pytest.raises(JobNotFound, match="no job"):
        parse_job_id(text)
