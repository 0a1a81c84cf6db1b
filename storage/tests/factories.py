"""factory-boy factories of the storage tests: users, groups and stored-file records.

`UserFactory` lives here, not in billing, because storage never imports billing; billing's factories
re-export it. A `StoredFileFactory` row has no object in the bucket; `stored_file()` puts real bytes in
the bucket through the service (`storage.services.file_store`) when a test opens or downloads the file.
"""

import hashlib
import uuid
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth.models import Group, User
from factory.django import DjangoModelFactory, Password

from storage.models import StoredFile
from storage.services import file_store

from .helpers import SAMPLES

# The password of every user the factories make (and of the root conftest's users).
DEFAULT_PASSWORD = "correct-Horse-battery-9"


class UserFactory(DjangoModelFactory[User]):
    """A Django user with a unique username and email; logs in with the project's test password."""

    class Meta:
        model = settings.AUTH_USER_MODEL
        skip_postgeneration_save = True

    class Params:
        staff = factory.Trait(is_staff=True)
        superuser = factory.Trait(is_staff=True, is_superuser=True)

    username = factory.Sequence(lambda n: f"person{n:04d}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = Password(DEFAULT_PASSWORD)
    is_active = True


class GroupFactory(DjangoModelFactory[Group]):
    """A permission group of its own, with no permissions (the staff groups: billing's `staff_group(name)`)."""

    class Meta:
        model = Group

    name = factory.Sequence(lambda n: f"group-{n}")


class StoredFileFactory(DjangoModelFactory[StoredFile]):
    """The record of an available PDF document owned by a new user; size and SHA-256 are those of `content`.

    `pending=True`: a direct upload not completed yet (no digest, key under uploads/). An attachment needs
    both `attached_type` and `attached_id` (a constraint wants both or neither).
    """

    class Meta:
        model = StoredFile

    class Params:
        content = SAMPLES["pdf"]
        extension = ".pdf"
        pending = factory.Trait(
            status=StoredFile.Status.PENDING,
            sha256="",
            key=factory.LazyAttribute(lambda o: f"uploads/{o.owner.pk}/{o.id}{o.extension}"),
        )

    id = factory.LazyFunction(uuid.uuid4)
    owner = factory.SubFactory(UserFactory)
    key = factory.LazyAttribute(lambda o: f"users/{o.owner.pk}/{o.category}/{o.id}{o.extension}")
    original_name = factory.Sequence(lambda n: f"document-{n}.pdf")
    content_type = "application/pdf"
    size = factory.LazyAttribute(lambda o: len(o.content))
    category = StoredFile.Category.DOCUMENT
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.content).hexdigest())
    status = StoredFile.Status.AVAILABLE


def stored_file(
    *, owner: Any = None, content: bytes = SAMPLES["pdf"], original_name: str = "document.pdf", **options: Any
) -> StoredFile:
    """A file whose bytes are in the bucket, stored by the real service (kind checked, key generated, hashed)."""
    return file_store(owner=owner or UserFactory.create(), content=content, original_name=original_name, **options)
