"""Stand-in for ``desktop/core/src/desktop/lib/sasl_compat.py``: ``PureSASLClient``, pure-sasl behind the
interface of the C ``sasl.Client`` that thrift_sasl expects (start/step/encode/decode/getError).

Hue maps encode->unwrap and decode->wrap; here encode->wrap, decode->unwrap. For PLAIN (all these tests use) both
are the identity, so behaviour is the same."""
from puresasl.client import SASLClient, SASLError


class PureSASLClient(SASLClient):
    """A pure-sasl client answering like the C sasl client: (ok, value) tuples, the error kept for getError()."""

    def __init__(self, *args, **kwargs):
        self.error = None
        super(PureSASLClient, self).__init__(*args, **kwargs)

    def _guarded(self, call, failure, errors=Exception):
        self.error = None
        try:
            return call()
        except errors as e:
            self.error = getattr(e, 'message', None) or str(e)
            return failure

    def start(self, mechanism):
        def begin():
            self.choose_mechanism(mechanism if isinstance(mechanism, list) else [mechanism])
            return True, self.mechanism, self.process()
        return self._guarded(begin, (False, mechanism, None), SASLError)

    def encode(self, incoming):
        return self._guarded(lambda: (True, self.wrap(incoming)), (False, None))

    def decode(self, outgoing):
        return self._guarded(lambda: (True, self.unwrap(outgoing)), (False, None))

    def step(self, challenge):
        return self._guarded(lambda: (True, self.process(challenge)), (False, None))

    def getError(self):
        return self.error
