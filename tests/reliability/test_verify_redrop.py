"""`mediasyncd verify` on a store holding every kind of drop, with one object damaged in
each way (docs/reliability.md, scenario 9), then the user following its advice.

tests/store/test_verify.py covers each classification on plain files in-process; here the CLI
runs in a child process on the full corpus and damage hits media and documents (the
stored conversations.json and trace export) alike: each problem is classified, the
exit code is non-zero, damaged objects are quarantined, the advice names exactly the
drop each object came from, and re-dropping those drops restores a clean store and the
very same links.
"""

from __future__ import annotations

import json
from pathlib import Path

from mediasyncd.app import App
from tests.helpers import assert_store_consistent, run_mediasyncd
from tests.reliability.fullcorpus import links_snapshot, write_full_corpus


def _one_source_member(app: App, source: Path, suffix: str) -> str:
    """The digest of a member of `source` ending in `suffix` that no other source holds."""
    rows = app.index.execute(
        """SELECT o.digest FROM occurrences o JOIN sources s ON s.id = o.source_id
           WHERE s.path = ? AND o.member LIKE ? AND o.digest IN (
               SELECT digest FROM occurrences GROUP BY digest
               HAVING COUNT(DISTINCT source_id) = 1)
           ORDER BY o.member""",
        (str(source), f"%{suffix}"),
    ).fetchall()
    assert rows, (source, suffix)
    return str(rows[0][0])


def _writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def test_verify_classifies_quarantines_and_redrop_repairs(tmp_path: Path) -> None:
    """Bit flip, truncation, deletion and a wrong name across the corpus's drops: each
    classified and named with its drop; re-dropping those drops repairs everything."""
    export, privacy, dump, traces = write_full_corpus(tmp_path / "drops")
    state = tmp_path / "state"
    base = ["--state-dir", str(state)]
    assert (
        run_mediasyncd(
            [*base, "ingest", str(export), str(privacy), str(dump), str(traces)]
        ).returncode
        == 0
    )
    app = App.load(state_dir=str(state))
    try:
        before = links_snapshot(app.index)
        targets = {
            "damaged": (_one_source_member(app, dump, ".jpg"), dump),
            "damaged-document": (_one_source_member(app, export, "conversations.json"), export),
            "truncated": (_one_source_member(app, export, ".png"), export),
            "missing": (_one_source_member(app, privacy, ".png"), privacy),
            "misnamed": (_one_source_member(app, traces, ".jsonl"), traces),
        }
        # The entry that holds each (conversations.json is kept as a recipe, `.r`).
        paths = {name: Path(app.store.location(digest)) for name, (digest, _src) in targets.items()}
    finally:
        app.close()

    for name in ("damaged", "damaged-document"):
        data = bytearray(_writable(paths[name]).read_bytes())
        data[len(data) // 2] ^= 0x10
        paths[name].write_bytes(bytes(data))
    truncated = _writable(paths["truncated"])
    truncated.write_bytes(truncated.read_bytes()[:-100])
    paths["missing"].unlink()
    # A wrong name: the object's bytes under a name one digit off.
    wrong = paths["misnamed"].with_name(
        paths["misnamed"].name[:-1] + ("0" if paths["misnamed"].name[-1] != "0" else "1")
    )
    paths["misnamed"].rename(wrong)

    found = run_mediasyncd([*base, "verify", "--json"])
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    by_digest: dict[str, list[dict[str, object]]] = {}
    for problem in report["problems"]:
        by_digest.setdefault(str(problem["digest"]), []).append(problem)
    expected_kind = {
        "damaged": "damaged",
        "damaged-document": "damaged",
        "truncated": "truncated",
        "missing": "missing",
        "misnamed": "misnamed",
    }
    for name, (digest, source) in targets.items():
        problems = by_digest.get(digest, [])
        kinds = {p["kind"] for p in problems}
        assert expected_kind[name] in kinds, (name, report["problems"])
        for problem in problems:
            if problem["kind"] in ("damaged", "truncated", "missing"):
                assert problem["redrop"] == [str(source)], (name, problem)
            if problem["kind"] in ("damaged", "truncated"):
                assert problem["quarantined_to"] and Path(str(problem["quarantined_to"])).is_file()
    advice = sorted({s for p in report["problems"] for s in p["redrop"]})

    redrop = run_mediasyncd([*base, "ingest", "--json", *advice])
    assert redrop.returncode == 0, redrop.stderr
    again = run_mediasyncd([*base, "verify", "--json"])
    assert again.returncode == 0, again.stdout
    app = App.load(state_dir=str(state))
    try:
        assert_store_consistent(app.index, app.store)
        assert links_snapshot(app.index) == before
    finally:
        app.close()
