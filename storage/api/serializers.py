"""Request and response shapes of the files API."""

from rest_framework import serializers

from billing_site.errors import ApplicationError
from storage.models import StoredFile


class FileSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="Signed download URL, valid for 24 hours; null while a direct upload is pending."
    )

    class Meta:
        model = StoredFile
        fields = ["id", "original_name", "content_type", "size", "category", "sha256", "status", "url", "created_at"]
        read_only_fields = fields

    def get_url(self, file: StoredFile) -> str | None:
        url_for = self.context.get("url_for")
        return url_for(file) if url_for else None


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The file (at most 50 MB); its type is detected from its bytes.")
    category = serializers.ChoiceField(
        choices=StoredFile.Category.choices,
        required=False,
        allow_blank=True,
        help_text="Must agree with the detected type; empty or absent means: take the detected category.",
    )


class PresignedUrlRequestSerializer(serializers.Serializer):
    file_id = serializers.UUIDField()
    expires_in_hours = serializers.IntegerField(min_value=24, max_value=168, default=24)

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        """A bad `expires_in_hours` is 400 `invalid_expiry` (whatever else is wrong); other mistakes as usual."""
        if not super().is_valid() and "expires_in_hours" in self.errors:
            raise ApplicationError(
                "invalid_expiry",
                "expires_in_hours must be a whole number of hours between 24 and 168.",
                fields={"expires_in_hours": [str(error) for error in self.errors["expires_in_hours"]]},
            )
        return super().is_valid(raise_exception=raise_exception)


class PresignedUrlSerializer(serializers.Serializer):
    url = serializers.CharField()
    expires_at = serializers.DateTimeField()


class UploadUrlRequestSerializer(serializers.Serializer):
    original_name = serializers.CharField(max_length=1000)
    content_type = serializers.CharField(max_length=127, help_text="The type the bytes will be checked against.")
    category = serializers.ChoiceField(
        choices=StoredFile.Category.choices,
        required=False,
        allow_blank=True,
        help_text="Must agree with the detected type; empty or absent means: take the detected category.",
    )
    size = serializers.IntegerField(
        min_value=1, required=False, help_text="Bytes, if known: refused early when too big."
    )


class UploadFormSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="POST a multipart form here.")
    # The API's name for the form fields; it shadows Serializer.fields only for type checkers (DRF builds
    # `fields` from the declared ones and never reads this attribute).
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text="Form fields to send, in this order, before the `file` field."
    )


class UploadUrlSerializer(serializers.Serializer):
    file = FileSerializer()
    upload = UploadFormSerializer()
    expires_at = serializers.DateTimeField()
    max_bytes = serializers.IntegerField()
