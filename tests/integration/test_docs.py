"""The documentation site (mkdocs.yml, docs/) builds with --strict, its navigation is exactly the pages in docs/, the
README's links resolve (into the built site, and on GitHub), and what the README and the docs both show stays the same."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO

ROOT = REPO
DOCS = ROOT / "docs"
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def nav_pages() -> list[str]:
    def walk(entries):
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from walk(value) if isinstance(value, list) else [value]

    return list(walk(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))


def built_page(site: Path, page: str) -> Path:
    stem = page.removesuffix(".md")  # use_directory_urls (mkdocs' default): jury.md -> jury/index.html
    return site / "index.html" if stem == "index" else site / stem / "index.html"


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(markdown: str) -> set[str]:
    text = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)  # a '#' comment in a code block is no heading
    return {github_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def test_the_site_builds_strictly_with_every_page_of_the_nav(site):
    pages = nav_pages()
    assert len(pages) == len(set(pages)), pages
    for page in pages:
        assert (DOCS / page).is_file(), f"mkdocs.yml's nav names {page}, which is not in docs/"
        assert built_page(site, page).is_file(), page
    # Every page is reachable from the navigation (mkdocs --strict also refuses a page left out of it).
    assert sorted(pages) == sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))


def test_the_readme_links_resolve_into_the_site_and_on_github(site):
    readme = README.read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    docs_links = [link for link in links if link.startswith("docs/")]
    assert len(docs_links) >= 12, docs_links  # the README points into the docs rather than repeating them
    pages = set(nav_pages())
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        target, _, anchor = link.partition("#")
        if not target:  # an anchor in the README itself
            assert anchor in headings(readme), link
            continue
        assert (ROOT / target).exists(), f"the README links to {target}, which does not exist"
        if target.startswith("docs/") and target.endswith(".md"):
            page = target.removeprefix("docs/")
            assert page in pages, f"{link}: not in mkdocs.yml's nav"
            if anchor:
                html = built_page(site, page).read_text()
                assert f'id="{anchor}"' in html, f"{link}: no such anchor in the built site"
                assert anchor in headings((DOCS / page).read_text()), f"{link}: no such heading on GitHub"


def bash_block_after(text: str, marker: str) -> str:
    return re.search(r"```bash\n(.*?)```", text.split(marker, 1)[1], re.S).group(1)


def test_the_docs_show_the_readme_commands_that_tests_and_ci_run():
    readme = README.read_text()
    # The no-GPU quick start (tests/e2e/test_e2e_first_run.py runs the README's copy) is the same on the docs' home page.
    marker = "<!-- quickstart:no-gpu -->"
    assert bash_block_after((DOCS / "index.md").read_text(), marker) == bash_block_after(readme, marker)
    # The install and test commands (.ci/run runs the README's copies) are the ones the install page shows.
    install = (DOCS / "install.md").read_text()
    for marker in ("<!-- ci:install -->", "<!-- ci:test -->"):
        assert f"```bash\n{bash_block_after(readme, marker)}```" in install, marker


def field_names(model) -> set[str]:
    if dataclasses.is_dataclass(model):
        return {f.name for f in dataclasses.fields(model)}
    return set(model.model_fields)  # a pydantic model


def documented(section: str) -> set[str]:
    return set(re.findall(r"^\| `(\w+)` \|", section, re.M))


def test_the_jury_reference_names_every_field_of_todays_code():
    """The reference lists exactly the fields a jury file takes."""
    from lmms_safebench.jury.config import JurorConfig, JuryConfig

    reference = (DOCS / "jury.md").read_text().split("## Reference: every field", 1)[1]
    jury_part, juror_part = reference.split("**A juror**", 1)
    # `source` says where a configuration came from (not a file key); `defaults` is a file key, not a field.
    assert documented(jury_part) == field_names(JuryConfig) - {"source"} | {"defaults"}
    assert documented(juror_part) == field_names(JurorConfig)


def test_the_jury_reference_is_what_the_models_generate(monkeypatch):
    """docs/jury.md's reference section is utils/jury_reference.py's output from today's models (no drift), and
    every field it documents has a description in the code, for the generator's text model too."""
    import jury_reference

    from lmms_safebench.generate.core.config import LLMSpec
    from lmms_safebench.jury.config import JurorConfig, JuryConfig
    from lmms_safebench.llm.spec import Endpoint, ModelSpec

    text = (DOCS / "jury.md").read_text()
    assert jury_reference.updated(text) == text, "run `python utils/jury_reference.py` and commit docs/jury.md"
    assert jury_reference.main(["--check"]) == 0
    for model in (Endpoint, ModelSpec, JurorConfig, JuryConfig, LLMSpec):
        assert [n for n, f in model.model_fields.items() if not (f.description or "").strip()] == [], model
    # The table says what the models check: choices, bounds, and the rules validators enforce.
    jury_part, juror_part = text.split(jury_reference.START)[1].split("**A juror**")
    jury, juror = ({line.split(" | ")[0].strip("| `"): line.split(" | ")[1:4] for line in part.splitlines()
                    if line.startswith("| `")} for part in (jury_part, juror_part))
    assert juror["temperature"] == ["number", "`0`", "0 to 2"]
    assert juror["backend"][2] == "`openai`, `transformers` or `heuristic`"
    assert juror["device"][2] == "`auto`, `cpu`, `mps`, `cuda` or `cuda:N`"
    assert juror["batch_wait"] == ["number", "`0.005`", "0 to 10"]
    assert juror["max_in_flight"] == ["integer", "none", "at least 1"]
    assert juror["name"] == ["text", "required", "not empty"]
    assert jury["quorum"][1:] == ["`1`", "1 to the number of jurors"]
    assert jury["name"][1] == "the file's name without `.yaml`" and jury["protocol"][1] == "required"
    # A description changed in the code makes the committed section stale, and --check says so.
    field = JurorConfig.model_fields["timeout"]
    monkeypatch.setattr(field, "description", "Seconds, changed.")
    assert jury_reference.updated(text) != text and jury_reference.main(["--check"]) == 1
