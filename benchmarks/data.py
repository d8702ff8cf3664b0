"""Benchmark data: columnar batches drawn from the synthetic city's distributions, without a store.

Building a 1,000,000-account city in a store takes ~9 minutes (docs/performance.md); the engine
benchmarks only need its columns. :func:`accounts` therefore redraws, vectorized, what
``hub/city/generate.py`` draws per account — building sizes (8–260 flats), rooms and areas, residents
and their registration statuses, ИПУ (76 % metered, 95 % of those with hot water, 30 % two-zone
electricity), lognormal monthly consumption per resident, readings that stop 1–5 months early (8 %),
failed or expired meters, buildings with ОДПУ and heat meters, gas in 30 % of buildings, debts of
3–12 months (13 %) and 1–2 months (8 %), beneficiaries (7 %), quality incidents — with the city's
tariffs (2026-10 version), norms and providers imported from the generator. Same ``(n, seed)`` →
same arrays.

The batch builders turn those accounts into engine inputs: :func:`core_batch` (meter, norm and area
lines plus one payment per account), :func:`full_batch` (every charge method, benefits, quality
events, penalty debts) and :func:`split_batch` (debts by month and 1 payment per account).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from hub.city import generate as city

PERIOD = city.DEFAULT_PERIOD  # 202611: a heating month with 30 days
DAYS = 30
VERSION = 2  # tariff version in force in 2026-11 (from 2026-10-01)

# Service ids as in the reference catalogue order; provider ids as the city numbers them.
SERVICES: tuple[str, ...] = ("SOD", "KAPR", "OTOP", "HVS", "GVS", "VOD", "EL", "GAS", "TKO")
SERVICES += ("HVS_SOI", "GVS_SOI", "VOD_SOI", "EL_SOI")
SVC = {code: i + 1 for i, code in enumerate(SERVICES)}
PROV = {code: i + 1 for i, (code, *_rest) in enumerate(city.PROVIDERS)}
MC_PROVIDER0 = len(city.PROVIDERS) + 1  # management companies follow the resource providers


def _x4(value: str) -> int:
    return int(Decimal(value) * 10_000)


def _x6(value: str) -> int:
    return int(Decimal(value) * 1_000_000)


TARIFF_X4 = {code: _x4(values[VERSION]) for code, values in city.TARIFFS.items()}
EL_ZONE_X4 = {zone: _x4(values[VERSION]) for zone, values in city.EL_ZONES.items()}
SOD_X4 = np.array(
    [int((Decimal(r) * Decimal("1.085")).quantize(Decimal("0.01")) * 10_000) for r in city.SOD_RATES],
    dtype=np.int64,
)
NORM_X6 = {code: _x6(value) for code, _kind, value in city.NORMS}
# Heating by norm as a per-m² rate for the core benchmark (area method): N_T × T, kept to 1e-4 ₽.
OTOP_AREA_X4 = NORM_X6["OTOP"] * TARIFF_X4["OTOP"] // 1_000_000


@dataclass
class Accounts:
    """One row per account (and per building for the ``b_`` arrays)."""

    n: int
    account_id: np.ndarray
    building: np.ndarray
    mc: np.ndarray
    area_x4: np.ndarray
    installable: np.ndarray
    living: np.ndarray
    person_days: np.ndarray
    has_meters: np.ndarray
    with_gvs: np.ndarray
    two_zone: np.ndarray
    stop_after: np.ndarray
    failed: np.ndarray
    monthly_x6: dict[str, np.ndarray]  # code → (n, 12) monthly consumption (0 where no meter)
    first_x6: dict[str, np.ndarray]
    months_owed: np.ndarray
    beneficiary: np.ndarray
    benefit_bp: np.ndarray
    b_total_x4: np.ndarray
    b_common_x4: np.ndarray
    b_odpu: np.ndarray
    b_heat_odpu: np.ndarray
    b_gas: np.ndarray
    b_factor: np.ndarray  # ОДПУ volume = Σ individual × factor / 100
    b_incident: np.ndarray  # 0 none, 1 cold-water interruption, 2 cold rooms, 3 cool hot water
    b_hours: np.ndarray


def accounts(n: int, seed: int = 1) -> Accounts:
    """``n`` accounts with the city's distributions (see the module docstring)."""
    rng = np.random.default_rng([seed, 7, n])
    # buildings: 35 % small (8–39 flats), 55 % mid (40–119), 10 % tall (120–259)
    est = n // 50 + 8
    kind = rng.random(est)
    sizes = np.where(
        kind < 0.35,
        rng.integers(8, 40, est),
        np.where(kind < 0.9, rng.integers(40, 120, est), rng.integers(120, 260, est)),
    )
    while sizes.sum() < n:
        sizes = np.concatenate([sizes, sizes])
    nb = int(np.searchsorted(np.cumsum(sizes), n)) + 1
    sizes = sizes[:nb].copy()
    sizes[-1] -= int(sizes.sum()) - n
    building = np.repeat(np.arange(nb), sizes)
    mc = rng.integers(0, len(city.MCS), nb)
    b_odpu = rng.random(nb) < 0.75
    b_heat_odpu = b_odpu & (rng.random(nb) < 0.6)
    b_gas = rng.random(nb) < 0.3
    rooms = rng.choice([1, 2, 3, 4], size=n, p=[0.3, 0.4, 0.25, 0.05])
    area_x4 = (1800 + rooms * 1400 + rng.integers(-400, 900, n)).astype(np.int64) * 100
    b_total_x4 = np.bincount(building, weights=area_x4, minlength=nb).astype(np.int64)
    b_common_x4 = b_total_x4 * rng.integers(9, 16, nb) // 100
    installable = rng.random(n) < 0.96
    # residents: 0–5, registration status 1/3/4 (4 = left), the first always permanent
    n_persons = rng.choice([0, 1, 2, 3, 4, 5], size=n, p=[0.03, 0.24, 0.35, 0.24, 0.1, 0.04])
    left = rng.binomial(np.maximum(n_persons - 1, 0), 0.03)
    living = (n_persons - left).astype(np.int64)
    person_days = np.where(living > 0, living * DAYS, DAYS).astype(np.int64)
    living_eff = np.maximum(living, 1)
    has_meters = rng.random(n) < 0.76
    with_gvs = has_meters & (rng.random(n) < 0.95)
    two_zone = has_meters & (rng.random(n) < 0.3)
    stop_after = np.where(has_meters & (rng.random(n) < 0.08), rng.integers(1, 6, n), 0)
    failed = has_meters & (rng.random(n) < 0.045)  # 1.5 % failed + 3 % past verification
    monthly, first = {}, {}
    for code, mask in (("HVS", has_meters), ("GVS", with_gvs), ("EL", has_meters)):
        per_person = city.CONSUMPTION[code]  # thousandths of a unit per month
        vol = (per_person * living_eff)[:, None] * rng.lognormal(0, 0.25, (n, 12))
        monthly[code] = np.where(mask[:, None], vol.astype(np.int64) * 1000, 0)
        cap = 500_000 if code != "EL" else 20_000_000
        first[code] = np.where(mask, rng.integers(0, cap, n) * 1000, 0)
    owed = np.where(
        rng.random(n) < 0.13, rng.integers(3, 13, n), np.where(rng.random(n) < 0.08, rng.integers(1, 3, n), 0)
    )
    beneficiary = (n_persons > 0) & (rng.random(n) < 0.07)
    benefit_bp = rng.choice([5000, 3000, 5000, -1], size=n, p=[0.5, 0.1, 0.25, 0.15])
    roll = rng.random(nb)
    incident = np.where(roll < 0.03, 1, np.where(roll < 0.05, 2, np.where(roll < 0.065, 3, 0)))
    hours = np.where(
        incident == 1, rng.integers(6, 40, nb), np.where(incident == 2, rng.integers(12, 96, nb), 0)
    )
    hours = np.where(incident == 3, rng.integers(10, 120, nb), hours)
    return Accounts(
        n=n,
        account_id=np.arange(1, n + 1, dtype=np.int64),
        building=building,
        mc=mc,
        area_x4=area_x4,
        installable=installable,
        living=living,
        person_days=person_days,
        has_meters=has_meters,
        with_gvs=with_gvs,
        two_zone=two_zone,
        stop_after=stop_after,
        failed=failed,
        monthly_x6=monthly,
        first_x6=first,
        months_owed=owed,
        beneficiary=beneficiary,
        benefit_bp=benefit_bp,
        b_total_x4=b_total_x4,
        b_common_x4=b_common_x4,
        b_odpu=b_odpu,
        b_heat_odpu=b_heat_odpu,
        b_gas=b_gas,
        b_factor=rng.integers(102, 112, nb),
        b_incident=incident,
        b_hours=hours,
    )


