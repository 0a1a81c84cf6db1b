"""Test-only hooks the fault tests load into the Celery workers they start (test settings: TEST_CELERY_IMPORTS).

Imported once Django is set up, before the pool forks. With FAULTS_PDF_SLOW_MARKER set, the first render of a PDF
in any of the processes creates that file and sleeps FAULTS_PDF_SLOW_SECONDS in the middle of rendering (after
the HTML, before the PDF bytes exist), so a test can kill the worker there; later renders do not sleep. With
FAULTS_PDF_RENDER_LOG set, every completed render appends "<invoice id> <pid>" to that file.
"""

import os
import time
from typing import Any

from billing.services import pdf

SLOW_MARKER_VARIABLE = "FAULTS_PDF_SLOW_MARKER"
SLOW_SECONDS_VARIABLE = "FAULTS_PDF_SLOW_SECONDS"
RENDER_LOG_VARIABLE = "FAULTS_PDF_RENDER_LOG"

_render_bytes = pdf.invoice_pdf_bytes


def _first_to_claim(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def invoice_pdf_bytes_observed(*, invoice: Any) -> bytes:
    marker = os.environ.get(SLOW_MARKER_VARIABLE)
    if marker and _first_to_claim(marker):
        time.sleep(float(os.environ.get(SLOW_SECONDS_VARIABLE, "60")))
    content = _render_bytes(invoice=invoice)
    render_log = os.environ.get(RENDER_LOG_VARIABLE)
    if render_log:
        with open(render_log, "a") as log:
            log.write(f"{invoice.pk} {os.getpid()}\n")
    return content


pdf.invoice_pdf_bytes = invoice_pdf_bytes_observed
