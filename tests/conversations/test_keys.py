"""Keys read from member paths: ids only at a boundary, folders, names, id-less images."""

from __future__ import annotations

import pytest

from mediasyncd.conversations.keys import (
    file_id_in_name,
    keys_for_member,
    keys_for_original_name,
    pointer_id,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("file-UHjKtnmqDQTr43xgMJXxCt-IMG_0617.jpeg", "file-UHjKtnmqDQTr43xgMJXxCt"),
        ("file-0HDUFW2JaMMvCvhqOQsPCGxF.dat", "file-0HDUFW2JaMMvCvhqOQsPCGxF"),
        ("file_00000000aaaa1111bbbb2222cccc3333.dat", "file_00000000aaaa1111bbbb2222cccc3333"),
        (
            "file_0a1b2c3d4e5f60718293a4b5c6d7e8f9-sanitized.jpeg",
            "file_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        ),
        ("file-ABC_original name.png", "file-ABC"),
        ("file-ABC", "file-ABC"),
        ("photo.png", None),
        # Hex followed by a letter is not an id boundary: no prefix matches.
        ("file_abc123xyz.png", None),
        ("myfile-ABC.png", None),
    ],
)
def test_file_id_in_name(name: str, expected: str | None) -> None:
    """An id counts only when `-`, `_`, `.` or the end of the name follows it."""
    assert file_id_in_name(name) == expected


def test_prefix_of_another_id_is_not_that_id() -> None:
    """`file-abc` must not be read out of `file-abcd-x.png` (the bare prefix test bug)."""
    assert file_id_in_name("file-abcd-x.png") == "file-abcd"
    assert file_id_in_name("file-abcd-x.png") != "file-abc"


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("file-service://file-6y9faxjcnXrzx8UTUQepS7", "file-6y9faxjcnXrzx8UTUQepS7"),
        ("sediment://file_abc123", "file_abc123"),
        (
            "file-service://885ecbfd-4489-4a2f-b407-8c7680732561",
            "885ecbfd-4489-4a2f-b407-8c7680732561",
        ),
        ("", None),
    ],
)
def test_pointer_id_keeps_the_id_as_written(pointer: str, expected: str | None) -> None:
    """The scheme is dropped; `file-` and `file_` are never converted into each other."""
    assert pointer_id(pointer) == expected


def test_privacy_dalle_folder_gives_conversation_key() -> None:
    """A DALL·E archive image belongs to the conversation its folder names."""
    cid = "8fd0fa6d-7609-4539-bca6-81be74d48e8f"
    member = (
        "User Online Activity/Dall-E__user-x_dallelabs_1.zip!/personal/dallelabs/user-data/"
        f"chatgptgenerations/user-x/conversations/{cid}/Z9OIdCXqnSiaH6bc.png"
    )
    keys = keys_for_member(member, size=1234, is_image=True)
    assert ("conversation_dir", cid, "folder") in keys
    assert ("size", "1234", "id_less_generated") in keys
    assert not any(k[0] == "file_id" for k in keys)


def test_privacy_files_layouts() -> None:
    """`file-<ID>_<name>`, `user-xxx/<file_id>/<name>` and sandbox folders give their keys."""
    upload = keys_for_member("personal/files/file-ABCdef123_report.pdf", size=1, is_image=False)
    assert ("file_id", "file-ABCdef123", "name") in upload
    assert ("filename", "report.pdf", "name") in upload
    by_folder = keys_for_member(
        "personal/files/user-xyz/file-QQQ111/notes.txt", size=1, is_image=False
    )
    assert ("file_id", "file-QQQ111", "folder") in by_folder
    cid = "684a1df7-302c-8005-bf41-d26c56ecdc7f"
    sandbox = keys_for_member(
        f"personal/files/{cid}/0b7c2a55-2d8f-4a0e-9d7a-6a6e0f0c1d2e/mnt/data/chart.png",
        size=1,
        is_image=True,
    )
    assert ("conversation_dir", cid, "folder") in sandbox
    assert ("filename", "chart.png", "name") in sandbox


def test_voice_folder_has_conversation_and_file_id() -> None:
    """Era A voice clips sit in `<conversation_id>/audio/file_<hex>-<uuid>.wav`."""
    cid = "684a1df7-302c-8005-bf41-d26c56ecdc7f"
    keys = keys_for_member(
        f"{cid}/audio/file_00aa11bb22cc33dd44ee55ff66778899-1b2c3d4e-0000-4000-8000-000000000000.wav",
        size=10,
        is_image=False,
    )
    assert ("file_id", "file_00aa11bb22cc33dd44ee55ff66778899", "name") in keys
    assert ("conversation_dir", cid, "folder") in keys


def test_dat_map_original_name_keys_come_from_the_map() -> None:
    """An era C original name gives a file name and, for DALL·E, an id-less size key."""
    keys = keys_for_original_name(
        "dalle-generations/bdd53f7d-8240-47c6-9a5d-091f78dbaf75.webp", size=0, is_image=True
    )
    kinds = {(k[0], k[2]) for k in keys}
    assert ("filename", "dat_map") in kinds
    assert ("size", "dat_map") in kinds
    assert all(extra == "dat_map" or extra == "uuid_name" for _, _, extra in keys)
