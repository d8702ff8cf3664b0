"""SQLAlchemy 2 models of the canonical store: the whole domain of a settlement center.

Conventions:
- money columns end in ``_kop`` and hold integer kopecks (BIGINT), never float;
- rates, tariffs, norms, volumes and areas are ``NUMERIC`` (Decimal in Python);
- billing periods are integers ``YYYYMM``;
- unique constraints carry the "nothing doubled" rule: a payment is unique per (agent, operation id),
  a registry file per (sender, sha256), a charge line per its natural key, and so on.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hub.store.types import Dec

# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Kop = BigInteger  # integer kopecks

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dt.date: Date,
        dt.datetime: DateTime(timezone=False),
        dt.time: Time,
        Decimal: Dec(18, 6),
        dict[str, Any]: JSON,
    }


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


CHARGE_KINDS = ("regular", "recalculation", "reduction", "penalty", "benefit")
METHODS = ("meter", "norm", "norm_x15", "average", "area", "odpu", "soi", "person", "fixed")
FILE_STATUSES = ("received", "loaded", "loaded_with_errors", "rejected", "duplicate")

# --------------------------------------------------------------------------------------------
# Reference catalogue
# --------------------------------------------------------------------------------------------


class District(Base):
    __tablename__ = "districts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class ManagementCompany(Base):
    """Управляющая организация (УК/ТСЖ)."""

    __tablename__ = "management_companies"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inn: Mapped[str] = mapped_column(String(12), unique=True)
    kpp: Mapped[str | None] = mapped_column(String(9))
    name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))


class Provider(Base):
    """Поставщик услуг (исполнитель): water, heat, power, УК, regional capital-repair operator."""

    __tablename__ = "providers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    inn: Mapped[str] = mapped_column(String(12), unique=True)
    kpp: Mapped[str | None] = mapped_column(String(9))
    name: Mapped[str] = mapped_column(String(200))
    bank_account: Mapped[str] = mapped_column(String(20))
    bank_name: Mapped[str | None] = mapped_column(String(100))
    bic: Mapped[str | None] = mapped_column(String(9))
    corr_account: Mapped[str | None] = mapped_column(String(20))
    fee_rate: Mapped[Decimal] = mapped_column(Dec(7, 5), default=Decimal("0.015"))
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))


class Service(Base):
    """A service line of the ЕПД (ХВС, ГВС, отопление, …), with its code from the formats."""

    __tablename__ = "services"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    short_name: Mapped[str] = mapped_column(String(20))  # as printed on the ЕПД: ХВС, ГВС, …
    unit: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(16))  # cold_water, hot_water, heat, power, gas, sewer, …
    metered: Mapped[bool] = mapped_column(Boolean, default=False)
    coefficient_applies: Mapped[bool] = mapped_column(Boolean, default=False)  # 1.5 when meter missing
    absence_recalc: Mapped[bool] = mapped_column(Boolean, default=False)  # temporary-absence recalculation
    is_capital_repair: Mapped[bool] = mapped_column(Boolean, default=False)  # penalties 1/300 only
    parent_code: Mapped[str | None] = mapped_column(String(10))  # КР на СОИ rows belong to СОД
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class LegacyServiceCode(Base):
    """Mapping of a legacy billing system's service code (DBF ``USL``) to ours."""

    __tablename__ = "legacy_service_codes"
    __table_args__ = (UniqueConstraint("system", "legacy_code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    system: Mapped[str] = mapped_column(String(16))
    legacy_code: Mapped[str] = mapped_column(String(10))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))


class ServiceAlias(Base):
    """Other names of a service seen in partner files (e.g. the ЕПД short name in bank readings)."""

    __tablename__ = "service_aliases"
    alias: Mapped[str] = mapped_column(String(20), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))


