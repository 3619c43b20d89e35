"""The one rule for caller text that reaches a URL, a log line or the database: no control
characters. Declared once as a pattern, so the OpenAPI document shows it and pydantic enforces
it (a 422 naming the field).

- `LineText`: a single-line value (a name, a hashtag, a URL, an id): no C0 or C1 control
  character at all (tab, CR and LF included), no DEL, no line or paragraph separator.
- `MultilineText`: a caption or a hook, where line breaks and tabs are part of the text.

Both refuse the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069):
a right-to-left override makes a name, a tag or a URL display as something it is not, in the
Dagster UI, a log viewer or a product's screen.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# As JSON Schema (ECMA-262) and pydantic's engine both read them; the escapes stay readable in
# the OpenAPI document.
_BIDI_CONTROLS = r"\u202A-\u202E\u2066-\u2069"
_CONTROLS = r"\u0000-\u001F\u007F-\u009F"
_LINE_CONTROLS = _CONTROLS + r"\u2028\u2029"
# Tab (U+0009), LF (U+000A) and CR (U+000D) are kept in multi-line text.
_MULTILINE_CONTROLS = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F"

# Inside a regex character class: what no single-line text holds.
LINE_FORBIDDEN = _LINE_CONTROLS + _BIDI_CONTROLS
# Inside a character class: the spaces a word (a hashtag) cannot hold besides the controls, listed
# rather than `\s`, which JSON Schema, pydantic's engine and Python each read differently.
SPACES = r" \u00A0\u1680\u2000-\u200A\u202F\u205F\u3000"

MULTILINE_FORBIDDEN = _MULTILINE_CONTROLS + _BIDI_CONTROLS
# The blanks multi-line text may hold: what makes a caption "only whitespace".
_BLANKS = SPACES + r"\t\n\r\u2028\u2029"

LINE_TEXT_PATTERN = f"^[^{LINE_FORBIDDEN}]*$"
MULTILINE_TEXT_PATTERN = f"^[^{MULTILINE_FORBIDDEN}]*$"
# Multi-line text with at least one character that is not a blank.
NOT_BLANK_MULTILINE_TEXT_PATTERN = (
    f"^[^{MULTILINE_FORBIDDEN}]*[^{MULTILINE_FORBIDDEN}{_BLANKS}][^{MULTILINE_FORBIDDEN}]*$"
)

_LINE_RULE = "no control characters (tab, CR, LF, ESC, NUL...) and no bidirectional overrides"
_MULTILINE_RULE = (
    "no control characters besides tab and line breaks, and no bidirectional overrides"
)

# A single-line field: `Annotated[str, ...]` that a model field narrows further with its own Field.
LineText = Annotated[str, Field(pattern=LINE_TEXT_PATTERN, description=_LINE_RULE)]
MultilineText = Annotated[str, Field(pattern=MULTILINE_TEXT_PATTERN, description=_MULTILINE_RULE)]
