from typing import Any

from sqlalchemy import Select

from tasks.extensions import db


def paginated(query: Select[Any], args: dict[str, Any]) -> dict[str, Any]:
    """One page of `query` (args from schemas.PageArgs) and where it stands in the whole, for
    a page schema (schemas.page_of) to dump."""
    page = db.paginate(query, page=args["page"], per_page=args["per_page"], error_out=False)
    return {
        "items": page.items,
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }
