"""The synthetic city: a deterministic, realistic housing stock with people, meters, readings, debts,
beneficiaries, absences and quality incidents, written straight into the store.

Determinism: every random draw comes from a NumPy generator seeded with ``(seed, stream, chunk)``, and
accounts are produced in fixed-size chunks, so the same seed and arguments give the same store row for
row (ids included) on SQLite and PostgreSQL alike.

Streaming: accounts are generated and written ``CHUNK`` at a time (vectorized with NumPy, bulk-written
with COPY on PostgreSQL and executemany on SQLite), so a million accounts fit in a few hundred MB.
"""

from __future__ import annotations

import datetime as dt
import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select, text

from hub.city import names
from hub.store import models as m
from hub.store.db import bulk_insert

CHUNK = 10_000  # accounts per chunk: fixed, so ids do not depend on N
DEFAULT_PERIOD = 202611  # the open billing period of the city (fixed: same seed → same store)
HISTORY_MONTHS = 13  # readings at the end of P-12 … P: twelve months of consumption up to the open period
SZN_CODE = "0612"

ProgressFn = Callable[[int], None]


class CityError(RuntimeError):
    """The city cannot be generated into this store (e.g. it already holds accounts)."""


@dataclass
class CityReport:
    accounts: int
    seed: int
    period: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


# ----------------------------------------------------------------------------------------------
# Reference part of the city: providers, management companies, tariffs, norms
# ----------------------------------------------------------------------------------------------

# code, ИНН, КПП, name, р/с, services
PROVIDERS = (
    ("VODOKANAL", "6227000292", "622701001", "МУП «Водоканал города Рязани»", "40702810400000012345"),
    (
        "TEPLO",
        "6229054695",
        "622901001",
        "ПАО «Квадра» — «Рязанская теплосетевая компания»",
        "40702810600000023456",
    ),
    ("ENERGO", "6229049014", "622901001", "ООО «Рязанская энергосбытовая компания»", "40702810800000034567"),
    ("GAZ", "6229018456", "622901001", "ООО «Газпром межрегионгаз Рязань»", "40702810100000045678"),
    ("FKR", "6234993012", "623401001", "Фонд капитального ремонта Рязанской области", "40604810200000056789"),
    (
        "TKO",
        "6230087440",
        "623001001",
        "ООО «Эко-Пром» — региональный оператор по обращению с ТКО",
        "40702810300000067890",
    ),
)
MCS = (
    ("UK_DOM", "6234100011", "ООО «УК Домоуправление»"),
    ("UK_KOMFORT", "6234100022", "ООО «УК Комфорт»"),
    ("UK_ZHILSERVIS", "6234100033", "ООО «Жилсервис»"),
    ("UK_GOROD", "6234100044", "ООО «УК Город»"),
    ("TSZH_RASSVET", "6234100055", "ТСЖ «Рассвет»"),
    ("UK_SEVER", "6234100066", "ООО «УК Северная»"),
)
SERVICE_PROVIDER = {
    "HVS": "VODOKANAL",
    "VOD": "VODOKANAL",
    "HVS_SOI": "VODOKANAL",
    "VOD_SOI": "VODOKANAL",
    "OTOP": "TEPLO",
    "GVS": "TEPLO",
    "GVS_SOI": "TEPLO",
    "EL": "ENERGO",
    "EL_SOI": "ENERGO",
    "GAS": "GAZ",
    "KAPR": "FKR",
    "TKO": "TKO",
}
# Tariff versions: (date_from, date_to); values by service (single zone) — real-looking for Ryazan.
TARIFF_VERSIONS = (
    (dt.date(2025, 1, 1), dt.date(2025, 6, 30)),
    (dt.date(2025, 7, 1), dt.date(2026, 9, 30)),
    (dt.date(2026, 10, 1), None),
)
TARIFFS = {  # service: values per version (rubles per unit)
    "HVS": ("47.30", "52.93", "58.22"),
    "VOD": ("36.80", "41.20", "45.32"),
    "GVS": ("219.40", "245.60", "270.16"),
    "OTOP": ("2547.10", "2850.40", "3135.44"),
    "EL": ("5.74", "6.43", "7.07"),
    "GAS": ("7.23", "8.10", "8.91"),
    "KAPR": ("13.84", "15.50", "17.05"),
    "TKO": ("121.87", "136.45", "150.10"),
    "HVS_SOI": ("47.30", "52.93", "58.22"),
    "GVS_SOI": ("219.40", "245.60", "270.16"),
    "VOD_SOI": ("36.80", "41.20", "45.32"),
    "EL_SOI": ("5.74", "6.43", "7.07"),
}
EL_ZONES = {1: ("6.59", "7.38", "8.12"), 2: ("2.78", "3.12", "3.43")}  # day / night
SOD_RATES = ("25.40", "28.75", "31.20", "33.90", "22.15", "27.60")  # ₽/m², per management company
NORMS = (  # service, kind, value
    ("HVS", "per_person", "4.85"),
    ("GVS", "per_person", "3.60"),
    ("VOD", "per_person", "8.45"),
    ("EL", "per_person", "90"),
    ("GAS", "per_person", "10.5"),
    ("OTOP", "per_m2", "0.0165"),
    ("HVS_SOI", "soi_per_m2", "0.0300"),
    ("GVS_SOI", "soi_per_m2", "0.0300"),
    ("VOD_SOI", "soi_per_m2", "0.0600"),
    ("EL_SOI", "soi_per_m2", "0.95"),
)
# Mean monthly consumption per person of a metered account, in thousandths of a unit.
CONSUMPTION = {"HVS": 3_100, "GVS": 2_200, "EL": 75_000}


