"""Real export forms from 2023 to 2026 (issue 13), each built the way a real export lays
it out (tests/support/chatgpt_gen/forms.py) and ingested by the real CLI in a child process.

Every test checks every link (message, strategy, association, confidence), and every
unresolved entry, that its form must give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import xxhash

from mediasyncd.app import App
from mediasyncd.store.manifest import MANIFEST_MEMBER
from tests.helpers import media_bytes, run_mediasyncd, zip_bytes
from tests.support.chatgpt_gen import messages as m
from tests.support.chatgpt_gen.forms import (
    EXPORT_DOCUMENTS_2026,
    Ids,
    Thread,
    conversations_member,
    dat_export_members,
    dumps,
    export_zip,
    library_entry,
)

Row = tuple[str | None, str, str, str, float]  # (message, digest, strategy, association, conf)


def digest(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def ingest(state: Path, *paths: Path) -> dict[str, Any]:
    """`mediasyncd ingest --json` in a child process: its summary (exit code as "exit")."""
    done = run_mediasyncd(["--state-dir", str(state), "ingest", "--json", *map(str, paths)])
    assert "Traceback" not in done.stderr, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    summary["exit"] = done.returncode
    return summary


def records(state: Path, command: str, *args: str) -> list[dict[str, Any]]:
    done = run_mediasyncd(["--state-dir", str(state), command, "--format", "jsonl", *args])
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def links(state: Path, conversation: str | None = None) -> set[Row]:
    rows = records(state, "matches", *(["--conversation", conversation] if conversation else []))
    return {
        (r["message_id"], r["digest"], r["strategy"], r["association"], r["confidence"])
        for r in rows
    }


def unresolved(state: Path, *args: str) -> set[tuple[str | None, str | None, str, str]]:
    return {
        (r["conversation_id"], r["message_id"], r["kind"], r["key"])
        for r in records(state, "unresolved", *args)
    }


def clean(summary: dict[str, Any]) -> None:
    assert summary["exit"] == 0, summary["failures"]
    assert summary["failures"] == [], summary["failures"]


def message_rows(state: Path, conversation: str) -> list[tuple[str, str | None, bool]]:
    """(id, parent id, on the current branch) of a conversation's messages, in order."""
    app = App.load(state_dir=str(state))
    try:
        rows = app.index.execute(
            """SELECT id, parent_id, on_current_branch FROM messages
               WHERE conversation_id = ? ORDER BY position""",
            (conversation,),
        ).fetchall()
    finally:
        app.close()
    return [(str(r[0]), r[1], bool(r[2])) for r in rows]


def inversions(found: list[str], expected: list[str]) -> int:
    rank = {ident: n for n, ident in enumerate(expected)}
    seq = [rank[i] for i in found]
    return sum(1 for a in range(len(seq)) for b in range(a + 1, len(seq)) if seq[a] > seq[b])


# -- 1. 2026: nodes carry only `parent` ------------------------------------------------------


def test_2026_parent_only_conversation_keeps_its_order_and_branches(tmp_path: Path) -> None:
    """A 26-message 2026 conversation (no `children`, mapping in alphabetical key order)
    with an edited question. Before: messages followed the keys' alphabetical order (15
    inversions in the real one) and the current branch was the last message alone.
    Now: creation order along the tree, the edit's branch folded in where it forks."""
    ids = Ids(1)
    thread = Thread(ids, era=2026, title="Trip planning")
    for turn in range(6):
        thread.say("user", f"Question {turn} about the trip")
        thread.say("assistant", f"Answer {turn}")
    fork = thread.last
    abandoned = thread.say("user", "A question I then edited")
    thread.say("assistant", "An answer to the old wording")
    thread.last = fork
    for turn in range(6, 12):
        thread.say("user", f"Question {turn}")
        thread.say("assistant", f"Answer {turn}")
    assert len(thread.order) == 26
    export = export_zip(tmp_path / "export-2026.zip", [conversations_member([thread], shard=True)])
    state = tmp_path / "state"
    clean(ingest(state, export))

    rows = message_rows(state, thread.id)
    found = [r[0] for r in rows]
    assert inversions(found, thread.order) == 0, f"{inversions(found, thread.order)} inversions"
    assert found == thread.order
    parents = {r[0]: r[1] for r in rows}
    assert parents[abandoned] == fork
    assert parents[thread.order[-1]] == thread.order[-2]
    side = {abandoned, thread.order[thread.order.index(abandoned) + 1]}
    assert {r[0] for r in rows if not r[2]} == side


