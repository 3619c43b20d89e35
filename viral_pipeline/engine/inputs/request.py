"""The body of ``POST /api/analyze`` and its normalised form.

`AnalyzeRequest` validates what a caller sends (extra fields are refused, so a typo in a field
name is an error rather than a silently ignored value). `normalize` turns it into a
`NormalizedRequest`, the plain value every scoring step reads:

- hashtags come from the ``hashtags`` field first, then from the caption's ``#tags``, lowercase,
  without a leading ``#``, each kept once in the order first seen;
- ``posted_at`` is an aware UTC datetime: a naive one is read as UTC, a missing one is "now"
  (a given one must lie in 2000..2099);
- empty or blank optional strings become None; a creator handle follows the handle rule of
  `handles.py` (as ``PATCH /api/profile``) and loses its leading ``@`` (a bare ``@`` is no handle);
- numbers and flags are strict (``duration_s``, ``creator.followers``, ``creator.verified``,
  ``sound.original``): a JSON integer or a JSON boolean, never ``"24"``, ``24.0`` or ``true``
  for a count, nor ``0`` or ``"true"`` for a flag.

`feature_row` gives the raw columns `viral_pipeline.engine.model.features.build_features` expects, so
the ML signal scores a request exactly as the training set was built: a request with a sound
whose originality is unknown counts as "not original" (as the training set does), a request
without a sound has ``sound_original = None``, and an unknown follower count stays unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from viral_pipeline.engine.inputs.handles import (
    OPTIONAL_HANDLE_INPUT_PATTERN,
    bare_handle,
    normalize_handle,
)
from viral_pipeline.engine.inputs.items import HASHTAG_IN_TEXT
from viral_pipeline.engine.inputs.text import (
    LINE_FORBIDDEN,
    NOT_BLANK_MULTILINE_TEXT_PATTERN,
    SPACES,
    LineText,
    MultilineText,
)
from viral_pipeline.engine.timeutil import as_utc as _as_utc

MAX_CAPTION_CHARS = 2200
MAX_HASHTAGS = 30
MAX_HASHTAG_CHARS = 100
MAX_DURATION_S = 600
MAX_FOLLOWERS = 2_000_000_000
# posted_at's year, as written (its own offset), lies in these years: the rule a pattern on the
# text can show. Any of them, converted to UTC, is far inside pandas' timestamp range.
FIRST_POSTED_YEAR, LAST_POSTED_YEAR = 2000, 2099
POSTED_AT_PATTERN = r"^20[0-9]{2}-"


# Validation context key of a request read back from the queue (`validate_stored`).
STORED = "stored"


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


# Optional free text, blank meaning absent: single-line (names), or multi-line (a hook).
OptionalText = Annotated[LineText | None, AfterValidator(_blank_to_none)]
OptionalMultilineText = Annotated[MultilineText | None, AfterValidator(_blank_to_none)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SoundIn(_Strict):
    """The sound the video will use; every part is optional."""

    name: OptionalText = Field(default=None, max_length=200)
    author: OptionalText = Field(default=None, max_length=200)
    # TikTok music ids reach 19 digits (beyond a JSON number's precision): a string of digits.
    id: str | None = Field(default=None, max_length=32, pattern=r"^[0-9]+$")
    original: bool | None = Field(default=None, strict=True)


class CreatorIn(_Strict):
    handle: str | None = Field(
        default=None,
        description="TikTok handle, with or without a leading '@': letters, digits, '_' and "
        "'.', at most 64; blank means none",
        json_schema_extra={"pattern": OPTIONAL_HANDLE_INPUT_PATTERN},
    )
    followers: int | None = Field(default=None, ge=0, le=MAX_FOLLOWERS, strict=True)
    verified: bool | None = Field(default=None, strict=True)

    @field_validator("handle")
    @classmethod
    def _handle(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or bare_handle(value) == "":
            return None  # an empty handle is no handle, as any blank optional field
        try:
            return normalize_handle(value)
        except ValueError:
            if info.context and info.context.get(STORED):
                return value.strip().removeprefix("@").strip()
            raise


# A hashtag as sent: spaces around and leading '#'s allowed, then 1 to MAX_HASHTAG_CHARS
# characters, none a space or a control, the first not a '#'.
HASHTAG_PATTERN = f"^ *#* *[^#{SPACES}{LINE_FORBIDDEN}][^{SPACES}{LINE_FORBIDDEN}]{{0,{MAX_HASHTAG_CHARS - 1}}} *$"


def _hashtag(value: str) -> str:
    return value.strip(" ").lstrip("#").strip(" ")


Hashtag = Annotated[
    str,
    Field(
        pattern=HASHTAG_PATTERN,
        description=f"a tag, with or without '#': at most {MAX_HASHTAG_CHARS} characters, "
        "no spaces, no control characters",
    ),
    AfterValidator(_hashtag),
]


class AnalyzeRequest(_Strict):
    """The JSON body of ``POST /api/analyze``."""

    caption: str = Field(
        min_length=1,
        max_length=MAX_CAPTION_CHARS,
        pattern=NOT_BLANK_MULTILINE_TEXT_PATTERN,
        description="the caption: not only blanks; no control characters besides tab and line "
        "breaks, no bidirectional overrides",
    )
    hashtags: list[Hashtag] = Field(default_factory=list, max_length=MAX_HASHTAGS)
    sound: SoundIn | None = None
    duration_s: int = Field(
        ge=1, le=MAX_DURATION_S, strict=True, description="seconds, a JSON integer (24, never 24.0)"
    )
    posted_at: datetime | None = Field(
        default=None,
        description=f"ISO-8601 text, its year (as written) {FIRST_POSTED_YEAR}-"
        f"{LAST_POSTED_YEAR}; a time without an offset is UTC; default: when normalised",
        json_schema_extra={"pattern": POSTED_AT_PATTERN},
    )
    creator: CreatorIn | None = None
    hook: OptionalMultilineText = Field(default=None, max_length=MAX_CAPTION_CHARS)

    @field_validator("posted_at", mode="before")
    @classmethod
    def _posted_at_text(cls, value: Any) -> Any:
        # Text in the documented shape only: a number would be read as a Unix time, a year
        # outside the pattern is refused here rather than by a conversion.
        if value is not None and not (
            isinstance(value, str) and re.match(POSTED_AT_PATTERN, value)
        ):
            raise ValueError(
                f"must be ISO-8601 text of a year between {FIRST_POSTED_YEAR} and {LAST_POSTED_YEAR}"
            )
        return value

    @field_validator("posted_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)


def validate_stored(payload: dict[str, Any]) -> AnalyzeRequest:
    """A queued request read back for its run. It was accepted under the rules of the day it was
    stored, so a creator handle queued before the handle rule covered ``POST /api/analyze`` is
    kept as it was rather than failing the prediction."""
    return AnalyzeRequest.model_validate(payload, context={STORED: True})


@dataclass(frozen=True, slots=True)
class NormalizedRequest:
    caption: str
    hook: str | None
    hashtags: list[str]
    sound_name: str | None
    sound_author: str | None
    sound_id: str | None
    sound_original: bool | None
    duration_s: int
    posted_at: datetime
    creator_handle: str | None
    followers: int | None
    verified: bool | None

    @property
    def has_sound(self) -> bool:
        return (
            self.sound_id is not None
            or self.sound_name is not None
            or self.sound_original is not None
        )


def merge_hashtags(listed: list[str], caption: str) -> list[str]:
    """Listed tags, then the caption's #tags: lowercase, each once, in the order first seen."""
    seen: dict[str, None] = {}
    for name in listed:
        seen.setdefault(name.lower(), None)
    for name in HASHTAG_IN_TEXT.findall(caption):
        seen.setdefault(name.lower(), None)
    return list(seen)