def _period_add(period: int, months: int) -> int:
    y, mo = divmod(period // 100 * 12 + period % 100 - 1 + months, 12)
    return y * 100 + mo + 1


def _period_start(period: int) -> dt.date:
    return dt.date(period // 100, period % 100, 1)


def _fixed(values: np.ndarray, scale: int) -> list[str]:
    """Integers in units of 10**-scale → decimal strings ("12345", 3 → "12.345"); exact, no float."""
    q = 10**scale
    ints = np.abs(values) // q
    fracs = np.abs(values) % q
    signs = np.where(values < 0, "-", "")
    return [
        f"{s}{i}.{f:0{scale}d}" for s, i, f in zip(signs.tolist(), ints.tolist(), fracs.tolist(), strict=True)
    ]


def _dates(days: np.ndarray) -> list[str]:
    """Days since 1970-01-01 → ISO dates."""
    return np.asarray(days, dtype="datetime64[D]").astype(str).tolist()


def _day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _snils(numbers: np.ndarray) -> list[str]:
    """Valid СНИЛС ("XXX-XXX-XXX YY") for 9-digit numbers above 001-001-998."""
    digits = np.stack([(numbers // 10**k) % 10 for k in range(8, -1, -1)], axis=1)
    total = (digits * np.arange(9, 0, -1)).sum(axis=1)
    check = np.where(total < 100, total, np.where(total <= 101, 0, total % 101))
    check = np.where(check >= 100, 0, check)
    n = numbers.tolist()
    return [
        f"{x // 1000000:03d}-{x // 1000 % 1000:03d}-{x % 1000:03d} {c:02d}"
        for x, c in zip(n, check.tolist(), strict=True)
    ]


# ----------------------------------------------------------------------------------------------


class CityWriter:
    """Generates the city chunk by chunk and writes it inside one transaction."""

    def __init__(self, conn: Any, accounts: int, seed: int, period: int) -> None:
        self.conn = conn
        self.n = accounts
        self.seed = seed
        self.period = period
        self.rows: dict[str, int] = {}
        self.next_id = {
            "persons": 1,
            "registrations": 1,
            "meters": 1,
            "meter_readings": 1,
            "account_services": 1,
            "opening_debts": 1,
            "beneficiaries": 1,
            "benefits": 1,
            "absences": 1,
        }
        # Thirteen monthly readings, the last one in the open period itself: twelve months of consumption.
        self.history = [_period_add(period, -HISTORY_MONTHS + 1 + k) for k in range(HISTORY_MONTHS)]

    # -- helpers ---------------------------------------------------------------------------
    def rng(self, stream: int, chunk: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream, chunk])

    def write(self, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        n = bulk_insert(self.conn, table, columns, rows)
        self.rows[table.name] = self.rows.get(table.name, 0) + n

    def ids(self, table: str, count: int) -> np.ndarray:
        start = self.next_id[table]
        self.next_id[table] = start + count
        return np.arange(start, start + count, dtype=np.int64)

    # -- reference part --------------------------------------------------------------------
    def reference(self) -> None:
        conn = self.conn
        svc = dict(conn.execute(select(m.Service.code, m.Service.id)).all())
        if not svc:
            raise CityError("справочник услуг пуст: сначала выполните `unipay db upgrade`")
        self.svc = svc
        self.write(
            m.District.__table__,
            ("id", "code", "name"),
            [(i + 1, code, name) for i, (code, name) in enumerate(names.DISTRICTS)],
        )
        prov_rows = []
        for i, (code, inn, kpp, name, acc) in enumerate(PROVIDERS):
            prov_rows.append(
                (
                    i + 1,
                    code,
                    inn,
                    kpp,
                    name,
                    acc,
                    "ПАО СБЕРБАНК",
                    "046126614",
                    "30101810500000000614",
                    "0.015",
                )
            )
        for j, (code, inn, name) in enumerate(MCS):
            prov_rows.append(
                (
                    len(PROVIDERS) + j + 1,
                    code,
                    inn,
                    inn[:4] + "01001",
                    name,
                    f"407028109000{7000 + j:04d}0000",
                    "ПАО СБЕРБАНК",
                    "046126614",
                    "30101810500000000614",
                    "0.01",
                )
            )
        self.write(
            m.Provider.__table__,
            (
                "id",
                "code",
                "inn",
                "kpp",
                "name",
                "bank_account",
                "bank_name",
                "bic",
                "corr_account",
                "fee_rate",
            ),
            prov_rows,
        )
        self.prov = {r[1]: r[0] for r in prov_rows}
        self.write(
            m.ManagementCompany.__table__,
            ("id", "inn", "kpp", "name", "provider_id"),
            [
                (j + 1, inn, inn[:4] + "01001", name, self.prov[code])
                for j, (code, inn, name) in enumerate(MCS)
            ],
        )
        tariffs = []
        tid = 1
        for code, values in TARIFFS.items():
            for (d_from, d_to), value in zip(TARIFF_VERSIONS, values, strict=True):
                tariffs.append((tid, svc[code], self.prov[SERVICE_PROVIDER[code]], 0, d_from, d_to, value))
                tid += 1
        for zone, values in EL_ZONES.items():
            for (d_from, d_to), value in zip(TARIFF_VERSIONS, values, strict=True):
                tariffs.append((tid, svc["EL"], self.prov["ENERGO"], zone, d_from, d_to, value))
                tid += 1
        for j, (code, _inn, _name) in enumerate(MCS):
            base = Decimal(SOD_RATES[j])
            for (d_from, d_to), factor in zip(TARIFF_VERSIONS, ("0.90", "1", "1.085"), strict=True):
                rate = (base * Decimal(factor)).quantize(Decimal("0.01"))
                tariffs.append((tid, svc["SOD"], self.prov[code], 0, d_from, d_to, str(rate)))
                tid += 1
        self.write(
            m.Tariff.__table__,
            ("id", "service_id", "provider_id", "zone", "date_from", "date_to", "value"),
            [
                (t[0], t[1], t[2], t[3], t[4].isoformat(), t[5].isoformat() if t[5] else None, t[6])
                for t in tariffs
            ],
        )
        self.write(
            m.Norm.__table__,
            ("id", "service_id", "kind", "date_from", "date_to", "value"),
            [(i + 1, svc[s], kind, "2017-01-01", None, v) for i, (s, kind, v) in enumerate(NORMS)],
        )
        self.write(
            m.BillingPeriod.__table__,
            ("period", "status", "readings_closed", "opened_at"),
            [
                (
                    self.period,
                    "open",
                    False,
                    dt.datetime(self.period // 100, self.period % 100, 1).isoformat(" "),
                )
            ],
        )
        # Monthly charge estimates (kopecks) used for debts: from the current tariffs.
        self.tariff_kop = {code: int(Decimal(v[1]) * 100) for code, v in TARIFFS.items()}
        self.sod_kop = [int(Decimal(r) * 100) for r in SOD_RATES]

    # -- buildings -------------------------------------------------------------------------
    def buildings(self) -> None:
        rng = self.rng(1)
        sizes: list[int] = []
        total = 0
        while total < self.n:
            kind = rng.random()
            size = (
                int(rng.integers(8, 40))
                if kind < 0.35
                else int(rng.integers(40, 120))
                if kind < 0.9
                else int(rng.integers(120, 260))
            )
            size = min(size, self.n - total)
            sizes.append(size)
            total += size
        nb = len(sizes)
        self.b_sizes = np.array(sizes, dtype=np.int64)
        self.b_first = np.concatenate([[0], np.cumsum(self.b_sizes)[:-1]])
        self.b_district = rng.integers(0, len(names.DISTRICTS), nb)
        self.b_mc = rng.integers(0, len(MCS), nb)
        self.b_odpu = rng.random(nb) < 0.75
        self.b_heat_odpu = self.b_odpu & (rng.random(nb) < 0.6)
        self.b_gas = rng.random(nb) < 0.3
        self.b_floors = np.where(self.b_sizes > 100, 16, np.where(self.b_sizes > 40, 9, 5))
        # Areas are known once the premises are drawn; draw them here per building, in hundredths of m².
        rng_a = self.rng(2)
        self.rooms = rng_a.choice([1, 2, 3, 4], size=self.n, p=[0.3, 0.4, 0.25, 0.05])
        self.area = (1800 + self.rooms * 1400 + rng_a.integers(-400, 900, self.n)).astype(np.int64)  # 0.01 m²
        b_of_acc = np.repeat(np.arange(nb), self.b_sizes)
        self.b_of_acc = b_of_acc
        b_total = np.bincount(b_of_acc, weights=self.area, minlength=nb).astype(np.int64)
        self.b_total = b_total
        self.b_common = b_total * rng.integers(9, 16, nb) // 100
        streets = names.STREETS
        st_idx = np.arange(nb) % len(streets)
        house_no = np.arange(nb) // len(streets) + 1
        korp = [""] * nb
        rows = []
        for b in range(nb):
            st_type, street = streets[int(st_idx[b])]
            house = str(int(house_no[b]) * 2 - 1 if b % 3 else int(house_no[b]) * 2)
            if b % 17 == 5:
                house += "А"
            rows.append(
                (
                    b + 1,
                    int(self.b_district[b]) + 1,
                    int(self.b_mc[b]) + 1,
                    "г Рязань",
                    st_type,
                    street,
                    house,
                    korp[b],
                    _fixed(np.array([b_total[b]]), 2)[0],
                    _fixed(np.array([self.b_common[b]]), 2)[0],
                    int(self.b_floors[b]),
                    int(1958 + (b * 7919) % 66),
                    bool(self.b_heat_odpu[b]),
                    False,
                    False,
                )
            )
        self.b_label = [(r[4], r[5], r[6]) for r in rows]
        self.write(
            m.Building.__table__,
            (
                "id",
                "district_id",
                "mc_id",
                "settlement",
                "street_type",
                "street",
                "house",
                "korp",
                "total_area",
                "common_area",
                "floors",
                "built_year",
                "heating_by_odpu",
                "odn_negative_allowed",
                "odn_by_actual",
            ),
            rows,
        )
        # Σ individual volumes per building × month (thousandths), for ОДПУ readings.
        self.b_volume = {code: np.zeros((nb, HISTORY_MONTHS), dtype=np.int64) for code in ("HVS", "EL")}

    # -- accounts in chunks ----------------------------------------------------------------
    def chunk(self, c: int) -> int:
        lo = c * CHUNK
        hi = min(self.n, lo + CHUNK)
        k = hi - lo
        rng = self.rng(10, c)
        idx = np.arange(lo, hi, dtype=np.int64)
        acc_id = idx + 1
        bld = self.b_of_acc[lo:hi]
        flat = idx - self.b_first[bld] + 1
        area = self.area[lo:hi]
        period_start = _day(_period_start(self.period))
        # premises
        installable = rng.random(k) < 0.96
        self.write(
            m.Premises.__table__,
            (
                "id",
                "building_id",
                "flat",
                "room",
                "total_area",
                "living_area",
                "rooms",
                "residential",
                "meter_installable",
            ),
            zip(
                acc_id.tolist(),
                (bld + 1).tolist(),
                flat.astype(str).tolist(),
                [""] * k,
                _fixed(area, 2),
                _fixed(area * 62 // 100, 2),
                self.rooms[lo:hi].tolist(),
                [True] * k,
                installable.tolist(),
                strict=True,
            ),
        )
        # people
        n_persons = rng.choice([0, 1, 2, 3, 4, 5], size=k, p=[0.03, 0.24, 0.35, 0.24, 0.1, 0.04])
        total_p = int(n_persons.sum())
        pid = self.ids("persons", total_p)
        p_acc = np.repeat(acc_id, n_persons)
        p_rank = np.arange(total_p) - np.repeat(np.cumsum(n_persons) - n_persons, n_persons)
        family = np.repeat(rng.integers(0, len(names.SURNAMES_M), k), n_persons)
        sex_f = rng.random(total_p) < 0.53
        first_m = rng.integers(0, len(names.MALE_FIRST), total_p)
        first_f = rng.integers(0, len(names.FEMALE_FIRST), total_p)
        patr = rng.integers(0, len(names.PATRONYMIC_M), total_p)
        age_days = np.where(
            p_rank == 0, rng.integers(22 * 365, 88 * 365, total_p), rng.integers(30, 85 * 365, total_p)
        )
        birth = period_start - age_days
        snils_no = 2_000_000 + pid * 37 % 990_000_000
        last = [
            names.SURNAMES_F[f] if s else names.SURNAMES_M[f]
            for f, s in zip(family.tolist(), sex_f.tolist(), strict=True)
        ]
        first = [
            names.FEMALE_FIRST[a] if s else names.MALE_FIRST[b]
            for a, b, s in zip(first_f.tolist(), first_m.tolist(), sex_f.tolist(), strict=True)
        ]
        middle = [
            names.PATRONYMIC_F[p] if s else names.PATRONYMIC_M[p]
            for p, s in zip(patr.tolist(), sex_f.tolist(), strict=True)
        ]
        has_snils = rng.random(total_p) < 0.85
        snils = [s if h else None for s, h in zip(_snils(snils_no), has_snils.tolist(), strict=True)]
        self.write(
            m.Person.__table__,
            ("id", "last_name", "first_name", "middle_name", "birth_date", "sex", "snils"),
            zip(
                pid.tolist(),
                last,
                first,
                middle,
                _dates(birth),
                np.where(sex_f, "Ж", "М").tolist(),
                snils,
                strict=True,
            ),
        )
        # accounts (owner = first resident, or a non-resident owner)
        opened = period_start - rng.integers(200, 30 * 365, k)
        first_person = np.cumsum(n_persons) - n_persons
        owner = []
        for j in range(k):
            if n_persons[j]:
                q = int(first_person[j])
                owner.append(f"{last[q]} {first[q]} {middle[q]}")
            else:
                owner.append(
                    f"{names.SURNAMES_M[int(idx[j]) % len(names.SURNAMES_M)]} "
                    f"{names.MALE_FIRST[int(idx[j]) % len(names.MALE_FIRST)]} "
                    f"{names.PATRONYMIC_M[int(idx[j]) % len(names.PATRONYMIC_M)]}"
                )
        closed = rng.random(k) < 0.01
        closed_on = np.where(closed, period_start - rng.integers(1, 150, k), 0)
        numbers = [f"31{i:08d}" for i in acc_id.tolist()]
        els = [
            f"62{'АБВГДЕЖИКЛ'[i // 1_000_000 % 10]}{'АБВГДЕЖИКЛ'[i // 10_000_000 % 10]}{i % 1_000_000:06d}"
            for i in acc_id.tolist()
        ]
        barcode = [f"46{i:010d}" for i in acc_id.tolist()]
        self.write(
            m.Account.__table__,
            (
                "id",
                "number",
                "els",
                "card_barcode",
                "premises_id",
                "owner_name",
                "status",
                "opened_on",
                "closed_on",
            ),
            zip(
                acc_id.tolist(),
                numbers,
                els,
                barcode,
                acc_id.tolist(),
                owner,
                np.where(closed, "closed", "open").tolist(),
                _dates(opened),
                [d if c else None for d, c in zip(_dates(closed_on), closed.tolist(), strict=True)],
                strict=True,
            ),
        )
        # registrations
        status = rng.choice([1, 3, 4], size=total_p, p=[0.9, 0.07, 0.03])
        status = np.where(p_rank == 0, 1, status)
        reg_from = np.maximum(np.repeat(opened, n_persons), birth)
        reg_to = np.where(
            status == 3,
            period_start + rng.integers(30, 365, total_p),
            np.where(status == 4, period_start - rng.integers(40, 900, total_p), 0),
        )
        reg_to = np.where((status == 4) & (reg_to <= reg_from), reg_from + 1, reg_to)
        rid = self.ids("registrations", total_p)
        self.write(
            m.Registration.__table__,
            ("id", "person_id", "account_id", "status", "date_from", "date_to", "is_owner"),
            zip(
                rid.tolist(),
                pid.tolist(),
                p_acc.tolist(),
                status.tolist(),
                _dates(reg_from),
                [d if t else None for d, t in zip(_dates(reg_to), reg_to.tolist(), strict=True)],
                (p_rank == 0).tolist(),
                strict=True,
            ),
        )
        living = np.bincount(np.repeat(np.arange(k), n_persons), weights=(status != 4), minlength=k).astype(
            np.int64
        )
        living_eff = np.maximum(living, 1)
        # meters and readings
        has_meters = rng.random(k) < 0.76
        with_gvs = has_meters & (rng.random(k) < 0.95)
        two_zone = has_meters & (rng.random(k) < 0.3)
        meter_specs = (
            ("HVS", has_meters, np.ones(k, np.int64)),
            ("GVS", with_gvs, np.ones(k, np.int64)),
            ("EL", has_meters, np.where(two_zone, 2, 1)),
        )
        stop_after = np.where(
            rng.random(k) < 0.08, rng.integers(1, 6, k), 0
        )  # months without readings at the end
        m_rows: list[tuple[Any, ...]] = []
        r_cols: dict[str, list[Any]] = {
            c: [] for c in ("id", "meter_id", "zone", "period", "reading_date", "value", "source")
        }
        sources = np.array(["portal", "bank", "post", "controller"])
        for code, mask, zones in meter_specs:
            sel = np.nonzero(mask)[0]
            cnt = len(sel)
            if not cnt:
                continue
            mid = self.ids("meters", cnt)
            installed = np.maximum(opened[sel], period_start - rng.integers(400, 3000, cnt))
            verif = installed + 6 * 365
            verif = np.where(rng.random(cnt) < 0.03, period_start - rng.integers(10, 200, cnt), verif)
            mstatus = np.where(rng.random(cnt) < 0.015, "failed", "working")
            serial = [f"{code[0]}{s:07d}" for s in (mid * 7 + 1_234_567).tolist()]
            m_rows.extend(
                zip(
                    mid.tolist(),
                    acc_id[sel].tolist(),
                    [self.svc[code]] * cnt,
                    serial,
                    zones[sel].tolist(),
                    _dates(installed),
                    _dates(verif),
                    mstatus.tolist(),
                    strict=True,
                )
            )
            # readings: cumulative, thousandths of a unit
            per_person = CONSUMPTION[code]
            monthly = (per_person * living_eff[sel])[:, None] * rng.lognormal(
                0, 0.25, (cnt, HISTORY_MONTHS - 1)
            )
            monthly_int = monthly.astype(np.int64)
            first_value = rng.integers(0, 500_000 if code != "EL" else 20_000_000, cnt)
            cum = np.concatenate(
                [first_value[:, None], first_value[:, None] + np.cumsum(monthly_int, axis=1)], axis=1
            )
            self.b_volume["EL" if code == "EL" else "HVS"][bld[sel], 1:] += monthly_int
            for zone in (1, 2):
                zsel = np.nonzero(zones[sel] >= zone)[0]
                if not len(zsel):
                    continue
                share = 1000 if zone == 1 and code != "EL" else (700 if zone == 1 else 300)
                share_arr = np.where(zones[sel][zsel] == 1, 1000, share)
                values = cum[zsel] * share_arr[:, None] // 1000
                for t, per in enumerate(self.history):
                    keep = stop_after[sel][zsel] < HISTORY_MONTHS - t
                    rows_t = np.nonzero(keep)[0]
                    if not len(rows_t):
                        continue
                    n_t = len(rows_t)
                    day = _day(dt.date(per // 100, per % 100, 1)) + rng.integers(17, 26, n_t)
                    r_cols["id"].extend(self.ids("meter_readings", n_t).tolist())
                    r_cols["meter_id"].extend(mid[zsel][rows_t].tolist())
                    r_cols["zone"].extend([zone] * n_t)
                    r_cols["period"].extend([per] * n_t)
                    r_cols["reading_date"].extend(_dates(day))
                    r_cols["value"].extend(_fixed(values[rows_t, t], 3))
                    r_cols["source"].extend(
                        sources[rng.integers(0, 4, n_t)].tolist() if t else ["initial"] * n_t
                    )
        self.write(
            m.Meter.__table__,
            (
                "id",
                "account_id",
                "service_id",
                "serial",
                "zones",
                "installed_on",
                "verification_due",
                "status",
            ),
            m_rows,
        )
        cols = tuple(r_cols)
        self.write(m.MeterReading.__table__, cols, zip(*(r_cols[c] for c in cols), strict=True))
        # norm-based water/power feeds the building totals too
        nm = ~has_meters
        for t in range(1, HISTORY_MONTHS):
            np.add.at(self.b_volume["HVS"][:, t], bld[nm], 4_850 * living_eff[nm])
            np.add.at(self.b_volume["EL"][:, t], bld[nm], 90_000 * living_eff[nm])
        # account services
        svc_rows: list[tuple[Any, ...]] = []
        opened_s = _dates(opened)
        b_mc = self.b_mc[bld]
        heat_odpu = self.b_heat_odpu[bld]
        gas = self.b_gas[bld]
        nometer_method = np.where(installable, "norm_x15", "norm")

        def add(code: str, mask: np.ndarray, method: Any, provider: Any) -> None:
            sel = np.nonzero(mask)[0]
            if not len(sel):
                return
            meth = [method] * len(sel) if isinstance(method, str) else np.asarray(method)[sel].tolist()
            prov = [provider] * len(sel) if isinstance(provider, int) else np.asarray(provider)[sel].tolist()
            sid = self.ids("account_services", len(sel))
            svc_rows.extend(
                zip(
                    sid.tolist(),
                    acc_id[sel].tolist(),
                    [self.svc[code]] * len(sel),
                    prov,
                    meth,
                    [opened_s[i] for i in sel.tolist()],
                    strict=True,
                )
            )

        everyone = np.ones(k, dtype=bool)
        mc_prov = np.array([self.prov[MCS[j][0]] for j in range(len(MCS))])[b_mc]
        add("SOD", everyone, "area", mc_prov)
        for soi in ("HVS_SOI", "GVS_SOI", "VOD_SOI", "EL_SOI"):
            add(soi, everyone, "soi", self.prov[SERVICE_PROVIDER[soi]])
        add("OTOP", everyone, np.where(heat_odpu, "odpu", "norm"), self.prov["TEPLO"])
        add("HVS", everyone, np.where(has_meters, "meter", nometer_method), self.prov["VODOKANAL"])
        add("GVS", everyone, np.where(with_gvs, "meter", nometer_method), self.prov["TEPLO"])
        add("VOD", everyone, np.where(with_gvs, "meter", "norm"), self.prov["VODOKANAL"])
        add("EL", everyone, np.where(has_meters, "meter", nometer_method), self.prov["ENERGO"])
        add("GAS", gas, "norm", self.prov["GAZ"])
        add("TKO", everyone, "person", self.prov["TKO"])
        add("KAPR", everyone, "area", self.prov["FKR"])
        self.write(
            m.AccountService.__table__,
            ("id", "account_id", "service_id", "provider_id", "method", "date_from"),
            svc_rows,
        )
        # debts carried in: ≥ 10 % owe for 3+ months, some for 1–2, some paid in advance
        months_owed = np.where(
            rng.random(k) < 0.13,
            rng.integers(3, 13, k),
            np.where(rng.random(k) < 0.08, rng.integers(1, 3, k), 0),
        )
        advance = (months_owed == 0) & (rng.random(k) < 0.04)
        persons_eff = living_eff
        est = {  # kopecks per month, rough: enough to make the debts look like real bills
            "SOD": area * np.array(self.sod_kop)[b_mc] // 100,
            "OTOP": area * 165 * self.tariff_kop["OTOP"] // 1_000_000,
            "HVS": persons_eff * 3_500 * self.tariff_kop["HVS"] // 1000,
            "GVS": persons_eff * 2_400 * self.tariff_kop["GVS"] // 1000,
            "VOD": persons_eff * 5_900 * self.tariff_kop["VOD"] // 1000,
            "EL": persons_eff * 80 * self.tariff_kop["EL"],
            "KAPR": area * self.tariff_kop["KAPR"] // 100,
        }
        d_cols: dict[str, list[Any]] = {
            c: []
            for c in (
                "id",
                "account_id",
                "service_id",
                "provider_id",
                "period",
                "principal_kop",
                "penalty_kop",
                "source",
            )
        }
        debtors = np.nonzero(months_owed > 0)[0]
        for code, amount in est.items():
            prov = mc_prov if code == "SOD" else np.full(k, self.prov[SERVICE_PROVIDER[code]])
            for j in debtors.tolist():
                owed = int(months_owed[j])
                for back in range(owed, 0, -1):
                    per = _period_add(self.period, -back)
                    principal = int(amount[j])
                    if principal <= 0:
                        continue
                    penalty = principal * max(0, back - 2) * 7 // 1000
                    d_cols["id"].append(0)
                    d_cols["account_id"].append(int(acc_id[j]))
                    d_cols["service_id"].append(self.svc[code])
                    d_cols["provider_id"].append(int(prov[j]))
                    d_cols["period"].append(per)
                    d_cols["principal_kop"].append(principal)
                    d_cols["penalty_kop"].append(penalty)
                    d_cols["source"].append("city")
        for j in np.nonzero(advance)[0].tolist():
            d_cols["id"].append(0)
            d_cols["account_id"].append(int(acc_id[j]))
            d_cols["service_id"].append(self.svc["SOD"])
            d_cols["provider_id"].append(int(mc_prov[j]))
            d_cols["period"].append(_period_add(self.period, -1))
            d_cols["principal_kop"].append(-int(est["SOD"][j]))
            d_cols["penalty_kop"].append(0)
            d_cols["source"].append("city")
        d_cols["id"] = self.ids("opening_debts", len(d_cols["id"])).tolist()
        cols = tuple(d_cols)
        self.write(m.OpeningDebt.__table__, cols, zip(*(d_cols[c] for c in cols), strict=True))
        # beneficiaries: the first resident of some accounts
        benef = np.nonzero((n_persons > 0) & (rng.random(k) < 0.07))[0]
        bid = self.ids("beneficiaries", len(benef))
        codes = rng.choice(
            ["010", "030", "051", "060", "073", "074", "SUB"],
            size=len(benef),
            p=[0.03, 0.07, 0.15, 0.1, 0.4, 0.1, 0.15],
        )
        b_rows, bf_rows = [], []
        bfid = self.ids("benefits", len(benef))
        for q, j in enumerate(benef.tolist()):
            p = int(first_person[j])
            b = int(bld[j])
            st_type, street, house = self.b_label[b]
            b_rows.append(
                (
                    int(bid[q]),
                    SZN_CODE,
                    str(500_000 + int(pid[p])),
                    int(acc_id[j]),
                    int(pid[p]),
                    snils[p],
                    last[p],
                    first[p],
                    middle[p],
                    _dates(np.array([birth[p]]))[0],
                    f"г Рязань, {st_type} {street}, д {house}, кв {int(flat[j])}",
                    "active",
                )
            )
            bcode = str(codes[q])
            kind = "SUBSIDY" if bcode == "SUB" else ("EDK" if bcode in ("073", "074") else "LGOTA")
            share_pct = None if kind == "SUBSIDY" else ("30" if bcode == "060" else "50")
            bf_rows.append((int(bfid[q]), int(bid[q]), bcode, kind, "2024-01-01", None, share_pct, 1))
        self.write(
            m.Beneficiary.__table__,
            (
                "id",
                "szn_code",
                "external_id",
                "account_id",
                "person_id",
                "snils",
                "last_name",
                "first_name",
                "middle_name",
                "birth_date",
                "address",
                "status",
            ),
            b_rows,
        )
        self.write(
            m.Benefit.__table__,
            (
                "id",
                "beneficiary_id",
                "code",
                "kind",
                "date_from",
                "date_to",
                "share_percent",
                "covered_persons",
            ),
            bf_rows,
        )
        # temporary absences in the two months before the period
        absent = np.nonzero((living >= 2) & (rng.random(k) < 0.015))[0]
        a_rows = []
        aid = self.ids("absences", len(absent))
        for q, j in enumerate(absent.tolist()):
            p = int(first_person[j]) + 1 if n_persons[j] > 1 else int(first_person[j])
            left = _day(_period_start(_period_add(self.period, -1))) + int(rng.integers(5, 28))
            length = int(rng.integers(4, 40))
            a_rows.append(
                (
                    int(aid[q]),
                    int(acc_id[j]),
                    int(pid[p]),
                    _dates(np.array([left]))[0],
                    _dates(np.array([left + length]))[0],
                    f"Справка о временном пребывании № {int(aid[q])}",
                    _dates(np.array([left + length + 3]))[0],
                )
            )
        self.write(
            m.Absence.__table__,
            ("id", "account_id", "person_id", "date_from", "date_to", "document", "applied_on"),
            a_rows,
        )
        return k

    # -- building meters and quality incidents --------------------------------------------
    def building_meters(self) -> None:
        rng = self.rng(3)
        nb = len(self.b_sizes)
        bm_rows, r_rows = [], []
        bm_id = 1
        r_id = 1
        heat_norm = 165  # 0.0165 Gcal/m² in 1e-4 units
        for b in np.nonzero(self.b_odpu)[0].tolist():
            for code in ("HVS", "EL", "OTOP"):
                if code == "OTOP" and not self.b_heat_odpu[b]:
                    continue
                bm_rows.append((bm_id, b + 1, self.svc[code], f"ОДПУ-{code}-{b + 1:06d}", "2015-01-01"))
                if code == "OTOP":
                    vols = np.array(
                        [
                            self.b_total[b]
                            * heat_norm
                            // 100
                            * (1 if (p % 100) in (1, 2, 3, 4, 10, 11, 12) else 0)
                            for p in self.history
                        ],
                        np.int64,
                    )
                    vols = vols * rng.integers(85, 120) // 100 // 10  # Gcal in thousandths
                else:
                    factor = rng.integers(102, 112, HISTORY_MONTHS)
                    vols = self.b_volume[code][b] * factor // 100
                vols[0] = 0
                cum = rng.integers(1_000_000, 50_000_000) + np.cumsum(vols)
                for t, per in enumerate(self.history):
                    last_day = _period_start(_period_add(per, 1)) - dt.timedelta(days=1)
                    r_rows.append(
                        (
                            r_id,
                            bm_id,
                            per,
                            last_day.isoformat(),
                            _fixed(np.array([cum[t] * 10]), 4)[0],
                            _fixed(np.array([vols[t] * 10]), 4)[0],
                        )
                    )
                    r_id += 1
                bm_id += 1
        self.write(
            m.BuildingMeter.__table__, ("id", "building_id", "service_id", "serial", "installed_on"), bm_rows
        )
        self.write(
            m.BuildingMeterReading.__table__,
            ("id", "meter_id", "period", "reading_date", "value", "volume"),
            r_rows,
        )
        q_rows = []
        qid = 1
        for back in (2, 1, 0):
            per = _period_add(self.period, -back)
            start_day = _period_start(per)
            forced = (back * 5 + 1) % nb  # at least one incident of each kind, even in a tiny city
            for b in range(nb):
                roll = rng.random()
                if b == forced:
                    roll = (0.01, 0.04, 0.06)[back]
                if roll < 0.03:
                    code, kind, hours, temp, norm = (
                        "HVS",
                        "interruption",
                        int(rng.integers(6, 40)),
                        None,
                        None,
                    )
                elif roll < 0.05:
                    code, kind, hours, temp, norm = (
                        "OTOP",
                        "temperature",
                        int(rng.integers(12, 96)),
                        "16.0",
                        "18.0",
                    )
                elif roll < 0.065:
                    code, kind, hours, temp, norm = (
                        "GVS",
                        "temperature",
                        int(rng.integers(10, 120)),
                        "50.0",
                        "60.0",
                    )
                else:
                    continue
                t0 = dt.datetime.combine(start_day + dt.timedelta(days=int(rng.integers(0, 25))), dt.time(8))
                t1 = t0 + dt.timedelta(hours=hours)
                q_rows.append(
                    (
                        qid,
                        b + 1,
                        self.svc[code],
                        kind,
                        t0.isoformat(" "),
                        t1.isoformat(" "),
                        str(hours),
                        temp,
                        norm,
                        False,
                        f"Акт № {per % 10000:04d}-{qid}",
                    )
                )
                qid += 1
        self.write(
            m.QualityIncident.__table__,
            (
                "id",
                "building_id",
                "service_id",
                "kind",
                "started_at",
                "ended_at",
                "hours",
                "measured_temp",
                "norm_temp",
                "night",
                "act_number",
            ),
            q_rows,
        )


def _sync_sequences(conn: Any) -> None:
    """After explicit ids on PostgreSQL, move each id sequence past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    for table in m.Base.metadata.sorted_tables:
        if "id" in table.c and table.c.id.primary_key and table.c.id.autoincrement is not False:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
                )
            )


def generate_city(
    engine: Engine,
    accounts: int,
    seed: int = 1,
    period: int = DEFAULT_PERIOD,
    progress: ProgressFn | None = None,
) -> CityReport:
    """Generate the city into an upgraded, city-less store in one transaction."""
    if accounts < 1:
        raise CityError("число лицевых счетов должно быть положительным")
    started = time.perf_counter()
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(m.Account)).scalar_one():
            raise CityError(
                "в хранилище уже есть лицевые счета: город генерируется только в пустое хранилище "
                "(укажите другой UNIPAY_DB_URL или удалите базу)"
            )
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
        w = CityWriter(conn, accounts, seed, period)
        w.reference()
        w.buildings()
        for c in range((accounts + CHUNK - 1) // CHUNK):
            done = w.chunk(c)
            if progress:
                progress(done)
        w.building_meters()
        _sync_sequences(conn)
    report = CityReport(accounts=accounts, seed=seed, period=period, rows=w.rows)
    report.seconds = time.perf_counter() - started
    report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report
