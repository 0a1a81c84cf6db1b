"""Helpers shared by every app's tests: a port nothing listens on, and clients logged in as a given user."""

import socket
from typing import Any

from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then released): a server there refuses at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def jwt_client(user: Any) -> APIClient:
    """An API client sending a real access token of `user` (as after POST /api/auth/token)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def admin_session(user: Any) -> Client:
    """A browser client with `user` logged in to the admin (session cookie)."""
    client = Client()
    client.force_login(user)
    return client
