"""Image dumps: layout, the time of each photo and where it came from, keys, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.config import Config, ImagesConfig, parse_config
from mediasyncd.errors import ConfigError
from mediasyncd.ingest.pipeline import Ingester, IngestSummary
from mediasyncd.ingest.replay import reindex
from mediasyncd.kinds import choose_handler
from mediasyncd.sources.detect import build_probe
from mediasyncd.store.digest import langfuse_media_id
from mediasyncd.traces.image_dump import ImageDumpHandler, listing_key, place
from mediasyncd.traces.imagetime import filename_time
from tests.helpers import run_mediasyncd
from tests.support.traces_gen import generate_users, jpeg, media_id, write_dump, write_traces

T0 = datetime(2025, 1, 31, 9, 30, tzinfo=UTC)


def images_config(**changes: Any) -> Config:
    return dataclasses.replace(Config(), images=dataclasses.replace(ImagesConfig(), **changes))


def photo_rows(app: App) -> dict[str, tuple[str, str | None, str | None]]:
    """member -> (user, taken, time_source)."""
    return {
        member: (user, taken, source)
        for member, user, taken, source in app.index.execute(
            """SELECT o.member, d.user_id, d.taken, d.time_source FROM dump_images d
               JOIN occurrences o ON o.id = d.occurrence_id"""
        )
    }


def write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def listing(entries: list[tuple[str, str, int]]) -> bytes:
    return json.dumps(
        {
            "Contents": [
                {"Key": k, "LastModified": t, "ETag": '"x"', "Size": s} for k, t, s in entries
            ]
        },
        indent=4,
    ).encode()


def set_mtime(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


# -- layout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "member", "config", "expected"),
    [
        ("/d/drop", "meal-images/u1/a.jpg", {}, ("u1", "meal-images/u1/a.jpg")),
        ("/d/meal-images", "u1/a.jpg", {}, ("u1", "meal-images/u1/a.jpg")),
        ("/d/meal-images.zip", "u1/sub/a.jpg", {}, ("u1", "meal-images/u1/sub/a.jpg")),
        ("/d/x.zip", "inner.zip!/meal-images/u2/a.jpg", {}, ("u2", "meal-images/u2/a.jpg")),
        (
            "/d/drop",
            "data/photos/2025/u3/a.jpg",
            {"prefix": "photos", "user_id_position": 2},
            ("u3", "photos/2025/u3/a.jpg"),
        ),
        (
            "/d/drop",
            "s3/data/photos/u4/a.jpg",
            {"prefix": "data/photos"},
            ("u4", "data/photos/u4/a.jpg"),
        ),
        ("/d/drop", "u5/a.jpg", {"prefix": ""}, ("u5", "u5/a.jpg")),
        ("/d/drop", "meal-images/a.jpg", {}, None),
        ("/d/drop", "other/u1/a.jpg", {}, None),
        ("/d/drop", "meal-images/u1/a.jpg", {"user_id_position": 0}, None),
    ],
)
def test_place_by_layout(
    source: str, member: str, config: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    """User id and object key from `<prefix>/<user_id>/<file>`; the dropped folder's name
    (a zip's stem) counts, nested zips are looked through, the position is configurable."""
    placed = place(Path(source), member, dataclasses.replace(ImagesConfig(), **config))
    assert (placed and (placed.user_id, placed.key)) == (expected or None)


def test_listing_keys_are_cut_at_the_prefix() -> None:
    """A listing made above the prefix still names the same object keys."""
    images = ImagesConfig()
    assert listing_key("prod/meal-images/u1/a.jpg", images) == "meal-images/u1/a.jpg"
    assert listing_key("/meal-images/u1/a.jpg", images) == "meal-images/u1/a.jpg"
    assert listing_key("elsewhere/a.jpg", images) is None


def test_detect_scores(tmp_path: Path) -> None:
    """A listing (70) beats the default layout (65), per-user folders of one parent (45);
    loose photos and ChatGPT exports are not dumps (0)."""
    handler = ImageDumpHandler()
    photo = jpeg(1)
    cases = {
        "listing": ({"bucket/u1/a.jpg": photo, "l.json": listing([("x", "y", 1)])}, 70),
        "default": ({"meal-images/u1/a.jpg": photo}, 65),
        "shape": ({"pics/u1/a.jpg": photo, "pics/u2/b.jpg": photo}, 45),
        "loose": ({"a.jpg": photo, "b.jpg": photo}, 0),
        "chatgpt": ({"conversations.json": b"[]", "meal-images/u1/a.jpg": photo}, 0),
    }
    for name, (files, score) in cases.items():
        assert handler.detect(build_probe(write(tmp_path / name, files))) == score, name
    assert isinstance(choose_handler(tmp_path / "default"), ImageDumpHandler)


def test_configured_prefix_is_recognised_for_a_single_user(
    tmp_path: Path, make_app: Callable[..., App]
) -> None:
    """A dump under the configured prefix is a dump even with one user and no listing."""
    root = write(tmp_path / "pull", {"user-photos/u1/a.jpg": jpeg(1)})
    handler = ImageDumpHandler()
    assert handler.detect(build_probe(root)) == 0
    config = images_config(prefix="user-photos")
    assert isinstance(choose_handler(root, config), ImageDumpHandler)
    app = make_app(config)
    Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths([root])
    assert [row[0] for row in photo_rows(app).values()] == ["u1"]


# -- time of each photo ----------------------------------------------------------------------


def test_time_sources_in_order_of_trust(tmp_path: Path, make_app: Callable[..., App]) -> None:
    """listing > EXIF with offset > name > EXIF without offset > mtime, each recorded."""
    config = images_config(naive_timezone="+07:00")
    app = make_app(config)
    exif_exact = jpeg("e", taken=datetime(2025, 1, 31, 16, 0, 0), offset="+07:00")
    exif_naive = jpeg("n", taken=datetime(2025, 1, 31, 16, 5, 0))
    files = {
        "meal-images/u1/listed.jpg": jpeg("l", taken=datetime(2020, 1, 1), offset="+00:00"),
        "meal-images/u1/exif.jpg": exif_exact,
        "meal-images/u1/IMG_20250131_170000.jpg": exif_naive,
        "meal-images/u1/naive.jpg": exif_naive[:-2] + b"\x00\xd9",  # same EXIF, new bytes
        "meal-images/u1/plain.jpg": jpeg("p"),
    }
    drop = write(tmp_path / "drop", files)
    size = len(files["meal-images/u1/listed.jpg"])
    (drop / "listing.json").write_bytes(
        listing([("meal-images/u1/listed.jpg", "2025-01-31T09:30:00.000Z", size)])
    )
    set_mtime(drop / "meal-images/u1/plain.jpg", T0)
    Ingester(app.index, app.store, config, app.state_dir).ingest_paths([drop])
    rows = photo_rows(app)
    assert rows["meal-images/u1/listed.jpg"] == ("u1", "2025-01-31T09:30:00+00:00", "listing")
    assert rows["meal-images/u1/exif.jpg"] == ("u1", "2025-01-31T09:00:00+00:00", "exif")
    assert rows["meal-images/u1/IMG_20250131_170000.jpg"] == (
        "u1",
        "2025-01-31T10:00:00+00:00",
        "filename",
    )
    assert rows["meal-images/u1/naive.jpg"] == ("u1", "2025-01-31T09:05:00+00:00", "exif_local")
    assert rows["meal-images/u1/plain.jpg"] == ("u1", "2025-01-31T09:30:00+00:00", "mtime")


def test_zip_entry_date_is_the_mtime_in_the_naive_zone(
    tmp_path: Path, make_app: Callable[..., App]
) -> None:
    """A zip member's date (wall clock, no zone) is read in images.naive_timezone, and a
    rebuilt index (reindex from the store) gives the same time."""
    config = images_config(naive_timezone="Asia/Bangkok")
    app = make_app(config)
    drop = tmp_path / "dump.zip"
    with zipfile.ZipFile(drop, "w") as archive:
        info = zipfile.ZipInfo("meal-images/u1/a.jpg", date_time=(2025, 1, 31, 16, 30, 0))
        archive.writestr(info, jpeg("z"))
    Ingester(app.index, app.store, config, app.state_dir).ingest_paths([drop])
    expected = ("u1", "2025-01-31T09:30:00+00:00", "mtime")
    assert photo_rows(app)["meal-images/u1/a.jpg"] == expected
    app.close()
    reindex(app.state_dir, config, app.store)
    assert photo_rows(make_app(config))["meal-images/u1/a.jpg"] == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IMG_20250131_163000.jpg", "2025-01-31T16:30:00+00:00"),
        ("2025-01-31 16.30.00.jpg", "2025-01-31T16:30:00+00:00"),
        ("meal_2025-01-31T16-30-00+07:00.jpg", "2025-01-31T09:30:00+00:00"),
        ("1738315800123_abc.jpg", "2025-01-31T09:30:00.123000+00:00"),
        ("photo_1738315800.jpg", "2025-01-31T09:30:00+00:00"),
        ("IMG_1234.jpg", None),
        ("20251399_999999.jpg", None),
    ],
)
def test_file_name_timestamps(name: str, expected: str | None) -> None:
    """Common camera and app name stamps; numbers that are not dates are not taken."""
    found = filename_time(name, UTC)
    assert (found.isoformat() if found else None) == expected