# -- 2 and 5. 2026 image generation through `internal_tool`, and the .dat name forms -------


def image_generation_thread(ids: Ids, pointer: str, size: int) -> tuple[Thread, dict[str, str]]:
    """A 2026 image generation: the image returned by `internal_tool` twice (channels
    `final` and `commentary`), no metadata.dalle or metadata.generation."""
    thread = Thread(ids, era=2026, title="Lighthouse")
    names = {"user": thread.say("user", "Draw a lighthouse at dusk")}
    names["call"] = thread.say("assistant", "Creating the image.")
    part = m.image_part(pointer, size, 1024, 1536)
    part["metadata"] = {"dalle": None, "generation": None, "sanitized": False}
    for channel in ("final", "commentary"):
        names[channel] = thread.add(
            "tool", m.multimodal(part), name="internal_tool", channel=channel
        )
    names["answer"] = thread.say("assistant", "Here is your lighthouse.")
    names["thanks"] = thread.say("user", "Lovely, thanks")
    return thread, names


@pytest.mark.parametrize(
    "mapped", ["<uuid>.png", "user-<id>/<uuid>.png"], ids=["mid-2026", "late-2026"]
)
def test_2026_generated_image_is_generated_once_with_its_answer(
    tmp_path: Path, mapped: str
) -> None:
    """Before: the fixed tool list made both tool messages' pointer `inline`, and the
    answer after it was never linked. Now: a pointer in a tool message is generated,
    linked once (to the first of the repeating tool messages) and to the assistant answer
    after it; the `.dat` name map may write the image as a bare `<uuid>.png` (mid-2026)
    or as `user-<id>/<uuid>.png` (late 2026)."""
    ids = Ids(2)
    file_id = ids.sediment()
    image = media_bytes(48_213, "lighthouse", "png")
    thread, names = image_generation_thread(ids, "sediment://" + file_id, len(image))
    original = mapped.replace("<uuid>", ids.uuid()).replace("<id>", "Q1w2E3r4T5y6U7i8O9p0A1s2")
    members = dat_export_members({f"{file_id}.dat": original}, [], {f"{file_id}.dat": image})
    export = export_zip(
        tmp_path / "export.zip", [conversations_member([thread], shard=True), *members]
    )
    state = tmp_path / "state"
    clean(ingest(state, export))
    assert links(state) == {
        (names["final"], digest(image), "asset_pointer", "generated", 1.0),
        (names["answer"], digest(image), "asset_pointer", "generated", 1.0),
    }
    assert unresolved(state) == set()


# -- 4. the JSON documents of a 2026 export are documents, never media ------------------------


def test_2026_documents_are_never_media(tmp_path: Path) -> None:
    """Every JSON document a 2026 export carries, `ads.json` and the manifest under
    `sites/` included, is stored as a document; only the `.dat` file is media.
    Before: `ads.json` (and any document not on a fixed list) was stored as media."""
    ids = Ids(4)
    file_id = ids.sediment()
    image = media_bytes(3_001, "upload", "jpeg")
    thread = Thread(ids, era=2026)
    thread.add(
        "user",
        m.multimodal(m.image_part("sediment://" + file_id, len(image), 800, 600), "Look"),
        metadata={
            "attachments": [m.attachment(file_id, "IMG_0001.jpeg", len(image), "image/jpeg")]
        },
    )
    members = dat_export_members({f"{file_id}.dat": "IMG_0001.jpeg"}, [], {f"{file_id}.dat": image})
    export = export_zip(
        tmp_path / "export.zip", [conversations_member([thread], shard=True), *members]
    )
    state = tmp_path / "state"
    clean(ingest(state, export))
    app = App.load(state_dir=str(state))
    try:
        roles = dict(
            app.index.execute(
                "SELECT member, role FROM occurrences WHERE member != ?", (MANIFEST_MEMBER,)
            ).fetchall()
        )
    finally:
        app.close()
    documents = {name for name in roles if name.endswith(".json")}
    assert documents >= set(EXPORT_DOCUMENTS_2026) | {
        "export_manifest.json",
        "sites/export_manifest.json",
        "library_files.json",
        "conversation_asset_file_names.json",
        "conversations-000.json",
    }
    assert {name: roles[name] for name in documents} == dict.fromkeys(documents, "document")
    assert {n for n, role in roles.items() if role == "media"} == {f"{file_id}.dat"}


