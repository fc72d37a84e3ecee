"""BLF (dialog event package) and MWI (message-summary) subscriptions served by the daemon."""

from __future__ import annotations

import re

import pytest

from tests.sip_client import SipClient, SipMessage, authorization

pytestmark = pytest.mark.integration


class Watcher:
    """A subscriber speaking raw SIP: authenticates, subscribes, answers NOTIFYs, keeps their bodies."""

    def __init__(self, pbx, user: str = "2001"):
        self.pbx = pbx
        self.user = user
        self.client = SipClient(pbx.sip_port, timeout=5)
        self.notifies: list[SipMessage] = []
        self.to_tag: str | None = None

    def subscribe(self, resource: str, event: str, expires: int = 600) -> SipMessage:
        uri = f"sip:{resource}@{self.pbx.realm}"
        headers = [("Event", event), ("Expires", str(expires)), ("Accept", "*/*")]
        if self.to_tag:
            headers.append(("To", f"<{uri}>;tag={self.to_tag}"))
        self.client.request("SUBSCRIBE", uri, user=self.user, headers=headers)
        response = self.client.expect_response()
        if response.status == 401:
            auth = authorization(response.header("WWW-Authenticate"), "SUBSCRIBE", uri, self.user,
                                 self.pbx.secrets[self.user])
            self.client.request("SUBSCRIBE", uri, user=self.user, headers=headers + [("Authorization", auth)])
            response = self.client.expect_response()
        if response.status == 200:
            self.to_tag = response.tag("To")
        return response

    def next_notify(self, timeout: float = 5.0) -> SipMessage:
        notify = self.client.expect_request("NOTIFY", timeout)
        self.client.reply(notify, 200)
        self.notifies.append(notify)
        return notify

    def notify_until(self, predicate, timeout: float = 5.0) -> SipMessage:
        while True:
            notify = self.next_notify(timeout)
            if predicate(notify.body.decode()):
                return notify

    def close(self) -> None:
        self.client.close()


def dialog_states(body: str) -> list[str]:
    return re.findall(r"<state>(\w+)</state>", body)


@pytest.fixture
def watcher(pbx):
    w = Watcher(pbx)
    yield w
    w.close()


def test_blf_subscription_gets_an_immediate_notify_with_the_idle_state(watcher):
    response = watcher.subscribe("2002", "dialog")
    assert response.status == 200 and response.header("Expires") == "600"
    notify = watcher.next_notify()
    assert notify.header("Event") == "dialog"
    assert notify.header("Subscription-State").startswith("active")
    assert notify.header("Content-Type") == "application/dialog-info+xml"
    assert 'entity="sip:2002@pbx.test"' in notify.body.decode()
    assert dialog_states(notify.body.decode()) == []


def test_blf_shows_ringing_then_in_use_then_idle(pbx, watcher, phone_factory):
    alice, bob = phone_factory.many("alice", "bob")
    pbx.register(alice, "2001")
    pbx.register(bob, "2002")
    watcher.subscribe("2002", "dialog")
    watcher.next_notify()

    call = alice.call(pbx.uri("2002"))
    incoming = bob.wait_incoming(5)
    ringing = watcher.notify_until(lambda body: "early" in dialog_states(body))
    assert 'direction="recipient"' in ringing.body.decode()
    incoming.answer()
    call.wait_confirmed(5)
    watcher.notify_until(lambda body: dialog_states(body) == ["confirmed"])
    call.hangup()
    watcher.notify_until(lambda body: "terminated" in dialog_states(body))
    versions = [int(re.search(r'version="(\d+)"', n.body.decode()).group(1)) for n in watcher.notifies]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_unsubscribe_ends_with_a_terminated_notify(watcher):
    watcher.subscribe("2002", "dialog")
    watcher.next_notify()
    assert watcher.subscribe("2002", "dialog", expires=0).status == 200
    notify = watcher.next_notify()
    assert notify.header("Subscription-State").startswith("terminated")


def test_mwi_subscription_reports_the_mailbox_counts(watcher):
    assert watcher.subscribe("2001", "message-summary").status == 200
    notify = watcher.next_notify()
    assert notify.header("Content-Type") == "application/simple-message-summary"
    body = notify.body.decode()
    assert "Messages-Waiting: no" in body and "Voice-Message: 0/0" in body


def test_nobody_can_watch_another_users_mailbox(watcher):
    assert watcher.subscribe("2002", "message-summary").status == 403


def test_unknown_event_package_gets_489(watcher):
    assert watcher.subscribe("2002", "conference").status == 489


def test_subscription_needs_authentication(pbx):
    with SipClient(pbx.sip_port) as client:
        client.request("SUBSCRIBE", f"sip:2002@{pbx.realm}", user="2001", headers=[("Event", "dialog")])
        assert client.expect_response().status == 401