def _countdown(counts: np.ndarray) -> np.ndarray:
    """``[k, k−1, …, 1]`` for every count k, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(counts, counts) - (np.arange(total) - starts)


class _Lines:
    """Collects line blocks (one numpy array per column) and stacks them sorted by account."""

    def __init__(self, defaults: dict[str, int]) -> None:
        self.defaults = defaults
        self.blocks: list[dict[str, np.ndarray]] = []

    def add(self, acc_idx: np.ndarray, **cols: np.ndarray | int) -> None:
        k = len(acc_idx)
        block = {"_acc": acc_idx}
        for name, default in self.defaults.items():
            v = cols.get(name, default)
            block[name] = np.broadcast_to(np.asarray(v, dtype=np.int64), (k,))
        self.blocks.append(block)

    def stack(self) -> dict[str, np.ndarray]:
        """The columns, rows ordered by (account, service, component)."""
        key = np.concatenate([(b["_acc"] * 64 + b["service_id"]) * 4 + b["component"] for b in self.blocks])
        order = np.argsort(key, kind="stable")
        del key
        out = {}
        for k in list(self.blocks[0]):
            out[k] = np.concatenate([b.pop(k) for b in self.blocks])[order]
        self.blocks = []
        return out


def _cumulative(a: Accounts, code: str) -> np.ndarray:
    """(n, 13) cumulative readings: column 12 − k is the reading k months before the period."""
    m = a.monthly_x6[code]
    zero = np.zeros((a.n, 1), dtype=np.int64)
    return a.first_x6[code][:, None] + np.concatenate([zero, np.cumsum(m, axis=1)], axis=1)


def _readings(a: Accounts, code: str, months_back: int) -> np.ndarray:
    """Cumulative reading at the end of the month ``months_back`` before the period (0 = the period)."""
    return _cumulative(a, code)[:, 12 - months_back]


def _estimate_kop(a: Accounts) -> np.ndarray:
    """A rough monthly bill per account (kopecks), as the city estimates debts — payments follow it."""
    pe = np.maximum(a.living, 1)
    sod = a.area_x4 * SOD_X4[a.mc[a.building]] // 1_000_000
    heat = a.area_x4 * OTOP_AREA_X4 // 1_000_000
    water = (
        pe * (3_500 * TARIFF_X4["HVS"] + 2_400 * TARIFF_X4["GVS"] + 5_900 * TARIFF_X4["VOD"]) // 10_000_000
    )
    power = pe * 80 * TARIFF_X4["EL"] // 100
    return (sod + heat + water + power + a.area_x4 * TARIFF_X4["KAPR"] // 1_000_000).astype(np.int64)


def payments(a: Accounts, seed: int = 1) -> np.ndarray:
    """One payment per account: 60 % the estimated bill rounded up to rubles, 25 % part of it,
    10 % more (an advance), 5 % a fixed round sum."""
    rng = np.random.default_rng([seed, 8, a.n])
    est = _estimate_kop(a)
    roll = rng.random(a.n)
    factor = np.where(roll < 0.6, 100, np.where(roll < 0.85, rng.integers(30, 100, a.n), 0))
    factor = np.where((roll >= 0.85) & (roll < 0.95), rng.integers(101, 160, a.n), factor)
    amount = (est * factor // 100 + 99) // 100 * 100
    fixed = rng.choice([100_000, 200_000, 300_000, 500_000], size=a.n)
    return np.where(roll >= 0.95, fixed, amount).astype(np.int64)


# ------------------------------------------------------------------------------------ charges_core

CORE_COLUMNS = {
    "account_id": 0,
    "service_id": 0,
    "provider_id": 0,
    "component": 0,
    "method": 0,
    "tariff_x4": 0,
    "reading_prev_x6": 0,
    "reading_curr_x6": 0,
    "norm_x6": 0,
    "person_days": 0,
    "area_x4": 0,
    "coef_x4": 10_000,
}


def core_batch(a: Accounts, seed: int = 1) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """charges_core inputs: lines by meter (1), norm (2) and area (5) of the services SOD, KAPR, OTOP
    (heating by norm as a per-m² rate), HVS, GVS, VOD, EL (1–2 zones), GAS, TKO; and the payments
    (account_id, amount_kop), one per account."""
    L = _Lines(CORE_COLUMNS)
    idx = np.arange(a.n)
    acc = a.account_id
    b = a.building
    pd_ = a.person_days
    coef = np.where(a.installable, 15_000, 10_000)
    L.add(
        idx,
        account_id=acc,
        service_id=SVC["SOD"],
        provider_id=MC_PROVIDER0 + a.mc[b],
        method=5,
        tariff_x4=SOD_X4[a.mc[b]],
        area_x4=a.area_x4,
    )
    L.add(
        idx,
        account_id=acc,
        service_id=SVC["KAPR"],
        provider_id=PROV["FKR"],
        method=5,
        tariff_x4=TARIFF_X4["KAPR"],
        area_x4=a.area_x4,
    )
    L.add(
        idx,
        account_id=acc,
        service_id=SVC["OTOP"],
        provider_id=PROV["TEPLO"],
        method=5,
        tariff_x4=OTOP_AREA_X4,
        area_x4=a.area_x4,
    )
    L.add(
        idx,
        account_id=acc,
        service_id=SVC["TKO"],
        provider_id=PROV["TKO"],
        method=2,
        tariff_x4=TARIFF_X4["TKO"],
        norm_x6=1_000_000,
        person_days=pd_,
    )
    for code, mask in (("HVS", a.has_meters), ("GVS", a.with_gvs)):
        prov = PROV[city.SERVICE_PROVIDER[code]]
        m = np.nonzero(mask)[0]
        L.add(
            m,
            account_id=acc[m],
            service_id=SVC[code],
            provider_id=prov,
            method=1,
            tariff_x4=TARIFF_X4[code],
            reading_prev_x6=_readings(a, code, 1)[m],
            reading_curr_x6=_readings(a, code, 0)[m],
        )
        u = np.nonzero(~mask)[0]
        L.add(
            u,
            account_id=acc[u],
            service_id=SVC[code],
            provider_id=prov,
            method=2,
            tariff_x4=TARIFF_X4[code],
            norm_x6=NORM_X6[code],
            person_days=pd_[u],
            coef_x4=coef[u],
        )
    # water disposal: metered = ХВС + ГВС volume (as one meter delta), else by norm
    m = np.nonzero(a.with_gvs)[0]
    vol = (a.monthly_x6["HVS"][:, 11] + a.monthly_x6["GVS"][:, 11])[m]
    L.add(
        m,
        account_id=acc[m],
        service_id=SVC["VOD"],
        provider_id=PROV["VODOKANAL"],
        method=1,
        tariff_x4=TARIFF_X4["VOD"],
        reading_curr_x6=vol,
    )
    u = np.nonzero(~a.with_gvs)[0]
    L.add(
        u,
        account_id=acc[u],
        service_id=SVC["VOD"],
        provider_id=PROV["VODOKANAL"],
        method=2,
        tariff_x4=TARIFF_X4["VOD"],
        norm_x6=NORM_X6["VOD"],
        person_days=pd_[u],
    )
    # electricity: single rate, or day (70 %) and night (30 %) zones
    prev, curr = _readings(a, "EL", 1), _readings(a, "EL", 0)
    one = np.nonzero(a.has_meters & ~a.two_zone)[0]
    L.add(
        one,
        account_id=acc[one],
        service_id=SVC["EL"],
        provider_id=PROV["ENERGO"],
        method=1,
        tariff_x4=TARIFF_X4["EL"],
        reading_prev_x6=prev[one],
        reading_curr_x6=curr[one],
    )
    two = np.nonzero(a.two_zone)[0]
    for zone, share in ((1, 700), (2, 300)):
        L.add(
            two,
            account_id=acc[two],
            service_id=SVC["EL"],
            provider_id=PROV["ENERGO"],
            component=zone,
            method=1,
            tariff_x4=EL_ZONE_X4[zone],
            reading_prev_x6=prev[two] * share // 1000,
            reading_curr_x6=curr[two] * share // 1000,
        )
    u = np.nonzero(~a.has_meters)[0]
    L.add(
        u,
        account_id=acc[u],
        service_id=SVC["EL"],
        provider_id=PROV["ENERGO"],
        method=2,
        tariff_x4=TARIFF_X4["EL"],
        norm_x6=NORM_X6["EL"],
        person_days=pd_[u],
        coef_x4=coef[u],
    )
    g = np.nonzero(a.b_gas[b])[0]
    L.add(
        g,
        account_id=acc[g],
        service_id=SVC["GAS"],
        provider_id=PROV["GAZ"],
        method=2,
        tariff_x4=TARIFF_X4["GAS"],
        norm_x6=NORM_X6["GAS"],
        person_days=pd_[g],
    )
    lines = L.stack()
    del lines["_acc"]
    pays = {"account_id": acc.copy(), "amount_kop": payments(a, seed)}
    return lines, pays


# ------------------------------------------------------------------------------------ charges_full

FULL_COLUMNS = {
    "account_id": 0,
    "service_id": 0,
    "provider_id": 0,
    "component": 0,
    "period": PERIOD,
    "method": 0,
    "tariff_x4": 0,
    "reading_prev_x6": 0,
    "reading_curr_x6": 0,
    "volume_x6": 0,
    "norm_x6": 0,
    "person_days": 0,
    "area_x4": 0,
    "total_area_x4": 0,
    "common_area_x4": 0,
    "house_volume_x6": 0,
    "indiv_volume_x6": 0,
    "has_house_meter": 1,
    "soi_by_actual": 0,
    "soi_allow_negative": 0,
    "coef_x4": 10_000,
    "share_num": 1,
    "share_den": 1,
    "hist_volume_x6": 0,
    "hist_months": 0,
    "missing_seq": 0,
    "meter_failed": 0,
}


@dataclass
class FullBatch:
    charges: dict[str, np.ndarray]
    benefit_line: np.ndarray  # charge line feeding each benefit row
    benefits: dict[str, np.ndarray]  # without charge_kop (taken from the computed lines)
    event_line: np.ndarray
    events: dict[str, np.ndarray]
    debts: dict[str, np.ndarray]


def _meter_rows(L: _Lines, a: Accounts, code: str, mask: np.ndarray, coef: np.ndarray, **zone: int) -> None:
    """ИПУ lines: METER when the period's reading is there, else AVERAGE (then norm) like bill.py."""
    acc = a.account_id
    prov = PROV[city.SERVICE_PROVIDER[code]]
    comp = zone.get("component", 0)
    share = zone.get("share", 1000)
    tariff = EL_ZONE_X4[comp] if comp else TARIFF_X4[code]
    read = np.nonzero(mask & (a.stop_after == 0))[0]
    prev = _readings(a, code, 1) * share // 1000
    curr = _readings(a, code, 0) * share // 1000
    L.add(
        read,
        account_id=acc[read],
        service_id=SVC[code],
        provider_id=prov,
        component=comp,
        method=1,
        tariff_x4=tariff,
        reading_prev_x6=prev[read],
        reading_curr_x6=curr[read],
        meter_failed=a.failed[read],
    )
    miss = np.nonzero(mask & (a.stop_after > 0))[0]
    s = a.stop_after[miss]
    cum = _cumulative(a, code)[miss]
    months = np.minimum(6, 12 - s)
    last = cum[np.arange(len(miss)), 12 - s]
    firstw = cum[np.arange(len(miss)), 12 - s - months]
    L.add(
        miss,
        account_id=acc[miss],
        service_id=SVC[code],
        provider_id=prov,
        component=comp,
        method=8,
        tariff_x4=tariff,
        hist_volume_x6=(last - firstw) * share // 1000,
        hist_months=months,
        missing_seq=s,
        meter_failed=a.failed[miss],
        norm_x6=NORM_X6[code],
        person_days=a.person_days[miss],
        coef_x4=coef[miss],
    )


