"""The served creator history and content use queries: milliseconds per request at the
product's scale.

`--days` days x `--videos-per-day` simulated videos go through the real loader into a temporary
SQLite file (timed, not measured). Measured, for a request posted just after the last day,
`--repeats` times each (median and max printed):
- `prior_videos` + `history_of` by the creators with the most, the median and one earlier video;
- `recent_tag_uses` + `use_figures` (content.py's look-back) for the video of the look-back with
  the most used topic hashtags, a median video's, and none.

Run from the repo root:  .venv/bin/python bench/creator_history.py [--days 40]
                         [--videos-per-day 2000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from viral_pipeline.engine.model.content import topic_tags, use_figures  # noqa: E402
from viral_pipeline.engine.model.creator_history import history_of  # noqa: E402
from viral_pipeline.engine.world.simulated import iter_days  # noqa: E402
from viral_pipeline.store.content_uses import recent_tag_uses  # noqa: E402
from viral_pipeline.store.creator_history import prior_videos  # noqa: E402
from viral_pipeline.store.db import ready_engine  # noqa: E402
from viral_pipeline.store.videos import ingest_items  # noqa: E402

START = date(2025, 10, 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--videos-per-day", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    request_at = datetime.combine(START + timedelta(days=args.days), datetime.min.time(), UTC)
    with tempfile.TemporaryDirectory(prefix="bench_history_") as folder:
        engine = ready_engine(f"sqlite:///{folder}/bench.db")
        began, handles, tags = time.perf_counter(), Counter[str](), []
        for day in iter_days(START, args.days, args.videos_per_day):
            authors = (item.get("authorMeta") or {} for item in day.items)  # rejects have none
            handles.update(author["name"] for author in authors if author.get("name"))
            if day.day >= START + timedelta(days=args.days - 7):  # the look-back's days
                tags += [[t.get("name", "") for t in i.get("hashtags") or []] for i in day.items]
            ingest_items(engine, day.items, source="bench", batch=str(day.day), now=request_at)
        print(
            f"{sum(handles.values())} videos, {len(handles)} creators loaded in "
            f"{time.perf_counter() - began:.0f} s"
        )
        ranked = handles.most_common()
        picks = {"most": ranked[0], "median": ranked[len(ranked) // 2], "one": ranked[-1]}
        for name, (handle, videos) in picks.items():
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                prior = prior_videos(engine, handle, request_at, window_days=1)
                history_of(prior, request_at, quantile=0.9, window_days=1)
                times.append((time.perf_counter() - t) * 1000)
            print(
                f"creator with the {name} videos ({videos}): median {statistics.median(times):.1f} ms, "
                f"max {max(times):.1f} ms over {args.repeats}"
            )
        _content_uses(engine, request_at, tags, args.repeats)
        engine.dispose()


def _content_uses(engine, request_at, tags: list, repeats: int) -> None:
    by_use = Counter(tag for names in tags for tag in topic_tags(names))
    ranked = sorted(tags, key=lambda names: sum(by_use[t] for t in topic_tags(names)))
    picks = {"busiest tags": ranked[-1], "median tags": ranked[len(ranked) // 2], "none": []}
    for name, names in picks.items():
        topic, times = topic_tags(names), []
        for _ in range(repeats):
            t = time.perf_counter()
            uses = use_figures(recent_tag_uses(engine, topic, request_at), topic)
            times.append((time.perf_counter() - t) * 1000)
        print(
            f"hashtag uses, {name} {topic} ({uses}): median {statistics.median(times):.1f} ms, "
            f"max {max(times):.1f} ms over {repeats}"
        )


if __name__ == "__main__":
    main()
