"""`Authorization: Api-Key <key>` on views that opt in: every refusal is 401 `invalid_api_key` (with WWW-Authenticate)
or 403 `insufficient_scope` in the error shape; the principal is never staff, never a customer, holds no permission.

The views are test-only (this module is their URLconf), protected exactly as the usage endpoints are.
"""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from billing.api.authentication import ApiKeyAuthentication, ApiKeyPrincipal, ApiKeyScopeRequired, api_key_of
from billing.api.viewsets.common import customer_of
from billing.enums import ApiKeyScope
from billing.models import ApiKey, Customer
from billing.services.api_keys import api_key_create, api_key_revoke
from billing_site.api.idempotency import IdempotencyMixin
from billing_site.api.routers import api_path
from billing_site.permissions import permission_allowed
from billing_site.tests.helpers import jwt_client
from billing_site.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class UsageWriteView(APIView):
    """Like POST /api/usage/events: a customer's JWT, or an API key with usage:write."""

    authentication_classes = [ApiKeyAuthentication, JWTAuthentication]
    permission_classes = [permissions.IsAuthenticated, ApiKeyScopeRequired(ApiKeyScope.USAGE_WRITE)]

    def get(self, request: Request) -> Response:
        api_key = api_key_of(request)
        customer = customer_of(request)
        return Response(
            {
                "api_key": api_key.prefix if api_key else None,
                "customer": customer.pk if customer else None,
                "is_staff": request.user.is_staff,
                "may_add_api_keys": permission_allowed(actor=request.user, permission="billing.add_apikey"),
            }
        )


class IdempotentPostView(IdempotencyMixin, APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [permissions.IsAuthenticated, ApiKeyScopeRequired(ApiKeyScope.USAGE_WRITE)]

    def post(self, request: Request) -> Response:
        return Response({"ran": True})


class StaffOnlyView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    *urlpatterns,
    api_path("api/test/api-key/usage-write", UsageWriteView.as_view()),
    api_path("api/test/api-key/idempotent", IdempotentPostView.as_view()),
    api_path("api/test/api-key/staff-only", StaffOnlyView.as_view()),
]

URL = "/api/test/api-key/usage-write"


def _key(scopes: list[str] | None = None, **changes: Any) -> tuple[ApiKey, str]:
    return api_key_create(
        name="SaaS backend",
        scopes=scopes or [ApiKeyScope.USAGE_WRITE],
        expires_at=changes.pop("expires_at", None),
        actor=None,
    )


def _get(authorization: str | bytes | None, url: str = URL) -> Any:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get(url)


def _assert_invalid_key(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response.json() == {
        "error": {"code": "invalid_api_key", "message": "The API key is not valid.", "fields": {}}
    }
    assert response["WWW-Authenticate"] == "Api-Key"


def test_a_key_with_the_scope_gets_in_as_nobody_in_particular() -> None:
    api_key, key = _key()

    response = _get(f"Api-Key {key}")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "api_key": api_key.prefix,
        "customer": None,
        "is_staff": False,
        "may_add_api_keys": False,
    }
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


def test_the_scheme_name_is_case_insensitive_like_other_http_schemes() -> None:
    _api_key, key = _key()

    assert _get(f"api-key {key}").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "Api-Key",
        "Api-Key ",
        "Api-Key {key} extra",
        "Api-Key {key}x",
        "Api-Key {truncated}",
        "Api-Key bsk_00000000_{secret}",
        "Api-Key {prefix}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Api-Key =cmd|' /C calc'!A0",
        "Api-Key " + "A" * 10_000,
    ],
)
def test_a_malformed_or_unknown_key_is_401_invalid_api_key(authorization: str) -> None:
    _api_key, key = _key()
    header = authorization.format(key=key, truncated=key[:-1], secret=key[13:], prefix=key[:12])

    _assert_invalid_key(_get(header))


def test_a_header_that_is_not_ascii_is_401() -> None:
    _api_key, key = _key()

    _assert_invalid_key(_get(f"Api-Key {key[:-1]}é".encode()))


def test_a_revoked_key_is_refused_from_the_next_request_on() -> None:
    api_key, key = _key()
    assert _get(f"Api-Key {key}").status_code == 200

    api_key_revoke(api_key_id=api_key.pk, actor=None)

    _assert_invalid_key(_get(f"Api-Key {key}"))


def test_an_expired_key_is_refused() -> None:
    api_key, key = _key(expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    _assert_invalid_key(_get(f"Api-Key {key}"))


def test_without_credentials_the_answer_is_401_naming_the_api_key_scheme() -> None:
    response = _get(None)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Api-Key"


def test_a_key_without_the_scope_is_403_insufficient_scope() -> None:
    _api_key, key = _key([ApiKeyScope.ENTITLEMENTS_READ])

    response = _get(f"Api-Key {key}")

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": "insufficient_scope",
            "message": "This API key does not have the scope usage:write.",
            "fields": {},
        }
    }


def test_a_customer_jwt_is_not_subject_to_key_scopes(customer: Customer) -> None:
    response = jwt_client(customer.user).get(URL)

    assert response.status_code == 200
    assert response.json()["api_key"] is None
    assert response.json()["customer"] == customer.pk


def test_an_api_key_sent_as_a_bearer_token_is_not_a_key() -> None:
    _api_key, key = _key()

    response = _get(f"Bearer {key}")

    assert response.status_code == 401
    assert response.json()["error"]["code"] != "invalid_api_key"  # the JWT authentication's refusal


def test_an_api_key_is_never_staff() -> None:
    _api_key, key = _key([ApiKeyScope.USAGE_WRITE, ApiKeyScope.ENTITLEMENTS_READ])

    response = _get(f"Api-Key {key}", url="/api/test/api-key/staff-only")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_an_idempotency_key_with_an_api_key_does_not_break_the_request() -> None:
    _api_key, key = _key()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    responses = [
        client.post("/api/test/api-key/idempotent", {}, format="json", HTTP_IDEMPOTENCY_KEY="batch-1") for _ in range(2)
    ]

    assert [response.status_code for response in responses] == [200, 200]


def test_the_principal_holds_no_permission_and_is_no_customer(customer: Customer) -> None:
    from billing.selectors import customer_for_user

    api_key, _key_text = _key()
    principal = ApiKeyPrincipal(api_key)

    assert (principal.is_authenticated, principal.is_anonymous, principal.is_staff, principal.is_superuser) == (
        True,
        False,
        False,
        False,
    )
    assert principal.pk is None
    assert principal.api_key == api_key
    assert not principal.has_perm("billing.add_apikey")
    assert not principal.has_perms(["billing.view_invoice"])
    assert not principal.has_module_perms("billing")
    assert not permission_allowed(actor=principal, permission="billing.view_customer")
    assert customer_for_user(user=principal) is None