# -- 5. library entries ------------------------------------------------------------------------


def test_2026_library_entries(tmp_path: Path) -> None:
    """`image_gen` entries are generated, with or without a generation id; an entry still
    `created` with no size has no file and is listed unresolved, not reported as an
    error; a `.dat` the name map leaves out is still linked through its library entry.
    Before: an `image_gen` entry without `image_gen_generation_id` was an attachment."""
    ids = Ids(5)
    generated_id, missing_id, unmapped_id = ids.sediment(), ids.sediment(), ids.sediment()
    generated = media_bytes(60_017, "generated", "png")
    report = media_bytes(9_001, "report", "pdf")
    thread = Thread(ids, era=2026, title="Poster")
    ask = thread.say("user", "Make a poster and a short report")
    answer = thread.say("assistant", "Here they are.")
    library = [
        library_entry(
            generated_id,
            thread=thread.id,
            message=answer,
            name="Poster.png",
            mime="image/png",
            artifact="image_gen",
            size=len(generated),
        ),
        library_entry(
            missing_id,
            thread=thread.id,
            message=answer,
            name="Poster (variant).png",
            mime="image/png",
            artifact="image_gen",
            size=None,
            state="created",
        ),
        library_entry(
            unmapped_id,
            thread=thread.id,
            message=ask,
            name="Report.pdf",
            mime="application/pdf",
            artifact=None,
            size=len(report),
            state="ready",
        ),
    ]
    files = {f"{generated_id}.dat": generated, f"{unmapped_id}.dat": report}
    members = dat_export_members({f"{generated_id}.dat": "Poster.png"}, library, files)
    export = export_zip(
        tmp_path / "export.zip", [conversations_member([thread], shard=True), *members]
    )
    state = tmp_path / "state"
    clean(ingest(state, export))
    assert links(state) == {
        (answer, digest(generated), "library_origin", "generated", 0.95),
        (ask, digest(report), "library_origin", "attachment", 0.95),
    }
    assert unresolved(state) == {(thread.id, answer, "library_file", missing_id)}


# -- 6. July 2025: rendered pages of an attached document ------------------------------------


