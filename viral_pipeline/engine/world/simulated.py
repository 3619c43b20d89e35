"""A simulated TikTok source that knows the truth, calibrated on a real sample.

`generate_day` returns what the clockworks/tiktok-scraper actor would return for one day, in the
exact shape of its current format, plus each video's probability of landing in the top decile of
that day's plays. The generative model of a video by creator c:

    ln(playCount) = mu + q_c + luck
    mu   = expected_ln_plays(what a scraper sees before posting): a weak follower effect
           (FOLLOWER_EFFECT per unit of ln followers), small effects of a trending sound (mostly
           for small accounts), posting hour, duration, slideshow, hashtags, caption length and
           the verified badge
    q_c  ~ N(0, CREATOR_QUALITY_SD^2), a hidden per-creator effect that persists across days
    luck ~ a mixture of normals (LUCK): ordinary videos, and breakouts that make the upper tail heavy

Why these numbers: they reproduce a real sample of about 10,000 trending-feed videos (2025, one
country, about 90 posting days, about 110 videos a day) when the world is sampled at that scale:

- Spearman(followers, views) 0.20, and follower count alone ranks that sample's top-decile videos
  with ROC AUC about 0.59: reach is a weak signal among trending videos, so FOLLOWER_EFFECT is small.
- views p10/p50/p90/p99 = 0.7M / 2.1M / 7.6M / 32M: VIEWS_MEDIAN and the LUCK mixture (its
  breakout component gives the p99 a normal cannot);
- followers p10/p50/p90 = 2k / 81k / 2.2M: a split-normal ln(followers) (FOLLOWERS_*);
- 80% of creators appear once, 10% three times or more and those post 31% of the videos: a few
  thousand regular creators with log-normal activity post 60% of the videos, a large pool of
  casual creators the rest (CREATORS);
- 39% of videos use an original sound (each its own sound) and 31% share their sound with another
  video of the sample: catalogue sounds that trend and fade, and a long tail of rarely used ones;
- a model of pre-posting metadata reaches ROC AUC 0.60-0.65 (0.61-0.62 measured), yet for the 32%
  of videos whose creator has earlier videos, the mean ln(views) of those earlier videos reaches
  about 0.69 where follower count reaches about 0.61: CREATOR_QUALITY_SD, a persistent effect
  nobody sees before posting but earlier views reveal. The pre-posting effects besides reach are
  sized so that the project's model, trained on a sample of that size, lands at the real model's
  0.61; that makes them stronger than the real ones (the real sample's metadata without followers
  reached about 0.54, here about 0.60), a trade-off bench/README.md shows with its figures.

With these numbers the knowable probability below reaches ROC AUC about 0.65 and the oracle about
0.77 against the realised labels.

Two probabilities come with each day. With t_day the 90th percentile of the day's realised
ln(playCount) and LUCK's components (w_j, m_j, s_j):

- oracle: knows q_c,  P = sum_j w_j * Phi((mu + q_c + m_j - t_day) / s_j);
- knowable before posting from metadata alone: q_c marginalised,
  P = sum_j w_j * Phi((mu + m_j - t_day) / sqrt(s_j^2 + CREATOR_QUALITY_SD^2)).
The knowable one bounds what the project's model of pre-posting metadata can reach; the oracle
bounds anything (creator history included). The world (creators, sounds, hashtags) depends on
`world_seed` only; each day draws from a generator seeded with (world_seed, date ordinal).

At the product's default of 2,000 videos a day the same world shows its creators and sounds more
often than a 110-a-day sample does: bench/README.md gives the statistics at both scales.

Video ids carry the post time in their top bits like TikTok's, so they are 19 digits for posts
between 1977 and 2043. The parser refuses posts in the future unless given `now`.
"""

from __future__ import annotations

import functools
import gc
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr
from scipy.stats import rankdata

