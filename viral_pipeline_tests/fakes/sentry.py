"""A Sentry transport that keeps events in memory: tests never send to a network DSN."""

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from viral_pipeline.observability import init_sentry


class CapturingTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def events(self):
        sentry_sdk.flush()
        return [
            item.payload.json
            for env in self.envelopes
            for item in env.items
            if item.type == "event"
        ]


@pytest.fixture
def sentry_events():
    """Sentry initialised with the capturing transport; yields it, then disables Sentry again."""
    transport = CapturingTransport()
    assert init_sentry("https://public@sentry.invalid/1", environment="test", transport=transport)
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()
