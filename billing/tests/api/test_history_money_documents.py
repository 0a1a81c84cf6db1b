"""GET /api/payment/history with credit notes and refunds: their own types and statuses, filters, PDF links, at most
4 queries whatever the page size, never another customer's."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.enums import CreditNoteReason, CreditSettlement
from billing.models import CreditNote, Payment, Refund
from billing.services.credit_notes import credit_note_issue
from billing.services.payments import payment_record_bank_transfer

pytestmark = pytest.mark.django_db
HISTORY = "/api/payment/history"


@pytest.fixture
def corrected(customer, other_customer, issue, billing_staff_user):
    """Invoice A paid by bank transfer, then a credit note of 5,500 refunded by transfer; invoice B unpaid and
    credited 1,100 (taken off what it asks); another customer's credited invoice."""
    start = timezone.now() - timedelta(days=5)
    a = issue(10_000)
    paid = payment_record_bank_transfer(invoice=a, amount=a.total, actor=billing_staff_user, reference="KB-1")
    Payment.objects.filter(pk=paid.pk).update(created_at=start)
    refunded = credit_note_issue(
        invoice=a,
        reason=CreditNoteReason.GOODWILL,
        amount=5_500,
        settlement=CreditSettlement.REFUND,
        bank_reference="KB-OUT-1",
        actor=billing_staff_user,
        now=start + timedelta(days=1),
    )
    b = issue(20_000)
    unpaid = credit_note_issue(
        invoice=b, reason=CreditNoteReason.ORDER_CHANGE, amount=1_100, actor=billing_staff_user, now=start
    )
    theirs = credit_note_issue(
        invoice=issue(30_000, customer=other_customer), reason=CreditNoteReason.OTHER, actor=billing_staff_user
    )
    return {
        "a": a,
        "paid": paid,
        "refunded": refunded,
        "refund": refunded.refunds.get(),
        "b": b,
        "unpaid": unpaid,
        "theirs": theirs,
    }


def _entries(body, kind):
    return [row for row in body["history"] if row["type"] == kind]


def test_credit_notes_and_refunds_are_in_the_history_with_their_links(customer_client, corrected):
    body = customer_client.get(HISTORY).json()
    notes = _entries(body, "credit_note")
    refunds = _entries(body, "refund")

    assert body["total"] == 6  # two invoices, one payment, two credit notes, one refund
    assert {row["id"] for row in notes} == {corrected["refunded"].pk, corrected["unpaid"].pk}
    note = next(row for row in notes if row["id"] == corrected["refunded"].pk)
    assert (note["amount"], note["currency"], note["status"], note["invoice_id"]) == (
        5_500,
        "KRW",
        "issued",
        corrected["a"].pk,
    )
    assert note["urls"] == {"pdf": f"http://testserver/api/credit-notes/{corrected['refunded'].pk}/pdf", "stripe": None}
    (refund,) = refunds
    assert (refund["id"], refund["amount"], refund["status"], refund["invoice_id"]) == (
        corrected["refund"].pk,
        5_500,
        "succeeded",
        corrected["a"].pk,
    )
    assert refund["urls"] == {"pdf": None, "stripe": None}


def test_the_history_is_newest_first_across_the_four_kinds(customer_client, corrected):
    dates = [row["date"] for row in customer_client.get(HISTORY).json()["history"]]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=credit_note", {("credit_note", "refunded"), ("credit_note", "unpaid")}),
        ("type=refund", {("refund", "refund")}),
        ("status=issued", {("credit_note", "refunded"), ("credit_note", "unpaid")}),
        ("status=succeeded&type=refund", {("refund", "refund")}),
        ("status=failed", set()),
        ("status=issued&type=invoice", set()),
    ],
)
def test_the_new_types_filter(customer_client, corrected, query, expected):
    body = customer_client.get(f"{HISTORY}?{query}").json()
    assert {(row["type"], row["id"]) for row in body["history"]} == {
        (kind, corrected[name].pk) for kind, name in expected
    }
    assert body["total"] == len(expected)


def test_another_customers_credit_notes_and_refunds_are_invisible(other_customer_client, corrected):
    body = other_customer_client.get(HISTORY).json()
    assert {(row["type"], row["id"]) for row in body["history"] if row["type"] != "invoice"} == {
        ("credit_note", corrected["theirs"].pk)
    }
    assert CreditNote.objects.count() == 3


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_at_most_four_queries_with_every_type_mixed_in(
    customer_client, issue, billing_staff_user, django_assert_max_num_queries, limit
):
    for index in range(30):
        invoice = issue(1_000 + index)
        payment_record_bank_transfer(invoice=invoice, amount=invoice.total, actor=billing_staff_user)
        credit_note_issue(
            invoice=invoice,
            reason=CreditNoteReason.DUPLICATE,
            amount=100,
            settlement=CreditSettlement.REFUND,
            bank_reference=f"KB-OUT-{index}",
            actor=billing_staff_user,
        )
    assert Refund.objects.count() == 30
    with django_assert_max_num_queries(4):  # user (JWT) + customer + page + count
        body = customer_client.get(f"{HISTORY}?limit={limit}&offset=3").json()
    assert body["total"] == 120
    assert len(body["history"]) == limit
    assert {row["type"] for row in body["history"]} <= {"invoice", "payment", "credit_note", "refund"}


def test_walking_the_pages_gives_the_whole_history_once_in_order(customer_client, corrected):
    """Each table gives at most offset + limit rows to the union (on PostgreSQL): pages of one, two and four
    rows, walked to the end, must still be the full history in the full list's order, with the right total."""
    full = customer_client.get(f"{HISTORY}?limit=100").json()
    expected = [(row["type"], row["id"]) for row in full["history"]]
    assert len(expected) == 6
    for limit in (1, 2, 4):
        walked = []
        for offset in range(0, 8, limit):
            page = customer_client.get(f"{HISTORY}?limit={limit}&offset={offset}").json()
            assert page["total"] == 6
            walked += [(row["type"], row["id"]) for row in page["history"]]
        assert walked == expected


@pytest.mark.parametrize("query", ["status=paid&type=credit_note", "status=open&type=credit_note&offset=5"])
def test_a_filter_no_table_can_match_is_an_empty_page(customer_client, corrected, query):
    body = customer_client.get(f"{HISTORY}?{query}").json()
    assert (body["total"], body["history"]) == (0, [])
