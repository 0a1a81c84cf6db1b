"""Background jobs: side effects written as rows in the transaction that needs them, run by Celery workers after
commit, retried with backoff, and swept up again when a message was lost (the outbox rule)."""
