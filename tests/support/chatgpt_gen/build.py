"""Building a corpus: conversations made of scenario turns, deterministic from a seed.

Each conversation gets a few features (uploads, PDFs, DALL·E, GPT-4o images, code
interpreter, voice, edited and regenerated branches, privacy-archive DALL·E folders, text
mentions) between plain text turns, and every feature registers the references it writes
and the files (assets) it implies, with where each file is written (the export, the
privacy archive, both or neither). Conversations whose privacy folder holds images are
"safe": their other generated images always have a file id, so what pins a folder image
to a message is never a matter of reading the spec one way or another (truth.py refuses
ambiguous situations instead of guessing).
"""

from __future__ import annotations

import random
from typing import Any

from tests.support.chatgpt_gen.conversation import PRIVACY_VARIANTS, SHOWCASE, ConversationBuilder
from tests.support.chatgpt_gen.ids import Ids, media_bytes
from tests.support.chatgpt_gen.model import Asset, Conversation, Corpus, LibEntry, Node, Ref

WORDS_TEXT = (
    "the quick brown fox jumps over a lazy dog while seven wizards quietly hex "
    "jolly zebras near my big sphinx of quartz and judge the vow plainly"
)
WORDS = WORDS_TEXT.split()


class CorpusBuilder:
    def __init__(self, seed: int, *, pad_chars: int = 0, size_tie: bool = True):
        self.seed = seed
        self.size_tie = size_tie
        self.rng = random.Random(seed)
        self.ids = Ids(self.rng)
        self.user_id = self.ids.user_id()
        self.account = self.ids.hexs(64)
        self.assets: list[Asset] = []
        self.library: list[LibEntry] = []
        self.conversations: list[Conversation] = []
        self.clock = 1_690_000_000.0 + self.rng.random() * 1e7
        self.doc_no = 0
        self.chart_no = 0
        self.mention_pool: list[str] = []
        self.absent_dalle: list[Ref] = []
        self.no_id_dalle: list[Asset] = []
        self.pad_chars = pad_chars
        self._pad = " ".join(self.rng.choice(WORDS) for _ in range(200_000)) if pad_chars else ""
        self.privacy_variant_no = self.rng.randrange(len(PRIVACY_VARIANTS))

    def tick(self) -> float:
        self.clock += self.rng.uniform(3, 90)
        return round(self.clock, 6)

    def words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def padding(self) -> str:
        if not self.pad_chars:
            return ""
        start = self.rng.randrange(len(self._pad) - self.pad_chars)
        return "\n\n" + self._pad[start : start + self.pad_chars]

    def asset(self, kind: str, role: str, *, lo: int = 300, mean: int = 3000, **kw: Any) -> Asset:
        size = self.ids.size(lo, mean)
        asset = Asset(
            uid=len(self.assets),
            kind=kind,
            data=media_bytes(kind, size, self.rng),
            role=role,
            **kw,
        )
        self.assets.append(asset)
        return asset

    # -- the corpus --------------------------------------------------------------------

    def build(self, n_conversations: int) -> Corpus:
        showcase: dict[int, tuple[str, ...]] = {}
        if n_conversations >= 2 * len(SHOWCASE):
            slots = self.rng.sample(range(n_conversations), len(SHOWCASE))
            showcase = dict(zip(slots, SHOWCASE, strict=True))
        for n in range(n_conversations):
            builder = ConversationBuilder(self, showcase.get(n, ()))
            self.conversations.append(builder.build())
        self._extras()
        return Corpus(
            self.seed, self.user_id, self.account, self.conversations, self.assets, self.library
        )

    def _extras(self) -> None:
        """Files that belong to no conversation feature: distractors, orphan generations,
        a folder of a deleted conversation, a size tie, library rows."""
        ids = self.ids
        # A DALL·E folder of a conversation the export does not have: no link.
        self.asset(
            "png",
            "privacy_extra",
            conversation_id=ids.uuid(),
            privacy="dallelabs_conv",
            privacy_name=ids.short_name() + ".png",
            generated=True,
        )
        # Generations the privacy archive keeps outside any conversation folder.
        for _ in range(2):
            folder = "generation-" + ids.base62(24)
            for kind, name in (
                ("png", "image.png"),
                ("webp", "image.webp"),
                ("txt", "caption.txt"),
            ):
                self.asset(
                    kind,
                    "generation",
                    privacy="dallelabs_generation",
                    folder=folder,
                    orig_name=name,
                    generated=kind != "txt",
                )
        self._distractors()
        self._size_tie()
        self._library()
        self._root_mentions()

    def _distractors(self) -> None:
        """Files whose id extends (or re-spells) a real id: they must match nothing."""
        targets = [
            a for a in self.assets if a.file_id and a.role in {"upload", "pdf", "dalle", "voice"}
        ]
        self.rng.shuffle(targets)
        for target in targets[:4]:
            assert target.file_id is not None
            if target.file_id.startswith("file-"):
                fid = target.file_id + self.ids.base62(2)
            else:
                fid = target.file_id + self.ids.hexs(2)
            self.asset(
                "png",
                "distractor",
                file_id=fid,
                orig_name="image.png",
                export="id_name",
                privacy=None if fid.startswith("file_") else "files_id",
            )
        for target in targets[4:6]:
            assert target.file_id is not None
            if target.file_id.startswith("file_"):
                # The same hex spelled `file-`: no tool converts one into the other.
                fid = "file-" + target.file_id[5:]
                self.asset(
                    "jpeg", "distractor", file_id=fid, orig_name="photo.jpeg", export="id_name"
                )

    def _size_tie(self) -> None:
        """An id-less DALL·E file whose size two pointers share: the size cannot pick one."""
        if not self.no_id_dalle or not self.size_tie:
            return
        asset = self.no_id_dalle[0]
        # In era C the file carries its id (`<id>.dat`) and, its own conversation being
        # stripped of tool messages, the other pointer is the only one of that size: a
        # file with an id must still not be linked by size.
        owner = next(c for c in self.conversations if c.id == asset.conversation_id)
        owner.strip_in_era_c = True
        for ref in self.absent_dalle:
            if ref.conversation_id != asset.conversation_id:
                assert ref.part is not None
                ref.size_bytes = asset.size
                ref.part["size_bytes"] = asset.size
                return

    def _library(self) -> None:
        """library_files.json rows (written by era C exports only)."""
        rng, ids = self.rng, self.ids
        by_conv = {c.id: c for c in self.conversations}
        when = "2026-05-{:02d}T{:02d}:15:30.000000+00:00"
        for asset in list(self.assets):
            created = when.format(rng.randint(1, 28), rng.randint(0, 23))
            if asset.role in {"dalle", "gpt4o", "image2026"} and asset.export and asset.file_id:
                conv = by_conv[asset.conversation_id or ""]
                tool = next(
                    n for n in conv.nodes.values() if any(r.key == asset.file_id for r in n.refs)
                )
                # Late 2026 lists generated images as `image_gen`, without a generation id.
                late = asset.role == "image2026"
                self.library.append(
                    LibEntry(
                        asset.file_id,
                        f"{conv.title or 'Image'}.{asset.kind}",
                        asset.mime,
                        "image_gen" if late else "image",
                        conv.id,
                        tool.id if rng.random() < 0.7 else None,
                        None if late else "gen_" + ids.base62(20),
                        created,
                        asset.uid,
                    )
                )
            elif asset.role == "upload" and asset.export and asset.file_id and rng.random() < 0.3:
                self.library.append(
                    LibEntry(
                        asset.file_id,
                        asset.orig_name,
                        asset.mime,
                        None,
                        None,
                        None,
                        None,
                        created,
                        asset.uid,
                    )
                )
        # Generated images of conversations the export no longer has.
        for _ in range(2):
            fid = ids.sediment()
            asset = self.asset(
                "png",
                "library_only",
                file_id=fid,
                orig_name="Generated image.png",
                export="id_name",
                generated=True,
            )
            self.library.append(
                LibEntry(
                    fid,
                    "Generated image.png",
                    "image/png",
                    "image",
                    ids.uuid(),
                    ids.uuid(),
                    "gen_" + ids.base62(20),
                    when.format(3, 4),
                    asset.uid,
                )
            )
        # Reports and writing blocks whose files the export left out: unresolved.
        convs = [
            c
            for c in self.conversations
            if not c.strip_in_era_c and any(n.role == "assistant" for n in c.nodes.values())
        ]
        for artifact, mime in (
            ("report", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            ("writing_block", "text/markdown"),
        ):
            if not convs:
                break
            conv = rng.choice(convs)
            node = next(n for n in reversed(conv.nodes.values()) if n.role == "assistant")
            self.library.append(
                LibEntry(
                    ids.sediment(),
                    f"{artifact}.docx",
                    mime,
                    artifact,
                    conv.id,
                    node.id,
                    None,
                    when.format(9, 9),
                    None,
                )
            )

    def _root_mentions(self) -> None:
        """Files at an older export's root with no id and no pointer, named only in text:
        one named in a single conversation, one named in two (which links to neither)."""
        asking: list[Node] = []
        for conv in self.conversations:
            users = [
                n
                for n in conv.nodes.values()
                if n.message is not None
                and n.role == "user"
                and n.message["content"]["content_type"] == "text"
            ]
            if users:
                asking.append(users[0])
        if len(asking) < 3:
            return
        single, *shared = self.rng.sample(asking, 3)
        unique = f"budget_{self.rng.randint(1000, 9999)}.pdf"
        twice = f"notes_{self.rng.randint(10, 99)}.pdf"
        for name, nodes in ((unique, [single]), (twice, shared)):
            self.asset("pdf", "root_file", orig_name=name, export="root")
            for node in nodes:
                assert node.message is not None
                node.message["content"]["parts"][0] += f" I uploaded {name} earlier."
                node.mentions.append(name)


def build_corpus(
    seed: int, n_conversations: int, *, pad_chars: int = 0, size_tie: bool = True
) -> Corpus:
    """A corpus of `n_conversations` conversations and their files, the same for a seed.
    `size_tie=False` leaves out the id-less file whose size two pointers share."""
    return CorpusBuilder(seed, pad_chars=pad_chars, size_tie=size_tie).build(n_conversations)
