"""Times as people write them in annotations and on the command line (seconds, m:ss, h:mm:ss). A module of its own:
`fervid video --start/--end` reads them, and the annotations' reader (:mod:`fervid.evaluation.segments`) loads
pandas, a fifth of a second of every run's start-up."""

from __future__ import annotations

import math
import re

# a sign too: "-0:01" is a time before 0, which callers refuse as they do -1 ("must be positive"), not "not a time"
_CLOCK = re.compile(r"^([-+]?)(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")


def parse_time(value) -> float:
    """Seconds from ``12.5``, ``1:02.5`` (m:ss) or ``0:01:02.5`` (h:mm:ss); a decimal comma is read as a point
    (``1,5``, ``00:00:01,500``: spreadsheets in many languages write them so). A clock's seconds (and an h:mm:ss's
    minutes) of 60 or more raise ValueError (``0:60``); its message says why the text is not a time. A signed clock
    time is read as a number is (``-0:01`` is -1.0): whether a time may be negative is the caller's to say."""
    text = str(value).strip()
    if re.fullmatch(r"[-+]?[\d:]+,\d+", text):
        text = text.replace(",", ".")
    clock = _CLOCK.match(text)
    if clock:
        sign, hours, minutes, seconds = clock.groups()
        # 0:60 is no clock time (a typo of 1:00, or of 0:06): read as 60 s it was taken silently
        if float(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
            raise ValueError("not a time: a clock's seconds, and the minutes of h:mm:ss, run 0-59")
        return (-1 if sign == "-" else 1) * (int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds))
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise ValueError("not a time (seconds, m:ss or h:mm:ss)")
    return seconds
