"""Test phones: real pjsua2 user agents, one process each, driven from pytest.

``Phone.start("alice")`` spawns ``python -m tests.phones.agent``; ``PhoneCall`` wraps one of its calls.
Only the agent process imports pjsua2; this package's controller side needs nothing but the standard library.
"""

from __future__ import annotations

from tests.phones.call import PhoneCall
from tests.phones.phone import Phone

__all__ = ["Phone", "PhoneCall"]
