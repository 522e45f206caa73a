"""What a reader of the README and docs sees: every image and local link they name exists.
(A benchmark run once wrote its plots into the README as ../work/main/docs/bench/*.png: broken
in every clone.)"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# [text](target) and ![alt](target); targets that are URLs or in-page anchors are skipped
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def local_targets(doc: Path) -> list[str]:
    out = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        out.append(target.split("#", 1)[0])
    return [t for t in out if t]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_and_images_exist(doc):
    missing = [t for t in local_targets(doc) if not (doc.parent / t).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} links to files that are not there: {missing}"


def test_the_link_pattern_sees_images_and_skips_urls(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("![p](img/x.png) [site](https://example.org) [top](#top) [b](b.md#s)\n")
    assert local_targets(doc) == ["img/x.png", "b.md"]
