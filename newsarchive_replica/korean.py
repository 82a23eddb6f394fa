"""Korean text for the replica's ``Rodong Sinmun (Kr)`` stream.

Why its own words: a Korean stream has Korean titles, bodies and fully percent-encoded slugs,
and the spider must give exact fields for it, not only for English pages with a Korean word.
"""

from __future__ import annotations

import random
from datetime import date

_PLACES = ("평양시", "함흥시", "청진시", "원산시", "신의주시", "개성시", "남포시", "해주시")
_UNITS = (
    "김책제철련합기업소",
    "순천세멘트련합기업소",
    "평양화장품공장",
    "신의주방직공장",
    "대안중기계련합기업소",
)
_FARMS = ("동삼협동농장", "미곡협동농장", "청산협동농장", "장천협동농장")
_TITLES = (
    "{place}에 새 살림집 건설",
    "{unit}에서 생산 늘여",
    "{farm}에서 풍작",
    "{place}에서 나무심기 활발",
    "새형의 양수기 개발",
    "{place}에서 과학기술전시회 개막",
    "인민경제계획 앞당겨 완수",
)
_SENTENCES = (
    "{unit}의 일군들과 로동계급은 올해 계획을 {pct}% 넘쳐 수행하였다.",
    "{place}에서는 {n1}세대의 현대적인 살림집이 새로 일떠섰다.",
    "{farm}의 농업근로자들은 과학농법을 받아들여 높은 수확을 거두었다.",
    "전시회에는 {n2}여점의 제품들이 출품되였다.",
    "참관자들은 전시품들의 높은 질에 대하여 감탄을 금치 못하였다.",
    "{place}의 근로자들은 명절을 기쁨속에 맞이하였다.",
    "일군들은 사업을 계획적으로 밀고나가고 있다고 말하였다.",
    "로동자들은 생산을 늘이기 위한 투쟁을 힘있게 벌리고 있다.",
    "새로 건설된 시설들은 지방의 원료와 자재로 꾸려졌다.",
    "모임에서는 지난 {n3}개월간의 사업이 총화되였다.",
    "토론자들은 이번 행사가 인민생활에서 커다란 의의를 가진다고 강조하였다.",
    "연구사들은 전기를 적게 쓰는 새형의 설비를 개발하였다.",
)


def korean_article(rng: random.Random, day: date) -> tuple[str, list[str]]:
    """A Korean title and its body paragraphs; the first names the day (``12월 27일``)."""
    ctx = {
        "place": rng.choice(_PLACES),
        "unit": rng.choice(_UNITS),
        "farm": rng.choice(_FARMS),
        "n1": rng.randint(12, 980),
        "n2": rng.randint(120, 9800),
        "n3": rng.randint(3, 60),
        "pct": rng.randint(2, 30),
    }
    title = rng.choice(_TITLES).format(**ctx)
    sentences = [s.format(**ctx) for s in rng.sample(_SENTENCES, rng.randint(3, 7))]
    sentences[0] = f"{day.month}월 {day.day}일 보도에 의하면 {sentences[0]}"
    body: list[str] = []
    while sentences:
        take = min(len(sentences), rng.randint(1, 3))
        body.append(" ".join(sentences[:take]))
        sentences = sentences[take:]
    return title, body