@pytest.mark.parametrize("page_ids", ["own ids", "the document's id"])
def test_2025_document_page_images_belong_to_the_attaching_message(
    tmp_path: Path, page_ids: str
) -> None:
    """`file-<docid>_data/file-<id>-<n>.jpg` are the rendered pages of an attached PDF or
    document: each links to the message that attached the document, association
    `attachment`, strategy `document_page` (so `matches` says so). A document whose own
    file the export left out stays unresolved: its pages are not the document.
    Before: the pages linked nowhere (own ids), or were taken for the document itself
    and made its id ambiguous (the document's id)."""
    ids = Ids(6)
    lease_id, menu_id = ids.file_service(), ids.file_service()
    lease = media_bytes(20_011, "lease", "pdf")

    def page_name(doc: str, n: int) -> str:
        own = ids.file_service() if page_ids == "own ids" else doc
        return f"{doc}_data/{own}-{n}.jpg"

    pages = {
        page_name(lease_id, 1): media_bytes(5_003, "lease-1", "jpeg"),
        page_name(lease_id, 2): media_bytes(5_107, "lease-2", "jpeg"),
        page_name(menu_id, 1): media_bytes(4_001, "menu-1", "jpeg"),
    }
    thread = Thread(ids, era=2025, title="Paperwork")
    attach = {
        lease_id: m.attachment(lease_id, "lease agreement.pdf", len(lease), "application/pdf"),
        menu_id: m.attachment(menu_id, "menu.docx", 12_345, "application/msword"),
    }
    asked_lease = thread.say(
        "user", "Summarise the lease", metadata={"attachments": [attach[lease_id]]}
    )
    thread.say("assistant", "It runs for a year.")
    asked_menu = thread.say("user", "And the menu?", metadata={"attachments": [attach[menu_id]]})
    thread.say("assistant", "Soup on Mondays.")
    export = export_zip(
        tmp_path / "export-2025-07.zip",
        [
            conversations_member([thread], shard=False),
            ("user.json", dumps({"id": "user-x"})),
            (f"{lease_id}-lease", lease),
            *pages.items(),
        ],
    )
    state = tmp_path / "state"
    clean(ingest(state, export))
    page_digests = [digest(data) for data in pages.values()]
    assert links(state) == {
        (asked_lease, digest(lease), "attachment", "attachment", 1.0),
        (asked_lease, page_digests[0], "document_page", "attachment", 0.95),
        (asked_lease, page_digests[1], "document_page", "attachment", 0.95),
        (asked_menu, page_digests[2], "document_page", "attachment", 0.95),
    }
    assert unresolved(state) == {(thread.id, asked_menu, "attachment", menu_id)}


# -- 8. upload names seen in real 2025 exports ---------------------------------------------


def _upload(thread: Thread, pointer: str, data: bytes, name: str, mime: str) -> str:
    file_id = pointer.split("://", 1)[1]
    return thread.add(
        "user",
        m.multimodal(m.image_part(pointer, len(data), 1179, 2556), "What is this?"),
        metadata={"attachments": [m.attachment(file_id, name, len(data), mime)]},
    )


def _tool_image(thread: Thread, tool: str, part: dict[str, Any]) -> tuple[str, str]:
    """(tool message, the assistant answer after it) for a generated image."""
    thread.say("user", "Draw a red kite over the sea")
    made = thread.add("tool", m.multimodal(part), name=tool)
    return made, thread.say("assistant", "Here it is.")


def _form_screenshot(ids: Ids, thread: Thread) -> tuple[str, bytes, set[Row]]:
    # The name is cut at its first space: `Screenshot 2025-03-01 at 10.15.42.png`.
    file_id = ids.file_service()
    data = media_bytes(7_001, "screenshot", "png")
    msg = _upload(
        thread,
        "file-service://" + file_id,
        data,
        "Screenshot 2025-03-01 at 10.15.42.png",
        "image/png",
    )
    return f"{file_id}-Screenshot", data, {(msg, digest(data), "asset_pointer", "attachment", 1.0)}


def _form_ios(ids: Ids, thread: Thread) -> tuple[str, bytes, set[Row]]:
    # iOS: `file-<id>-<UUID><19 digits>`, no extension.
    file_id = ids.file_service()
    data = media_bytes(7_103, "ios", "jpeg")
    stem = ids.uuid().upper() + "1740000000000000123"
    msg = _upload(thread, "file-service://" + file_id, data, stem, "image/jpeg")
    return f"{file_id}-{stem}", data, {(msg, digest(data), "asset_pointer", "attachment", 1.0)}


def _form_dat_without_map(ids: Ids, thread: Thread) -> tuple[str, bytes, set[Row]]:
    # A classic export (conversations.json, no name map) with a root `file_<32hex>.dat`.
    file_id = ids.sediment()
    data = media_bytes(7_207, "dat", "jpeg")
    msg = _upload(thread, "sediment://" + file_id, data, "IMG_4411.jpeg", "image/jpeg")
    return f"{file_id}.dat", data, {(msg, digest(data), "asset_pointer", "attachment", 1.0)}


