"""List filters: django-filter FilterSets with one rule for the query string, their backend and their schema.

The rule, for every list: a filter that is absent does not filter; one that is present must be valid. A present
but empty value (`?status=`) or an unknown one (`?status=bogus`) is 400 `validation_error` naming the filter
in `fields`. Ignoring it would answer the whole list to a client that believes it filtered.
"""

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.plumbing import build_choice_description_list, build_parameter_type
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.serializers import ValidationError

BLANK_MESSAGE = "May not be blank."
# DRF's ChoiceField wording, which these lists answered with before they had FilterSets.
INVALID_CHOICE_MESSAGE = '"%(value)s" is not a valid choice.'


class QueryForm(forms.Form):
    """The form of every FilterSet: a filter sent empty is an error, not "no filter"."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.fields:
            if self.data.get(name) == "":
                self.add_error(name, forms.ValidationError(BLANK_MESSAGE, code="blank"))
        return cleaned


class ChoiceFilter(django_filters.ChoiceFilter):
    """An exact match on one of `choices`; an unknown value is refused with DRF's message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {"invalid_choice": INVALID_CHOICE_MESSAGE})
        super().__init__(*args, **kwargs)


class IdFilter(django_filters.Filter):
    """An exact match on an id: digits only, 1 to 10^18 - 1 (what the paths accept), so that no value the database
    cannot hold reaches it."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 10**18 - 1)
        super().__init__(*args, **kwargs)


class FilterSet(django_filters.FilterSet):
    """Base of the API's FilterSets (declared filters only); see the module docstring for the rule."""

    class Meta:
        form = QueryForm

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, filter_ in self.filters.items():
            if filter_.model is None:  # a list that is no queryset: no model field to take a label from
                filter_.label = name


def filter_errors(filterset: django_filters.FilterSet) -> ValidationError:
    """The filterset's form errors as the DRF ValidationError the error handler turns into `validation_error`."""
    return ValidationError(
        {name: [str(message) for message in messages] for name, messages in filterset.form.errors.items()}
    )


def filter_values(filterset_class: type[FilterSet], request: Request) -> dict[str, Any]:
    """The valid filters of the query string, absent ones left out, for a list that is not a queryset."""
    # django-filter wants a queryset; an empty one of no model serves a list that is built otherwise.
    filterset = filterset_class(data=request.query_params, queryset=QuerySet().none(), request=request)
    if not filterset.is_valid():
        raise filter_errors(filterset)
    return {name: value for name, value in filterset.form.cleaned_data.items() if value not in (None, "")}


class FilterBackend(BaseFilterBackend):
    """Filters a list action's queryset with the view's `filterset_class` (django-filter), by the rule above."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class: type[FilterSet] | None = getattr(view, "filterset_class", None)
        if filterset_class is None:
            return queryset
        filterset = filterset_class(data=request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            raise filter_errors(filterset)
        filtered: QuerySet[Any] = filterset.qs
        return filtered

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        filterset_class: type[FilterSet] | None = getattr(view, "filterset_class", None)
        return filter_parameters(filterset_class) if filterset_class is not None else []


def filter_parameters(filterset_class: type[FilterSet]) -> list[dict[str, Any]]:
    """OpenAPI query parameters of a FilterSet: a choice filter's values as an enum, each described; an id filter
    as a bounded integer."""
    parameters = []
    for name, filter_ in filterset_class.base_filters.items():
        if isinstance(filter_, IdFilter):
            bounds = {"type": "integer", "minimum": filter_.extra["min_value"], "maximum": filter_.extra["max_value"]}
            parameters.append(build_parameter_type(name, bounds, "query", description=filter_.extra.get("help_text")))
            continue
        choices = [(str(value), str(label)) for value, label in filter_.extra.get("choices", [])]
        schema = {"enum": [value for value, _label in choices], "type": "string", "minLength": 1}
        description = filter_.extra.get("help_text") or build_choice_description_list(choices)
        parameters.append(build_parameter_type(name, schema, "query", description=description))
    return parameters
