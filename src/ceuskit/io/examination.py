"""One examination, several clips: when each clip was taken, whose it is, and when the contrast went in.

A liver CEUS examination is a continuous loop and then short late-phase sweeps, each stored as its own
file.  This module reads what their DICOM headers say (:class:`~ceuskit.io.clip.ClipHeader`, kept on
every :class:`~ceuskit.io.clip.Clip`) and places the clips on one time axis:

* :func:`acquisition_time` — the first frame's moment: Acquisition DateTime (0008,002A), else Acquisition
  Date (0008,0022) + Time (0008,0032), else Content Date (0008,0023) + Time (0008,0033).  A UTC offset
  comes from the DT value's own ``&ZZXX`` suffix, else from Timezone Offset From UTC (0008,0201);
  fractional seconds are kept, missing seconds count as 0.
* :func:`place_clips` — each clip's first frame in seconds after the earliest clip's first frame, from
  those times or from an explicit offset; refuses clips of different patients or studies and clips that
  overlap.
* :func:`injection_from_header` — the injection moment from Contrast/Bolus Start Time (0018,1042), a time
  of day, against the acquisition time of the clip that states it, and the Contrast/Bolus Agent
  (0018,0010).

Messages name a clip by its number (in the order given) and its file; they never show a patient id, a
UID, a date or a time of day, because messages end up in logs and screenshots.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from ceuskit.errors import InputError, UntimedClipError
from ceuskit.io.clip import Clip

__all__ = ["Acquired", "acquired", "acquisition_time", "check_same_examination", "injection_from_header",
           "parse_da", "parse_dt", "parse_offset", "parse_tm", "place_clips"]

_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DA_DOTTED = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})$")  # ACR-NEMA's form, still found in old files
_TM = re.compile(r"^(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?$")
_TM_COLONS = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$")  # ACR-NEMA's form
_DT = re.compile(r"^(\d{8})(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?([+-]\d{4})?$")
_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})$")
_HALF_DAY = timedelta(hours=12)


# --- DICOM DA / TM / DT text ------------------------------------------------------------------------------
def parse_da(text: str) -> date:
    """Parse a DICOM DA value (``YYYYMMDD``, or ACR-NEMA's ``YYYY.MM.DD``) as a date.

    Raises
    ------
    ValueError
        Not a valid date (the caller says which element of which clip).
    """
    found = _DA.match(text.strip()) or _DA_DOTTED.match(text.strip())
    if found is None:
        raise ValueError("not a DICOM date (YYYYMMDD)")
    return date(int(found[1]), int(found[2]), int(found[3]))


def parse_tm(text: str) -> timedelta:
    """Parse a DICOM TM value as the time since midnight.

    Accepted forms: ``HHMM``, ``HHMMSS`` or ``HHMMSS.FFFFFF``; ACR-NEMA's ``HH:MM:SS``.  Missing seconds
    count as 0; fractional seconds are kept to the microsecond; a leap second (``60``) is the next second.

    Raises
    ------
    ValueError
        Not a time of day to the minute at least (a bare hour does not place a clip).
    """
    found = _TM.match(text.strip()) or _TM_COLONS.match(text.strip())
    if found is None:
        raise ValueError("not a DICOM time to the minute at least (HHMM[SS[.FFFFFF]])")
    hours, minutes = int(found[1]), int(found[2])
    seconds = int(found[3] or 0)
    micro = int((found[4] or "").ljust(6, "0"))
    if hours > 23 or minutes > 59 or seconds > 60:
        raise ValueError("not a valid time of day")
    return timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=micro)


def parse_offset(text: str) -> timedelta:
    """Parse a UTC offset ``&ZZXX`` (``+0100``, ``-0500``) as a timedelta (−12:00 … +14:00)."""
    found = _OFFSET.match(text.strip())
    if found is None:
        raise ValueError("not a UTC offset (+HHMM or -HHMM)")
    value = timedelta(hours=int(found[2]), minutes=int(found[3]))
    value = -value if found[1] == "-" else value
    if not timedelta(hours=-12) <= value <= timedelta(hours=14) or int(found[3]) > 59:
        raise ValueError("not a valid UTC offset")
    return value


def parse_dt(text: str) -> tuple[datetime, timedelta | None]:
    """Parse a DICOM DT value as a naive local date-time and its UTC offset.

    The value reads ``YYYYMMDDHHMM[SS[.FFFFFF]][&ZZXX]``; the offset is None when the value states none.

    Raises
    ------
    ValueError
        Not a DT value with a date and a time of day to the minute at least.
    """
    found = _DT.match(text.strip())
    if found is None or found[2] is None or len(found[2]) < 4:
        raise ValueError("not a DICOM date-time with a time of day (YYYYMMDDHHMM[SS[.FFFFFF]][&ZZXX])")
    moment = datetime.combine(parse_da(found[1]), datetime.min.time()) + parse_tm(found[2])
    return moment, None if found[3] is None else parse_offset(found[3])


# --- one clip ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Acquired:
    """When a clip's first frame was taken, as its header states it.

    Attributes
    ----------
    local : naive wall-clock date-time of the first frame (the header's own clock).
    utc_offset : the clock's offset from UTC, or None when the header does not say.
    source : the element(s) it came from, e.g. "Acquisition DateTime (0008,002A)".
    """

    local: datetime
    utc_offset: timedelta | None
    source: str

    def moment(self) -> datetime:
        """Aware (UTC offset attached) when the offset is known, else naive local time."""
        return self.local if self.utc_offset is None else self.local.replace(tzinfo=timezone(self.utc_offset))


def _name(clip: Clip, index: int | None = None) -> str:
    where = Path(str(clip.source)).name or str(clip.source)
    return f"clip {index + 1} ({where})" if index is not None else where


def _malformed(clip: Clip, index: int | None, element: str, exc: ValueError) -> InputError:
    return InputError(f"{_name(clip, index)}: its {element} is malformed ({exc}); correct the header or give the "
                      "clip's start with --clip-offset S")


def acquired(clip: Clip, index: int | None = None) -> Acquired | None:
    """Return the first frame's :class:`Acquired` moment from the clip's header.

    None when the header states no date and time (video, frame folders, arrays, DICOM without them).

    The first source present is used: Acquisition DateTime, else Acquisition Date + Time, else Content
    Date + Time.  ``index`` (0-based) numbers the clip in messages.

    Raises
    ------
    InputError
        The source present is malformed (says which element; never its value).
    """
    header = clip.header
    zone = header.timezone_offset
    sources = [("Acquisition DateTime (0008,002A)", header.acquisition_datetime, None),
               ("Acquisition Date (0008,0022) and Time (0008,0032)", header.acquisition_date, header.acquisition_time),
               ("Content Date (0008,0023) and Time (0008,0033)", header.content_date, header.content_time)]
    for source, first, second in sources:
        if not first or (second is not None and not second):
            continue
        try:
            if second is None:
                local, offset = parse_dt(first)
            else:
                local, offset = datetime.combine(parse_da(first), datetime.min.time()) + parse_tm(second), None
        except ValueError as exc:
            raise _malformed(clip, index, source, exc) from None
        if offset is None and zone:
            try:
                offset = parse_offset(zone)
            except ValueError as exc:
                raise _malformed(clip, index, "Timezone Offset From UTC (0008,0201)", exc) from None
        return Acquired(local, offset, source)
    return None


def acquisition_time(clip: Clip) -> datetime | None:
    """Return the moment of the clip's first frame.

    Aware when the header states its UTC offset, naive otherwise, None when the header states no date and time
    (see :func:`acquired`).

    Examples
    --------
    A header with Acquisition DateTime ``20260101120000.25+0100`` gives
    ``datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))``.
    """
    found = acquired(clip)
    return None if found is None else found.moment()


# --- several clips ----------------------------------------------------------------------------------------
def check_same_examination(clips: Sequence[Clip]) -> None:
    """Refuse clips of different patients (Patient ID) or studies (Study Instance UID).

    Identifiers are compared where both clips state them and never shown: the message says "clip 2 (…)
    belongs to another patient than clip 1 (…)".

    Raises
    ------
    InputError
        Naming the two clips.
    """
    for attribute, what, element in (("patient_id", "another patient", "Patient ID"),
                                     ("study_uid", "another study", "Study Instance UID")):
        first = next((i for i, clip in enumerate(clips) if getattr(clip.header, attribute)), None)
        if first is None:
            continue
        reference = getattr(clips[first].header, attribute)
        for i, clip in enumerate(clips):
            value = getattr(clip.header, attribute)
            if value and value != reference:
                raise InputError(f"{_name(clip, i)} belongs to {what} than {_name(clips[first], first)} (their "
                                 f"{element}s differ): the clips of one analysis must come from one examination")


def _aligned(found: list[tuple[int, Acquired]], clips: Sequence[Clip]) -> dict[int, datetime]:
    """Return the clips' moments on one clock.

    UTC when every header states its offset, the headers' local clock when none does; when some do, the others
    are read in their offset if they all agree.
    """
    offsets = {a.utc_offset for _, a in found if a.utc_offset is not None}
    if not offsets:
        return {i: a.local for i, a in found}
    if any(a.utc_offset is None for _, a in found) and len(offsets) > 1:
        naive = next(i for i, a in found if a.utc_offset is None)
        raise InputError(f"{_name(clips[naive], naive)} states no UTC offset while the other clips state "
                         "different ones: its time cannot be compared; give its offset with --clip-offset S")
    common = next(iter(offsets))
    return {i: (a.local - (common if a.utc_offset is None else a.utc_offset)) for i, a in found}


def _check_offsets(offsets_s: Sequence[float | None] | None, n: int) -> list[float | None]:
    given = list(offsets_s) if offsets_s is not None else [None] * n
    if len(given) != n:
        raise InputError(f"{len(given)} clip offset(s) for {n} clips: give one per clip, in the clips' order "
                         "(none for a clip its acquisition time places)")
    for i, value in enumerate(given):
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise InputError(f"offset {value!r} of clip {i + 1} is not a number of seconds")
    return [None if value is None else float(value) for value in given]


def place_clips(clips: Sequence[Clip], offsets_s: Sequence[float | None] | None = None) -> list[float]:
    """Each clip's first frame, in seconds after the earliest clip's first frame (same order as ``clips``).

    Parameters
    ----------
    clips : the clips of one examination, in any order.
    offsets_s : per clip, an explicit offset in seconds, or None to place the clip by its acquisition time
        (:func:`acquired`).  Explicit offsets count from the earliest clip's first frame (from the earliest
        *timed* clip's when some clips are placed by their times); the result is then shifted so that the
        earliest clip starts at 0.  An explicit offset wins over the header's time.

    Returns
    -------
    list of float
        Start of each clip, s, ≥ 0, with 0 for the earliest; sort the clips by it (``sorted(range(n),
        key=starts.__getitem__)``) to put them in time order.  One clip alone is at 0 whatever it states.

    Raises
    ------
    UntimedClipError
        A clip that needs an offset (no acquisition time: video, frame folders, arrays) and has none.
    InputError
        Clips of different patients or studies; a malformed header time; clips that overlap (one starting
        before the previous one ends); an offset that is not a number, or not one per clip.

    Examples
    --------
    A 70 s loop acquired at 12:00:00 and sweeps at 12:02:00 and 12:03:00, given as (sweep, loop, sweep),
    are placed at ``[120.0, 0.0, 180.0]``.
    """
    n = len(clips)
    if n == 0:
        raise InputError("no clip to place: give at least one clip")
    given = _check_offsets(offsets_s, n)
    check_same_examination(clips)
    if n == 1:
        return [0.0]
    found: list[tuple[int, Acquired]] = []
    for i, (clip, offset) in enumerate(zip(clips, given, strict=True)):
        if offset is not None:
            continue
        moment = acquired(clip, i)
        if moment is None:
            raise UntimedClipError(f"{_name(clip, i)} states no acquisition time (a video, frame folder or array "
                                   "has none): give its start with --clip-offset S (seconds after the first clip's "
                                   "first frame)", i)
        found.append((i, moment))
    moments = _aligned(found, clips)
    starts: list[float] = []
    for i, offset in enumerate(given):
        starts.append(offset if offset is not None else (moments[i] - min(moments.values())).total_seconds())
    first = min(starts)
    starts = [float(s - first) for s in starts]
    order = sorted(range(n), key=starts.__getitem__)
    for before, after in zip(order, order[1:], strict=False):
        end = starts[before] + clips[before].duration_s
        if starts[after] <= end:
            raise InputError(f"{_name(clips[after], after)} starts {starts[after] - starts[before]:.1f} s after "
                             f"{_name(clips[before], before)}, which lasts {clips[before].duration_s:.1f} s: the "
                             "clips overlap; check their acquisition times or --clip-offset")
    return starts


def injection_from_header(clips: Sequence[Clip], offsets_s: Sequence[float | None] | None = None
                          ) -> tuple[float, str | None]:
    """Return the injection moment from Contrast/Bolus Start Time (0018,1042), and the Contrast/Bolus Agent.

    The start time is a time of day on the clock of the clip that states it (the earliest such clip),
    compared with that clip's acquisition time; of the days around it, the one that puts the injection
    within 12 h of the acquisition counts (an injection at 23:59:50 before a loop started at 00:00:10 is
    20 s before it).

    Parameters
    ----------
    clips : the clips of one examination, in any order.
    offsets_s : explicit clip offsets, as for :func:`place_clips`.

    Returns
    -------
    injection_time_s : float
        Seconds after the earliest clip's first frame; negative when the injection came before it.
    agent : str or None
        Contrast/Bolus Agent of that clip (None when it names none).

    Raises
    ------
    InputError
        No clip states a Contrast/Bolus Start Time (then ``--injection-time S`` gives it), it is malformed,
        or the clip stating it has no acquisition time to compare it with; and every error of
        :func:`place_clips`.
    """
    starts = place_clips(clips, offsets_s)
    order = sorted(range(len(clips)), key=starts.__getitem__)
    carrier = next((i for i in order if clips[i].header.contrast_start_time), None)
    if carrier is None:
        raise InputError("no clip states the Contrast/Bolus Start Time (0018,1042): give the injection moment "
                         "with --injection-time S (seconds after the earliest clip's first frame, negative when "
                         "before it)")
    clip = clips[carrier]
    try:
        injected = parse_tm(clip.header.contrast_start_time)
    except ValueError as exc:
        raise InputError(f"{_name(clip, carrier)}: its Contrast/Bolus Start Time (0018,1042) is malformed ({exc}); "
                         "give the injection moment with --injection-time S") from None
    moment = acquired(clip, carrier)
    if moment is None:
        raise InputError(f"{_name(clip, carrier)} states a Contrast/Bolus Start Time but no acquisition time to "
                         "compare it with: give the injection moment with --injection-time S")
    local = moment.local
    delta = datetime.combine(local.date(), datetime.min.time()) + injected - local
    if delta > _HALF_DAY:
        delta -= timedelta(days=1)
    elif delta <= -_HALF_DAY:
        delta += timedelta(days=1)
    agent = clip.header.contrast_agent or None
    return starts[carrier] + delta.total_seconds(), agent
