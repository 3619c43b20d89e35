"""Parse items of the Apify clockworks/tiktok-scraper actor into `VideoRecord`s.

Two formats load: the current one (`createTimeISO`, `isSlideshow`, `authorMeta.fans`) and the
older one (`secretID`, `covers`, `videoUrl`, often no `fans`). Every item becomes either a
`VideoRecord` or a `Rejection` with a reason a person can act on; nothing raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeInt, ValidationError

# TikTok launched internationally in September 2016; an older timestamp is a broken row.
EARLIEST_POST = datetime(2016, 9, 1, tzinfo=UTC)
HASHTAG_IN_TEXT = re.compile(r"#(\w+)", re.UNICODE)


def _id_string(value: Any) -> Any:
    # Ids reach 19 digits (> 2**53): a float has already lost digits, so refuse it.
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("id must be a string of digits, not a number that may have lost precision")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and not value.strip():
        raise ValueError("id is empty")
    if isinstance(value, str) and not value.isdigit():
        raise ValueError("id must be a string of digits")
    return value


IdString = Annotated[str, BeforeValidator(_id_string)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class AuthorMeta(_Lenient):
    id: IdString
    name: str = Field(min_length=1)
    verified: bool | None = None
    fans: NonNegativeInt | None = None


class MusicMeta(_Lenient):
    musicId: IdString | None = None
    musicName: str | None = None
    musicAuthor: str | None = None
    musicOriginal: bool | None = None


class VideoMeta(_Lenient):
    duration: NonNegativeInt = 0


class Hashtag(_Lenient):
    name: str = ""


class ScraperItem(_Lenient):
    """Both formats: fields the older one lacks are optional."""

    id: IdString
    text: str | None = ""
    createTime: int
    createTimeISO: str | None = None
    authorMeta: AuthorMeta
    musicMeta: MusicMeta | None = None
    videoMeta: VideoMeta | None = None
    isSlideshow: bool | None = None
    playCount: NonNegativeInt
    diggCount: NonNegativeInt
    commentCount: NonNegativeInt
    shareCount: NonNegativeInt
    collectCount: NonNegativeInt | None = None
    hashtags: list[Hashtag] | None = None
    webVideoUrl: str | None = None
    secretID: str | None = None
    covers: Any = None


@dataclass(frozen=True, slots=True)
class VideoRecord:
    video_id: str
    source_format: str
    author_id: str
    author_handle: str
    author_followers: int | None
    author_verified: bool | None
    caption: str
    hashtags: list[str]
    music_id: str | None
    music_name: str | None
    music_author: str | None
    music_original: bool | None
    duration_s: int
    is_slideshow: bool
    posted_at: datetime
    play_count: int
    like_count: int
    comment_count: int
    share_count: int
    collect_count: int | None
    web_url: str | None


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    raw: Any


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "item"
        parts.append(f"{where}: {err['msg']}")
    return "invalid item: " + "; ".join(parts)


def _hashtags(item: ScraperItem, caption: str) -> list[str]:
    names = [tag.name for tag in item.hashtags or [] if tag.name]
    if not names:
        names = HASHTAG_IN_TEXT.findall(caption)
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name.lower(), None)
    return list(seen)


def parse_item(raw: Any, *, now: datetime | None = None) -> VideoRecord | Rejection:
    """One raw dataset item to a VideoRecord, or a Rejection with its reason."""
    if not isinstance(raw, dict):
        return Rejection(f"item is a {type(raw).__name__}, not a JSON object", raw)
    if "error" in raw and not raw.get("id"):
        return Rejection(f"scraper error row: {raw.get('error')}", raw)
    try:
        item = ScraperItem.model_validate(raw)
    except ValidationError as error:
        return Rejection(_describe(error), raw)

    posted_at = datetime.fromtimestamp(item.createTime, tz=UTC)
    latest = (now or datetime.now(UTC)) + timedelta(days=1)
    if not EARLIEST_POST <= posted_at <= latest:
        return Rejection(
            f"createTime {item.createTime} is outside {EARLIEST_POST.date()}..now", raw
        )

    duration = item.videoMeta.duration if item.videoMeta else 0
    # The current format flags slideshows; the older one shows them only as a zero duration.
    is_slideshow = bool(item.isSlideshow) if item.isSlideshow is not None else duration == 0
    if duration == 0 and not is_slideshow:
        return Rejection("video (not a slideshow) with zero duration", raw)

    music = item.musicMeta or MusicMeta()
    # Slideshows carry musicId "0": no sound to trend on.
    music_id = music.musicId if music.musicId and music.musicId != "0" else None
    caption = item.text or ""
    is_current = item.createTimeISO is not None or item.isSlideshow is not None
    return VideoRecord(
        video_id=item.id,
        source_format="clockworks" if is_current else "legacy",
        author_id=item.authorMeta.id,
        author_handle=item.authorMeta.name,
        author_followers=item.authorMeta.fans,
        author_verified=item.authorMeta.verified,
        caption=caption,
        hashtags=_hashtags(item, caption),
        music_id=music_id,
        music_name=music.musicName if music_id else None,
        music_author=music.musicAuthor if music_id else None,
        music_original=music.musicOriginal if music_id else None,
        duration_s=duration,
        is_slideshow=is_slideshow,
        posted_at=posted_at,
        play_count=item.playCount,
        like_count=item.diggCount,
        comment_count=item.commentCount,
        share_count=item.shareCount,
        collect_count=item.collectCount,
        web_url=item.webVideoUrl,
    )
