"""The self-contained HTML page: jinja2 with autoescaping, images inlined as ``data:`` URIs.

The page must work offline and as an e-mail attachment, so it references nothing outside
itself: CSS is in a ``<style>`` block, figures are base64 PNGs, there are no scripts, fonts
or external links (a Content-Security-Policy ``<meta>`` says so to the browser as well).
The only link is the relative ``forecast.csv`` copied beside the page.

Every string from the data (column names, series ids, file names, notes, config text) is
escaped by jinja2's autoescape and stripped of bidirectional control characters
(:func:`visible`); the template never marks data ``|safe``.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"


def data_uri(path, mime: str = "image/png") -> str:
    """``data:<mime>;base64,…`` for the file at ``path``."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:{mime};base64,{encoded}"


def _as_number(value):
    """``float(value)`` when it is a finite number; ``None`` when missing or non-finite; the
    value's text when it is not a number at all (shown as it is)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def fmt_number(value, digits: int = 4) -> str:
    """A metric or data value for a table cell: ``n/a`` for missing, thousands separators
    for large numbers, ``digits`` significant digits otherwise."""
    number = _as_number(value)
    if number is None or isinstance(number, str):
        return "n/a" if number is None else number
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 1000:
        return f"{number:,.1f}"
    return f"{number:.{digits}g}"


def fmt_percent(value, digits: int = 1) -> str:
    """A fraction as a percentage (``0.134`` → ``13.4 %``, no-break space); ``n/a`` for
    missing."""
    number = _as_number(value)
    if number is None or isinstance(number, str):
        return "n/a" if number is None else number
    return f"{100 * number:.{digits}f}\u00a0%"


def fmt_seconds(value) -> str:
    """``73.4`` → ``1 min 13 s``; ``2.31`` → ``2.3 s``."""
    seconds = _as_number(value)
    if seconds is None or isinstance(seconds, str):
        return "n/a" if seconds is None else seconds
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


#: Unicode bidirectional controls: a file named "\u202egnp.exe" would read "exe.png".
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d"
                                       "\u202e\u2066\u2067\u2068\u2069"))


def visible(value):
    """Every value the template prints, before escaping: text loses bidirectional control
    characters (so data cannot reorder what the page shows); other values pass."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return value.translate(BIDI_CONTROLS)
    return value


def environment() -> Environment:
    """The jinja2 environment: templates from ``forecaster/reports/templates``, autoescape on
    for ``.html`` and for strings, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=visible,
    )
    env.filters["num"] = fmt_number
    env.filters["pct"] = fmt_percent
    env.filters["seconds"] = fmt_seconds
    return env


def render_report(context: dict, template: str = "report.html") -> str:
    """Render the report page from ``context`` (see :mod:`forecaster.pipeline.report`)."""
    return environment().get_template(template).render(**context)
