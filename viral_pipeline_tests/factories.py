"""Small builders of scraper items for tests (the current clockworks format)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def make_item(
    video_id: str,
    *,
    posted: datetime,
    plays: int = 1000,
    likes: int = 100,
    comments: int = 10,
    shares: int = 5,
    author_id: str = "6800000000000000001",
    handle: str = "creator",
    fans: int | None = 5000,
    verified: bool = False,
    music_id: str = "7000000000000000001",
    music_name: str = "a sound",
) -> dict[str, Any]:
    author: dict[str, Any] = {"id": author_id, "name": handle, "verified": verified}
    if fans is not None:
        author["fans"] = fans
    return {
        "id": video_id,
        "text": "caption #fyp",
        "createTime": int(posted.replace(tzinfo=posted.tzinfo or UTC).timestamp()),
        "createTimeISO": posted.isoformat(),
        "authorMeta": author,
        "musicMeta": {
            "musicId": music_id,
            "musicName": music_name,
            "musicAuthor": "x",
            "musicOriginal": False,
        },
        "videoMeta": {"height": 1024, "width": 576, "duration": 15},
        "isSlideshow": False,
        "playCount": plays,
        "diggCount": likes,
        "commentCount": comments,
        "shareCount": shares,
        "hashtags": [{"id": "1", "name": "fyp", "title": "", "cover": ""}],
        "webVideoUrl": f"https://www.tiktok.com/@{handle}/video/{video_id}",
    }
