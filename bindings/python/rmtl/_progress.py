"""Progress callbacks: a Python callable wrapped for one C call."""

from collections import namedtuple

from ._lib import PROGRESS_FN, check

Progress = namedtuple("Progress", "done total loss elapsed")
Progress.__doc__ = """What a long call reports: units `done` of `total` (0: unknown),
the running mean `loss` (NaN when none) and the seconds `elapsed`."""


class ProgressCall:
    """Wraps a Python progress callable for one C call: a truthy return
    cancels the call (RmtlError ESTATE); an exception inside it cancels the
    call and is re-raised in place of the error."""

    def __init__(self, fn):
        if fn is not None and not callable(fn):
            raise TypeError("progress must be callable or None, not %s" % type(fn).__name__)
        self.fn = fn
        self.exc = None
        self.cfn = PROGRESS_FN(self._call) if fn is not None else PROGRESS_FN()

    def _call(self, p, payload):
        c = p.contents
        try:
            return 1 if self.fn(Progress(c.done, c.total, c.loss, c.elapsed)) else 0
        except BaseException as e:  # noqa: B902 - KeyboardInterrupt cancels too
            self.exc = e
            return 1

    def check(self, rc):
        """Re-raises the callback's exception, else checks the status."""
        if self.exc is not None:
            exc, self.exc = self.exc, None
            raise exc
        return check(rc)