WORLD_SEED = 20261129
MALFORMED_SHARE = 0.015  # error rows and broken items, as a share of all items
VIRAL_QUANTILE = 0.9  # viral = top decile of the day's plays (Klug et al. 2021)
# Creators: (regulars, their log-normal activity sd, their share of all videos, casual creators).
CREATORS = (5_000, 0.9, 0.6, 200_000)
N_CREATORS = CREATORS[0] + CREATORS[3]
FOLLOWERS_MEDIAN = 81_000
FOLLOWERS_LN_SD = (2.89, 2.5)  # below, above the median: p10 2k, p90 2.2M
FOLLOWER_EFFECT = 0.065  # on ln(plays) per unit of ln(followers)
CREATOR_QUALITY_SD = 0.5  # the hidden creator effect
LUCK = ((0.85, 0.0, 0.55), (0.15, 1.0, 1.1))  # (weight, mean, sd): ordinary videos, breakouts
VIEWS_MEDIAN = 2_100_000
N_SOUNDS = 800  # catalogue sound slots; each cycle of a slot is a new sound
SOUND_CYCLE_DAYS = 90  # a sound slot brings a new sound to its peak every 90 days
ORIGINAL_SOUND_SHARE = 0.39  # of videos with a sound
CATALOGUE_SHARE = 0.6  # of the other videos: a catalogue sound; the rest, one of LONG_TAIL_SOUNDS
LONG_TAIL_SOUNDS = 1_000_000

_FIRST = (
    "alex sam jo maya leo nina omar lina tom zoe ivan sofia kai mila noah emma luca ana theo yuki"
).split()
_SECOND = "daily eats fit vibes lab talks diaries studio world life hacks official tv games travels".split()
_NAMES = (
    "Alex Sam Jo Maya Léo Nina Omar Lina Tom Zoé Iván Sofía Kai Mila Noah Emma Luca Ana Théo Yuki"
).split()
_WORDS = (
    "the best way to make this recipe in ten minutes wait for the end you will not believe what "
    "happened today pov when your friend says story time my new routine tried viral trick "
    "honestly worth it part two comment below who else does this café niño über día très "
    "bonito ça marche"
).split()
_EMOJI = ["😂", "🔥", "✨", "🤖", "❤️", "😭", "👀", "💪", "🍕", "🎶"]
_GENERIC = (
    "fyp fyp fyp foryou foryou viral viral foryoupage fy trending xyzbca tiktok".split()
)  # weighted
_TOPICS = [
    t.split()
    for t in (
        "food recipe cooking foodtok easyrecipe",
        "fitness gym workout gymtok health",
        "comedy funny humor meme skit",
        "dance dancechallenge choreo music song",
        "tech ai chatgpt coding gadgets",
        "beauty makeup skincare grwm hair",
        "pets dog cat puppy animals",
        "travel wanderlust vacation beach roadtrip",
        "gaming gamer minecraft fortnite twitch",
        "learnontiktok education science history facts",
    )
]
_LANGS = [
    ("en", "US", "original sound"),
    ("es", "ES", "sonido original"),
    ("fr", "FR", "son original"),
    ("pt", "BR", "som original"),
    ("de", "DE", "Originalton"),
]
_SONG_A = "midnight golden electric lonely summer neon broken wild paper velvet".split()
_SONG_B = "dreams heart city lights river echo fever motion signal garden".split()


