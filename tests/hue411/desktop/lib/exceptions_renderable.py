"""Stand-in for ``desktop/core/src/desktop/lib/exceptions_renderable.py``: ``PopupException(message, title="Error",
detail=None, error_code=500, tb=None)`` with the same attributes (rendering to a page is not reproduced)."""
import logging
import sys
import traceback

LOG = logging.getLogger()


class PopupException(Exception):
    """An error Hue shows to the user as a pop-up."""

    def __init__(self, message, title="Error", detail=None, error_code=500, tb=None):
        Exception.__init__(self, message)
        self.message = message
        self.title = title
        self.detail = detail
        self.error_code = error_code
        if self.detail:
            LOG.error('Potential detail: %s' % self.detail)
        self.traceback = tb if tb else traceback.extract_tb(sys.exc_info()[2])
