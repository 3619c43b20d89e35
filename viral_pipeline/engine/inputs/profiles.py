"""Creator profiles on demand: the profile a scrape yields, and how it fills a request.

- `ProfilePatch` is the body of ``PATCH /api/profile``: a TikTok handle (the rule of `handles.py`,
  as ``creator.handle`` of ``POST /api/analyze``) and a few optional profile fields.
- `simulated_profile` answers for the simulated source: the world's creators exist, with the same
  followers, badge and author id their videos carry; any other handle does not exist, as an
  unknown handle on TikTok.
- `profile_from_items` reads a profile from the clockworks/tiktok-scraper actor's items for
  ``profiles: [handle]``: its ``authorMeta`` (id, fans, verified), or the actor's error row for a
  profile that does not exist.
- `fill_creator` completes a prediction request's creator from a known profile; values given in
  the request win.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from viral_pipeline.engine.inputs.handles import (
    HANDLE_INPUT_PATTERN,
    handle_key,
    normalize_handle,
)
from viral_pipeline.engine.inputs.items import AuthorMeta
from viral_pipeline.engine.inputs.request import NormalizedRequest, OptionalText

NICHES = (
    "food",
    "fitness",
    "comedy",
    "dance",
    "tech",
    "beauty",
    "pets",
    "travel",
    "gaming",
    "education",
    "other",
)


def _any_case(word: str) -> str:
    return "".join(f"[{ch.lower()}{ch.upper()}]" for ch in word)


# A niche as sent: one of NICHES in any case, spaces around; blank means none.
NICHE_PATTERN = f"^ *(?:{'|'.join(_any_case(niche) for niche in NICHES)})? *$"


class ProfilePatch(BaseModel):
    """The JSON body of ``PATCH /api/profile`` (extra fields are refused, so a typo is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiktok_handle: str = Field(
        description="TikTok handle, with or without a leading '@': letters, digits, '_' and "
        "'.', at most 64",
        json_schema_extra={"pattern": HANDLE_INPUT_PATTERN},
    )
    display_name: OptionalText = Field(default=None, max_length=100)
    niche: str | None = Field(
        default=None,
        pattern=NICHE_PATTERN,
        description=f"one of {', '.join(NICHES)} (any case); blank means none",
    )

    @field_validator("tiktok_handle")
    @classmethod
    def _handle(cls, value: str) -> str:
        return normalize_handle(value)

    @field_validator("niche")
    @classmethod
    def _niche(cls, value: str | None) -> str | None:
        # NICHE_PATTERN has already held: a blank, or a niche in any case.
        niche = (value or "").strip(" ").lower()
        return niche or None


@dataclass(frozen=True, slots=True)
class CreatorProfile:
    author_id: str
    handle: str
    followers: int | None
    verified: bool | None
    source: str = (
        "profile"  # in `creators`: 'profile' (a profile scrape) or 'scrape' (video author data)
    )


class ProfileNotFound(Exception):
    """The handle names no profile (the actor's "does not exist" row, or outside the simulated world)."""

    def __init__(self, handle: str, reason: str) -> None:
        super().__init__(f"profile @{handle} not found: {reason}")
        self.handle = handle
        self.reason = reason


def simulated_profile(handle: str, *, world_seed: int | None = None) -> CreatorProfile:
    """The simulated world's creator with this handle (any case), exactly as its videos show it."""
    from viral_pipeline.engine.world.simulated import N_CREATORS, WORLD_SEED, world

    w = world(WORLD_SEED if world_seed is None else world_seed)
    creator = w.creator_of_handle(handle_key(handle))
    if creator is None:
        raise ProfileNotFound(
            handle,
            f"the simulated world has no such creator (only its {N_CREATORS} creators exist)",
        )
    author = w.author(creator)
    return CreatorProfile(
        author_id=author["id"],
        handle=author["name"],
        followers=author["fans"],
        verified=author["verified"],
    )


def profile_from_items(handle: str, items: Iterable[Any]) -> CreatorProfile:
    """The profile from the authorMeta of the first item by this handle; ProfileNotFound otherwise."""
    key, errors = handle_key(handle), []
    for raw in items:
        if not isinstance(raw, dict):
            continue
        if "error" in raw and not raw.get("id"):
            errors.append(str(raw["error"]))
            continue
        try:
            author = AuthorMeta.model_validate(raw.get("authorMeta"))
        except ValidationError:
            continue
        if author.name.lower() == key:
            return CreatorProfile(
                author_id=author.id,
                handle=author.name,
                followers=author.fans,
                verified=author.verified,
            )
    if errors:
        raise ProfileNotFound(handle, f"the scraper says: {errors[0]}")
    raise ProfileNotFound(
        handle, "the scraper returned no video by this handle (unknown, private or without videos)"
    )


def fill_creator(
    request: NormalizedRequest, known: CreatorProfile | None
) -> tuple[NormalizedRequest, str]:
    """The request with missing followers/verified taken from `known`, and where followers came from."""
    if request.followers is not None:
        source = "request"
    elif known is not None and known.followers is not None:
        source = f"creators:{known.source}"
    else:
        source = "unknown"
    if known is None:
        return request, source
    return dataclasses.replace(
        request,
        followers=request.followers if request.followers is not None else known.followers,
        verified=request.verified if request.verified is not None else known.verified,
    ), source
