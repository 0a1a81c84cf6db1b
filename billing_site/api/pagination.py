"""limit/offset paging for every list: default 20, at most 100, with the total count."""

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.request import Request
from rest_framework.response import Response

from billing_site.errors import ApplicationError


def paging_params(request: Request, *, default_limit: int = 20, max_limit: int = 100) -> tuple[int, int]:
    """Read `limit` and `offset`; garbage is a 400, a limit above the maximum is capped."""
    limit = _non_negative_int(request.query_params.get("limit"), "limit", default_limit)
    offset = _non_negative_int(request.query_params.get("offset"), "offset", 0)
    if limit == 0:
        raise ApplicationError("invalid_pagination", "limit must be at least 1.", fields={"limit": ["Must be ≥ 1."]})
    return min(limit, max_limit), offset


def _non_negative_int(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ApplicationError(
            "invalid_pagination",
            f"{name} must be a non-negative integer.",
            fields={name: ["Must be a non-negative integer."]},
        )
    return value


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF paging with the project's envelope: {"total", "limit", "offset", "<results_key>"}."""

    default_limit = 20
    max_limit = 100
    results_key = "results"

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        self.limit, self.offset = paging_params(request, default_limit=self.default_limit, max_limit=self.max_limit)
        self.count = self.get_count(queryset)
        if self.count == 0 or self.offset >= self.count:
            return []
        return list(queryset[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data: list[Any]) -> Response:
        return Response({"total": self.count, "limit": self.limit, "offset": self.offset, self.results_key: data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["total", "limit", "offset", self.results_key],
            "properties": {
                "total": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
                "offset": {"type": "integer", "minimum": 0},
                self.results_key: schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": f"Items per page (default {self.default_limit}, at most {self.max_limit}).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "offset",
                "required": False,
                "in": "query",
                "description": "Items to skip.",
                "schema": {"type": "integer", "minimum": 0},
            },
        ]