class Tariff(Base):
    """Tariff of a service, versioned by date range and zone (0 = single rate; 1..3 = day/night/peak)."""

    __tablename__ = "tariffs"
    __table_args__ = (
        UniqueConstraint("service_id", "provider_id", "zone", "date_from"),
        CheckConstraint("zone BETWEEN 0 AND 3", name="zone"),
        CheckConstraint("date_to IS NULL OR date_to >= date_from", name="range"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    zone: Mapped[int] = mapped_column(SmallInteger, default=0)
    date_from: Mapped[dt.date]
    date_to: Mapped[dt.date | None]
    value: Mapped[Decimal] = mapped_column(Dec(14, 4))  # rubles per unit
    # Two-component hot water: heat component per Gcal and Gcal per m³ (domain §1.1).
    heat_component: Mapped[Decimal | None] = mapped_column(Dec(14, 4))
    heat_per_m3: Mapped[Decimal | None] = mapped_column(Dec(10, 6))


class Norm(Base):
    """Норматив потребления: per person (m³, kWh), per m² (Gcal/m² heating; kWh/m² common property)."""

    __tablename__ = "norms"
    __table_args__ = (UniqueConstraint("service_id", "kind", "date_from"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    kind: Mapped[str] = mapped_column(String(16))  # per_person | per_m2 | soi_per_m2
    date_from: Mapped[dt.date]
    date_to: Mapped[dt.date | None]
    value: Mapped[Decimal] = mapped_column(Dec(14, 6))


class BenefitCode(Base):
    """Льготная категория / вид меры соцподдержки (codes of the social-protection exchange)."""

    __tablename__ = "benefit_codes"
    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # LGOTA | EDK | SUBSIDY
    name: Mapped[str] = mapped_column(String(200))
    share_percent: Mapped[Decimal | None] = mapped_column(Dec(5, 2))
    # Services the benefit covers; empty = all services (domain §1.5).
    service_codes: Mapped[str] = mapped_column(String(200), default="")


class KeyRate(Base):
    """Ключевая ставка Банка России from ``date_from`` (the refinancing rate of ЖК ст.155 ч.14)."""

    __tablename__ = "key_rates"
    date_from: Mapped[dt.date] = mapped_column(primary_key=True)
    rate: Mapped[Decimal] = mapped_column(Dec(6, 4))  # percent, e.g. 21.0000
    source: Mapped[str] = mapped_column(String(200))


class PenaltyRegime(Base):
    """Special penalty regimes (domain §4.1): pauses, the moratorium switch, the 9.5 % cap."""

    __tablename__ = "penalty_regimes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # pause | moratorium | rate_cap
    date_from: Mapped[dt.date]
    date_to: Mapped[dt.date]
    cap_rate: Mapped[Decimal | None] = mapped_column(Dec(6, 4))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(300))


class PaymentAgent(Base):
    """Платёжный агент: a bank, the post, a terminal network."""

    __tablename__ = "payment_agents"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # SBER, POST, …
    kind: Mapped[str] = mapped_column(String(10))  # bank | post | terminal | online
    name: Mapped[str] = mapped_column(String(200))
    inn: Mapped[str | None] = mapped_column(String(12))
    bic: Mapped[str | None] = mapped_column(String(9))
    commission_rate: Mapped[Decimal] = mapped_column(Dec(7, 5), default=Decimal("0"))


# --------------------------------------------------------------------------------------------
# Housing stock, accounts and people
# --------------------------------------------------------------------------------------------


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("settlement", "street_type", "street", "house", "korp"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    mc_id: Mapped[int | None] = mapped_column(ForeignKey("management_companies.id"))
    fias_guid: Mapped[str | None] = mapped_column(String(36))
    settlement: Mapped[str] = mapped_column(String(60))  # "г Рязань"
    street_type: Mapped[str] = mapped_column(String(10))  # ул, пр-кт, пер
    street: Mapped[str] = mapped_column(String(100))
    house: Mapped[str] = mapped_column(String(10))
    korp: Mapped[str] = mapped_column(String(5), default="")
    total_area: Mapped[Decimal] = mapped_column(Dec(12, 2))  # S_об: all premises
    common_area: Mapped[Decimal] = mapped_column(Dec(12, 2))  # S_ои
    floors: Mapped[int] = mapped_column(SmallInteger)
    built_year: Mapped[int | None] = mapped_column(SmallInteger)
    heating_by_odpu: Mapped[bool] = mapped_column(Boolean, default=False)
    odn_negative_allowed: Mapped[bool] = mapped_column(Boolean, default=False)  # domain §1.2 switch
    odn_by_actual: Mapped[bool] = mapped_column(Boolean, default=False)  # general meeting: no cap


class BuildingMeter(Base):
    """ОДПУ: a building's common meter of a resource."""

    __tablename__ = "building_meters"
    __table_args__ = (UniqueConstraint("building_id", "service_id", "serial"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    serial: Mapped[str] = mapped_column(String(30))
    installed_on: Mapped[dt.date | None]


class BuildingMeterReading(Base):
    __tablename__ = "building_meter_readings"
    __table_args__ = (UniqueConstraint("meter_id", "period"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("building_meters.id"))
    period: Mapped[int] = mapped_column(Integer)
    reading_date: Mapped[dt.date]
    value: Mapped[Decimal] = mapped_column(Dec(16, 4))  # cumulative reading
    volume: Mapped[Decimal] = mapped_column(Dec(16, 4))  # consumption of the period


class Premises(Base):
    __tablename__ = "premises"
    __table_args__ = (UniqueConstraint("building_id", "flat"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    flat: Mapped[str] = mapped_column(String(10))
    room: Mapped[str] = mapped_column(String(5), default="")
    total_area: Mapped[Decimal] = mapped_column(Dec(9, 2))
    living_area: Mapped[Decimal | None] = mapped_column(Dec(9, 2))
    rooms: Mapped[int | None] = mapped_column(SmallInteger)
    residential: Mapped[bool] = mapped_column(Boolean, default=True)
    # Техническая возможность установки ИПУ (without it: no 1.5, absence recalculation allowed).
    meter_installable: Mapped[bool] = mapped_column(Boolean, default=True)


class Account(Base):
    """Лицевой счёт."""

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint(_in("status", ("open", "closed")), name="status"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    els: Mapped[str | None] = mapped_column(String(10), unique=True)  # ЕЛС (ГИС ЖКХ)
    card_barcode: Mapped[str | None] = mapped_column(String(30), unique=True)
    premises_id: Mapped[int] = mapped_column(ForeignKey("premises.id"), index=True)
    owner_name: Mapped[str] = mapped_column(String(150))
    status: Mapped[str] = mapped_column(String(8), default="open")
    opened_on: Mapped[dt.date]
    closed_on: Mapped[dt.date | None]


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    last_name: Mapped[str] = mapped_column(String(60))
    first_name: Mapped[str] = mapped_column(String(60))
    middle_name: Mapped[str] = mapped_column(String(60), default="")
    birth_date: Mapped[dt.date | None]
    sex: Mapped[str | None] = mapped_column(String(1))  # М / Ж
    snils: Mapped[str | None] = mapped_column(String(14))
    legacy_id: Mapped[str | None] = mapped_column(String(20))


class Registration(Base):
    """Регистрация: status codes of the legacy systems (1 постоянно, 2 временно отсутствует,
    3 временно зарегистрирован, 4 выбыл, 6 временно проживает)."""

    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint("status IN (1, 2, 3, 4, 6)", name="status"),
        Index("ix_registrations_account", "account_id", "date_from"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[int] = mapped_column(SmallInteger)
    date_from: Mapped[dt.date]
    date_to: Mapped[dt.date | None]
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)


class Meter(Base):
    """ИПУ: an individual meter of an account (zones = 1..3 tariff zones it measures)."""

    __tablename__ = "meters"
    __table_args__ = (
        UniqueConstraint("account_id", "serial", "service_id"),
        CheckConstraint(_in("status", ("working", "failed", "removed")), name="status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    serial: Mapped[str] = mapped_column(String(20))
    zones: Mapped[int] = mapped_column(SmallInteger, default=1)
    installed_on: Mapped[dt.date]
    verification_due: Mapped[dt.date | None]  # следующая поверка
    status: Mapped[str] = mapped_column(String(8), default="working")
    removed_on: Mapped[dt.date | None]


class MeterReading(Base):
    __tablename__ = "meter_readings"
    __table_args__ = (
        UniqueConstraint("meter_id", "zone", "reading_date", "source"),
        CheckConstraint("zone BETWEEN 1 AND 3", name="zone"),
        Index("ix_meter_readings_meter_period", "meter_id", "period"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    zone: Mapped[int] = mapped_column(SmallInteger, default=1)
    period: Mapped[int] = mapped_column(Integer)
    reading_date: Mapped[dt.date]
    value: Mapped[Decimal] = mapped_column(Dec(14, 4))
    source: Mapped[str] = mapped_column(String(12))  # bank, post, portal, legacy, controller, initial
    registry_file_id: Mapped[int | None] = mapped_column(ForeignKey("registry_files.id"))


class AccountService(Base):
    """A service an account receives, from which provider, by which method, since when."""

    __tablename__ = "account_services"
    __table_args__ = (
        UniqueConstraint("account_id", "service_id", "date_from"),
        CheckConstraint(_in("method", METHODS), name="method"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    method: Mapped[str] = mapped_column(String(10))
    date_from: Mapped[dt.date]
    date_to: Mapped[dt.date | None]


class Absence(Base):
    """Временное отсутствие (Rules 354 pp.86–93): departure and return dates, the supporting document."""

    __tablename__ = "absences"
    __table_args__ = (
        UniqueConstraint("person_id", "date_from"),
        CheckConstraint("date_to >= date_from", name="range"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    date_from: Mapped[dt.date]  # day of departure
    date_to: Mapped[dt.date]  # day of return
    document: Mapped[str] = mapped_column(String(200))
    applied_on: Mapped[dt.date]


class QualityIncident(Base):
    """Interruption or poor quality of a service in a building (Rules 354, Приложение 1)."""

    __tablename__ = "quality_incidents"
    __table_args__ = (CheckConstraint(_in("kind", ("interruption", "temperature")), name="kind"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    kind: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime]
    hours: Mapped[Decimal] = mapped_column(Dec(8, 2))
    measured_temp: Mapped[Decimal | None] = mapped_column(Dec(5, 1))  # °C
    norm_temp: Mapped[Decimal | None] = mapped_column(Dec(5, 1))
    night: Mapped[bool] = mapped_column(Boolean, default=False)
    act_number: Mapped[str] = mapped_column(String(40))


class Beneficiary(Base):
    """A person receiving a social-support measure, as the social-protection office sent it."""

    __tablename__ = "beneficiaries"
    __table_args__ = (UniqueConstraint("szn_code", "external_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    szn_code: Mapped[str] = mapped_column(String(10))
    external_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    snils: Mapped[str | None] = mapped_column(String(14))
    last_name: Mapped[str] = mapped_column(String(60))
    first_name: Mapped[str] = mapped_column(String(60))
    middle_name: Mapped[str] = mapped_column(String(60), default="")
    birth_date: Mapped[dt.date | None]
    address: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | stopped
    registry_file_id: Mapped[int | None] = mapped_column(ForeignKey("registry_files.id"))


class Benefit(Base):
    __tablename__ = "benefits"
    __table_args__ = (UniqueConstraint("beneficiary_id", "code", "date_from"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    code: Mapped[str] = mapped_column(ForeignKey("benefit_codes.code"))
    kind: Mapped[str] = mapped_column(String(10))  # LGOTA | EDK | SUBSIDY
    date_from: Mapped[dt.date]
    date_to: Mapped[dt.date | None]
    share_percent: Mapped[Decimal | None] = mapped_column(Dec(5, 2))
    covered_persons: Mapped[int] = mapped_column(SmallInteger, default=1)


# --------------------------------------------------------------------------------------------
# Billing: periods, charges, balances
# --------------------------------------------------------------------------------------------


class BillingPeriod(Base):
    __tablename__ = "billing_periods"
    __table_args__ = (CheckConstraint(_in("status", ("open", "closed")), name="status"),)
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # YYYYMM
    status: Mapped[str] = mapped_column(String(8), default="open")
    readings_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    closed_at: Mapped[dt.datetime | None]


class CalcRun(Base):
    """One run of the engine (bill, settle, penalties): what, when, which engine, what totals."""

    __tablename__ = "calc_runs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[int | None] = mapped_column(Integer)
    run_date: Mapped[dt.date | None]
    engine: Mapped[str] = mapped_column(String(8))
    partition: Mapped[str] = mapped_column(String(40), default="")
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    lines: Mapped[int] = mapped_column(BigInteger, default=0)
    total_kop: Mapped[int] = mapped_column(Kop, default=0)


class ChargeLine(Base):
    """A charge line of an account for a period, with everything needed to explain it."""

    __tablename__ = "charge_lines"
    __table_args__ = (
        UniqueConstraint(
            "period", "account_id", "service_id", "kind", "component", "corrected_period", "reason_code"
        ),
        CheckConstraint(_in("kind", CHARGE_KINDS), name="kind"),
        Index("ix_charge_lines_provider_period", "provider_id", "period"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    kind: Mapped[str] = mapped_column(String(14))
    component: Mapped[str] = mapped_column(String(12), default="")  # zone (z1/z2/z3), soi, heat, …
    corrected_period: Mapped[int] = mapped_column(Integer, default=0)  # 0 = none
    reason_code: Mapped[str] = mapped_column(String(20), default="")
    reason: Mapped[str] = mapped_column(String(300), default="")
    method: Mapped[str] = mapped_column(String(10), default="")
    volume: Mapped[Decimal | None] = mapped_column(Dec(18, 6))
    tariff: Mapped[Decimal | None] = mapped_column(Dec(14, 4))
    norm: Mapped[Decimal | None] = mapped_column(Dec(14, 6))
    coefficient: Mapped[Decimal | None] = mapped_column(Dec(6, 3))
    persons: Mapped[Decimal | None] = mapped_column(Dec(10, 4))  # persons or person-days/days
    area: Mapped[Decimal | None] = mapped_column(Dec(12, 2))
    amount_kop: Mapped[int] = mapped_column(Kop)
    calc_run_id: Mapped[int | None] = mapped_column(ForeignKey("calc_runs.id"))


class OpeningDebt(Base):
    """Debt (or advance) carried in from before the hub, by account × service × month of origin.

    Filled by a legacy migration (SALDO.DBF: LS, USL, MG, SALDO, PENI) or the synthetic city; the
    month of origin lets aging and penalties work from the first billed period.
    """

    __tablename__ = "opening_debts"
    __table_args__ = (UniqueConstraint("account_id", "service_id", "period"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    period: Mapped[int] = mapped_column(Integer)  # month the debt arose in
    principal_kop: Mapped[int] = mapped_column(Kop)
    penalty_kop: Mapped[int] = mapped_column(Kop, default=0)
    source: Mapped[str] = mapped_column(String(20))


class AccountBalance(Base):
    """Сальдо per account × service × period (domain §6)."""

    __tablename__ = "account_balances"
    __table_args__ = (Index("ix_account_balances_provider", "provider_id", "period"),)
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    opening_kop: Mapped[int] = mapped_column(Kop, default=0)
    charged_kop: Mapped[int] = mapped_column(Kop, default=0)
    recalc_kop: Mapped[int] = mapped_column(Kop, default=0)
    benefit_kop: Mapped[int] = mapped_column(Kop, default=0)
    penalty_kop: Mapped[int] = mapped_column(Kop, default=0)
    paid_kop: Mapped[int] = mapped_column(Kop, default=0)
    correction_kop: Mapped[int] = mapped_column(Kop, default=0)
    closing_kop: Mapped[int] = mapped_column(Kop, default=0)


class ProviderBalance(Base):
    """Provider saldo (domain §5.4): payable = opening + collected − commissions − fee − transferred."""

    __tablename__ = "provider_balances"
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    opening_kop: Mapped[int] = mapped_column(Kop, default=0)
    collected_kop: Mapped[int] = mapped_column(Kop, default=0)
    commission_kop: Mapped[int] = mapped_column(Kop, default=0)
    fee_kop: Mapped[int] = mapped_column(Kop, default=0)
    transferred_kop: Mapped[int] = mapped_column(Kop, default=0)
    closing_kop: Mapped[int] = mapped_column(Kop, default=0)


# --------------------------------------------------------------------------------------------
# Exchange: registry files, payments, allocations, transfers
# --------------------------------------------------------------------------------------------


class RegistryFile(Base):
    """Журнал реестров: every file received from or sent to a partner."""

    __tablename__ = "registry_files"
    __table_args__ = (
        UniqueConstraint("sender", "sha256"),
        CheckConstraint(_in("status", FILE_STATUSES), name="status"),
        Index("ix_registry_files_kind_partner_file_id", "kind", "partner_file_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), default="in")  # in | out
    sender: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(
        String(12)
    )  # bank | post | szn | legacy | transfers | debts | szn_reply
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    file_date: Mapped[dt.date | None]
    status: Mapped[str] = mapped_column(String(20))
    lines_total: Mapped[int] = mapped_column(Integer, default=0)
    lines_loaded: Mapped[int] = mapped_column(Integer, default=0)
    lines_rejected: Mapped[int] = mapped_column(Integer, default=0)
    control_sum_kop: Mapped[int] = mapped_column(Kop, default=0)
    amount_loaded_kop: Mapped[int] = mapped_column(Kop, default=0)
    amount_unidentified_kop: Mapped[int] = mapped_column(Kop, default=0)
    order_number: Mapped[str | None] = mapped_column(String(20))  # № платёжного поручения
    order_date: Mapped[dt.date | None]
    error_protocol: Mapped[str | None] = mapped_column(String(220))
    message: Mapped[str | None] = mapped_column(Text)
    # the partner's own id of the file: the SZN list's FileId (migration 0006)
    partner_file_id: Mapped[str | None] = mapped_column(String(64))


class RegistryError(Base):
    """A rejected line (or the whole file, line 0) with the field and a Russian message."""

    __tablename__ = "registry_errors"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("registry_files.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(40), default="")
    code: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(String(500))
    source_line: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8), default="error")  # error | warning


class Payment(Base):
    """A payment operation from an agent's registry. Unidentified ones have no account yet."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("agent_id", "operation_id"),
        CheckConstraint("amount_kop > 0", name="amount_positive"),
        CheckConstraint(_in("kind", ("payment", "penalty")), name="kind"),
        # GIN (btree_gin) on PostgreSQL (migration 0005): accounts come in no order, and its pending
        # list takes a registry's rows in bulk where a B-tree inserts each at a random place.
        Index("ix_payments_account_id", "account_id", postgresql_using="gin"),
        # BRIN on PostgreSQL (migration 0004): payments are appended file by file, day by day, so the
        # heap follows these columns; ranges of blocks serve the look-ups at almost no write cost.
        Index("ix_payments_op_date", "op_date", postgresql_using="brin"),
        Index("ix_payments_registry_file_id", "registry_file_id", postgresql_using="brin"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("payment_agents.id"))
    registry_file_id: Mapped[int | None] = mapped_column(ForeignKey("registry_files.id"))
    line_no: Mapped[int | None] = mapped_column(Integer)
    operation_id: Mapped[str] = mapped_column(String(40))
    op_date: Mapped[dt.date]
    op_time: Mapped[dt.time | None]
    branch: Mapped[str | None] = mapped_column(String(20))  # отделение/ОПС
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    account_number: Mapped[str] = mapped_column(String(20))  # as given by the agent
    payer_name: Mapped[str | None] = mapped_column(String(150))
    payer_address: Mapped[str | None] = mapped_column(String(200))
    period: Mapped[int | None] = mapped_column(Integer)  # period indicated by the payer
    kind: Mapped[str] = mapped_column(String(8), default="payment")
    amount_kop: Mapped[int] = mapped_column(Kop)
    transfer_kop: Mapped[int] = mapped_column(Kop)  # transferred to the center
    commission_kop: Mapped[int] = mapped_column(Kop, default=0)  # withheld by the agent
    unidentified: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default="new")  # new | split | unidentified
    # Per-service amounts designated by the payer (пустографка), as {service_code: kopecks}.
    designated: Mapped[dict[str, Any] | None]


class PaymentAllocation(Base):
    """The part of a payment that went to one service of one provider for one period."""

    __tablename__ = "payment_allocations"
    __table_args__ = (
        UniqueConstraint("payment_id", "service_id", "period", "kind"),
        CheckConstraint(_in("kind", ("principal", "penalty", "advance")), name="kind"),
        Index("ix_payment_allocations_provider", "provider_id", "transfer_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    period: Mapped[int] = mapped_column(Integer)  # debt month it paid
    kind: Mapped[str] = mapped_column(String(10))
    amount_kop: Mapped[int] = mapped_column(Kop)
    commission_kop: Mapped[int] = mapped_column(Kop, default=0)
    fee_kop: Mapped[int] = mapped_column(Kop, default=0)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("provider_transfers.id"))


class ProviderTransfer(Base):
    """A transfer (платёжное поручение) to a provider with its registry file."""

    __tablename__ = "provider_transfers"
    __table_args__ = (UniqueConstraint("provider_id", "transfer_date", "number"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    transfer_date: Mapped[dt.date]
    number: Mapped[int] = mapped_column(Integer)  # № п/п
    date_from: Mapped[dt.date]
    date_to: Mapped[dt.date]
    lines: Mapped[int] = mapped_column(Integer, default=0)
    amount_kop: Mapped[int] = mapped_column(Kop)  # Σ allocations
    commission_kop: Mapped[int] = mapped_column(Kop)
    fee_kop: Mapped[int] = mapped_column(Kop)
    net_kop: Mapped[int] = mapped_column(Kop)  # к перечислению
    file_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="prepared")  # prepared | sent


# --------------------------------------------------------------------------------------------
# Operations: audit and run logs
# --------------------------------------------------------------------------------------------


class AuditLog(Base):
    """Every manual change: who, when, what row, before and after, why."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    user: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(20))  # insert | update | delete | resolve | writeoff
    table_name: Mapped[str] = mapped_column(String(40))
    row_id: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str] = mapped_column(String(300))


class RunLog(Base):
    """What the DAGs (and CLI runs) did, so the dashboards can show last runs and failures."""

    __tablename__ = "run_log"
    __table_args__ = (Index("ix_run_log_started", "started_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(12))  # running | success | failed
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any] | None]


class ExportLog(Base):
    """Outbound files: transfer registries, debts files, social-protection replies, ЕПД batches."""

    __tablename__ = "export_log"
    __table_args__ = (UniqueConstraint("kind", "file_name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(40))
    file_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    lines: Mapped[int] = mapped_column(Integer)
    total_kop: Mapped[int] = mapped_column(Kop)
    sha256: Mapped[str] = mapped_column(String(64))


# --------------------------------------------------------------------------------------------
# Reporting mart: per-period aggregates for the dashboards (hub/reports/mart.py writes them)
# --------------------------------------------------------------------------------------------


class MartState(Base):
    """What the reporting mart holds: one row per refreshed part with the source fingerprint it saw.

    ``part`` is ``charges``, ``money`` or ``debt:YYYYMM``; a report uses the part only while
    ``version`` still equals the fingerprint of the source tables (else it computes from them).
    """

    __tablename__ = "mart_state"
    part: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[str] = mapped_column(String(200))
    refreshed_at: Mapped[dt.datetime]
    seconds: Mapped[Decimal | None] = mapped_column(Dec(10, 3))


class MartCharges(Base):
    """Charged (every kind but penalty) and penalties per charge period × building × service × provider."""

    __tablename__ = "mart_charges"
    __table_args__ = (Index("ix_mart_charges_period_district", "period", "district_id"),)
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    building_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_id: Mapped[int] = mapped_column(Integer)
    mc_id: Mapped[int | None] = mapped_column(Integer)
    charged_kop: Mapped[int] = mapped_column(Kop, default=0)
    penalty_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartPaid(Base):
    """Paid (allocations of kind principal and advance) per month paid (``payment_allocations.period``)
    × building × service × provider."""

    __tablename__ = "mart_paid"
    __table_args__ = (Index("ix_mart_paid_period_district", "period", "district_id"),)
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    building_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_id: Mapped[int] = mapped_column(Integer)
    mc_id: Mapped[int | None] = mapped_column(Integer)
    paid_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartPaidAgent(Base):
    """Paid per month paid × district × payment agent × provider × service, with the payments counted
    once per row; ``service_id`` 0 = all services, ``provider_id`` 0 too = all providers."""

    __tablename__ = "mart_paid_agents"
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartTotals(Base):
    """``mart_charges`` and ``mart_paid`` summed per period × district × management company × service ×
    provider (a few thousand rows: what every breakdown but the one by building reads)."""

    __tablename__ = "mart_totals"
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    mc_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 0 = none
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    charged_kop: Mapped[int] = mapped_column(Kop, default=0)
    penalty_kop: Mapped[int] = mapped_column(Kop, default=0)
    paid_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartLines(Base):
    """Recalculations, quality reductions and penalties per period × kind × reason × district × service ×
    provider: lines, accounts (distinct within the row), amount, an example reason. Penalty rows with
    ``service_id`` 0 count the accounts over all services of the provider."""

    __tablename__ = "mart_lines"
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(14), primary_key=True)
    reason_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    district_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 0 = all
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    lines: Mapped[int] = mapped_column(BigInteger, default=0)
    accounts: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_kop: Mapped[int] = mapped_column(Kop, default=0)
    example: Mapped[str] = mapped_column(String(300), default="")


class MartOpening(Base):
    """Opening debts (principal and penalty) per district × service × provider."""

    __tablename__ = "mart_opening"
    district_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    principal_kop: Mapped[int] = mapped_column(Kop, default=0)
    penalty_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartDebt(Base):
    """Debt (Σ positive account × service saldos) and advances as of a period, per district × service ×
    provider."""

    __tablename__ = "mart_debt"
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    debt_kop: Mapped[int] = mapped_column(Kop, default=0)
    advance_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartAging(Base):
    """Debt left unpaid (FIFO, domain §6) as of a period by month of origin, per district × service ×
    provider."""

    __tablename__ = "mart_aging"
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    origin: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # YYYYMM
    remaining_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartDebtor(Base):
    """Every account owing as of a period: its debt in all (``provider_id`` 0) and per provider, with a
    bit mask of the services it owes for (bit ``service_id``) — debtors and top debtors without the
    balances."""

    __tablename__ = "mart_debtors"
    __table_args__ = (Index("ix_mart_debtors_top", "period", "provider_id", "debt_kop"),)
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 0 = all
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_id: Mapped[int] = mapped_column(Integer)
    debt_kop: Mapped[int] = mapped_column(Kop)
    service_mask: Mapped[int] = mapped_column(BigInteger)


class MartMoney(Base):
    """Allocations per payment day × provider × service: amounts, commission, fee, transferred (net)."""

    __tablename__ = "mart_money"
    op_date: Mapped[dt.date] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    allocations: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_kop: Mapped[int] = mapped_column(Kop, default=0)
    commission_kop: Mapped[int] = mapped_column(Kop, default=0)
    fee_kop: Mapped[int] = mapped_column(Kop, default=0)
    transferred_kop: Mapped[int] = mapped_column(Kop, default=0)
    to_transfer_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartMoneyAgent(Base):
    """Payments per payment day × agent: whole payments (``provider_id`` 0) and each provider's part."""

    __tablename__ = "mart_money_agents"
    op_date: Mapped[dt.date] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 0 = all
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_kop: Mapped[int] = mapped_column(Kop, default=0)
    commission_kop: Mapped[int] = mapped_column(Kop, default=0)
    unidentified: Mapped[int] = mapped_column(BigInteger, default=0)
    unidentified_kop: Mapped[int] = mapped_column(Kop, default=0)


class MartTurnover(Base):
    """Allocations per payment day × provider × days to the transfer (−1: not transferred yet)."""

    __tablename__ = "mart_turnover"
    op_date: Mapped[dt.date] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    lag_days: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    allocations: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_kop: Mapped[int] = mapped_column(Kop, default=0)
