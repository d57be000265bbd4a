"""One conversation, turn by turn: each feature writes its messages exactly as the
exports do and registers the references they carry and the files they imply."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.support.chatgpt_gen import messages as m
from tests.support.chatgpt_gen.model import Asset, Conversation, Node, Ref

if TYPE_CHECKING:
    from tests.support.chatgpt_gen.build import CorpusBuilder

PDF_STEMS = ("report_q3", "invoice_2024", "thesis_draft", "lease_agreement", "menu_week")
TITLES = (
    "Weekend trip ideas",
    "Interpretación pintura surrealista",
    "Fix the flaky test",
    "Logo for the bakery",
    "Quarterly numbers",
    "Voice chat",
    "Plot the sensor data",
    "Résumé feedback",
    "猫のイラスト",
)
FEATURE_WEIGHTS = (
    ("upload", 24),
    ("pdf", 14),
    ("dalle", 20),
    ("gpt4o", 10),
    ("ci", 10),
    ("voice", 10),
    ("edit", 7),
    ("regen", 5),
    ("privacy_dalle", 12),
    ("decoy", 5),
    ("pasted", 4),
    ("orphan_voice", 4),
    ("image2026", 8),
)
PRIVACY_VARIANTS = ("size_pin", "count_pin", "conv_level", "dup", "extra")
# Conversations every corpus of at least this many conversations contains, so each
# strategy, association and confidence level is exercised whatever the seed.
SHOWCASE: tuple[tuple[str, ...], ...] = (
    ("upload", "pdf"),
    ("dalle:no_id",),
    ("dalle:gen_match",),
    ("dalle:map_only",),
    ("privacy_dalle:size_pin",),
    ("privacy_dalle:count_pin",),
    ("privacy_dalle:conv_level",),
    ("privacy_dalle:dup",),
    ("privacy_dalle:extra",),
    ("ci:sandbox",),
    ("ci:sandbox_silent",),
    ("voice", "orphan_voice"),
    ("gpt4o",),
    ("edit",),
    ("regen",),
    ("decoy",),
    ("pasted",),
    ("image2026",),
)
CI_CODE = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.savefig('/mnt/data/chart.png')"


class ConversationBuilder:
    def __init__(self, cb: CorpusBuilder, forced: tuple[str, ...] = ()):
        self.forced = forced
        self.variant: str | None = None
        self.cb = cb
        self.rng = cb.rng
        self.ids = cb.ids
        self.id = cb.ids.uuid()
        self.nodes: dict[str, Node] = {}
        self.turn = 0
        self.safe = False
        root = Node(cb.ids.uuid(), None, [], None)
        self.nodes[root.id] = root
        self.root = root.id

    # -- nodes -------------------------------------------------------------------------

    def add(
        self, parent: str, role: str, content: dict[str, Any], *, timed: bool = True, **kw: Any
    ) -> Node:
        message_id = self.ids.uuid()
        message = m.message(message_id, role, content, self.cb.tick() if timed else None, **kw)
        node = Node(message_id, parent, [], message, turn=self.turn)
        self.nodes[parent].children.append(message_id)
        self.nodes[message_id] = node
        return node

    def reply(self, parent: str, body: str, mentions: tuple[str, ...] = ()) -> Node:
        text = body + self.cb.padding()
        node = self.add(
            parent,
            "assistant",
            m.text(text),
            end_turn=True,
            metadata={"model_slug": "gpt-4o", "finish_details": {"type": "stop"}},
        )
        node.mentions.extend(mentions)
        return node

    # -- the conversation ----------------------------------------------------------------

    def build(self) -> Conversation:
        rng = self.rng
        features = self._plan()
        create = self.cb.tick()
        system = self.add(
            self.root,
            "system",
            m.text(""),
            timed=False,
            metadata={"is_visually_hidden_from_conversation": True},
        )
        tip = system.id
        for i, feature in enumerate(features):
            if rng.random() < 0.6:
                self.turn += 1
                tip = self.text_exchange(tip)
            self.turn += 1
            tip = getattr(self, "f_" + feature)(tip, last=i == len(features) - 1)
        if not features or (rng.random() < 0.5 and self.nodes[tip].role != "tool"):
            self.turn += 1
            tip = self.text_exchange(tip)
        times = [n.message["create_time"] for n in self.nodes.values() if n.message]
        style = rng.choices(("both", "id", "conversation_id"), (8, 1, 1))[0]
        return Conversation(
            id=self.id,
            title=None if rng.random() < 0.05 else rng.choice(TITLES),
            create_time=create,
            update_time=max(t for t in times if t),
            nodes=self.nodes,
            current_node=tip,
            id_style=style,
            strip_in_era_c=rng.random() < 0.35,
            turns=self.turn,
        )

    def _plan(self) -> list[str]:
        rng = self.rng
        names = [f for f, _ in FEATURE_WEIGHTS]
        weights = [w for _, w in FEATURE_WEIGHTS]
        count = rng.choice((0, 1, 1, 2, 2, 3))
        features = [rng.choices(names, weights)[0] for _ in range(count)]
        if self.forced:
            # A showcase conversation: "feature" or "feature:variant", nothing random.
            features = [f.split(":")[0] for f in self.forced]
            self.variant = next((f.split(":")[1] for f in self.forced if ":" in f), None)
        if "privacy_dalle" in features:
            # One privacy variant per conversation, and no code interpreter beside it.
            features = [f for f in features if f not in {"privacy_dalle", "ci"}]
            features.insert(rng.randrange(len(features) + 1), "privacy_dalle")
            self.safe = True
        self.ci_sandbox = rng.random() < 0.6 or self.variant in ("sandbox", "sandbox_silent")
        if "ci" in features and self.ci_sandbox:
            self.safe = True
        return features

    def text_exchange(self, parent: str) -> str:
        rng = self.rng
        user = self.add(
            parent,
            "user",
            m.text(rng.choice(("Hi!", "Can you help?", "Thanks.")) + " " + self.cb.words(8)),
        )
        tip = user.id
        if rng.random() < 0.15:
            thoughts = {
                "content_type": "thoughts",
                "thoughts": [
                    {
                        "summary": "Thinking",
                        "content": self.cb.words(6),
                        "chunks": [],
                        "finished": True,
                    }
                ],
                "source_analysis_msg_id": self.ids.uuid(),
            }
            tip = self.add(tip, "assistant", thoughts, recipient="all").id
            tip = self.add(
                tip, "assistant", {"content_type": "reasoning_recap", "content": "Thought for 6s"}
            ).id
        if rng.random() < 0.05:
            tip = self.add(
                tip,
                "assistant",
                {"content_type": "sonic_webpage", "url": "https://example.com", "text": "x"},
            ).id
        return self.reply(tip, self.cb.words(rng.randint(5, 30))).id

    # -- features (each returns the new tip of the current thread) -----------------------

    def f_upload(
        self, parent: str, last: bool = False, *, pasted: bool = False, present: bool = False
    ) -> str:
        rng, ids = self.rng, self.ids
        parts: list[Any] = []
        attachments: list[dict[str, Any]] = []
        refs: list[Ref] = []
        for _ in range(rng.choice((1, 1, 2))):
            sediment = rng.random() < 0.4
            fid = ids.sediment() if sediment else ids.file_service()
            kind = rng.choice(("jpeg", "png"))
            name = rng.choice(
                (
                    f"IMG_{rng.randint(1000, 9999)}.{kind}",
                    f"Screenshot_2025{rng.randint(1000, 1231)}_{rng.randint(100000, 235959)}"
                    f".{kind}",
                    f"{ids.uuid().upper()}.{kind}",
                    f"image.{kind}",
                )
            )
            pointer = ("sediment://" if sediment else "file-service://") + fid
            asset = self.cb.asset(
                kind,
                "upload",
                file_id=fid,
                orig_name=name,
                conversation_id=self.id,
                turn=self.turn,
                pointer=pointer,
            )
            if sediment and rng.random() < 0.3:
                asset.export_name = "sanitized.jpeg" if kind == "jpeg" else "sanitized.png"
            r = 1.0 if present else rng.random()
            if r < 0.6 or present:
                asset.export = "id_name"
            elif r < 0.75:
                asset.export = "id_name"
                asset.privacy = "files_id" if not sediment else "files_user"
            elif r < 0.85:
                asset.privacy = "files_id" if not sediment else "files_user"
            part = m.image_part(pointer, asset.size, 1024, 768)
            parts.append(part)
            refs.append(Ref("image", fid, self.id, None, False, asset.size, part))
            if not pasted:
                entry = m.attachment(
                    fid, name, asset.size, asset.mime, camel=rng.random() < 0.3, dims=1024
                )
                attachments.append(entry)
                refs.append(Ref("attachment", fid, self.id, None, False, asset.size, entry))
        parts.append("What do you see here? " + self.cb.words(4))
        metadata: dict[str, Any] = {"dictation": False, "timestamp_": "absolute"}
        if attachments:
            metadata["attachments"] = attachments
        user = self.add(parent, "user", m.multimodal(*parts), metadata=metadata)
        for ref in refs:
            ref.message_id = user.id
        user.refs.extend(refs)
        return self.reply(user.id, "I see " + self.cb.words(12)).id

    def f_pasted(self, parent: str, last: bool = False) -> str:
        return self.f_upload(parent, pasted=True)

    def f_pdf(self, parent: str, last: bool = False) -> str:
        rng, ids = self.rng, self.ids
        name = f"{rng.choice(PDF_STEMS)}_{self.cb.doc_no}.pdf"
        self.cb.doc_no += 1
        fid = ids.sediment() if rng.random() < 0.3 else ids.file_service()
        asset = self.cb.asset(
            "pdf", "pdf", file_id=fid, orig_name=name, conversation_id=self.id, turn=self.turn
        )
        r = rng.random()
        if r < 0.55:
            asset.export = "id_name"
        if 0.4 <= r < 0.65:
            asset.privacy = "files_id" if fid.startswith("file-") else "files_user"
        if rng.random() < 0.35:
            self._document_pages(fid)
        entry = m.attachment(fid, name, asset.size, "application/pdf", camel=rng.random() < 0.3)
        user = self.add(
            parent,
            "user",
            m.text(f"Can you summarise {name} for me?"),
            metadata={"attachments": [entry], "timestamp_": "absolute"},
        )
        user.refs.append(Ref("attachment", fid, self.id, user.id, False, None, entry))
        user.mentions.append(name)
        if asset.export or asset.privacy:
            self.cb.mention_pool.append(name)
        return self.reply(user.id, f"The file `{name}` covers " + self.cb.words(10), (name,)).id

    def _document_pages(self, document_id: str) -> None:
        """July 2025 exports render an attached document's pages as images beside it:
        `file-<docid>_data/file-<id>-<n>.jpg` (the document itself may be absent)."""
        for page in range(1, self.rng.choice((2, 3)) + 1):
            asset = self.cb.asset(
                "jpeg",
                "page",
                lo=1500,
                mean=4000,
                conversation_id=self.id,
                turn=self.turn,
                export="id_name",
            )
            asset.pages_of = document_id
            asset.export_name = f"{self.ids.file_service()}-{page}.jpg"

    def f_decoy(self, parent: str, last: bool = False) -> str:
        """Mention a file another conversation has: a mention never crosses conversations."""
        name = self.rng.choice(self.cb.mention_pool) if self.cb.mention_pool else "report_q3_0.pdf"
        user = self.add(parent, "user", m.text(f"Remember {name} from last week?"))
        user.mentions.append(name)
        return self.reply(user.id, f"I cannot see `{name}` in this chat.", (name,)).id

    def _dalle_placement(self) -> tuple[str | None, str | None, str]:
        """(export, privacy, size mode) of one DALL·E image outside privacy variants."""
        r = self.rng.random()
        if self.safe:
            # Never map_only: without chat.html that file would lose its id.
            return "id_name", None, "exact"
        if r < 0.55:
            return "id_name", None, "exact"
        if r < 0.67:
            return "map_only", None, "exact"
        if r < 0.75:
            return "no_id", None, "exact"
        if r < 0.9:
            return None, None, "exact"
        return None, "dallelabs_generation", "exact"

    def dalle_chain(
        self, user: str, placements: list[tuple[str | None, str | None, str]], *, final: bool
    ) -> Node:
        """assistant (code to dalle.text2im) -> tool dalle.text2im -> assistant."""
        rng, ids = self.rng, self.ids
        prompt = "A watercolour of " + self.cb.words(5)
        call = self.add(
            user,
            "assistant",
            m.code("json", json.dumps({"prompt": prompt, "size": "1024x1024"})),
            recipient="dalle.text2im",
        )
        parts: list[Any] = []
        refs: list[Ref] = []
        for export, privacy, size_mode in placements:
            fid = ids.file_service()
            kind = "png" if size_mode == "decoy" else "webp"
            name_uuid = ids.uuid()
            asset = self.cb.asset(
                kind,
                "dalle",
                lo=2000,
                mean=6000,
                file_id=fid,
                orig_name=f"{name_uuid}.webp",
                conversation_id=self.id,
                turn=self.turn,
                export=export,
                privacy=privacy,
                pointer="file-service://" + fid,
                name_uuid=name_uuid,
                generated=True,
            )
            if privacy == "dallelabs_conv":
                asset.privacy_name = f"{ids.short_name()}.{kind}"
            elif privacy == "dallelabs_generation":
                asset.folder = "generation-" + ids.base62(24)
                asset.privacy_name = "image.webp"
            size = asset.size if size_mode == "exact" else ids.decoy_size()
            meta = m.dalle_metadata(ids.base62(16), prompt, rng.randint(0, 2**31))
            part = m.image_part(asset.pointer or "", size, 1024, 1024, dalle=meta)
            parts.append(part)
            ref = Ref("image", fid, self.id, None, True, size, part)
            refs.append(ref)
            if export is None and privacy is None:
                self.cb.absent_dalle.append(ref)
            if export == "no_id":
                self.cb.no_id_dalle.append(asset)
        tool = self.add(
            call.id,
            "tool",
            m.multimodal(*parts),
            name="dalle.text2im",
            metadata={"message_type": None, "model_slug": "gpt-4o"},
        )
        for ref in refs:
            ref.message_id = tool.id
        tool.refs.extend(refs)
        if final:
            return tool
        return self.reply(tool.id, "Here is the image: " + self.cb.words(6))

    def f_dalle(self, parent: str, last: bool = False) -> str:
        user = self.add(parent, "user", m.text("Draw " + self.cb.words(5)))
        placements = [self._dalle_placement() for _ in range(self.rng.choice((1, 1, 2)))]
        forced = {
            "no_id": ("no_id", None, "exact"),
            "gen_match": (None, "dallelabs_generation", "exact"),
            "map_only": ("map_only", None, "exact"),
        }
        if self.variant in forced:
            placements = [forced[self.variant]]
        final = last and self.rng.random() < 0.3
        return self.dalle_chain(user.id, placements, final=final).id

    def f_privacy_dalle(self, parent: str, last: bool = False) -> str:
        cb = self.cb
        variant = self.variant or PRIVACY_VARIANTS[cb.privacy_variant_no % len(PRIVACY_VARIANTS)]
        cb.privacy_variant_no += 1
        Placement = tuple[str | None, str | None, str]
        choices: dict[str, list[Placement]] = {
            "size_pin": [(None, "dallelabs_conv", "exact")] * self.rng.choice((1, 2)),
            "count_pin": [(None, "dallelabs_conv", "decoy")],
            "conv_level": [(None, "dallelabs_conv", "decoy")] * 2,
            "dup": [("id_name", "dallelabs_conv", "exact")],
            "extra": [("id_name", None, "exact")],
        }
        placements = choices[variant]
        user = self.add(parent, "user", m.text("Draw " + cb.words(5)))
        tip = self.dalle_chain(user.id, placements, final=False)
        if variant == "extra":
            # The privacy archive's own copy of an image the export has as WebP.
            cb.asset(
                "png",
                "privacy_extra",
                conversation_id=self.id,
                turn=self.turn,
                privacy="dallelabs_conv",
                privacy_name=self.ids.short_name() + ".png",
                generated=True,
            )
        return tip.id

    def f_gpt4o(self, parent: str, last: bool = False) -> str:
        rng, ids, cb = self.rng, self.ids, self.cb
        user = self.add(parent, "user", m.text("Make an image of " + cb.words(5)))
        fid = ids.sediment()
        name_uuid = ids.uuid()
        present = self.safe or rng.random() < 0.75
        asset = cb.asset(
            "png",
            "gpt4o",
            lo=2000,
            mean=8000,
            file_id=fid,
            orig_name=f"{name_uuid}.png",
            conversation_id=self.id,
            turn=self.turn,
            export="id_name" if present else None,
            pointer="sediment://" + fid,
            name_uuid=name_uuid,
            folder=cb.user_id,
            generated=True,
        )
        meta = m.generation_metadata("gen_" + ids.hexs(32), 1024, 1536, rng.randint(0, 2**31))
        part = m.image_part(asset.pointer or "", asset.size, 1024, 1536, generation=meta)
        tool = self.add(
            user.id,
            "tool",
            m.multimodal(part),
            name="t2uay3k.sj1i4kz",
            metadata={"image_gen_title": "Image", "model_slug": "gpt-4o"},
        )
        ref = Ref("image", fid, self.id, tool.id, True, asset.size, part)
        tool.refs.append(ref)
        if not present:
            cb.absent_dalle.append(ref)
        note = self.add(
            tool.id,
            "tool",
            m.text(
                "GPT-4o returned 1 images. From now on, do not say or show ANYTHING. "
                "Please end this turn now."
            ),
            name="t2uay3k.sj1i4kz",
        )
        if last and rng.random() < 0.3:
            return note.id
        return self.reply(note.id, "").id

    def f_image2026(self, parent: str, last: bool = False) -> str:
        """2026 image generation: a tool message by `internal_tool`, with no
        metadata.dalle or metadata.generation, returns the image, and the next tool
        message (channel `commentary` after `final`) repeats the same pointer."""
        rng, ids, cb = self.rng, self.ids, self.cb
        user = self.add(parent, "user", m.text("Create an image of " + cb.words(5)))
        fid = ids.sediment()
        name_uuid = ids.uuid()
        present = self.safe or rng.random() < 0.8
        asset = cb.asset(
            "png",
            "image2026",
            lo=2000,
            mean=8000,
            file_id=fid,
            orig_name=f"{name_uuid}.png",
            conversation_id=self.id,
            turn=self.turn,
            export="id_name" if present else None,
            pointer="sediment://" + fid,
            name_uuid=name_uuid,
            folder=cb.user_id,
            generated=True,
        )
        part = m.image_part(asset.pointer or "", asset.size, 1024, 1024)
        part["metadata"]["sanitized"] = False
        made = self.add(user.id, "tool", m.multimodal(part), name="internal_tool")
        assert made.message is not None
        made.message["channel"] = "final"
        ref = Ref("image", fid, self.id, made.id, True, asset.size, part)
        made.refs.append(ref)
        if not present:
            cb.absent_dalle.append(ref)
        again = self.add(made.id, "tool", m.multimodal(dict(part)), name="internal_tool")
        assert again.message is not None
        again.message["channel"] = "commentary"
        if last and rng.random() < 0.3:
            return again.id
        return self.reply(again.id, "Here is the image.").id

    def f_ci(self, parent: str, last: bool = False) -> str:
        rng, ids, cb = self.rng, self.ids, self.cb
        user = self.add(parent, "user", m.text("Plot " + cb.words(4)))
        body = CI_CODE
        call = self.add(user.id, "assistant", m.code("python", body), recipient="python")
        fid = ids.file_service()
        asset = cb.asset(
            "png",
            "ci",
            file_id=fid,
            orig_name="image.png",
            conversation_id=self.id,
            turn=self.turn,
            pointer="file-service://" + fid,
            generated=True,
        )
        r = rng.random()
        if r < 0.5:
            asset.export = "id_name"
        elif r < 0.8 or self.safe:
            asset.privacy = "files_user"
        else:
            asset.export, asset.privacy = "id_name", "files_user"
        if not self.safe and rng.random() < 0.25:
            asset.export = asset.privacy = None
        result = m.aggregate_result(body, [asset.pointer or ""], ids.uuid(), cb.clock)
        tool = self.add(
            call.id,
            "tool",
            {"content_type": "execution_output", "text": "\n<<ImageDisplayed>>"},
            name="python",
            metadata={"aggregate_result": result, "is_complete": True},
        )
        tool.refs.append(Ref("code_interpreter", fid, self.id, tool.id, True, None, result))
        text = "Here is the chart. " + cb.words(5)
        mentions: tuple[str, ...] = ()
        if self.ci_sandbox:
            name = f"chart_{cb.chart_no}.png"
            cb.chart_no += 1
            cb.asset(
                "png",
                "sandbox",
                orig_name=name,
                conversation_id=self.id,
                turn=self.turn,
                privacy="files_sandbox",
                folder=ids.uuid(),
            )
            # Some answers never link the file they saved: it stays in the folder only.
            silent = self.variant == "sandbox_silent" or (
                self.variant != "sandbox" and rng.random() < 0.25
            )
            if not silent:
                text += f"\n\n[Download the chart](sandbox:/mnt/data/{name})"
                mentions = (name,)
                cb.mention_pool.append(name)
        return self.reply(tool.id, text, mentions).id

    def _voice_asset(self, kind: str, role: str) -> Asset:
        rng = self.rng
        fid = self.ids.sediment(long=rng.random() < 0.2)
        asset = self.cb.asset(
            kind,
            role,
            lo=1000,
            mean=5000,
            file_id=fid,
            orig_name=f"{self.ids.uuid()}.{kind}",
            conversation_id=self.id,
            turn=self.turn,
            pointer="sediment://" + fid,
        )
        asset.name_uuid = asset.orig_name.split(".")[0]
        r = rng.random()
        if r < 0.75:
            asset.export = "id_name"
        if 0.6 <= r < 0.85:
            asset.privacy = "conversations_audio"
        return asset

    def f_voice(self, parent: str, last: bool = False) -> str:
        rng, ids = self.rng, self.ids
        heard = self._voice_asset("wav", "voice")
        audio = m.audio_part(heard.pointer or "", heard.size, 0.0, 4.2)
        refs = [Ref("audio", heard.file_id or "", self.id, None, False, heard.size, audio)]
        video = None
        frames: list[dict[str, Any]] = []
        if rng.random() < 0.3:
            clip = self._voice_asset("mp4", "video")
            video = m.video_part(clip.pointer or "", clip.size)
            refs.append(Ref("video", clip.file_id or "", self.id, None, False, clip.size, video))
            for _ in range(2):
                fid = ids.sediment()
                frame = m.image_part("sediment://" + fid, 40_000 + rng.randint(0, 9999), 640, 480)
                frames.append(frame)
                refs.append(Ref("frame", fid, self.id, None, False, frame["size_bytes"], frame))
        part = m.realtime_part(audio, video, frames, "2026-01-01T00:00:00Z")
        user = self.add(
            parent,
            "user",
            m.multimodal(part, m.transcription(self.cb.words(6), "in")),
            metadata={"voice_mode_message": True},
        )
        for ref in refs:
            ref.message_id = user.id
        user.refs.extend(refs)
        said = self._voice_asset("wav", "voice")
        reply_audio = m.audio_part(said.pointer or "", said.size, 0.0, 6.0)
        reply = self.add(
            user.id,
            "assistant",
            m.multimodal(m.transcription(self.cb.words(9), "out"), reply_audio),
        )
        reply.refs.append(
            Ref("audio", said.file_id or "", self.id, reply.id, False, said.size, reply_audio)
        )
        return reply.id

    def f_orphan_voice(self, parent: str, last: bool = False) -> str:
        """A voice clip in the conversation's folder that no message names."""
        asset = self._voice_asset("wav", "orphan_voice")
        asset.pointer = None
        if asset.export is None and asset.privacy is None:
            asset.privacy = "conversations_dat"
        return self.f_voice(parent)

    def f_edit(self, parent: str, last: bool = False) -> str:
        """An edited user turn: the older branch (with its upload) stays in the mapping."""
        self.f_upload(parent, present=True)
        return self.text_exchange(parent)

    def f_regen(self, parent: str, last: bool = False) -> str:
        """A regenerated answer: the first attempt's DALL·E image is on a side branch."""
        user = self.add(parent, "user", m.text("Draw " + self.cb.words(5)))
        self.dalle_chain(user.id, [("id_name", None, "exact")], final=False)
        return self.reply(user.id, "Here is another take without an image.").id
