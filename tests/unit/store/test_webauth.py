"""Login lockout counters: per account and per source address, within a window."""

from __future__ import annotations

from appliance.store.webauth import RETENTION_SECONDS, LoginThrottle

LIMIT, WINDOW = 5, 900.0


def test_five_failures_on_one_account_lock_it_for_the_rest_of_the_window(db):
    throttle = LoginThrottle(db)
    for i in range(5):
        assert throttle.lockout("1001", f"10.0.0.{i}", now=1000.0 + i, limit=LIMIT, window=WINDOW) is None
        throttle.record_failure("1001", f"10.0.0.{i}", now=1000.0 + i)
    lock = throttle.lockout("1001", "10.0.0.99", now=1010.0, limit=LIMIT, window=WINDOW)
    assert lock is not None and lock.scope == "account"
    assert lock.retry_after == 1000.0 + WINDOW - 1010.0
    assert throttle.lockout("1002", "10.0.0.99", now=1010.0, limit=LIMIT, window=WINDOW) is None
    assert throttle.lockout("1001", "10.0.0.99", now=1000.0 + WINDOW + 0.5, limit=LIMIT, window=WINDOW) is None


def test_five_failures_from_one_address_lock_that_address_for_every_account(db):
    throttle = LoginThrottle(db)
    for i in range(5):
        throttle.record_failure(f"10{i:02d}", "192.0.2.7", now=1000.0 + i)
    lock = throttle.lockout("admin", "192.0.2.7", now=1005.0, limit=LIMIT, window=WINDOW)
    assert lock is not None and lock.scope == "address"
    assert throttle.lockout("admin", "192.0.2.8", now=1005.0, limit=LIMIT, window=WINDOW) is None


def test_success_clears_the_account_but_not_the_address(db):
    throttle = LoginThrottle(db)
    for i in range(4):
        throttle.record_failure("1001", "192.0.2.7", now=1000.0 + i)
    throttle.record_success("1001")
    assert throttle.failures(account="1001") == 0
    assert throttle.failures(address="192.0.2.7") == 4


def test_old_failures_are_forgotten(db):
    throttle = LoginThrottle(db)
    throttle.record_failure("1001", "a", now=0.0)
    throttle.record_failure("1001", "a", now=RETENTION_SECONDS + 1)
    assert throttle.failures(account="1001") == 1
