"""Generated users for the meal-images case: photos, an S3 listing and Langfuse traces,
with the true photo-trace pairs known.

Each user gets, over a few days of meals:
- prompt photos: a trace, then the photo uploaded 2-90 s later (paired by time);
- late photos: a trace naming the photo by its Langfuse media id, the photo uploaded
  1-8 hours later (only the media id can pair them);
- traces with no photo (text questions) at random times;
- photos with no trace at random times.
Photos are real JPEGs (Pillow), optionally with EXIF DateTimeOriginal/OffsetTimeOriginal.
Everything is built in memory; `write_dump` / `write_traces` put it on disk.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import random
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

BASE = datetime(2025, 1, 31, tzinfo=UTC)


def jpeg(seed: int | str, *, taken: datetime | None = None, offset: str | None = None) -> bytes:
    """A small JPEG with unique pixels; EXIF DateTimeOriginal (and offset) when given."""
    rng = random.Random(f"jpeg:{seed}")
    image = Image.frombytes("RGB", (16, 16), rng.randbytes(16 * 16 * 3))
    out = io.BytesIO()
    if taken is None:
        image.save(out, "JPEG", quality=90)
        return out.getvalue()
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    if offset is not None:
        sub[0x9011] = offset  # OffsetTimeOriginal
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def media_id(data: bytes) -> str:
    """Langfuse's media id: URL-safe base64 of the SHA-256, first 22 characters."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode("ascii")[:22]


def media_ref(data: bytes) -> str:
    return f"@@@langfuseMedia:type=image/jpeg|id={media_id(data)}|source=bytes@@@"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Photo:
    user: str
    key: str  # meal-images/<user>/<name>
    data: bytes
    uploaded: datetime


def photo(user: str, name: str, seconds: float) -> Photo:
    """A photo of `user` at `meal-images/<user>/<name>`, taken `seconds` after BASE."""
    return Photo(
        user,
        f"meal-images/{user}/{name}",
        jpeg(f"{user}/{name}"),
        BASE + timedelta(seconds=seconds),
    )