# -- keys and bad input ----------------------------------------------------------------------


def test_sha256_and_keys(tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]) -> None:
    """Photos get blobs.sha256 and the keys ('user_time', user; extra = object key) and
    ('langfuse_media', media id from the SHA-256)."""
    data = jpeg("k")
    ingest(write(tmp_path / "drop", {"meal-images/u7/a.jpg": data}))
    (sha,) = app.index.execute("SELECT sha256 FROM blobs WHERE kind = 'image'").fetchone()
    assert langfuse_media_id(bytes.fromhex(sha)) == media_id(data)
    keys = set(
        app.index.execute(
            "SELECT key_kind, key, extra FROM occurrence_keys WHERE key_kind IN "
            "('user_time', 'langfuse_media')"
        )
    )
    assert keys == {
        ("user_time", "u7", "meal-images/u7/a.jpg"),
        ("langfuse_media", media_id(data), None),
    }


def test_bad_input_is_reported_per_record(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """A photo outside any user folder, a listing naming a missing file, an unparseable
    LastModified and a size that disagrees: each reported; everything else ingested."""
    good, other = jpeg("g"), jpeg("o")
    drop = write(
        tmp_path / "drop",
        {
            "meal-images/u1/good.jpg": good,
            "meal-images/u1/other.jpg": other,
            "meal-images/loose.jpg": jpeg("x"),
            "meal-images/u2/badtime.jpg": jpeg("b"),
        },
    )
    (drop / "listing.json").write_bytes(
        listing(
            [
                ("meal-images/u1/good.jpg", "2025-01-31T09:30:00Z", len(good)),
                ("meal-images/u1/other.jpg", "2025-01-31T09:31:00Z", len(other) + 5),
                ("meal-images/u2/badtime.jpg", "last tuesday", 1),
                ("meal-images/u3/gone.jpg", "2025-01-31T09:30:00Z", 10),
                ("meal-images/", "2025-01-31T09:30:00Z", 0),
            ]
        )
    )
    summary = ingest(drop)
    errors = {(f.member, f.error) for f in summary.failures}
    assert (
        "meal-images/loose.jpg",
        "image is not under meal-images/<user_id>/ (user id at "
        "position 1): stored, but linked to no user",
    ) in errors
    assert (
        "listing.json",
        "listing names meal-images/u3/gone.jpg, which this dump lacks",
    ) in errors
    assert (
        "listing.json",
        "listing entry meal-images/u2/badtime.jpg: unparseable LastModified 'last tuesday'",
    ) in errors
    assert any(m == "meal-images/u1/other.jpg" and "says" in e for m, e in errors)
    assert len(errors) == 4
    rows = photo_rows(app)
    assert rows["meal-images/u1/good.jpg"][2] == "listing"
    assert rows["meal-images/u1/other.jpg"][2] == "mtime"  # the listing was not trusted
    assert set(rows) == {
        "meal-images/u1/good.jpg",
        "meal-images/u1/other.jpg",
        "meal-images/u2/badtime.jpg",
    }
    stored = app.index.scalar("SELECT COUNT(*) FROM occurrences WHERE member LIKE '%.jpg'")
    assert stored == 4  # the loose photo is stored all the same
    assert summary.sources[0]["state"] == "partial"  # stored, with records it could not use


def test_listing_of_a_whole_bucket_is_summarised(
    tmp_path: Path, ingest: Callable[..., IngestSummary]
) -> None:
    """A listing naming thousands of absent objects: the first 1000 named, the rest counted."""
    drop = write(tmp_path / "drop", {"meal-images/u1/a.jpg": jpeg("a")})
    entries = [(f"meal-images/u9/{i}.jpg", "2025-01-31T09:30:00Z", 1) for i in range(1005)]
    (drop / "listing.json").write_bytes(listing(entries))
    summary = ingest(drop)
    named = [f.error for f in summary.failures if "which this dump lacks" in f.error]
    assert len(named) == 1000
    assert any(f.error == "listing names 5 more objects this dump lacks" for f in summary.failures)


def test_moving_a_photo_out_of_user_folders_forgets_it(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """Re-ingesting a dump after a photo left its user folder drops its dump row."""
    drop = write(tmp_path / "drop", {"meal-images/u1/a.jpg": jpeg("a")})
    ingest(drop)
    assert set(photo_rows(app)) == {"meal-images/u1/a.jpg"}
    (drop / "meal-images/u1/a.jpg").rename(drop / "meal-images/a.jpg")
    ingest(drop)
    assert photo_rows(app) == {}


def test_image_settings_are_checked() -> None:
    """A bad naive time zone or a user-id position of 0 is named in a config error."""
    with pytest.raises(ConfigError, match=r"images\.naive_timezone: unknown time zone"):
        parse_config('[images]\nnaive_timezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match=r"images\.user_id_position: must be 1 or more"):
        parse_config("[images]\nuser_id_position = 0\n")
    assert parse_config('[images]\nnaive_timezone = "+07:00"\n').images.naive_timezone == "+07:00"


# -- a dump zipped with its folder inside (`zip -r meal-images.zip meal-images`) -------------


def _pairs(state: Path) -> list[tuple[str, str, str, str]]:
    """(user, trace, image key, time source) of every photo-trace pair, via the real CLI."""
    done = run_mediasyncd(
        ["--state-dir", str(state), "matches", "--subject", "trace", "--format", "jsonl"]
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return sorted((r["user_id"], r["trace_id"], r["image_key"], r["time_source"]) for r in rows)


@pytest.mark.parametrize("form", ["folder", "zip of the folder"])
def test_a_dump_zipped_with_its_folder_inside_pairs_like_the_folder(
    tmp_path: Path, form: str
) -> None:
    """`zip -r meal-images.zip meal-images` puts the `meal-images/` folder inside the zip.
    Before: the zip's own name was put in front of the inner path, so the user id became
    `meal-images`, no listing key matched and 0 of 3 photos paired (the folder: 3 of 3).
    Now both pair 3 of 3, by the listing's upload times."""
    scenario = generate_users(13, 1, prompt_photos=3, late_photos=0, lone_traces=0, lone_photos=0)
    work = tmp_path / "work"
    write_dump(work, scenario.photos, None)
    (work / "meal-images" / "listing.json").write_text(json.dumps(scenario.listing()))
    traces = write_traces(tmp_path / "traces.json", scenario.traces, "array")
    if form == "folder":
        drop = work / "meal-images"
    else:
        drop = tmp_path / "meal-images.zip"
        zipped = subprocess.run(
            ["zip", "-q", "-r", str(drop), "meal-images"], cwd=work, check=False
        )
        assert zipped.returncode == 0
        with zipfile.ZipFile(drop) as archive:
            assert all(n.startswith("meal-images/") for n in archive.namelist())
    state = tmp_path / "state"
    done = run_mediasyncd(["--state-dir", str(state), "ingest", "--json", str(traces), str(drop)])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failures"] == []
    expected = sorted(
        (photo.user, trace_id, photo.key, "listing")
        for trace_id, key in scenario.truth
        for photo in scenario.photos
        if photo.key == key
    )
    assert len(expected) == 3
    assert _pairs(state) == expected
