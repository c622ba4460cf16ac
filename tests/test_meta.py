"""Meta-tests keep the docs honest (STYLE.md point 10)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.configref import BEGIN, END, PAGE, reference, rows
from bot.config import Config
from connectors import KINDS, registry

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIG_PAGE = (ROOT / PAGE).read_text(encoding="utf-8")
# Pages colleagues are writing on their own branches; the README links them already.


def test_config_reference_matches_the_schema() -> None:
    block = CONFIG_PAGE[CONFIG_PAGE.index(BEGIN) + len(BEGIN) : CONFIG_PAGE.index(END)]
    assert block.strip() == reference().strip(), f"run `python -m bot.configref --write` and commit {PAGE.as_posix()}"


def test_every_config_key_has_a_description() -> None:
    missing = [key for key, _type, _default, doc in rows(Config, "") if not doc]
    for kind, cls in registry().items():
        missing += [f"{kind}.{key}" for key, _t, _d, doc in rows(cls.Options, "") if not doc]
    from connectors.fulfilment import ADAPTERS

    for kind, adapter in ADAPTERS.items():
        missing += [f"fulfilment {kind}.{key}" for key, _t, _d, doc in rows(adapter.Options, "") if not doc]
    assert not missing, f"keys without a description: {missing}"


def test_every_registered_connector_has_a_test() -> None:
    for kind in KINDS:
        candidates = [ROOT / "tests" / "connectors" / f"test_{kind}.py", ROOT / "tests" / f"test_{kind}.py"]
        assert any(p.exists() for p in candidates), f"connector {kind!r} has no test file"


def test_readme_test_command_is_what_ci_runs() -> None:
    commands = re.findall(r"```sh\n(.+?)\n```", README)
    assert len(commands) >= 2, "the README starts with the two commands"
    test_command = commands[1]
    pytest_part = test_command.split("&&")[-1].strip()
    assert pytest_part in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_sample_config_sections_are_all_documented_in_it() -> None:
    sample = (ROOT / "config.toml").read_text(encoding="utf-8")
    for section in Config.model_fields:
        if section in ("path",):
            continue
        assert re.search(rf"^#?\s*\[\[?{section}[\].]", sample, re.M), f"config.toml has no [{section}] example"


def test_sample_policy_rules_are_the_built_in_ones() -> None:
    """config.toml shows the built-in rules commented out; they must say what the code does."""
    import tomllib

    from bot.decide.policy import DEFAULT_RULES, PolicyConfig

    sample = (ROOT / "config.toml").read_text(encoding="utf-8")
    block = sample[sample.index("# --- built-in rules: begin") : sample.index("# --- built-in rules: end")]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else "" for line in block.splitlines()[1:])
    rules = PolicyConfig.model_validate({"rules": tomllib.loads(uncommented)["policy"]["rules"]}).rules
    def effect(rule: object) -> dict[str, object]:
        data = rule.model_dump(exclude={"remedy", "remedies"})  # type: ignore[attr-defined]
        data["actions"] = [a.model_dump() for a in rule.actions]  # type: ignore[attr-defined]
        return data

    assert [effect(r) for r in rules] == [effect(r) for r in DEFAULT_RULES]


def test_every_data_file_of_the_package_is_declared_package_data() -> None:
    """A plain `pip install` ships only .py files plus what package-data names (notes, demo, migrations)."""
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bot"]
    declared = {path for pattern in patterns for path in (ROOT / "bot").glob(pattern) if path.is_file()}
    data = {p for p in (ROOT / "bot").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts}
    assert data <= declared, sorted(str(p.relative_to(ROOT)) for p in data - declared)


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    out = set()
    text = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_every_relative_link_in_the_docs_points_at_something_that_exists() -> None:
    """README.md and docs/*.md: each relative link names an existing file, and its #anchor a heading there."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
        text = re.sub(r"`[^`]+`", "", text)  # code spans may wrap a line
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto: ...
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}: {target}"
            if not file.is_relative_to(ROOT):
                broken.append(f"{where} (outside the repository)")
            elif not file.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text(encoding="utf-8")):
                broken.append(f"{where} (no such heading)")
    assert not broken, broken


def test_the_readme_links_every_docs_page() -> None:
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)", README))
    assert not pages - linked, f"the README does not link {sorted(pages - linked)}"


def _import_graph() -> dict[str, set[str]]:
    """Every module of bot/ and connectors/ -> the modules of ours it imports (any import, also
    inside functions and TYPE_CHECKING blocks: a loop hidden there is still a loop)."""
    import ast

    modules: dict[str, Path] = {}
    for package in ("bot", "connectors"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # alembic scripts, loaded by file, not imported
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = name.split(".") if is_package else name.split(".")[:-1]
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def test_no_import_cycle_among_our_modules() -> None:
    graph = _import_graph()
    assert "bot.config" in graph and "connectors.fulfilment" in graph
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_cycle() -> None:
    """The check above is only worth something if it can fail: config must not import a stage that imports it."""
    graph = _import_graph()
    assert "bot.config" in graph["bot.report.digest"] or "bot.config" in graph["bot.outbox"]
    # config imports the stages' section models (bot.report.settings, bot.decide.policy), never the stages
    assert not graph["bot.config"] & {"bot.report.digest", "bot.outbox", "bot.decide.cases", "bot.pipeline"}


def test_the_committed_labels_hold_ids_and_labels_only() -> None:
    """Corpus texts are other people's words: the label files keep ids and labels, never a text or a note."""
    import json

    label = {"unhappy", "issue", "remedy_worthy", "unsure"}
    top = {"corpus.jsonl": label | {"id", "split", "round"}, "second_pass.jsonl": label | {"id", "round"},
           "settle.jsonl": {"id", "first", "second", "final"}}
    for name, allowed in top.items():
        lines = (ROOT / "bench" / "labels" / name).read_text(encoding="utf-8").splitlines()
        assert lines, name
        for n, line in enumerate(lines, 1):
            row = json.loads(line)
            assert set(row) <= allowed, f"{name} line {n}: fields {sorted(set(row) - allowed)} (labels only, no texts)"
            for reading in (v for v in row.values() if isinstance(v, dict)):
                assert set(reading) <= label, f"{name} line {n}: fields {sorted(set(reading) - label)}"
            assert all(isinstance(v, (int, dict)) or len(v) < 120 for v in row.values()), f"{name} line {n}: a text?"
