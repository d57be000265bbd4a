"""The layout's rules (docs/architecture.md, "Where each concern lives"), checked on the
source so a change that breaks one fails here, not in a review."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "mediasyncd"
# A statement of SQL in a string (keywords in capitals, as every statement here writes
# them): what only mediasyncd.index may hold.
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+"
    r"(TEMP\s+)?(TABLE|INDEX)|PRAGMA\s+\w|BEGIN\s+IMMEDIATE)\b",
    re.DOTALL,
)


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_sql_check_sees_sql() -> None:
    """The pattern below finds the statements it is meant to find."""
    for text in ("SELECT id FROM sources", "INSERT INTO blobs", "UPDATE jobs SET state = ?"):
        assert SQL.search(text)
    assert not SQL.search("select the drop from the list")  # prose: no statement shape
    assert SQL.search("DELETE FROM refs WHERE id = ?")


def test_no_module_outside_the_index_holds_sql() -> None:
    """Every SQL statement lives in mediasyncd/index: a second engine implements that
    package, not a search through the tree."""
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {text.strip()[:60]!r}"
        for path in _modules(PACKAGE)
        if "index" not in path.relative_to(PACKAGE).parts[:1]
        for text in _strings(path)
        if SQL.search(text)
    ]
    assert offenders == []


def test_readers_import_no_domain_code() -> None:
    """mediasyncd/sources reads drops (zips, folders, probes); what a drop means belongs
    to its kind's package, which the readers never import."""
    domain = ("conversations", "traces", "kinds", "ingest", "daemon", "export", "matching")
    offenders = [
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in _modules(PACKAGE / "sources")
        for name in _imports(path)
        if name.startswith(tuple(f"mediasyncd.{d}" for d in domain))
    ]
    assert offenders == []


def test_the_pipeline_names_no_subject() -> None:
    """The ingest pipeline counts by subject through mediasyncd.kinds: it never names
    one, nor a kind's counter."""
    words = {"conversation", "trace", "conversations_new", "rematched_users", "chatgpt"}
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {text!r}"
        for path in _modules(PACKAGE / "ingest")
        for text in _strings(path)
        if text in words
    ]
    assert offenders == []


def test_code_outside_the_store_builds_no_object_path() -> None:
    """Objects are read through the Store interface (an S3 store has no paths): nothing
    outside mediasyncd/store calls path_of or looks into objects/ itself."""
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in _modules(PACKAGE)
        if "store" not in path.relative_to(PACKAGE).parts[:1]
        and re.search(r"\.path_of\(|\.objects\b|iter_object_files", path.read_text())
    ]
    assert offenders == []


DOC_CITATION = re.compile(
    r"(?<![\w/])(?P<path>docs/[a-z_]+\.md|(?:architecture|formats|reliability|chatgpt_spec|style)\.md)"
    r"(?:,? \(?(?:\"(?P<heading>[^\"]+)\"|sections? (?P<sections>\d+(?:(?: and | to |, )\d+)*)"
    r"|scenarios? (?P<scenarios>\d+)))?"
)
CITING = [PACKAGE, REPO_ROOT / "tests", REPO_ROOT / "bench"]
LOCAL_DOCS = {"README.md", "CHANGELOG.md", "BENCHMARKS.md"}


def _texts() -> list[tuple[Path, str]]:
    texts = [(REPO_ROOT / "README.md", (REPO_ROOT / "README.md").read_text(encoding="utf-8"))]
    for folder in CITING:
        texts += [(p, p.read_text(encoding="utf-8")) for p in sorted(folder.rglob("*.py"))]
    return texts


def _citations() -> list[tuple[str, re.Match[str]]]:
    texts = _texts()
    return [
        (f"{path.relative_to(REPO_ROOT)}: {match.group(0)}", match)
        for path, text in texts
        for match in DOC_CITATION.finditer(text)
        if match.group("path") not in LOCAL_DOCS
    ]


def _sections(doc: str) -> set[str]:
    """A document's headings ("Matching", "2. Conversations" as both "2" and the text)."""
    found: set[str] = set()
    for line in (REPO_ROOT / doc).read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#+ (.+)", line)
        if heading:
            text = heading.group(1).strip()
            found.add(text)
            number = re.match(r"(\d+)\. ", text)
            if number:
                found.add(number.group(1))
    return found


def test_every_doc_the_code_cites_is_a_real_file_and_section() -> None:
    """A citation names docs/<file>.md (no other folder, no file outside the repository),
    and its section, heading or scenario exists there."""
    problems: list[str] = []
    scenarios = set(
        re.findall(r"(?m)^\| (\d+) \| ", (REPO_ROOT / "docs/reliability.md").read_text())
    )
    for where, match in _citations():
        path = match.group("path")
        if not path.startswith("docs/") or not (REPO_ROOT / path).is_file():
            problems.append(f"{where}: no such document")
            continue
        if match.group("heading") and match.group("heading") not in _sections(path):
            problems.append(f"{where}: no such heading")
        for number in re.findall(r"\d+", match.group("sections") or ""):
            if number not in _sections(path):
                problems.append(f"{where}: no section {number}")
        if match.group("scenarios") and match.group("scenarios") not in scenarios:
            problems.append(f"{where}: no scenario {match.group('scenarios')}")
    # Documents outside the repository cannot be followed by its readers.
    problems += [
        f"{path.relative_to(REPO_ROOT)}: cites a document outside the repository"
        for path, text in _texts()
        if re.search(r"chatgpt_spec\.md|/work/shared|\.\./shared", text)
        and path.name != "test_layout.py"
    ]
    assert problems == []
