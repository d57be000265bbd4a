"""Next month's export of the same account, derived from this month's, deterministically.

A user who keeps exporting gets, each month, every old conversation again, a few of them
continued since, and some new ones; and since ChatGPT writes conversations.json ordered by
update time, newest first, the continued ones move to the front beside the new ones while
the rest keep their bytes and their order. That is what this writes from an era A export
made by `bench.corpus chatgpt` (or by this module):

- every conversation of the previous export, re-serialised as the generator writes it (an
  untouched one keeps its exact bytes: the derivation with no change reproduces
  conversations.json byte for byte);
- `changed` of them (a share, drawn uniformly) continued by one to three exchanges in the
  new month, the replies in the export's own style (fresh prose for a text-heavy one);
- `new` times as many new conversations (with their media) from the test builder, on a
  seed of their own, dated in the new month;
- every media file of the previous export again, then the new ones; chat.html embedding
  the new conversations.json, with the previous assetsJson map plus the new files'.

The previous export's `<zip>.gen.json` gives the media scale, the reply length and the
month; the derived export gets its own, so months chain: month 12 is made from month 11.
Memory stays small: one conversation at a time is parsed, the document is spooled and
ordered by offsets.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any, Final

import ijson

from bench.corpus import (
    Generation,
    MediaWriter,
    Spool,
    _finish,
    _sink,
    _size,
    load_generation,
    make_builder,
    save_generation,
)
from bench.prose import Prose
from tests.support.chatgpt_gen import messages as m
from tests.support.chatgpt_gen.conversation import ConversationBuilder

MONTH_SECONDS: Final = 30 * 86_400
# Members that _finish writes anew (the rest of an era A export is media).
_DOCUMENTS: Final = frozenset(
    {
        "user.json",
        "conversations.json",
        "message_feedback.json",
        "shared_conversations.json",
        "chat.html",
    }
)
_ASSETS_MARKER: Final = b"var assetsJson = "
_PAGE_END: Final = b";\n</script></body></html>"
_QUESTIONS: Final = ("Can you go on?", "And then?", "Could you expand on that?", "Thanks, and")


def month_seed(seed: int, month: int) -> int:
    digest = hashlib.sha256(f"mediasyncd-bench/{seed}/month/{month}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Continuer:
    """Appends exchanges to old conversations, in the month after `start`."""

    def __init__(self, rng: random.Random, start: float, prose: Prose | None):
        self.rng = rng
        self.start = start
        self.prose = prose

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _reply_text(self) -> str:
        words = " ".join(
            self.rng.choice(("sure", "here", "is", "more", "on", "that")) for _ in range(12)
        )
        return words + (self.prose.reply() if self.prose is not None else "")

    def continue_(self, conv: dict[str, Any]) -> None:
        rng = self.rng
        mapping = conv["mapping"]
        tip = conv.get("current_node")
        if tip not in mapping:
            return
        if self.prose is not None:
            self.prose.next_conversation()
        when = self.start + rng.uniform(0, 0.9 * MONTH_SECONDS)
        for _ in range(rng.choice((1, 1, 2, 3))):
            user_id, reply_id = self._uuid(), self._uuid()
            question = rng.choice(_QUESTIONS) + " " + str(rng.randint(1, 99))
            user = m.message(user_id, "user", m.text(question), round(when, 6))
            when += rng.uniform(5, 90)
            reply = m.message(
                reply_id,
                "assistant",
                m.text(self._reply_text()),
                round(when, 6),
                end_turn=True,
                metadata={"model_slug": "gpt-4o", "finish_details": {"type": "stop"}},
            )
            when += rng.uniform(60, 3600)
            if "children" in mapping[tip]:
                mapping[tip]["children"].append(user_id)
            mapping[user_id] = {"id": user_id, "message": user, "parent": tip, "children": []}
            mapping[reply_id] = {
                "id": reply_id,
                "message": reply,
                "parent": user_id,
                "children": [],
            }
            mapping[user_id]["children"].append(reply_id)
            tip = reply_id
        conv["current_node"] = tip
        conv["update_time"] = mapping[tip]["message"]["create_time"]


def _previous_assets_json(archive: zipfile.ZipFile) -> dict[str, str]:
    """The assetsJson map at the end of the previous chat.html (as _finish writes it)."""
    if "chat.html" not in archive.namelist():
        return {}
    tail = b""
    with archive.open("chat.html") as page:
        while chunk := page.read(1 << 20):
            tail = (tail + chunk)[-(64 << 20) :]
            if _ASSETS_MARKER in tail:
                tail = tail[tail.rindex(_ASSETS_MARKER) :]
    body = tail[len(_ASSETS_MARKER) :]
    if body.endswith(_PAGE_END):
        body = body[: -len(_PAGE_END)]
    value = json.loads(body) if body.startswith(b"{") else {}
    return {str(k): str(v) for k, v in value.items()}


def write_next_month(
    previous: Path, dest: Path, *, new: float = 0.05, changed: float = 0.03
) -> dict[str, Any]:
    """Write the export after `previous` to `dest`; returns what was written."""
    gen = load_generation(previous)
    if gen.era != "A":
        raise ValueError("next-month derives era A exports only")
    month = gen.month + 1
    seed = month_seed(gen.seed, month)
    rng = random.Random(seed)  # noqa: S311 - test data
    start = gen.clock_end + 3600
    prose = None
    if gen.mean_reply_chars:
        prose = Prose(seed ^ 0xC0FFEE, gen.mean_reply_chars)
    continuer = Continuer(random.Random(seed + 1), start, prose)  # noqa: S311
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    stats: dict[str, Any] = {
        "path": str(dest),
        "era": "A",
        "month": month,
        "conversations": 0,
        "new_conversations": 0,
        "changed_conversations": 0,
        "media_files": 0,
        "media_bytes": 0,
        "json_bytes": 0,
    }
    clock_end = gen.clock_end
    spool_dir = Path(tempfile.mkdtemp(prefix="month-spool-", dir=dest.parent))
    try:
        with zipfile.ZipFile(previous) as before, _sink(dest, True) as sink:
            spool = Spool(spool_dir / "conversations.json")
            map_rng = random.Random(seed)  # noqa: S311 - test data
            media = MediaWriter(sink, "A", gen.chat_html, map_rng, stats)
            media.assets_json.update(_previous_assets_json(before))
            sizes: set[int] = set()
            for info in before.infolist():
                if info.filename in _DOCUMENTS or info.is_dir():
                    continue
                with before.open(info) as source, sink.open(info.filename, compress=False) as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                stats["media_files"] += 1
                stats["media_bytes"] += info.file_size
                sizes.add(info.file_size)
            old = 0
            with before.open("conversations.json") as document:
                for conv in ijson.items(document, "item", use_float=True):
                    old += 1
                    if rng.random() < changed:
                        continuer.continue_(conv)
                        stats["changed_conversations"] += 1
                    clock_end = max(clock_end, conv.get("update_time") or 0.0)
                    spool.add(
                        json.dumps(conv, ensure_ascii=False).encode(), conv.get("update_time")
                    )
            count = round(old * new)
            builder, new_prose = make_builder(gen, seed)
            builder.ids._sizes.update(sizes)
            builder.clock = start + 0.5 * MONTH_SECONDS
            for _ in range(count):
                before_assets = len(builder.assets)
                if new_prose is not None:
                    new_prose.next_conversation()
                conv_model = ConversationBuilder(builder).build()
                if gen.both_ids:
                    conv_model.id_style = "both"
                new_assets = builder.assets[before_assets:]
                doc = conv_model.to_json("A")
                clock_end = max(clock_end, conv_model.update_time)
                spool.add(json.dumps(doc, ensure_ascii=False).encode(), conv_model.update_time)
                media.write(new_assets)
                for asset in new_assets:
                    asset.data = b""
            stats["new_conversations"] = count
            stats["conversations"] = old + count
            document, stats["json_bytes"] = spool.finish(newest_first=True)
            _finish(sink, "A", document, gen.chat_html, media.assets_json, media.name_map)
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
    stats["size_bytes"] = _size(dest)
    save_generation(
        dest,
        Generation(
            gen.seed,
            "A",
            gen.pad,
            gen.scale,
            gen.mean_reply_chars,
            gen.both_ids,
            gen.chat_html,
            month,
            clock_end,
        ),
    )
    return stats