@dataclass
class Scenario:
    photos: list[Photo] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)
    # (trace id, photo key) that belong together
    truth: set[tuple[str, str]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def listing(self, photos: list[Photo] | None = None) -> dict[str, Any]:
        """An `aws s3api list-objects-v2` answer for these photos."""
        return {
            "Contents": [
                {
                    "Key": p.key,
                    "LastModified": p.uploaded.isoformat(timespec="seconds"),
                    "ETag": '"' + hashlib.md5(p.data).hexdigest() + '"',
                    "Size": len(p.data),
                    "StorageClass": "STANDARD",
                }
                for p in (self.photos if photos is None else photos)
            ]
        }


class _UserBuilder:
    """Adds one user's traces and photos to a scenario, numbering them."""

    def __init__(self, scenario: Scenario, user: str, rng: random.Random):
        self.scenario = scenario
        self.user = user
        self.rng = rng
        self.serial = 0

    def trace(self, at: datetime, text: Any, name: str = "meal_analysis") -> str:
        self.serial += 1
        trace_id = f"{self.user}-t{self.serial:03d}"
        self.scenario.traces.append(
            {
                "id": trace_id,
                "timestamp": iso(at),
                "name": name,
                "userId": self.user,
                "sessionId": f"{self.user}-s",
                "input": json.dumps(text),
                "output": json.dumps({"calories": self.rng.randint(200, 900)}),
                "metadata": json.dumps({"model": "gpt-4o-mini"}),
                "tags": ["meal"],
                "totalCost": round(self.rng.uniform(0.0001, 0.01), 6),
            }
        )
        return trace_id

    def photo(self, at: datetime, tag: str) -> Photo:
        self.serial += 1
        data = jpeg(f"{self.user}-{self.serial}")
        key = f"meal-images/{self.user}/{tag}-{self.serial:03d}.jpg"
        photo = Photo(self.user, key, data, at)
        self.scenario.photos.append(photo)
        return photo


def _lone_time(rng: random.Random, meals: list[datetime], near: float, span: int) -> datetime:
    if meals and rng.random() < near:
        return rng.choice(meals) + timedelta(seconds=rng.randint(-300, 300))
    return BASE + timedelta(seconds=rng.randint(0, span))


def generate_users(
    seed: int,
    users: int,
    *,
    days: int = 3,
    prompt_photos: int = 4,
    late_photos: int = 1,
    lone_traces: int = 2,
    lone_photos: int = 1,
    near_misses: float = 0.0,
) -> Scenario:
    """A reproducible scenario; the counts are per user.

    `near_misses` is the share of lone traces and lone photos placed within 5 minutes of
    a meal trace instead of at random: the confusable cases (a follow-up question just
    before the photo lands, a second photo of the same meal that no trace analysed).
    """
    rng = random.Random(seed)
    scenario = Scenario()
    counts = {"prompt": 0, "late": 0, "lone_trace": 0, "lone_photo": 0}
    span = days * 86400
    for u in range(users):
        build = _UserBuilder(scenario, f"user-{seed}-{u:04d}", rng)
        # Meals are spread over the days; every event time is whole seconds (S3's clock).
        slots = sorted(rng.sample(range(0, span, 1800), prompt_photos + late_photos))
        meals: list[datetime] = []
        for index, slot in enumerate(slots):
            traced = BASE + timedelta(seconds=slot + rng.randint(0, 600))
            meals.append(traced)
            if index < prompt_photos:
                trace_id = build.trace(traced, {"text": "what did I eat?"})
                photo = build.photo(traced + timedelta(seconds=rng.randint(2, 90)), "meal")
                counts["prompt"] += 1
            else:
                photo = build.photo(traced + timedelta(seconds=rng.randint(3600, 8 * 3600)), "late")
                image_part = {"type": "image_url", "image_url": {"url": media_ref(photo.data)}}
                trace_id = build.trace(
                    traced, [{"type": "text", "text": "analyse this meal"}, image_part]
                )
                counts["late"] += 1
            scenario.truth.add((trace_id, photo.key))
        for _ in range(lone_traces):
            build.trace(_lone_time(rng, meals, near_misses, span), "hello", name="chat")
            counts["lone_trace"] += 1
        for _ in range(lone_photos):
            build.photo(_lone_time(rng, meals, near_misses, span), "extra")
            counts["lone_photo"] += 1
    scenario.counts = counts
    return scenario


def write_dump(
    root: Path, photos: list[Photo], listing: dict[str, Any] | None, *, as_zip: bool = False
) -> Path:
    """A `meal-images/<user>/<file>` dump (folder or zip), with the listing beside it."""
    files = {p.key: p.data for p in photos}
    if listing is not None:
        files["listing.json"] = json.dumps(listing, indent=2).encode()
    if as_zip:
        root.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(root, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return root
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def write_traces(path: Path, traces: list[dict[str, Any]], shape: str) -> Path:
    """Traces as an API page, a JSON array, JSON lines or a CSV of JSON-encoded cells."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if shape == "page":
        meta = {"page": 1, "limit": len(traces), "totalItems": len(traces), "totalPages": 1}
        path.write_text(json.dumps({"data": traces, "meta": meta}))
    elif shape == "array":
        path.write_text(json.dumps(traces, indent=2))
    elif shape == "jsonl":
        path.write_text("".join(json.dumps(t) + "\n" for t in traces))
    elif shape == "csv":
        columns = ["id", "timestamp", "name", "userId", "sessionId", "tags", "input", "output"]
        columns += ["metadata", "totalCost"]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(columns)
            for trace in traces:
                writer.writerow([json.dumps(trace.get(c)) for c in columns])
    else:
        raise ValueError(shape)
    return path
