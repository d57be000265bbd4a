"""The privacy-request archive ("User Online Activity"), as a zip or a folder.

```
User Online Activity/
  Dall-E__user-xxx_dallelabs_N.zip
    personal/dallelabs/user-data/chatgptgenerations/user-xxx/conversations/<conv>/<16>.png|webp
    personal/dallelabs/user-xxx/generations/generation-<id>/{caption.txt,image.png,image.webp}
  Files__user-xxx_files_1.zip
    personal/files/file-<ID>_<original name>
    personal/files/user-xxx/<file_id>/<filename>
    personal/files/<conversation_id>/<session_id>/mnt/data/<file>
  Conversations__user-xxx_conversations_1_export.zip
    personal/conversations/<conversation_id>/audio/file_…-<uuid>.wav, file_<hash>.dat
User Profile/   Financial/
```
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.support.chatgpt_gen.model import Asset
from tests.support.chatgpt_gen.sink import PlacedFile, Sink, WrittenDrop, zip_bytes

ROOT = "User Online Activity"


def privacy_place(asset: Asset, user_id: str) -> tuple[str, str, list[tuple[str, str]], str | None]:
    """(inner zip family, member path, ids, conversation folder) of one asset."""
    fid = asset.file_id or ""
    conv = asset.conversation_id
    where = asset.privacy
    if where == "dallelabs_conv":
        base = f"personal/dallelabs/user-data/chatgptgenerations/{user_id}/conversations"
        return "dalle", f"{base}/{conv}/{asset.privacy_name}", [], conv
    if where == "dallelabs_generation":
        name = asset.privacy_name or asset.orig_name
        return "dalle", f"personal/dallelabs/{user_id}/generations/{asset.folder}/{name}", [], None
    if where == "files_id":
        return "files", f"personal/files/{fid}_{asset.orig_name}", [(fid, "name")], None
    if where == "files_user":
        return "files", f"personal/files/{user_id}/{fid}/{asset.orig_name}", [(fid, "name")], None
    if where == "files_sandbox":
        member = f"personal/files/{conv}/{asset.folder}/mnt/data/{asset.orig_name}"
        return "files", member, [], conv
    if where == "conversations_audio":
        sub = "video" if asset.kind == "mp4" else "audio"
        member = f"personal/conversations/{conv}/{sub}/{fid}-{asset.name_uuid}.{asset.kind}"
        return "conversations", member, [(fid, "name")], conv
    if where == "conversations_dat":
        return (
            "conversations",
            f"personal/conversations/{conv}/audio/{fid}.dat",
            [(fid, "name")],
            conv,
        )
    raise ValueError(f"asset {asset.uid} has no privacy placement ({where})")


def write_privacy(
    dest: Path,
    assets: Sequence[Asset],
    user_id: str,
    *,
    zipped: bool = True,
    dalle_parts: int = 2,
) -> WrittenDrop:
    """The archive with every asset that has a privacy placement, plus the profile noise."""
    drop = WrittenDrop(dest, "privacy", None)
    groups: dict[str, list[tuple[str, bytes]]] = {}
    for n, asset in enumerate(a for a in assets if a.privacy is not None):
        family, member, ids, folder = privacy_place(asset, user_id)
        if family == "dalle":
            inner = f"Dall-E__{user_id}_dallelabs_{n % dalle_parts + 1}.zip"
        elif family == "files":
            inner = f"Files__{user_id}_files_1.zip"
        else:
            inner = f"Conversations__{user_id}_conversations_1_export.zip"
        groups.setdefault(inner, []).append((member, asset.data))
        name = member.rsplit("/", 1)[-1]
        if asset.privacy == "files_id":
            name = asset.orig_name
        drop.files.append(
            PlacedFile(
                asset,
                dest,
                f"{ROOT}/{inner}!/{member}",
                tuple(ids),
                folder,
                name,
                dallelabs=family == "dalle",
            )
        )
    with Sink(dest, zipped) as sink:
        for inner in sorted(groups):
            # Media inside the inner zips is stored, the inner zips themselves deflated
            # in some real archives: mix both so readers see spooled and in-place nests.
            compress = inner.startswith("Files__")
            sink.write(
                f"{ROOT}/{inner}", zip_bytes(groups[inner], compress=compress), compress=compress
            )
        sink.write("User Profile/user_profile.json", b'{"email": "someone@example.com"}')
        sink.write("Financial/transactions.csv", b"date,amount\n2026-01-01,20.00\n")
    return drop