@dataclass(frozen=True)
class World:
    """Everything that persists across days for one world seed, one array entry per creator.

    Author records (authorMeta) are built on demand (`author`): the world holds N_CREATORS.
    """

    author_id: np.ndarray
    ln_followers: np.ndarray
    verified: np.ndarray
    quality: np.ndarray  # the hidden creator effect on ln(plays) (CREATOR_QUALITY_SD)
    activity_cdf: np.ndarray  # cumulative probability that a given video is by creators 0..i
    picks: np.ndarray  # (N_CREATORS, 4) small integers that name a creator and fill its profile
    topic: np.ndarray
    lang: np.ndarray
    sound_phase: np.ndarray  # day ordinal (mod cycle) of each sound slot's peak
    sound_width: np.ndarray  # days
    sound_amp: np.ndarray
    sound_base_id: np.ndarray
    long_tail_base_id: int
    hashtag_id: dict[str, str]

    def handle(self, c: int) -> str:
        """The creator's unique handle: two words and its index (so a handle finds its creator)."""
        a, b = self.picks[c, :2].tolist()
        return f"{_FIRST[a % len(_FIRST)]}{'._'[b % 2]}{_SECOND[b % len(_SECOND)]}{c}"

    def creator_of_handle(self, handle: str) -> int | None:
        """The index of the creator with this handle (any case), None when nobody has it."""
        match = _HANDLE.fullmatch(handle.lower())
        c = int(match.group(1)) if match else -1
        return (
            c if 0 <= c < len(self.author_id) and self.handle(c).lower() == handle.lower() else None
        )

    def author(self, c: int) -> dict[str, Any]:
        """authorMeta of creator `c`, as every one of its videos shows it."""
        return self.authors_of(np.array([c]))[0]

    def authors_of(self, creators: np.ndarray) -> list[dict[str, Any]]:
        """authorMeta of each of `creators` (one numpy pass for their counts)."""
        fans = display_round(np.exp(self.ln_followers[creators]))
        hearts = display_round(fans * (2 + self.picks[creators, 2] % 30)).tolist()
        out = []
        for c, f, heart, (_, _, num, nick), verified in zip(
            creators.tolist(),
            fans.tolist(),
            hearts,
            self.picks[creators].tolist(),
            self.verified[creators].tolist(),
        ):
            handle = self.handle(c)
            out.append(
                {
                    "id": str(self.author_id[c]),
                    "name": handle,
                    "profileUrl": f"https://www.tiktok.com/@{handle}",
                    "nickName": f"{_NAMES[nick % len(_NAMES)]} {_SECOND[(nick // 20) % len(_SECOND)].title()}",
                    "verified": verified,
                    "signature": "",
                    "bioLink": None,
                    "originalAvatarUrl": "...",
                    "avatar": "...",
                    "privateAccount": False,
                    "roomId": "",
                    "ttSeller": False,
                    "following": num % 400,
                    "friends": num % 50,
                    "fans": f,
                    "heart": heart,
                    "video": 5 + num % 300,
                    "digg": num,
                }
            )
        return out


_HANDLE = re.compile(r"[a-z]+[._][a-z]+([0-9]+)")


@dataclass(frozen=True)
class SimulatedDay:
    day: date
    items: list[dict[str, Any]]
    # P(viral) of each valid video, by video id: knowing the hidden creator effect (the oracle),
    # and the best knowable before posting from metadata alone (the creator effect marginalised).
    oracle_viral_probability: dict[str, float]
    knowable_viral_probability: dict[str, float]


