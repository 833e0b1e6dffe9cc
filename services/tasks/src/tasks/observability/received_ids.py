"""The worker's Request for the stack's tasks (FlaskTask.Request): the consumer's "Task …
received" line is logged before any task runs, so it can name the request and job behind a
message only if they are remembered when the message arrives."""

from collections import OrderedDict
from typing import Any

from celery.worker.request import Request

from tasks.headers import JOB_HEADER, REQUEST_ID_HEADER

# Messages whose ids are remembered: the last ones received, far more than a consumer has
# in hand at once (its prefetch).
REMEMBERED = 1000
_received: "OrderedDict[str, dict[str, str]]" = OrderedDict()


class IdentifiedRequest(Request):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        headers = self._request_dict
        ids = {"task_id": self.id}
        if headers.get(JOB_HEADER):
            ids["job_id"] = self.id
        if request_id := headers.get(REQUEST_ID_HEADER):
            ids["request_id"] = str(request_id)
        _received[self.id] = ids
        while len(_received) > REMEMBERED:
            _received.popitem(last=False)


def ids_of_received(task_id: str) -> dict[str, str]:
    return dict(_received.get(task_id, {"task_id": task_id}))
