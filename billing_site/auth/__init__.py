"""Customer authentication: registration and JWT tokens (simplejwt), with logout by blacklisting."""