def _ids19(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(10**18, 9 * 10**18, n)  # 19 digits, below 2**63


def display_round(x: np.ndarray) -> np.ndarray:
    """Counts as TikTok shows them: exact below 10,000, three significant figures above."""
    x = np.rint(np.asarray(x, dtype=float)).astype(np.int64)
    big = x >= 10_000
    factor = 10 ** (np.floor(np.log10(x[big])).astype(np.int64) - 2)
    x[big] = np.rint(x[big] / factor).astype(np.int64) * factor
    return x


@functools.lru_cache(maxsize=4)
def world(world_seed: int = WORLD_SEED) -> World:
    rng = np.random.default_rng([world_seed, 0])
    n_regular, regular_sd, regular_share, n_casual = CREATORS
    n = n_regular + n_casual
    # ln(followers): a split normal around the median (the real sample is a little left-skewed).
    z = rng.standard_normal(n)
    ln_f = np.log(FOLLOWERS_MEDIAN) + z * np.where(z < 0, *FOLLOWERS_LN_SD)
    # Verified: the top 5.6% of a score dominated by size, so big accounts are nearly all verified.
    score = 1.5 * ln_f + rng.logistic(0, 1, n)
    verified = score >= np.quantile(score, 1 - 0.056)
    regular = rng.lognormal(0, regular_sd, n_regular)
    activity = np.concatenate(
        [regular * regular_share / regular.sum(), np.full(n_casual, (1 - regular_share) / n_casual)]
    )
    tags = list(dict.fromkeys(_GENERIC + [t for topic in _TOPICS for t in topic]))
    lengths = rng.integers(6, 20, len(tags))
    hashtag_id = {
        t: str(i)[:k] for t, i, k in zip(tags, _ids19(rng, len(tags)).tolist(), lengths.tolist())
    }
    return World(
        author_id=_ids19(rng, n),
        ln_followers=ln_f,
        verified=verified,
        quality=rng.standard_normal(n) * CREATOR_QUALITY_SD,
        activity_cdf=np.cumsum(activity),
        picks=rng.integers(0, 1_000, (n, 4)),
        topic=rng.integers(0, len(_TOPICS), n),
        lang=rng.choice(len(_LANGS), n, p=[0.6, 0.15, 0.1, 0.1, 0.05]),
        sound_phase=rng.uniform(0, SOUND_CYCLE_DAYS, N_SOUNDS),
        sound_width=rng.uniform(3, 10, N_SOUNDS),
        sound_amp=rng.lognormal(0, 1.0, N_SOUNDS),
        sound_base_id=_ids19(rng, N_SOUNDS),
        long_tail_base_id=int(_ids19(rng, 1)[0]) // LONG_TAIL_SOUNDS * LONG_TAIL_SOUNDS,
        hashtag_id=hashtag_id,
    )


def sound_trend(w: World, day: date) -> tuple[np.ndarray, np.ndarray]:
    """(cycle, trend in 0..1) of each sound slot on `day`: trend rises to 1 at the peak, then fades."""
    d = day.toordinal()
    cycle = np.rint((d - w.sound_phase) / SOUND_CYCLE_DAYS)
    offset = d - (w.sound_phase + cycle * SOUND_CYCLE_DAYS)
    return cycle.astype(np.int64), np.exp(-0.5 * (offset / w.sound_width) ** 2)


def _sound_meta(k: int, music_id: int) -> dict[str, Any]:
    # A sound's name follows from its number k, without any draws.
    return {
        "musicName": f"{_SONG_A[k % 10]} {_SONG_B[(k // 10) % 10]}",
        "musicAuthor": f"{_NAMES[k % 20]} {_SONG_B[(3 * k) % 10].title()}",
        "musicOriginal": False,
        "playUrl": "...",
        "coverMediumUrl": "...",
        "originalCoverMediumUrl": "...",
        "musicId": str(music_id),
    }


def luck(z: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A video's luck from a standard normal `z` and a uniform `u` (which LUCK component)."""
    weights, means, sds = (np.array(c) for c in zip(*LUCK))
    j = np.minimum(np.searchsorted(np.cumsum(weights), u, side="right"), len(LUCK) - 1)
    return means[j] + sds[j] * z


def p_above(margin: ArrayLike, creator_sd: float = 0.0) -> np.ndarray:
    """P(margin + luck + creator effect > 0), the creator effect normal with sd `creator_sd`."""
    margin = np.asarray(margin, dtype=float)
    return sum(w * ndtr((margin + m) / np.hypot(s, creator_sd)) for w, m, s in LUCK)


# Centres the median of ln(plays) on ln(VIEWS_MEDIAN): LUCK's breakouts and the features' mean
# put the median 0.36 above the intercept (measured on 3 x 90 days x 110 videos).
_LN_PLAYS_CENTRE = np.log(VIEWS_MEDIAN) - 0.36


def expected_ln_plays(
    *,
    ln_f: np.ndarray,
    quality: np.ndarray | float,
    uses_trend: np.ndarray,
    hour: np.ndarray,
    duration: np.ndarray,
    slideshow: np.ndarray,
    tag_count: np.ndarray,
    caption_len: np.ndarray,
    verified: np.ndarray,
) -> np.ndarray:
    """mu (+ the creator effect `quality`, 0 for the knowable part): expected ln(playCount).

    Shared by the day generator and the simulated outcomes of predicted videos
    (engine/world/simulated_outcomes.py), so both follow one generative model.
    """
    # Why these effects: reach helps, but weakly among trending videos; trending sounds help
    # small accounts; the busiest hours a little; a mild duration sweet spot; slideshows
    # underperform. Together, without followers, they rank the top decile at AUC about 0.54.
    small = 1 / (1 + np.exp(ln_f - np.log(10_000)))
    mu = (
        FOLLOWER_EFFECT * (ln_f - np.log(FOLLOWERS_MEDIAN))
        + quality
        + 0.5 * uses_trend * small
        + 0.28 * np.cos(2 * np.pi * (hour - 16) / 24)
        + np.where(slideshow, -0.45, -0.2 * (np.log(np.maximum(duration, 1)) - np.log(18)) ** 2)
        + 0.07 * np.minimum(tag_count, 5)
        - 0.17 * (tag_count == 0)
        - 0.17 * (caption_len > 150)
        + 0.25 * verified
    )
    return mu + _LN_PLAYS_CENTRE


def _captions(
    rng: np.random.Generator, w: World, creator: np.ndarray, n_tags: np.ndarray, n_words: np.ndarray
) -> tuple[list[str], list[list[str]]]:
    """Captions from word lists (some non-ASCII, some emoji), ending in their #hashtags."""
    n = len(creator)
    word_ix = rng.integers(0, len(_WORDS), int(n_words.sum())).tolist()
    tag_generic = (rng.random(int(n_tags.sum())) < 0.4).tolist()
    tag_ix = rng.integers(0, 1_000, int(n_tags.sum())).tolist()
    emoji = rng.integers(-len(_EMOJI), len(_EMOJI), n).tolist()  # negative: no emoji
    texts, tag_lists, wpos, tpos = [], [], 0, 0
    for c, nw, nt, e in zip(creator.tolist(), n_words.tolist(), n_tags.tolist(), emoji):
        topic = _TOPICS[w.topic[c]]
        tags = list(
            dict.fromkeys(  # a repeated tag is written once, as people do
                _GENERIC[j % len(_GENERIC)] if g else topic[j % len(topic)]
                for g, j in zip(tag_generic[tpos : tpos + nt], tag_ix[tpos : tpos + nt])
            )
        )
        text = " ".join([_WORDS[j] for j in word_ix[wpos : wpos + nw]]).capitalize()
        text += (f" {_EMOJI[e]}" if e >= 0 else "") + "".join([f" #{t}" for t in tags])
        wpos, tpos = wpos + nw, tpos + nt
        texts.append(text)
        tag_lists.append(tags)
    return texts, tag_lists


def generate_day(day: date, n: int, *, world_seed: int = WORLD_SEED) -> SimulatedDay:
    """One day of scraper items (about MALFORMED_SHARE of them broken) and the truth about them."""
    # ~15 containers per item make the cycle collector run thousands of times for nothing (these
    # dicts hold no cycles): pausing it halves the time of a large day.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate_day(day, n, world_seed)
    finally:
        if was_enabled:
            gc.enable()


def _generate_day(day: date, n: int, world_seed: int) -> SimulatedDay:
    w = world(world_seed)
    rng = np.random.default_rng([world_seed, day.toordinal()])
    creator = np.minimum(
        np.searchsorted(w.activity_cdf, rng.random(n) * w.activity_cdf[-1], side="right"),
        len(w.activity_cdf) - 1,
    )
    ln_f = w.ln_followers[creator]
    slideshow = rng.random(n) < 0.04
    original = (rng.random(n) < ORIGINAL_SOUND_SHARE) & ~slideshow
    catalogue = ~original & ~slideshow & (rng.random(n) < CATALOGUE_SHARE)
    cycle, trend = sound_trend(w, day)
    # Catalogue usage follows popularity: a trending bump over an evergreen base, so trend varies
    # per use. Other videos take an original sound (each its own) or one of a long tail.
    popularity = w.sound_amp * (trend + 0.25)
    slot = rng.choice(N_SOUNDS, n, p=popularity / popularity.sum())
    tail = rng.integers(0, LONG_TAIL_SOUNDS, n)
    own_sound_id = _ids19(rng, n)
    uses_trend = np.where(catalogue, trend[slot], 0.0)
    # Posting hour: half peak around 16 UTC, half spread over the whole day.
    hour = np.where(rng.random(n) < 0.5, rng.normal(16, 2.2, n), rng.uniform(0, 24, n)) % 24
    long = rng.random(n) < 0.08
    duration = np.where(long, rng.lognormal(np.log(45), 0.9, n), rng.lognormal(np.log(13), 0.55, n))
    duration = np.where(slideshow, 0, np.clip(np.rint(duration), 1, 600)).astype(np.int64)
    n_tags = np.where(rng.random(n) < 0.15, 0, 1 + rng.poisson(6.0, n))
    n_words = 2 + rng.poisson(np.where(n_tags == 0, 12, 6))

    texts, tag_lists = _captions(rng, w, creator, n_tags, n_words)
    caption_len = np.fromiter(map(len, texts), float, n)

    tag_count = np.fromiter(map(len, tag_lists), np.int64, n)
    mu = expected_ln_plays(
        ln_f=ln_f,
        quality=0.0,
        uses_trend=uses_trend,
        hour=hour,
        duration=duration,
        slideshow=slideshow,
        tag_count=tag_count,
        caption_len=caption_len,
        verified=w.verified[creator],
    )
    z = rng.standard_normal(n)
    ln_plays = mu + w.quality[creator] + luck(z, rng.random(n))
    plays = np.exp(ln_plays)
    # Engagement ratios: log-normal around the real medians; luckier videos also engage more.
    likes = plays * np.minimum(0.085 * np.exp(0.5 * rng.standard_normal(n) + 0.1 * z), 0.6)
    comments = plays * 0.0013 * np.exp(0.9 * rng.standard_normal(n))
    shares = plays * 0.0009 * np.exp(1.0 * rng.standard_normal(n))
    collects = plays * 0.004 * np.exp(0.8 * rng.standard_normal(n))
    counts = [display_round(c) for c in (plays, likes, comments, shares, collects)]

    midnight = int(datetime.combine(day, time(), tzinfo=UTC).timestamp())
    create_time = midnight + (hour * 3600).astype(np.int64)
    low_bits = rng.integers(0, 2**32, n)
    n_bad = rng.binomial(n, MALFORMED_SHARE)
    bad = set(rng.choice(n, n_bad, replace=False).tolist())
    bad_kind = rng.integers(0, 4, n)

    # Python lists, not numpy scalars, inside the per-item loop: several times faster.
    iso = np.datetime_as_string(create_time.astype("datetime64[s]"), unit="s").tolist()
    # The sound of each video: None for its own (original) sound, else (number, music id).
    slot_ids = (w.sound_base_id + cycle).tolist()
    sounds = [
        None if own else (k + 7 * cy, slot_ids[k]) if cat else (t, w.long_tail_base_id + t)
        for own, cat, k, cy, t in zip(
            (original | slideshow).tolist(),
            catalogue.tolist(),
            slot.tolist(),
            cycle[slot].tolist(),
            tail.tolist(),
        )
    ]
    unique = np.unique(creator)
    authors = dict(zip(unique.tolist(), w.authors_of(unique)))
    cols = zip(
        creator.tolist(),
        create_time.tolist(),
        low_bits.tolist(),
        iso,
        texts,
        tag_lists,
        sounds,
        own_sound_id.tolist(),
        slideshow.tolist(),
        duration.tolist(),
        *(c.tolist() for c in counts),
    )
    items, valid = [], []
    for i, (c, ct, bits, when, text, tags, sound, own_id, slides, dur, *stats) in enumerate(cols):
        play, dig, com, sha, col = stats
        vid = str((ct << 32) | bits)
        author = dict(authors[c])
        lang, country, original_name = _LANGS[w.lang[c]]
        if sound is None:
            music = {
                "musicName": original_name,
                "musicAuthor": author["nickName"],
                "musicOriginal": True,
                "playUrl": "...",
                "coverMediumUrl": "...",
                "originalCoverMediumUrl": "...",
                "musicId": str(own_id),
            }
        else:
            music = _sound_meta(*sound)
        if slides:
            del music["musicAuthor"]
            music["musicId"] = "0"
        url = f"https://www.tiktok.com/@{author['name']}/video/{vid}"
        item = {
            "id": vid,
            "text": text,
            "textLanguage": lang,
            "createTime": ct,
            "createTimeISO": f"{when}.000Z",
            "locationCreated": country,
            "isAd": False,
            "authorMeta": author,
            "musicMeta": music,
            "webVideoUrl": url,
            "mediaUrls": [],
            "videoMeta": {
                "height": 0 if slides else 1024,
                "width": 0 if slides else 576,
                "duration": dur,
                "coverUrl": "...",
                "originalCoverUrl": "...",
                "definition": "540p",
                "format": "mp4",
                "subtitleLinks": [],
            },
            "diggCount": dig,
            "shareCount": sha,
            "playCount": play,
            "collectCount": col,
            "commentCount": com,
            "mentions": [],
            "detailedMentions": [],
            "hashtags": [
                {"id": w.hashtag_id[t], "name": t, "title": "", "cover": ""} for t in tags
            ],
            "effectStickers": [],
            "isSlideshow": slides,
            "isPinned": False,
            "isSponsored": False,
            "submittedVideoUrl": url,
        }
        if i in bad:
            item = _break(item, int(bad_kind[i]), bits)
        else:
            valid.append(i)
        items.append(item)

    # The truth: threshold at the realised 90th percentile of the day's valid videos.
    idx = np.array(valid, dtype=np.int64)
    t_day = np.quantile(ln_plays[idx], VIRAL_QUANTILE) if len(idx) else 0.0
    ids = [items[i]["id"] for i in idx]
    oracle = p_above(mu[idx] + w.quality[creator[idx]] - t_day)
    knowable = p_above(mu[idx] - t_day, CREATOR_QUALITY_SD)
    return SimulatedDay(
        day=day,
        items=items,
        oracle_viral_probability=dict(zip(ids, oracle.tolist())),
        knowable_viral_probability=dict(zip(ids, knowable.tolist())),
    )


def _break(item: dict[str, Any], kind: int, noise: int) -> dict[str, Any]:
    """One malformed row of a kind the parser must reject."""
    if kind == 0:  # the actor's row for an input that does not exist
        handle = f"{item['authorMeta']['name']}{noise % 97}.x"
        return {
            "url": f"https://www.tiktok.com/@{handle}",
            "searchQuery": "",
            "input": handle,
            "error": "This profile/hashtag does not exist.",
        }
    if kind == 1:  # stats missing or null
        if noise % 2:
            item.pop("playCount")
        else:
            item["playCount"] = None
    elif kind == 2:  # id missing, empty, or a JSON number that lost its digits
        item["id"] = [None, "", float(item["id"])][noise % 3]
    else:  # a negative count
        item[["diggCount", "commentCount", "shareCount"][noise % 3]] = -1 - noise % 50
    return item


def iter_days(
    start: date, days: int, n_per_day: int, *, world_seed: int = WORLD_SEED
) -> Iterator[SimulatedDay]:
    """Consecutive days from `start`, for benchmarks."""
    for k in range(days):
        yield generate_day(start + timedelta(days=k), n_per_day, world_seed=world_seed)


def viral_labels(play_counts: dict[str, int]) -> dict[str, bool]:
    """Top decile of the day's plays: strictly above the 90th percentile."""
    if not play_counts:
        return {}
    threshold = float(np.quantile(np.fromiter(play_counts.values(), float), VIRAL_QUANTILE))
    return {vid: plays > threshold for vid, plays in play_counts.items()}


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; ties count half."""
    labels = np.asarray(labels, bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def best_auc(
    day: SimulatedDay, records_play_counts: dict[str, int], *, oracle: bool = False
) -> float:
    """The best ROC AUC reachable against the realised labels: from pre-posting metadata (the
    knowable probability), or with `oracle` knowing the hidden creator effect too."""
    truth = day.oracle_viral_probability if oracle else day.knowable_viral_probability
    ids = [vid for vid in records_play_counts if vid in truth]
    labels = viral_labels({vid: records_play_counts[vid] for vid in ids})
    return roc_auc(np.array([truth[v] for v in ids]), np.array([labels[v] for v in ids]))
