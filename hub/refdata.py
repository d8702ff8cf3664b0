"""The reference catalogue seeded by ``unipay db upgrade``: services and their codes, aliases seen in
partner files, legacy code mappings, benefit codes, payment agents, penalty regimes and key rates.

Seeding is idempotent: rows are keyed by their codes and only missing ones are inserted, so a center's
own edits to names or rates survive a later upgrade.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store import models as m

KEY_RATE_SOURCE = "Банк России, «Ключевая ставка Банка России», cbr.ru/hd_base/KeyRate"


@dataclass(frozen=True)
class ServiceDef:
    code: str
    name: str
    short_name: str
    unit: str
    resource: str
    metered: bool = False
    coefficient: bool = False
    absence: bool = False
    capital_repair: bool = False
    parent: str | None = None


# Codes as in the partner formats and samples (HVS, GVS, OTOP, VOD, …), in ЕПД order.
SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef("SOD", "Содержание жилого помещения", "СОД", "м2", "housing"),
    ServiceDef("HVS_SOI", "ХВС на содержание общего имущества", "ХВС СОИ", "м3", "cold_water", parent="SOD"),
    ServiceDef("GVS_SOI", "ГВС на содержание общего имущества", "ГВС СОИ", "м3", "hot_water", parent="SOD"),
    ServiceDef(
        "VOD_SOI", "Водоотведение на содержание общего имущества", "ВО СОИ", "м3", "sewer", parent="SOD"
    ),
    ServiceDef(
        "EL_SOI", "Электроэнергия на содержание общего имущества", "ЭЛ СОИ", "кВт*ч", "power", parent="SOD"
    ),
    ServiceDef("OTOP", "Отопление", "ОТОП", "Гкал", "heat"),
    ServiceDef("HVS", "Холодное водоснабжение", "ХВС", "м3", "cold_water", True, True, True),
    ServiceDef("GVS", "Горячее водоснабжение", "ГВС", "м3", "hot_water", True, True, True),
    ServiceDef("VOD", "Водоотведение", "ВО", "м3", "sewer", False, False, True),
    ServiceDef("EL", "Электроснабжение", "ЭЛ", "кВт*ч", "power", True, True, True),
    ServiceDef("GAS", "Газоснабжение", "ГАЗ", "м3", "gas", True, False, True),
    ServiceDef("TKO", "Обращение с ТКО", "ТКО", "чел", "waste", False, False, True),
    ServiceDef("KAPR", "Взнос на капитальный ремонт", "КАПРЕМ", "м2", "capital_repair", capital_repair=True),
)

# Other spellings of a service seen in partner files (bank readings carry the ЕПД short name).
ALIASES: dict[str, str] = {
    "ХВС": "HVS",
    "ГВС": "GVS",
    "ВО": "VOD",
    "ВОД": "VOD",
    "ОТОП": "OTOP",
    "ЭЛ": "EL",
    "ЭЭ": "EL",
    "ГАЗ": "GAS",
    "ТКО": "TKO",
    "СОД": "SOD",
    "КАПРЕМ": "KAPR",
}

# Legacy billing (KVPL, the DBF set of formats §5): USL C3 → our code.
LEGACY_CODES: dict[str, dict[str, str]] = {
    "KVPL": {
        "HVS": "HVS",
        "GVS": "GVS",
        "VOD": "VOD",
        "OTP": "OTOP",
        "OTO": "OTOP",
        "ELE": "EL",
        "EL": "EL",
        "GAZ": "GAS",
        "TKO": "TKO",
        "SOD": "SOD",
        "KAP": "KAPR",
    }
}

# Benefit codes of the social-protection exchange (formats §4.1); kind LGOTA/EDK/SUBSIDY.
BENEFIT_CODES: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("010", "LGOTA", "Инвалид Великой Отечественной войны", "50", ""),
    ("020", "LGOTA", "Участник Великой Отечественной войны", "50", ""),
    ("030", "LGOTA", "Ветеран боевых действий", "50", ""),
    ("051", "LGOTA", "Инвалид I, II группы, семьи с детьми-инвалидами", "50", ""),
    ("060", "LGOTA", "Многодетная семья", "30", "HVS,GVS,VOD,EL,GAS,OTOP"),
    ("073", "EDK", "Ветеран труда", "50", ""),
    ("074", "EDK", "Труженик тыла", "50", ""),
    ("080", "EDK", "Реабилитированные лица", "50", ""),
    ("SUB", "SUBSIDY", "Субсидия на оплату жилого помещения и коммунальных услуг", None, ""),
)

PAYMENT_AGENTS: tuple[tuple[str, str, str, str | None, str | None, str], ...] = (
    ("SBER", "bank", "ПАО Сбербанк, Рязанское отделение № 8606", "7707083893", "046126614", "0.01"),
    ("POST", "post", "АО «Почта России», УФПС Рязанской области", "7724490000", None, "0"),
    ("VTB", "bank", "Банк ВТБ (ПАО)", "7702070139", "044525187", "0.012"),
    ("TERM", "terminal", "Платёжные терминалы «Город»", None, None, "0.015"),
)

PENALTY_REGIMES: tuple[tuple[str, str, dt.date, dt.date, str | None, str], ...] = (
    (
        "PAUSE_2020",
        "pause",
        dt.date(2020, 4, 6),
        dt.date(2020, 12, 31),
        None,
        "Пост. Правительства РФ № 424: пени не начисляются",
    ),
    (
        "MORATORIUM_2022",
        "moratorium",
        dt.date(2022, 4, 1),
        dt.date(2022, 9, 30),
        None,
        "Пост. № 497 (мораторий на банкротство): нет пеней по обязательствам до 01.04.2022",
    ),
    (
        "CAP_9_5",
        "rate_cap",
        dt.date(2022, 2, 28),
        dt.date(2026, 12, 31),
        "9.5",
        "Пост. № 474, 1681, 2479, 2382, 329: ставка = min(ключевая, 9,5 %)",
    ),
)


def key_rates() -> list[tuple[dt.date, Decimal]]:
    """The Bank of Russia key-rate history shipped with unipay (percent, from date).

    One source for the store and the engine: ``hub/calc/data/key_rates.csv`` (basis points).
    """
    text = (Path(__file__).parent / "calc" / "data" / "key_rates.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return [(dt.date.fromisoformat(r["date_from"]), Decimal(r["rate_bp"]) / 100) for r in rows]


def seed_reference(session: Session) -> dict[str, int]:
    """Insert the missing reference rows; returns how many rows of each kind were added."""
    added: dict[str, int] = {}

    def count(kind: str) -> None:
        added[kind] = added.get(kind, 0) + 1

    have = set(session.scalars(select(m.Service.code)))
    for order, s in enumerate(SERVICES, start=1):
        if s.code not in have:
            session.add(
                m.Service(
                    code=s.code,
                    name=s.name,
                    short_name=s.short_name,
                    unit=s.unit,
                    resource=s.resource,
                    metered=s.metered,
                    coefficient_applies=s.coefficient,
                    absence_recalc=s.absence,
                    is_capital_repair=s.capital_repair,
                    parent_code=s.parent,
                    sort_order=order * 10,
                )
            )
            count("services")
    session.flush()
    ids = dict(session.execute(select(m.Service.code, m.Service.id)).all())
    have_alias = set(session.scalars(select(m.ServiceAlias.alias)))
    for alias, code in ALIASES.items():
        if alias not in have_alias:
            session.add(m.ServiceAlias(alias=alias, service_id=ids[code]))
            count("service_aliases")
    have_legacy = set(
        session.execute(select(m.LegacyServiceCode.system, m.LegacyServiceCode.legacy_code)).all()
    )
    for system, mapping in LEGACY_CODES.items():
        for legacy, code in mapping.items():
            if (system, legacy) not in have_legacy:
                session.add(m.LegacyServiceCode(system=system, legacy_code=legacy, service_id=ids[code]))
                count("legacy_service_codes")
    have_benefit = set(session.scalars(select(m.BenefitCode.code)))
    for code, kind, name, share, services in BENEFIT_CODES:
        if code not in have_benefit:
            session.add(
                m.BenefitCode(
                    code=code,
                    kind=kind,
                    name=name,
                    share_percent=Decimal(share) if share else None,
                    service_codes=services,
                )
            )
            count("benefit_codes")
    have_agents = set(session.scalars(select(m.PaymentAgent.code)))
    for code, kind, name, inn, bic, rate in PAYMENT_AGENTS:
        if code not in have_agents:
            session.add(
                m.PaymentAgent(
                    code=code, kind=kind, name=name, inn=inn, bic=bic, commission_rate=Decimal(rate)
                )
            )
            count("payment_agents")
    have_regimes = set(session.scalars(select(m.PenaltyRegime.code)))
    for code, kind, d_from, d_to, cap, text in PENALTY_REGIMES:
        if code not in have_regimes:
            session.add(
                m.PenaltyRegime(
                    code=code,
                    kind=kind,
                    date_from=d_from,
                    date_to=d_to,
                    cap_rate=Decimal(cap) if cap else None,
                    enabled=True,
                    description=text,
                )
            )
            count("penalty_regimes")
    have_rates = set(session.scalars(select(m.KeyRate.date_from)))
    for d_from, key_rate in key_rates():
        if d_from not in have_rates:
            session.add(m.KeyRate(date_from=d_from, rate=key_rate, source=KEY_RATE_SOURCE))
            count("key_rates")
    session.flush()
    return added
