"""A cheap password hasher for the operators (Django's ``auth.User``) that tests create.

Django's default PBKDF2 costs about half a second a password on this machine, and every ``admin_client`` creates
a superuser. This one writes ordinary ``pbkdf2_sha256`` hashes with one iteration, so a live server running the
real settings still verifies them (the iteration count is part of the hash). The directory's own users are hashed
by ``users.credentials`` with bcrypt (``BCRYPT_ROUNDS``), not by this.
"""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1
