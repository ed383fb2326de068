"""A seeded generator of a bilingual (en/ru) KM-like corpus at any size, for benchmarks.

Sentences come from templates with slots filled from small hand-written vocabularies
(Russian fillers are written already inflected for their slot), plus a long tail of
made-up names, numbers, URLs and e-mail addresses, so that the vocabulary keeps growing
with corpus size as in real text.

    from benchmarks.corpus import generate_passages, write_corpus_folder
    passages = generate_passages(10_000, seed=1)     # list of dicts
    write_corpus_folder("/tmp/km", n_docs=500, seed=1)  # .jsonl, .md, .txt and .csv files
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

EN = {
    "org": ["the company", "our firm", "the bank", "a mid-sized manufacturer", "the consultancy", "the agency",
            "the hospital", "a software vendor", "the engineering division", "the ministry", "the university",
            "a retail chain", "the law firm", "an oil and gas operator", "the start-up"],
    "orgs": ["companies", "firms", "organisations", "organizations", "banks", "agencies", "manufacturers",
             "consultancies", "hospitals", "universities", "public bodies", "SMEs"],
    "people": ["engineers", "managers", "new hires", "experts", "employees", "analysts", "sales staff",
               "project leads", "field technicians", "researchers", "consultants", "nurses", "senior staff"],
    "person": ["a retiring engineer", "the knowledge manager", "our CKO", "the team lead", "a senior analyst",
               "the facilitator", "the librarian", "one of the founders", "the HR director", "a project manager"],
    "thing": ["knowledge", "know-how", "expertise", "experience", "tacit knowledge", "lessons learned",
              "best practices", "documentation", "the wiki", "the intranet", "the knowledge base",
              "communities of practice", "CoPs", "mentoring", "after-action reviews", "storytelling",
              "expert directories", "the document management system", "SharePoint sites", "Q&A forums",
              "knowledge-sharing sessions", "peer assists", "the lessons-learned database", "KPIs"],
    "verb_past": ["lost", "captured", "shared", "documented", "ignored", "rebuilt", "reused", "duplicated",
                  "archived", "forgot", "codified", "transferred", "underestimated", "measured"],
    "verb": ["share", "capture", "reuse", "find", "document", "transfer", "protect", "retain", "map",
             "codify", "connect", "curate", "measure", "organise", "organize"],
    "ving": ["sharing", "capturing", "reusing", "finding", "documenting", "transferring", "mapping",
             "curating", "connecting", "measuring", "moderating", "onboarding"],
    "adj": ["critical", "scattered", "valuable", "tacit", "explicit", "outdated", "duplicated", "hidden",
            "strategic", "informal", "costly", "fragile", "organisational", "cross-functional"],
    "benefit": ["faster onboarding", "fewer repeated mistakes", "shorter project cycles", "better decisions",
                "lower support costs", "higher customer satisfaction", "more innovation", "less rework"],
    "period": ["last year", "in 2009", "over three years", "during the merger", "after the reorganisation",
               "in the first quarter", "since 2015", "within six months", "every Friday", "twice a month"],
    "tool": ["a wiki", "Confluence", "Yammer", "a Slack channel", "an expert locator", "a shared drive",
             "Microsoft Teams", "a mailing list", "an enterprise search engine", "a KM portal"],
}
EN_TEMPLATES = [
    "{org} {verb_past} much of its {adj} knowledge when {people} left {period}.",
    "Why should {orgs} invest in {thing}? Because {benefit} pay for it within a year.",
    "To start, ask {person} to {verb} what {people} already know and post it on {tool}.",
    "{people} spend up to a fifth of their week looking for information that {org} already has.",
    "We set up {tool} {period}, and {people} began {ving} {thing} without being asked.",
    "Research on {thing} shows that {adj} knowledge is rarely written down, e.g. in manuals or reports.",
    "The community of practice met {period} to {verb} {thing}; {person} moderated the discussion.",
    "According to Dr. {name}, {orgs} that ignore {thing} lose {pct}% of their expertise when staff retire.",
    "If you want {benefit}, {verb} {thing} first and measure the result with two or three KPIs.",
    "{person} said that {thing} was {adj} and that nobody had time for {ving} it.",
    "In our case study of {num} {orgs}, {thing} correlated with {benefit} (p < 0.05).",
    "Don't buy a new platform: {tool} and a monthly call are enough to {verb} {thing}.",
    "The {adj} nature of {thing} makes {ving} it hard, i.e. most of it lives in people's heads.",
    "More details are at https://km-{slug}.example.org/{slug} or write to {slug}@example.com.",
    "{org}'s knowledge-sharing programme grew from {num} to {num2} members {period}.",
    "Communities of practice are groups of people who share a concern and learn to do it better together.",
    "Knowledge management is not about technology; it is about {people} and their willingness to {verb}.",
    "Each after-action review asks three questions: what was planned, what happened and what we learned.",
    "{name} and {name2} interviewed {num} {people} about how they {verb} {thing}.",
    "Without {thing}, {org} {verb_past} the same {adj} lessons again and again.",
]

RU = {
    "org_nom": ["компания", "наш банк", "холдинг", "завод", "консалтинговая фирма", "министерство",
                "университет", "торговая сеть", "проектный институт", "нефтяная компания", "стартап"],
    "org_gen": ["компании", "нашего банка", "холдинга", "завода", "консалтинговой фирмы", "министерства",
                "университета", "торговой сети", "проектного института", "нефтяной компании"],
    "orgs_nom": ["компании", "организации", "банки", "предприятия", "российские фирмы", "госкорпорации",
                 "промышленные холдинги", "вузы"],
    "people_nom": ["инженеры", "менеджеры", "новые сотрудники", "эксперты", "аналитики", "руководители проектов",
                   "технологи", "консультанты", "специалисты", "опытные работники"],
    "people_gen": ["инженеров", "менеджеров", "новых сотрудников", "экспертов", "аналитиков", "специалистов",
                   "руководителей проектов", "технологов", "опытных работников"],
    "people_ins": ["инженерами", "менеджерами", "новыми сотрудниками", "экспертами", "специалистами",
                   "коллегами из филиалов", "опытными работниками"],
    "thing_acc": ["знания", "опыт", "лучшие практики", "извлечённые уроки", "неявные знания", "базу знаний",
                  "документацию", "методики", "ноу-хау", "экспертизу", "корпоративную вики", "бизнес-процессы",
                  "регламенты", "сообщества практиков"],
    "thing_gen": ["знаний", "опыта", "лучших практик", "извлечённых уроков", "неявных знаний", "базы знаний",
                  "документации", "методик", "экспертизы", "корпоративной вики", "бизнес-процессов",
                  "сообществ практиков", "наставничества"],
    "thing_ins": ["знаниями", "опытом", "лучшими практиками", "документацией", "экспертизой", "методиками",
                  "бизнес-процессами", "базой знаний"],
    "benefit": ["сокращение сроков адаптации", "меньше повторных ошибок", "рост производительности",
                "снижение затрат на поддержку", "ускорение вывода продуктов", "более быстрые решения"],
    "period": ["в прошлом году", "в 2008 г.", "за три года", "после реорганизации", "во время слияния",
               "в первом квартале", "с 2014 года", "за полгода", "каждую пятницу", "раз в месяц"],
    "tool": ["корпоративный портал", "вики", "чат в Telegram", "систему 1С:Документооборот", "SharePoint",
             "рассылку", "базу вопросов и ответов", "KM-портал", "внутренний форум"],
    "verb_inf": ["сохранить", "передать", "описать", "собрать", "структурировать", "использовать",
                 "распространить", "оцифровать", "зафиксировать", "обновлять"],
    "adj": ["критически важные", "разрозненные", "ценные", "устаревшие", "скрытые", "стратегические",
            "неформальные", "дорогостоящие", "уникальные"],
}
RU_TEMPLATES = [
    "{org_nom} потеряла значительную часть {thing_gen}, когда {people_nom} ушли {period}.",
    "Зачем {orgs_nom} вкладываться в управление знаниями? Потому что {benefit} окупает затраты за год.",
    "Для начала попросите {people_acc_hint} {verb_inf} {thing_acc} и выложить всё на {tool}.",
    "{people_nom} тратят до пятой части рабочего времени на поиск информации, которая уже есть у {org_gen}.",
    "Мы запустили {tool} {period}, и {people_nom} сами начали делиться {thing_ins}.",
    "Исследования показывают, что {adj} знания редко фиксируются письменно, т.е. остаются в головах {people_gen}.",
    "Сообщество практиков собиралось {period}, чтобы {verb_inf} {thing_acc}; встречи вёл {name}.",
    "По данным проф. {name}, {orgs_nom} теряют до {pct}% экспертизы при уходе {people_gen} на пенсию.",
    "Если нужна {benefit_short}, сначала {verb_imp} {thing_acc}, а затем измерьте результат по двум-трём KPI.",
    "Обмен {thing_ins} между {people_ins} требует времени, доверия и поддержки руководства.",
    "В нашем исследовании {num} организаций управление знаниями было связано с показателем «{benefit}».",
    "Не покупайте новую платформу: {tool} и ежемесячный созвон вполне позволяют {verb_inf} {thing_acc}.",
    "Подробнее см. https://km-{slug}.example.ru/{slug} или пишите на {slug}@example.ru.",
    "Программа обмена опытом {org_gen} выросла с {num} до {num2} участников {period}.",
    "Сообщества практиков — это группы людей, которых объединяет общее дело и желание учиться друг у друга.",
    "Управление знаниями — это не про технологии, а про людей и их готовность делиться опытом.",
    "Каждый разбор после проекта отвечает на три вопроса: что планировали, что произошло и чему мы научились.",
    "{name} и {name2} опросили {num} специалистов о том, как они используют {thing_acc}.",
    "Без {thing_gen} {org_nom} снова и снова повторяет одни и те же ошибки.",
    "Ещё десять лет назад стоимость {org_gen} определялась станками и зданиями, а сегодня — {thing_ins} людей.",
]
RU_EXTRA = {
    "people_acc_hint": ["опытных инженеров", "ветеранов отдела", "наставников", "ключевых экспертов"],
    "benefit_short": ["быстрая адаптация", "экономия времени", "прозрачность решений"],
    "verb_imp": ["опишите", "соберите", "структурируйте", "оцифруйте", "зафиксируйте"],
}
RU.update(RU_EXTRA)

_SYL_LAT = ["ka", "ro", "mi", "len", "tor", "van", "sel", "da", "bri", "gan", "shaw", "ton", "mor", "el", "ric"]
_SYL_CYR = ["ка", "ро", "ми", "лен", "тор", "ван", "сел", "да", "бри", "ган", "шов", "тон", "мор", "ель", "рик"]
_GENRES = ("business", "academic")
_SOURCE_TYPES = ("blog", "article", "forum")


def _name(rng: random.Random, syllables: list[str]) -> str:
    # a Zipf-like long tail: most names are short and repeat, some are rare
    n = 2 + min(int(rng.paretovariate(1.5)), 4)
    return "".join(rng.choice(syllables) for _ in range(n)).capitalize()


class _Slots(dict):
    """Slot values for one sentence; vocabulary slots are drawn when the template asks."""

    def __init__(self, vocab: dict[str, list[str]], rng: random.Random, lang: str):
        super().__init__()
        self.vocab, self.rng, self.lang = vocab, rng, lang

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key in ("name", "name2"):
            return _name(rng, _SYL_LAT if self.lang == "en" else _SYL_CYR)
        if key == "num":
            return str(rng.randint(3, 400))
        if key == "num2":
            return str(rng.randint(400, 5000))
        if key == "pct":
            return str(rng.randint(10, 70))
        if key == "slug":
            value = self[key] = _name(rng, _SYL_LAT).lower()  # the same in URL and e-mail
            return value
        return rng.choice(self.vocab[key])


def _fill(template: str, vocab: dict[str, list[str]], rng: random.Random, lang: str) -> str:
    out = template.format_map(_Slots(vocab, rng, lang))
    return out[0].upper() + out[1:]


def _passage_text(rng: random.Random, lang: str) -> str:
    vocab, templates = (EN, EN_TEMPLATES) if lang == "en" else (RU, RU_TEMPLATES)
    n = rng.randint(3, 9)
    return " ".join(_fill(rng.choice(templates), vocab, rng, lang) for _ in range(n))


def iter_passages(n: int, seed: int = 0, *, ru_share: float = 0.45) -> Iterator[dict]:
    """Yield ``n`` passages (dicts: text, lang, genre, date, source_type), streaming."""
    rng = random.Random(seed)
    start = dt.date(2000, 1, 1).toordinal()
    for _ in range(n):
        lang = "ru" if rng.random() < ru_share else "en"
        yield {
            "text": _passage_text(rng, lang),
            "lang": lang,
            "genre": rng.choice(_GENRES),
            "date": dt.date.fromordinal(start + rng.randint(0, 9000)).isoformat(),
            "source_type": rng.choice(_SOURCE_TYPES),
        }


def generate_passages(n: int, seed: int = 0, *, ru_share: float = 0.45) -> list[dict]:
    """``n`` passages as a list of dicts with keys text, lang, genre, date, source_type.

    >>> p = generate_passages(2, seed=1)
    >>> sorted(p[0])
    ['date', 'genre', 'lang', 'source_type', 'text']
    """
    return list(iter_passages(n, seed, ru_share=ru_share))


def write_corpus_folder(path: str | Path, n_docs: int, seed: int = 0, *, max_paragraphs: int = 6) -> Path:
    """Write ``n_docs`` documents of 1..``max_paragraphs`` paragraphs under ``path``: a quarter
    as Markdown with front matter, a quarter as plain text, the rest as rows of JSON Lines
    and CSV files (200 documents per file). Returns ``path``."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paras = iter_passages(n_docs * max_paragraphs + 1, seed)
    jsonl_rows: list[dict] = []
    csv_rows: list[dict] = []
    n_files = {"jsonl": 0, "csv": 0}

    def flush(kind: str, rows: list[dict]) -> None:
        if not rows:
            return
        n_files[kind] += 1
        target = root / kind / f"part-{n_files[kind]:05d}.{kind}"
        target.parent.mkdir(exist_ok=True)
        if kind == "jsonl":
            target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        else:
            with target.open("w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=["id", "title", "date", "lang", "genre", "source_type", "text"])
                w.writeheader()
                w.writerows(rows)
        rows.clear()

    for i in range(n_docs):
        first = next(paras)
        k = rng.randint(1, max_paragraphs)
        body = [first["text"]] + [p["text"] for p, _ in zip(paras, range(k - 1)) if p["lang"] == first["lang"]]
        meta = {"id": f"gen-{seed}-{i}", "title": body[0].split(".")[0][:60], "date": first["date"],
                "lang": first["lang"], "genre": first["genre"], "source_type": first["source_type"]}
        text = "\n\n".join(body)
        kind = ("md", "txt", "jsonl", "csv")[i % 4]
        if kind == "md":
            sub = root / "md" / f"{i // 1000:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            front = "".join(f"{k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in meta.items())
            (sub / f"doc-{i}.md").write_text(f"---\n{front}---\n\n{text}\n", encoding="utf-8")
        elif kind == "txt":
            sub = root / "txt" / f"{i // 1000:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"doc-{i}.txt").write_text(text + "\n", encoding="utf-8")
        else:
            rows = jsonl_rows if kind == "jsonl" else csv_rows
            rows.append({**meta, "text": text})
            if len(rows) >= 200:
                flush(kind, rows)
    flush("jsonl", jsonl_rows)
    flush("csv", csv_rows)
    return root