def _form_sanitized(ids: Ids, thread: Thread) -> tuple[str, bytes, set[Row]]:
    file_id = ids.sediment()
    data = media_bytes(7_309, "sanitized", "jpeg")
    msg = _upload(thread, "sediment://" + file_id, data, "IMG_4412.jpeg", "image/jpeg")
    return (
        f"{file_id}-sanitized.jpg",
        data,
        {(msg, digest(data), "asset_pointer", "attachment", 1.0)},
    )


def _form_gpt4o_user_folder(ids: Ids, thread: Thread) -> tuple[str, bytes, set[Row]]:
    file_id = ids.sediment()
    data = media_bytes(27_011, "gpt4o", "png")
    generation = m.generation_metadata("gen_" + ids.uuid().replace("-", ""), 1024, 1024, 7)
    part = m.image_part("sediment://" + file_id, len(data), 1024, 1024, generation=generation)
    made, answer = _tool_image(thread, "t2uay3k.sj1i4kz", part)
    rows = {(made, digest(data), "asset_pointer", "generated", 1.0)}
    rows.add((answer, digest(data), "asset_pointer", "generated", 1.0))
    return f"user-Q1w2E3r4T5y6U7i8O9p0A1s2/{file_id}-{ids.uuid()}.png", data, rows


def _form_voice(ids: Ids, thread: Thread) -> tuple[str, bytes, set[Row]]:
    file_id = "file_" + "".join(ids.rng.choice("0123456789abcdef") for _ in range(96))
    data = media_bytes(9_013, "voice", "wav")
    audio = m.audio_part("sediment://" + file_id, len(data), 0.0, 3.5)
    part = m.realtime_part(audio, None, [], "2025-05-01T00:00:00Z")
    msg = thread.add("user", m.multimodal(part, m.transcription("hello there", "in")))
    thread.say("assistant", "Hi!")
    row = (msg, digest(data), "asset_pointer", "inline", 1.0)
    return f"{thread.id}/audio/{file_id}-{ids.uuid()}.wav", data, {row}


def _form_dalle(ids: Ids, thread: Thread) -> tuple[str, bytes, set[Row]]:
    file_id = ids.file_service()
    data = media_bytes(31_019, "dalle", "webp")
    dalle = m.dalle_metadata("gen-" + ids.file_service()[5:], "a red kite", 3)
    part = m.image_part("file-service://" + file_id, len(data), 1024, 1024, dalle=dalle)
    made, answer = _tool_image(thread, "dalle.text2im", part)
    rows = {(made, digest(data), "asset_pointer", "generated", 1.0)}
    rows.add((answer, digest(data), "asset_pointer", "generated", 1.0))
    return f"dalle-generations/{file_id}-{ids.uuid()}.webp", data, rows


UPLOAD_FORMS = {
    "file-<id>-Screenshot (cut at a space)": _form_screenshot,
    "file-<id>-<UUID><19 digits> (iOS)": _form_ios,
    "root file_<32hex>.dat without a name map": _form_dat_without_map,
    "file_<hex>-sanitized.jpg": _form_sanitized,
    "user-<id>/file_<hex>-<uuid>.png": _form_gpt4o_user_folder,
    "<conv>/audio/file_<96hex>-<uuid>.wav": _form_voice,
    "dalle-generations/file-<id>-<uuid>.webp": _form_dalle,
}


@pytest.mark.parametrize("form", list(UPLOAD_FORMS))
def test_2025_upload_name_forms_keep_linking(tmp_path: Path, form: str) -> None:
    """Each name form seen in real 2025 exports links to its message with the right
    strategy, association and confidence, and leaves nothing unresolved."""
    ids = Ids(8)
    thread = Thread(ids, era=2025, title="Uploads")
    member, data, expected = UPLOAD_FORMS[form](ids, thread)
    export = export_zip(
        tmp_path / "export-2025.zip",
        [
            conversations_member([thread], shard=False),
            ("user.json", dumps({"id": "user-x"})),
            ("message_feedback.json", b"[]"),
            (member, data),
        ],
    )
    state = tmp_path / "state"
    clean(ingest(state, export))
    assert links(state) == expected
    assert unresolved(state) == set()