def full_batch(a: Accounts) -> FullBatch:
    """charges_full inputs: every line bill.py would build for the open period (all nine methods but
    HW_HEAT, КР на СОИ with house volumes, ОДПУ heating, averaging), plus benefits of the beneficiaries'
    lines, quality events of the buildings with incidents and penalty debts per account × month."""
    L = _Lines(FULL_COLUMNS)
    idx = np.arange(a.n)
    acc = a.account_id
    b = a.building
    pd_ = a.person_days
    coef = np.where(a.installable, 15_000, 10_000)
    L.add(
        idx,
        account_id=acc,
        service_id=SVC["SOD"],
        provider_id=MC_PROVIDER0 + a.mc[b],
        method=5,
        tariff_x4=SOD_X4[a.mc[b]],
        area_x4=a.area_x4,
    )
    L.add(
        idx,
        account_id=acc,
        service_id=SVC["KAPR"],
        provider_id=PROV["FKR"],
        method=5,
        tariff_x4=TARIFF_X4["KAPR"],
        area_x4=a.area_x4,
    )
    L.add(
        idx,
        account_id=acc,
        service_id=SVC["TKO"],
        provider_id=PROV["TKO"],
        method=2,
        tariff_x4=TARIFF_X4["TKO"],
        norm_x6=1_000_000,
        person_days=pd_,
    )
    # heating: by ОДПУ (V_D × S / S_об) or by norm
    heat_v = a.b_total_x4 * NORM_X6["OTOP"] // 10_000 * a.b_factor // 106
    h = np.nonzero(a.b_heat_odpu[b])[0]
    L.add(
        h,
        account_id=acc[h],
        service_id=SVC["OTOP"],
        provider_id=PROV["TEPLO"],
        method=4,
        tariff_x4=TARIFF_X4["OTOP"],
        area_x4=a.area_x4[h],
        house_volume_x6=heat_v[b[h]],
        total_area_x4=a.b_total_x4[b[h]],
    )
    u = np.nonzero(~a.b_heat_odpu[b])[0]
    L.add(
        u,
        account_id=acc[u],
        service_id=SVC["OTOP"],
        provider_id=PROV["TEPLO"],
        method=3,
        tariff_x4=TARIFF_X4["OTOP"],
        area_x4=a.area_x4[u],
        norm_x6=NORM_X6["OTOP"],
    )
    for code, mask in (("HVS", a.has_meters), ("GVS", a.with_gvs)):
        _meter_rows(L, a, code, mask, coef)
        u = np.nonzero(~mask)[0]
        L.add(
            u,
            account_id=acc[u],
            service_id=SVC[code],
            provider_id=PROV[city.SERVICE_PROVIDER[code]],
            method=2,
            tariff_x4=TARIFF_X4[code],
            norm_x6=NORM_X6[code],
            person_days=pd_[u],
            coef_x4=coef[u],
        )
    m = np.nonzero(a.with_gvs)[0]
    vol = (a.monthly_x6["HVS"][:, 11] + a.monthly_x6["GVS"][:, 11])[m]
    L.add(
        m,
        account_id=acc[m],
        service_id=SVC["VOD"],
        provider_id=PROV["VODOKANAL"],
        method=7,
        tariff_x4=TARIFF_X4["VOD"],
        volume_x6=vol,
    )
    u = np.nonzero(~a.with_gvs)[0]
    L.add(
        u,
        account_id=acc[u],
        service_id=SVC["VOD"],
        provider_id=PROV["VODOKANAL"],
        method=2,
        tariff_x4=TARIFF_X4["VOD"],
        norm_x6=NORM_X6["VOD"],
        person_days=pd_[u],
    )
    _meter_rows(L, a, "EL", a.has_meters & ~a.two_zone, coef)
    for zone, share in ((1, 700), (2, 300)):
        _meter_rows(L, a, "EL", a.two_zone, coef, component=zone, share=share)
    u = np.nonzero(~a.has_meters)[0]
    L.add(
        u,
        account_id=acc[u],
        service_id=SVC["EL"],
        provider_id=PROV["ENERGO"],
        method=2,
        tariff_x4=TARIFF_X4["EL"],
        norm_x6=NORM_X6["EL"],
        person_days=pd_[u],
        coef_x4=coef[u],
    )
    g = np.nonzero(a.b_gas[b])[0]
    L.add(
        g,
        account_id=acc[g],
        service_id=SVC["GAS"],
        provider_id=PROV["GAZ"],
        method=2,
        tariff_x4=TARIFF_X4["GAS"],
        norm_x6=NORM_X6["GAS"],
        person_days=pd_[g],
    )
    # КР на СОИ: Σ individual volumes of the house (metered, or by norm) and the ОДПУ volume
    nb = len(a.b_total_x4)
    for soi, res in (("HVS_SOI", "HVS"), ("GVS_SOI", "GVS"), ("VOD_SOI", "VOD"), ("EL_SOI", "EL")):
        if res == "VOD":
            ind = a.monthly_x6["HVS"][:, 11] + a.monthly_x6["GVS"][:, 11]
            norm_v = NORM_X6["VOD"] * np.maximum(a.living, 1)
            ind = np.where(a.with_gvs, ind, norm_v)
        else:
            ind = np.where(
                a.monthly_x6[res][:, 11] > 0, a.monthly_x6[res][:, 11], NORM_X6[res] * np.maximum(a.living, 1)
            )
        indiv = np.bincount(b, weights=ind, minlength=nb).astype(np.int64)
        house = indiv * a.b_factor // 100
        has = a.b_odpu & (res in ("HVS", "EL"))
        L.add(
            idx,
            account_id=acc,
            service_id=SVC[soi],
            provider_id=PROV[city.SERVICE_PROVIDER[soi]],
            method=6,
            tariff_x4=TARIFF_X4[soi],
            norm_x6=NORM_X6[soi],
            area_x4=a.area_x4,
            total_area_x4=a.b_total_x4[b],
            common_area_x4=a.b_common_x4[b],
            house_volume_x6=np.where(has, house, 0)[b],
            indiv_volume_x6=indiv[b],
            has_house_meter=has[b].astype(np.int64),
        )
    ch = L.stack()
    line_acc = ch.pop("_acc")
    # benefits: every line of a beneficiary account except КР на СОИ
    soi_ids = [SVC[c] for c in ("HVS_SOI", "GVS_SOI", "VOD_SOI", "EL_SOI")]
    bl = np.nonzero(a.beneficiary[line_acc] & ~np.isin(ch["service_id"], soi_ids))[0]
    benefits = {
        "account_id": ch["account_id"][bl],
        "service_id": ch["service_id"][bl],
        "period": np.full(len(bl), PERIOD, dtype=np.int64),
        "share_bp": a.benefit_bp[line_acc[bl]],
        "covered": np.ones(len(bl), dtype=np.int64),
        "registered": np.maximum(a.living[line_acc[bl]], 1),
        "active_days": np.full(len(bl), DAYS, dtype=np.int64),
    }
    # quality events: every account of a building with an incident, on the affected service
    inc = a.b_incident[b[line_acc]]
    svc_of = np.array([0, SVC["HVS"], SVC["OTOP"], SVC["GVS"]])
    el = np.nonzero((inc > 0) & (ch["service_id"] == svc_of[inc]) & (ch["component"] == 0))[0]
    kind = inc[el]
    events = {
        "account_id": ch["account_id"][el],
        "service_id": ch["service_id"][el],
        "period": np.full(len(el), PERIOD, dtype=np.int64),
        "rule_code": np.array([0, 1, 5, 3])[kind],
        "duration_min": a.b_hours[b[line_acc[el]]] * 60,
        "norm_temp_dc": np.array([0, 0, 180, 600])[kind],
        "temp_dc": np.array([0, 0, 160, 500])[kind],
        "night": np.zeros(len(el), dtype=np.int64),
    }
    # penalty debts: one row per debtor account × month owed (principal ≈ the estimated bill)
    owed = a.months_owed
    d_acc = np.repeat(np.arange(a.n), owed)
    back = _countdown(owed)
    periods = np.array([city._period_add(PERIOD, -int(k)) for k in range(13)], dtype=np.int64)
    debts = {
        "account_id": a.account_id[d_acc],
        "service_id": np.zeros(len(d_acc), dtype=np.int64),
        "period": periods[back],
        "amount_kop": _estimate_kop(a)[d_acc],
        "posted_kop": np.where(back > 3, _estimate_kop(a)[d_acc] * (back - 3) // 200, 0),
    }
    return FullBatch(ch, bl, benefits, el, events, debts)


# ------------------------------------------------------------------------------------------ split


def split_batch(a: Accounts, seed: int = 1) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """split inputs: debts (account, period, service × 4 + zone, unpaid, charge) — the current
    month's lines of the core batch at their charge, plus the debtors' unpaid months (city estimates
    per service) — and one payment per account."""
    from benchmarks import core

    lines, pays = core_batch(a, seed)
    amount = core.amounts_numpy(lines)
    key = lines["service_id"] * 4 + lines["component"]  # one "service" per line of an account-month
    cur = {
        "account_id": lines["account_id"],
        "period": np.full(len(amount), PERIOD, dtype=np.int64),
        "service_id": key,
        "provider_id": lines["provider_id"],
        "unpaid_kop": amount,
        "charge_kop": amount,
    }
    # older months: the debtor's current lines of SOD, KAPR, OTOP, HVS, GVS, EL at today's amounts
    owed = a.months_owed[lines["account_id"] - 1]
    keep = np.isin(lines["service_id"], [SVC[c] for c in ("SOD", "KAPR", "OTOP", "HVS", "GVS", "EL")])
    rows = np.nonzero(keep & (owed > 0))[0]
    rep = owed[rows]
    r = np.repeat(rows, rep)
    back = _countdown(rep)
    periods = np.array([city._period_add(PERIOD, -int(k)) for k in range(13)], dtype=np.int64)
    old = {
        "account_id": lines["account_id"][r],
        "period": periods[back],
        "service_id": key[r],
        "provider_id": lines["provider_id"][r],
        "unpaid_kop": amount[r],
        "charge_kop": amount[r],
    }
    debts = {k: np.concatenate([cur[k], old[k]]) for k in cur}
    order = np.lexsort((debts["service_id"], debts["period"], debts["account_id"]))
    debts = {k: np.ascontiguousarray(v[order]) for k, v in debts.items()}
    return debts, pays
