"""System checks of the storage app: settings that would make download links less private than they look."""

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=False)
def storage_settings_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    if getattr(settings, "AWS_S3_CUSTOM_DOMAIN", None) and not getattr(settings, "AWS_CLOUDFRONT_KEY_ID", None):
        messages.append(
            checks.Warning(
                "CLOUDFRONT_DOMAIN is set without CLOUDFRONT_KEY_ID/CLOUDFRONT_PRIVATE_KEY: file links on that "
                "domain are neither signed nor expiring.",
                hint="Configure a CloudFront key pair, or unset CLOUDFRONT_DOMAIN to use S3 presigned URLs.",
                id="storage.W001",
            )
        )
    if getattr(settings, "STORAGE_MAX_UPLOAD_BYTES", 0) <= 0:
        messages.append(checks.Error("STORAGE_MAX_UPLOAD_BYTES must be positive.", id="storage.E001"))
    return messages