def normalize(request: AnalyzeRequest, *, now: datetime | None = None) -> NormalizedRequest:
    """The request in the form the scorers read. `now` stands in for a missing ``posted_at``."""
    posted_at = request.posted_at or _as_utc(now or datetime.now(UTC))
    sound, creator = request.sound, request.creator
    return NormalizedRequest(
        caption=request.caption,
        hook=request.hook,
        hashtags=merge_hashtags(request.hashtags, request.caption),
        sound_name=sound.name if sound else None,
        sound_author=sound.author if sound else None,
        sound_id=sound.id if sound else None,
        sound_original=sound.original if sound else None,
        duration_s=request.duration_s,
        posted_at=posted_at,
        creator_handle=creator.handle if creator else None,
        followers=creator.followers if creator else None,
        verified=creator.verified if creator else None,
    )


def feature_row(req: NormalizedRequest, sound_trend_score: float) -> dict[str, Any]:
    """The raw columns (`RAW_COLUMNS`, in that order, and the hook) of one request, for `build_features`."""
    if not req.has_sound:
        sound_original = None
    else:  # a sound whose originality is unknown counts as not original, as in the training set
        sound_original = bool(req.sound_original)
    return {
        "caption": req.caption,
        "hashtags": list(req.hashtags),
        "sound_original": sound_original,
        "sound_trend_score": float(sound_trend_score),
        "duration_s": req.duration_s,
        "is_slideshow": False,  # the API takes a duration of at least 1 s: a video, not a slideshow
        "followers": req.followers,
        "verified": req.verified,
        "posted_at": req.posted_at,
        "hook": req.hook,  # read by the word bag (engine/model/content.py) with the caption
    }


def model_row(
    req: NormalizedRequest,
    sound_trend_score: float,
    history: Mapping[str, float],
    tag_uses: Mapping[str, int],
) -> dict[str, Any]:
    """The row the champion scores for a served request: its raw columns, its creator's history
    and the recent uses of its topic hashtags (`tag_uses`: videos per tag in the look-back, as
    store/content_uses.py counts them; tags absent from it had none). The `ml` op and the what-if
    suggestions both build their rows here, so a suggestion is scored exactly as the request it
    changes."""
    from viral_pipeline.engine.model.content import topic_tags, use_figures

    uses = use_figures(tag_uses, topic_tags(req.hashtags))
    return feature_row(req, sound_trend_score) | dict(history) | uses
