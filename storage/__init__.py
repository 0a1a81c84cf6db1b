"""storage app: customer files on S3 (or the local filesystem) and their signed download URLs."""