# -- 9. 2023: bare UUID attachment ids without a mime type, upper-case parent ids ----------


def test_2023_bare_uuid_attachments_and_upper_case_parents(tmp_path: Path) -> None:
    """A 2023 conversation whose nodes name their parent (and children) in upper case, and
    whose attachments carry a bare UUID id in upper case and no mime type. The thread keeps
    its order and parents; the attachment is listed unresolved until the privacy archive's
    Files zip carries it under a lower-case `<uuid>/` folder, then it links.
    Before: every node lost its parent (order and branch broken) and the ids never met."""
    ids = Ids(9)
    thread = Thread(ids, era=2023, title="Notes")
    notes_id = ids.uuid().upper()
    asked = thread.say(
        "user",
        "Here are my notes",
        metadata={"attachments": [{"id": notes_id, "name": "notes.txt", "size": 1200}]},
    )
    thread.say("assistant", "Thanks, I read them.")
    thread.say("user", "Summarise them")
    thread.say("assistant", "They are about bees.")
    conversation = thread.to_json()
    for node in conversation["mapping"].values():
        if node["parent"] and node["parent"] != thread.root:
            node["parent"] = node["parent"].upper()
        node["children"] = [c.upper() for c in node["children"]]
    export = export_zip(
        tmp_path / "export-2023.zip",
        [("conversations.json", dumps([conversation])), ("user.json", dumps({"id": "user-x"}))],
    )
    state = tmp_path / "state"
    clean(ingest(state, export))
    rows = message_rows(state, thread.id)
    assert [r[0] for r in rows] == thread.order
    assert [r[1] for r in rows] == [None, *thread.order[:-1]]
    assert all(r[2] for r in rows)
    assert unresolved(state) == {(thread.id, asked, "attachment", notes_id.lower())}

    notes = b"bees, bees, bees\n" * 70
    files = zip_bytes({f"personal/files/user-Q1w2E3r4/{notes_id.lower()}/notes.txt": notes})
    archive = export_zip(
        tmp_path / "privacy.zip", [("User Online Activity/Files__user-Q1w2E3r4_files_1.zip", files)]
    )
    clean(ingest(state, archive))
    assert links(state) == {(asked, digest(notes), "attachment", "attachment", 1.0)}
    assert unresolved(state) == set()


# -- 7. files mentioned only in text --------------------------------------------------------


