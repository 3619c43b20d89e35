"""A simulated TikTok source that knows the truth.

`generate_day` returns what the clockworks/tiktok-scraper actor would return for one day, in the
exact shape of its current format, plus each video's true probability of landing in the top
decile of that day's plays. The model:

    ln(playCount) = mu(features known before posting) + SIGMA * eps,   eps ~ N(0, 1)

mu is driven mostly by creator reach (log followers), then a trending-sound lift (mostly for
small accounts), posting hour, duration, slideshow, hashtags, caption length and the verified
badge: only what a scraper sees before posting (no hidden creator effect: CREATOR_QUALITY_SD
is 0). With t_day the 90th percentile of the day's realised ln(playCount),
P(viral) = 1 - Phi((t_day - mu) / SIGMA): a benchmark can compute the best ROC AUC any model
could reach. The world (creators, sounds, hashtags) depends on `world_seed` only;
each day draws from a generator seeded with (world_seed, date ordinal).

Video ids carry the post time in their top bits like TikTok's, so they are 19 digits for posts
between 1977 and 2043. The parser refuses posts in the future unless given `now`.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from scipy.special import ndtr
from scipy.stats import rankdata

WORLD_SEED = 20261129
MALFORMED_SHARE = 0.015  # error rows and broken items, as a share of all items
VIRAL_QUANTILE = 0.9  # viral = top decile of the day's plays (Klug et al. 2021)
N_CREATORS, N_SOUNDS = 5_000, 800
SOUND_CYCLE_DAYS = 90  # a sound slot brings a new sound to its peak every 90 days
SIGMA = 1.2  # unexplained luck; with sd(mu) ~0.9 the best AUC lands near 0.83
# A persistent per-creator effect that no scraper can see. It is 0 so that mu rests only on what
# is knowable before posting: the best AUC (from the true probabilities) is then reachable by a
# model of the scraped features. It is still drawn, so the rest of the world stays the same.
CREATOR_QUALITY_SD = 0.0
LN_PLAYS_MEAN = 11.6  # real trending sample: mean 11.63, sd 1.57

_FIRST = "alex sam jo maya leo nina omar lina tom zoe ivan sofia kai mila noah emma luca ana theo yuki"
_SECOND = "daily eats fit vibes lab talks diaries studio world life hacks official tv games travels".split()
_NAMES = "Alex Sam Jo Maya Léo Nina Omar Lina Tom Zoé Iván Sofía Kai Mila Noah Emma Luca Ana Théo Yuki"
_FIRST, _NAMES = _FIRST.split(), _NAMES.split()
_WORDS = ("the best way to make this recipe in ten minutes wait for the end you will not believe what "
          "happened today pov when your friend says story time my new routine tried viral trick "
          "honestly worth it part two comment below who else does this café niño über día très "
          "bonito ça marche").split()
_EMOJI = ["😂", "🔥", "✨", "🤖", "❤️", "😭", "👀", "💪", "🍕", "🎶"]
_GENERIC = "fyp fyp fyp foryou foryou viral viral foryoupage fy trending xyzbca tiktok".split()  # weighted
_TOPICS = [t.split() for t in (
    "food recipe cooking foodtok easyrecipe", "fitness gym workout gymtok health",
    "comedy funny humor meme skit", "dance dancechallenge choreo music song",
    "tech ai chatgpt coding gadgets", "beauty makeup skincare grwm hair",
    "pets dog cat puppy animals", "travel wanderlust vacation beach roadtrip",
    "gaming gamer minecraft fortnite twitch", "learnontiktok education science history facts")]
_LANGS = [("en", "US", "original sound"), ("es", "ES", "sonido original"), ("fr", "FR", "son original"),
          ("pt", "BR", "som original"), ("de", "DE", "Originalton")]
_SONG_A = "midnight golden electric lonely summer neon broken wild paper velvet".split()
_SONG_B = "dreams heart city lights river echo fever motion signal garden".split()


@dataclass(frozen=True)
class World:
    """Everything that persists across days for one world seed."""

    authors: list[dict[str, Any]]  # authorMeta per creator
    ln_followers: np.ndarray
    verified: np.ndarray
    quality: np.ndarray  # persistent creator effect on ln(plays), unobserved; 0 (CREATOR_QUALITY_SD)
    activity: np.ndarray  # probability that a given video is by this creator
    topic: np.ndarray
    lang: np.ndarray
    original_sound_id: list[str]
    sound_phase: np.ndarray  # day ordinal (mod cycle) of each sound slot's peak
    sound_width: np.ndarray  # days
    sound_amp: np.ndarray
    sound_base_id: np.ndarray
    hashtag_id: dict[str, str]


@dataclass(frozen=True)
class SimulatedDay:
    day: date
    items: list[dict[str, Any]]
    true_viral_probability: dict[str, float]


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
    # Followers: log-normal, median ~3,000, a heavy tail into the millions.
    ln_f = rng.normal(np.log(3_000), 2.0, N_CREATORS)
    # Verified: the top 5.6% of a score dominated by size, so big accounts are nearly all verified.
    score = 1.5 * ln_f + rng.logistic(0, 1, N_CREATORS)
    verified = score >= np.quantile(score, 1 - 0.056)
    fans = display_round(np.exp(ln_f))
    ids, sound_ids = _ids19(rng, N_CREATORS), _ids19(rng, N_CREATORS)
    lang = rng.choice(len(_LANGS), N_CREATORS, p=[0.6, 0.15, 0.1, 0.1, 0.05])
    picks = rng.integers(0, 1_000, (N_CREATORS, 4))
    hearts = display_round(fans * (2 + picks[:, 2] % 30))
    authors, seen = [], set()
    for i in range(N_CREATORS):
        a, b, num, nick = picks[i]
        handle = f"{_FIRST[a % len(_FIRST)]}{'._'[b % 2]}{_SECOND[b % len(_SECOND)]}{num if num % 3 else ''}"
        handle = handle if handle not in seen else f"{handle}{i}"
        seen.add(handle)
        f = int(fans[i])
        authors.append({
            "id": str(ids[i]), "name": handle, "profileUrl": f"https://www.tiktok.com/@{handle}",
            "nickName": f"{_NAMES[nick % len(_NAMES)]} {_SECOND[(nick // 20) % len(_SECOND)].title()}",
            "verified": bool(verified[i]), "signature": "", "bioLink": None,
            "originalAvatarUrl": "...", "avatar": "...", "privateAccount": False, "roomId": "",
            "ttSeller": False, "following": int(num % 400), "friends": int(num % 50), "fans": f,
            "heart": int(hearts[i]), "video": int(5 + num % 300), "digg": int(num),
        })
    tags = list(dict.fromkeys(_GENERIC + [t for topic in _TOPICS for t in topic]))
    lengths = rng.integers(6, 20, len(tags))
    hashtag_id = {t: str(i)[:k] for t, i, k in zip(tags, _ids19(rng, len(tags)).tolist(), lengths.tolist())}
    return World(
        authors=authors, ln_followers=ln_f, verified=verified,
        quality=rng.standard_normal(N_CREATORS) * CREATOR_QUALITY_SD,
        activity=(w := rng.lognormal(0, 0.8, N_CREATORS)) / w.sum(),
        topic=rng.integers(0, len(_TOPICS), N_CREATORS), lang=lang,
        original_sound_id=[str(s) for s in sound_ids],
        sound_phase=rng.uniform(0, SOUND_CYCLE_DAYS, N_SOUNDS), sound_width=rng.uniform(3, 10, N_SOUNDS),
        sound_amp=rng.lognormal(0, 1.0, N_SOUNDS), sound_base_id=_ids19(rng, N_SOUNDS), hashtag_id=hashtag_id,
    )


def sound_trend(w: World, day: date) -> tuple[np.ndarray, np.ndarray]:
    """(cycle, trend in 0..1) of each sound slot on `day`: trend rises to 1 at the peak, then fades."""
    d = day.toordinal()
    cycle = np.rint((d - w.sound_phase) / SOUND_CYCLE_DAYS)
    offset = d - (w.sound_phase + cycle * SOUND_CYCLE_DAYS)
    return cycle.astype(np.int64), np.exp(-0.5 * (offset / w.sound_width) ** 2)


def _sound_meta(w: World, slot: int, cycle: int) -> dict[str, Any]:
    # Each cycle of a slot is a new sound: a new id and name, deterministic without any draws.
    k = slot + 7 * cycle
    return {"musicName": f"{_SONG_A[k % 10]} {_SONG_B[(k // 10) % 10]}",
            "musicAuthor": f"{_NAMES[k % 20]} {_SONG_B[(3 * k) % 10].title()}",
            "musicOriginal": False, "playUrl": "...", "coverMediumUrl": "...",
            "originalCoverMediumUrl": "...", "musicId": str(int(w.sound_base_id[slot]) + cycle)}


def expected_ln_plays(*, ln_f: np.ndarray, quality: np.ndarray | float, uses_trend: np.ndarray,
                      hour: np.ndarray, duration: np.ndarray, slideshow: np.ndarray, tag_count: np.ndarray,
                      caption_len: np.ndarray, verified: np.ndarray) -> np.ndarray:
    """mu: the expected ln(playCount) of videos from what is known before posting.

    Shared by the day generator and the simulated outcomes of predicted videos
    (engine/simulated_outcomes.py), so both follow one generative model.
    """
    # Why these effects: reach dominates (Ling et al. 2022); trending sounds help small accounts
    # (~+20%); the best hours are the busiest; a mild duration sweet spot; slideshows underperform.
    small = 1 / (1 + np.exp(ln_f - np.log(10_000)))
    mu = (0.45 * (ln_f - np.log(3_000)) + quality
          + 0.25 * uses_trend * small
          + 0.15 * np.cos(2 * np.pi * (hour - 16) / 24)
          + np.where(slideshow, -0.3, -0.12 * (np.log(np.maximum(duration, 1)) - np.log(18)) ** 2)
          + 0.04 * np.minimum(tag_count, 5) - 0.1 * (tag_count == 0)
          - 0.1 * (caption_len > 150) + 0.25 * verified)
    mu += LN_PLAYS_MEAN - 0.19  # centres the mean of ln(plays) on the real sample
    return mu


def _captions(rng: np.random.Generator, w: World, creator: np.ndarray, n_tags: np.ndarray,
              n_words: np.ndarray) -> tuple[list[str], list[list[str]]]:
    """Captions from word lists (some non-ASCII, some emoji), ending in their #hashtags."""
    n = len(creator)
    word_ix = rng.integers(0, len(_WORDS), int(n_words.sum())).tolist()
    tag_generic = (rng.random(int(n_tags.sum())) < 0.4).tolist()
    tag_ix = rng.integers(0, 1_000, int(n_tags.sum())).tolist()
    emoji = rng.integers(-len(_EMOJI), len(_EMOJI), n).tolist()  # negative: no emoji
    texts, tag_lists, wpos, tpos = [], [], 0, 0
    for c, nw, nt, e in zip(creator.tolist(), n_words.tolist(), n_tags.tolist(), emoji):
        topic = _TOPICS[w.topic[c]]
        tags = list(dict.fromkeys(  # a repeated tag is written once, as people do
            _GENERIC[j % len(_GENERIC)] if g else topic[j % len(topic)]
            for g, j in zip(tag_generic[tpos: tpos + nt], tag_ix[tpos: tpos + nt])))
        text = " ".join([_WORDS[j] for j in word_ix[wpos: wpos + nw]]).capitalize()
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
    creator = rng.choice(N_CREATORS, n, p=w.activity)
    ln_f = w.ln_followers[creator]
    slideshow = rng.random(n) < 0.04
    original = (rng.random(n) < 0.75) & ~slideshow
    cycle, trend = sound_trend(w, day)
    # Usage follows popularity: a trending bump over an evergreen base, so trend varies per use.
    popularity = w.sound_amp * (trend + 0.25)
    slot = rng.choice(N_SOUNDS, n, p=popularity / popularity.sum())
    uses_trend = np.where(original | slideshow, 0.0, trend[slot])
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
    mu = expected_ln_plays(ln_f=ln_f, quality=w.quality[creator], uses_trend=uses_trend, hour=hour,
                           duration=duration, slideshow=slideshow, tag_count=tag_count,
                           caption_len=caption_len, verified=w.verified[creator])
    eps = rng.standard_normal(n)
    ln_plays = mu + SIGMA * eps
    plays = np.exp(ln_plays)
    # Engagement ratios: log-normal around the real medians; luckier videos also engage more.
    likes = plays * np.minimum(0.085 * np.exp(0.5 * rng.standard_normal(n) + 0.1 * eps), 0.6)
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
    cols = zip(creator.tolist(), create_time.tolist(), low_bits.tolist(), iso, texts, tag_lists,
               (original | slideshow).tolist(), slideshow.tolist(), slot.tolist(), duration.tolist(),
               *(c.tolist() for c in counts))
    sound_cycle = cycle.tolist()
    items, valid = [], []
    for i, (c, ct, bits, when, text, tags, own_sound, slides, k, dur, *stats) in enumerate(cols):
        play, dig, com, sha, col = stats
        vid = str((ct << 32) | bits)
        author = dict(w.authors[c])
        lang, country, original_name = _LANGS[w.lang[c]]
        if own_sound:
            music = {"musicName": original_name, "musicAuthor": author["nickName"], "musicOriginal": True,
                     "playUrl": "...", "coverMediumUrl": "...", "originalCoverMediumUrl": "...",
                     "musicId": w.original_sound_id[c]}
        else:
            music = _sound_meta(w, k, sound_cycle[k])
        if slides:
            del music["musicAuthor"]
            music["musicId"] = "0"
        url = f"https://www.tiktok.com/@{author['name']}/video/{vid}"
        item = {
            "id": vid, "text": text, "textLanguage": lang, "createTime": ct, "createTimeISO": f"{when}.000Z",
            "locationCreated": country, "isAd": False, "authorMeta": author, "musicMeta": music,
            "webVideoUrl": url, "mediaUrls": [],
            "videoMeta": {"height": 0 if slides else 1024, "width": 0 if slides else 576, "duration": dur,
                          "coverUrl": "...", "originalCoverUrl": "...", "definition": "540p", "format": "mp4",
                          "subtitleLinks": []},
            "diggCount": dig, "shareCount": sha, "playCount": play, "collectCount": col, "commentCount": com,
            "mentions": [], "detailedMentions": [],
            "hashtags": [{"id": w.hashtag_id[t], "name": t, "title": "", "cover": ""} for t in tags],
            "effectStickers": [], "isSlideshow": slides, "isPinned": False, "isSponsored": False,
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
    p = 1 - ndtr((t_day - mu[idx]) / SIGMA)
    truth = {items[i]["id"]: float(q) for i, q in zip(idx, p)}
    return SimulatedDay(day=day, items=items, true_viral_probability=truth)


def _break(item: dict[str, Any], kind: int, noise: int) -> dict[str, Any]:
    """One malformed row of a kind the parser must reject."""
    if kind == 0:  # the actor's row for an input that does not exist
        handle = f"{item['authorMeta']['name']}{noise % 97}.x"
        return {"url": f"https://www.tiktok.com/@{handle}", "searchQuery": "", "input": handle,
                "error": "This profile/hashtag does not exist."}
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


def best_auc(day: SimulatedDay, records_play_counts: dict[str, int]) -> float:
    """The best ROC AUC any model could reach: the true probability against realised labels."""
    ids = [vid for vid in records_play_counts if vid in day.true_viral_probability]
    labels = viral_labels({vid: records_play_counts[vid] for vid in ids})
    return roc_auc(np.array([day.true_viral_probability[v] for v in ids]), np.array([labels[v] for v in ids]))
