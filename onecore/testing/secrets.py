"""Well-known fake secrets for tests.

Tests that need a password or token use these values, and the repository's root ``conftest.py``
checks that none of them ever appears in anything the test suite printed or logged.
"""

from __future__ import annotations

PASSWORD = "pw-Zq8#unseen-4471"
TOKEN = "tok-5f0c9d1e7b2a4c68unseen"
DATA_PASSWORD = "data-pw-Kr2!unseen-90"

ALL = (PASSWORD, TOKEN, DATA_PASSWORD)
