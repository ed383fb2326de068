"""Shared fixtures: tiny handwritten en/ru corpora and the optional ../shared folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
SAMPLE = ROOT / "corpora" / "sample"


def shared_or_skip(*parts: str) -> Path:
    """A path under ../shared, or skip the test when a fresh clone has no ../shared."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not present (only on the team's machines)")
    return path


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A folder with one file per simple format, in English and Russian."""
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "post.md").write_text(
        "---\ntitle: Зачем компании сообщество\ndate: 19 декабря 2005\ngenre: business\nid: ru-post\n---\n"
        "# Зачем\n\n"
        "Компании, которые не вкладываются в обмен опытом между филиалами, теряют знания вместе с "
        "уходящими сотрудниками.\n\n"
        "Читать далее\n\n"
        "Для запуска сообщества назначьте координатора, определите тему и проводите встречи раз в месяц.\n",
        encoding="utf-8",
    )
    (root / "note.txt").write_text(
        "Start with a small core group, schedule a monthly call, and give one person two hours a week "
        "to moderate the discussion list.\n\nThe term was coined in the early 1990s to describe "
        "apprenticeship in situated learning.\n",
        encoding="utf-8",
    )
    rows = [
        {"id": "j1", "text": "Firms that let engineers learn from each other avoid repeating mistakes.",
         "date": "2012-05-03", "genre": "academic", "source_type": "article"},
        {"id": "j2", "text": "Понятие сообщества практики описывает группу людей, объединённых общим делом.",
         "date": "03.05.2013"},
    ]
    (root / "records.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                                        encoding="utf-8")
    return root
