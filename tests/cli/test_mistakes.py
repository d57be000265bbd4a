"""Mistakes a person makes at the command line are errors that say what to do, not
silent successes: unknown ids, a state dir that is not there, a mistyped command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_zip, media_bytes, run_mediasyncd, tree_snapshot
from tests.support.chatgpt_corpus import build_corpus, write_export


@pytest.fixture(scope="module")
def filled_state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A state dir with a small ChatGPT export and an image dump ingested, and the
    conversation ids it holds."""
    root = tmp_path_factory.mktemp("filled")
    corpus = build_corpus(seed=5, n_conversations=8)
    export = write_export(corpus, root / "drops", "A").path
    dump = make_zip(
        root / "drops" / "meal-images.zip",
        {"alice/IMG_20250131_163000.jpg": media_bytes(4000, "m", "jpeg")},
    )
    state = root / "state"
    result = run_mediasyncd(["--state-dir", str(state), "ingest", str(export), str(dump)])
    assert result.returncode == 0, result.stderr
    ids = sorted(c.id for c in corpus.conversations)
    return state, ids


def cli(state: Path, *args: str) -> tuple[int, str, str]:
    result = run_mediasyncd(["--state-dir", str(state), *args])
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["rematch", "--conversation"],
        ["matches", "--conversation"],
        ["unresolved", "--conversation"],
        ["matches", "--format", "jsonl", "--conversation"],
        ["export", "OUT", "--conversation"],
    ],
    ids=["rematch", "matches", "unresolved", "matches-jsonl", "export"],
)
def test_unknown_conversation_id_is_an_error_naming_the_closest(
    filled_state: tuple[Path, list[str]], tmp_path: Path, command: list[str]
) -> None:
    """An id the index does not know: exit 1 and one line naming the closest known ids
    (a shortened id finds the one it starts), instead of `rematched 1 conversations`
    or an empty table with exit 0."""
    state, ids = filled_state
    args = [str(tmp_path / "out") if word == "OUT" else word for word in command]
    code, out, err = cli(state, *args, "nonexistent-id")
    assert code == 1, (out, err)
    assert err.startswith("mediasyncd: error: no conversation with id 'nonexistent-id'")
    assert len(err.strip().splitlines()) == 1
    assert out == ""
    # A mistyped id (last character changed) and a shortened one lead to the real one.
    wanted = ids[3]
    typo = wanted[:-1] + ("0" if wanted[-1] != "0" else "1")
    for given in (typo, wanted[:8]):
        code, _, err = cli(state, *args, given)
        assert code == 1
        assert "closest known: " + wanted in err
    assert not (tmp_path / "out").exists()


def test_unknown_user_is_an_error(filled_state: tuple[Path, list[str]]) -> None:
    """`--user` with a user the index has never seen: exit 1, the known one suggested."""
    state, _ = filled_state
    code, _, err = cli(state, "matches", "--subject", "trace", "--user", "alcie")
    assert code == 1
    assert "no user with id 'alcie'" in err and "closest known: alice" in err


def test_known_ids_still_work(filled_state: tuple[Path, list[str]]) -> None:
    """The check lets real ids through (singular wording for one conversation)."""
    state, ids = filled_state
    code, out, err = cli(state, "rematch", "--conversation", ids[0])
    assert code == 0, err
    assert out.startswith("rematched 1 conversation and 0 users")


READ_ONLY_COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["matches"],
    ["unresolved"],
    ["export", "OUT"],
    ["verify"],
]


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=lambda c: "-".join(c).lower())
def test_read_only_commands_never_create_a_state_dir(tmp_path: Path, command: list[str]) -> None:
    """`--state-dir /tmp/does-not-exist status` used to create the folder with a fresh
    index.db and show zeros. Now: exit 2, one line saying there is none and the commands
    that make one, and nothing created anywhere."""
    missing = tmp_path / "does-not-exist"
    args = [str(tmp_path / "out") if word == "OUT" else word for word in command]
    before = tree_snapshot(tmp_path)
    result = run_mediasyncd(["--state-dir", str(missing), *args])
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"there is no state dir at {missing}" in message
    assert f"mediasyncd --state-dir {missing} ingest PATH" in message
    assert f"mediasyncd --state-dir {missing} run" in message
    assert tree_snapshot(tmp_path) == before
    assert not missing.exists()


def test_an_empty_state_dir_is_not_created_into(tmp_path: Path) -> None:
    """An existing folder without an index (a typo'd path that happens to exist) gets
    the same answer, and stays empty."""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_mediasyncd(["--state-dir", str(empty), "matches"])
    assert result.returncode == 2
    assert f"no index in {empty}" in result.stderr
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("stauts", "status"),
        ("ingets", "ingest"),
        ("unresloved", "unresolved"),
        ("exprot", "export"),
    ],
)
def test_mistyped_command_gets_did_you_mean(tmp_path: Path, typo: str, meant: str) -> None:
    """A mistyped command: exit 2 and a suggestion of the command meant."""
    result = run_mediasyncd(["--state-dir", str(tmp_path / "s"), typo])
    assert result.returncode == 2
    assert f"No such command '{typo}'. Did you mean '{meant}'?" in result.stderr
    assert not (tmp_path / "s").exists()


def test_nonsense_command_gets_no_suggestion(tmp_path: Path) -> None:
    result = run_mediasyncd(["--state-dir", str(tmp_path / "s"), "frobnicate"])
    assert result.returncode == 2
    assert "No such command 'frobnicate'." in result.stderr
    assert "Did you mean" not in result.stderr