def test_root_files_named_only_in_text(tmp_path: Path) -> None:
    """Older exports hold files at their root with no pointer (`budget_1234.pdf`), named
    in one user message ("I uploaded budget_1234.pdf earlier"). Such a file, claimed by
    nothing, links to the messages of the one conversation that names it (text_mention,
    0.3). Named in two conversations (`notes_77.pdf`), it links to neither and both
    mentions are listed as `ambiguous_mention`; a file a pointer claims is never linked
    from another conversation's text. A later export naming the budget in a second
    conversation withdraws its link at once. Before: only files already tied to the
    conversation were considered, so the root files linked nowhere."""
    ids = Ids(7)
    budget = media_bytes(11_003, "budget", "pdf")
    notes = media_bytes(11_107, "notes", "pdf")
    report = media_bytes(11_201, "report", "pdf")
    report_id = ids.file_service()
    alone = Thread(ids, era=2024, title="Budget")
    said = alone.say("user", "I uploaded budget_1234.pdf earlier, can you check the totals?")
    answered = alone.say("assistant", "The totals in budget_1234.pdf add up.")
    first, second = Thread(ids, era=2024), Thread(ids, era=2024)
    first_said = first.say("user", "Compare notes_77.pdf with last week")
    second_said = second.say("user", "Where did I put notes_77.pdf?")
    owner, other = Thread(ids, era=2024), Thread(ids, era=2024)
    attached = owner.say(
        "user",
        "Read this",
        metadata={
            "attachments": [m.attachment(report_id, "report.pdf", len(report), "application/pdf")]
        },
    )
    other.say("user", "What did report.pdf say?")
    export = export_zip(
        tmp_path / "export-2024.zip",
        [
            conversations_member([alone, first, second, owner, other], shard=False),
            ("user.json", dumps({"id": "user-x"})),
            ("budget_1234.pdf", budget),
            ("notes_77.pdf", notes),
            (f"{report_id}-report.pdf", report),
        ],
    )
    state = tmp_path / "state"
    clean(ingest(state, export))
    assert links(state) == {
        (attached, digest(report), "attachment", "attachment", 1.0),
        (said, digest(budget), "text_mention", "inline", 0.3),
        (answered, digest(budget), "text_mention", "inline", 0.3),
    }
    assert unresolved(state) == {
        (first.id, first_said, "ambiguous_mention", "notes_77.pdf"),
        (second.id, second_said, "ambiguous_mention", "notes_77.pdf"),
    }

    later = Thread(ids, era=2024)
    later_said = later.say("user", "Is budget_1234.pdf still current?")
    newer = export_zip(
        tmp_path / "export-2024-later.zip", [conversations_member([later], shard=False)]
    )
    clean(ingest(state, newer))
    assert links(state) == {(attached, digest(report), "attachment", "attachment", 1.0)}
    assert unresolved(state) == {
        (first.id, first_said, "ambiguous_mention", "notes_77.pdf"),
        (second.id, second_said, "ambiguous_mention", "notes_77.pdf"),
        (alone.id, said, "ambiguous_mention", "budget_1234.pdf"),
        (alone.id, answered, "ambiguous_mention", "budget_1234.pdf"),
        (later.id, later_said, "ambiguous_mention", "budget_1234.pdf"),
    }
    incremental = records(state, "matches"), records(state, "unresolved")
    assert run_mediasyncd(["--state-dir", str(state), "rematch"]).returncode == 0
    assert (records(state, "matches"), records(state, "unresolved")) == incremental


def test_a_claim_arriving_or_leaving_later_moves_a_mention_link(tmp_path: Path) -> None:
    """Claims are followed across drops. A file whose id no reference names yet, named in
    one conversation's text, links there (0.3). A later export whose conversation attaches
    that file (without naming it in text) claims it: the mention link goes at once. A
    newer version of that conversation without the attachment gives the claim up: the
    mention link comes back. Each state equals a full `rematch`."""
    ids = Ids(10)
    report_id = ids.file_service()
    report = media_bytes(12_007, "report", "pdf")
    talker = Thread(ids, era=2024)
    talked = talker.say("user", "Did you read report.pdf?")
    owner = Thread(ids, era=2024)
    owner.say("user", "Hello")
    owner.say("assistant", "Hi")
    fork = owner.last
    owner.add(
        "user",
        m.text("Here it is"),
        metadata={
            "attachments": [m.attachment(report_id, "report.pdf", len(report), "application/pdf")]
        },
    )
    attached = owner.last
    state = tmp_path / "state"

    def check(expected: set[Row]) -> None:
        assert links(state) == expected
        before = records(state, "matches"), records(state, "unresolved")
        assert run_mediasyncd(["--state-dir", str(state), "rematch"]).returncode == 0
        assert (records(state, "matches"), records(state, "unresolved")) == before

    first = export_zip(
        tmp_path / "first.zip",
        [conversations_member([talker], shard=False), (f"{report_id}-report.pdf", report)],
    )
    clean(ingest(state, first))
    mention = (talked, digest(report), "text_mention", "inline", 0.3)
    check({mention})

    second = export_zip(tmp_path / "second.zip", [conversations_member([owner], shard=False)])
    clean(ingest(state, second))
    check({(attached, digest(report), "attachment", "attachment", 1.0)})

    newer = owner.to_json()
    newer["update_time"] += 100
    del newer["mapping"][attached]
    newer["mapping"][fork]["children"] = []
    newer["current_node"] = fork
    third = export_zip(tmp_path / "third.zip", [("conversations.json", dumps([newer]))])
    clean(ingest(state, third))
    check({mention})
