"""One month of inbound partner traffic for the synthetic city, written with the connectors' own
writers (``unipay generate --partner-files DIR``).

:func:`write_partner_files` reads the city from the store and writes into ``out_dir``:

* three Sberbank payment registries (formats §2), on the 5th, 12th and 19th of the period: about
  a third of the open accounts pay, 1 % bank commission; about half of the payers with ХВС/ГВС
  meters send readings in the extra fields; the first registry has one line for an unknown
  account, the second one line whose transfer + commission ≠ amount (both are loaded as
  unidentified payments: the files load «with errors»);
* one post office registry (formats §3) of two batches on the 14th, with one 02 (пени) line;
* one social-protection beneficiaries list (formats §4.1) for office 0612: every beneficiary of
  the city as a ``CHANGE`` (every third without ``Account``, to be matched by address, name and
  birth date) and one ``NEW`` person the city does not have (answered ``NOT_FOUND``);
* one legacy DBF set (formats §5) of five accounts ``77000000NN`` of a new building «ул
  Новостроек, д 1», with residents, ХВС meters and opening balances.

Everything is drawn from ``numpy.random.default_rng((seed, 77))`` and from the store in id order,
so the same city and seed give the same bytes. Payment dates lie in the period: load the files with
``today`` on or after the 19th of the period (e.g. the period's last day).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from connectors.formats import bank, legacy_dbf, post, szn
from connectors.formats.common import Period, snils_is_valid
from hub.store import models as m

__all__ = ["write_partner_files", "UNKNOWN_ACCOUNT", "LEGACY_ACCOUNTS"]

UNKNOWN_ACCOUNT = "3199999999"
LEGACY_ACCOUNTS = tuple(f"77000000{i:02d}" for i in range(1, 6))
SZN_CODE = "0612"
BANK_DAYS = (5, 12, 19)
POST_DAY = 14


def _address(row: Any) -> str:
    text = f"Г {row.settlement.split(' ', 1)[-1]}, {row.street_type} {row.street}, Д {row.house}"
    if row.flat:
        text += f", КВ {row.flat}"
    return text.upper()


def _initials(name: str) -> str:
    parts = name.split()
    if not parts:
        return ""
    return " ".join([parts[0], *(p[0] for p in parts[1:3])]).upper()


def _money(rng: np.random.Generator, low_rub: int, high_rub: int) -> int:
    return int(rng.integers(low_rub * 100, high_rub * 100))


def _commission(amount: int, rate: Decimal = Decimal("0.01")) -> int:
    return int((Decimal(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _city(conn: Any) -> tuple[list[Any], dict[int, list[tuple[str, str, Decimal]]]]:
    a, pr, b = m.Account, m.Premises, m.Building
    accounts = conn.execute(
        select(a.id, a.number, a.owner_name, b.settlement, b.street_type, b.street, b.house, pr.flat)
        .join(pr, pr.id == a.premises_id)
        .join(b, b.id == pr.building_id)
        .where(a.status == "open")
        .order_by(a.id)
    ).all()
    meters: dict[int, list[tuple[str, str, Decimal]]] = {}
    mt, s, r = m.Meter, m.Service, m.MeterReading
    rows = conn.execute(
        select(mt.id, mt.account_id, mt.serial, s.short_name, r.value, r.reading_date)
        .join(s, s.id == mt.service_id)
        .join(r, r.meter_id == mt.id)
        .where(s.code.in_(("HVS", "GVS")), mt.zones == 1, mt.status == "working")
        .order_by(mt.id, r.reading_date, r.id)
    ).all()
    last: dict[int, Any] = {}
    for row in rows:
        last[int(row.id)] = row
    for row in last.values():
        meters.setdefault(int(row.account_id), []).append((row.short_name, row.serial, Decimal(row.value)))
    return accounts, meters


def _bank_files(
    out: Path,
    accounts: list[Any],
    meters: dict[int, list[tuple[str, str, Decimal]]],
    per: Period,
    rng: Any,
    center: Any,
) -> list[Path]:
    paths = []
    payers = [acc for acc in accounts if rng.random() < 0.33]
    groups = [payers[i :: len(BANK_DAYS)] for i in range(len(BANK_DAYS))]
    pay_period = per.add_months(-1)
    for no, (day_no, group) in enumerate(zip(BANK_DAYS, groups, strict=True), start=1):
        day = dt.date(per.year, per.month, day_no)
        lines: list[bank.BankPayment] = []
        for i, acc in enumerate(group):
            amount = _money(rng, 300, 6000)
            commission = _commission(amount)
            transfer = amount - commission
            extras: tuple[str, ...] = ()
            mine = meters.get(int(acc.id), [])
            if mine and rng.random() < 0.5:
                extras = tuple(
                    f"{short}-{serial}:{value + Decimal(int(rng.integers(1000, 9000))) / 1000:.3f}".replace(
                        ".", ","
                    )
                    for short, serial, value in mine
                )
            number = acc.number
            if no == 1 and i == 0:
                number = UNKNOWN_ACCOUNT  # deliberately unknown
                extras = ()
            if no == 2 and i == 1:
                transfer += 100  # deliberately inconsistent: transfer + commission ≠ amount
            osb = int(rng.integers(1, 60))
            lines.append(
                bank.BankPayment(
                    day,
                    dt.time(int(rng.integers(8, 20)), int(rng.integers(0, 60)), int(rng.integers(0, 60))),
                    f"8606/{osb:05d}",
                    f"8606{osb:05d}" if rng.random() < 0.7 else "SBOL",
                    f"{per.yyyymm}{no}{i + 1:07d}",
                    number,
                    acc.owner_name.upper(),
                    _address(acc),
                    extras,
                    (),
                    pay_period,
                    amount,
                    transfer,
                    commission,
                )
            )
        path = out / f"{center.inn}_{center.account}_{day:%d%m%Y}_001.txt"
        bank.write(str(path), lines, order_no=f"{per.month:02d}{day_no:02d}{no}", order_date=day)
        paths.append(path)
    return paths


def _post_file(out: Path, accounts: list[Any], per: Period, rng: Any, center: Any) -> Path:
    day = dt.date(per.year, per.month, POST_DAY)
    pay_period = per.add_months(-1)
    payers = [acc for acc in accounts if rng.random() < 0.06]
    batches = []
    for batch_no, ops in enumerate(("390046", "390013"), start=1):
        batch = post.PostBatch(ops, day, batch_no)
        items = []
        for i, acc in enumerate(payers[batch_no - 1 :: 2]):
            penalty = batch_no == 1 and i == 1
            items.append(
                post.PostPayment(
                    batch,
                    day,
                    f"{int(rng.integers(1, 30)):03d}",
                    "02" if penalty else "01",
                    acc.number,
                    pay_period,
                    _initials(acc.owner_name)[:40],
                    f"{acc.street} {acc.street_type}".upper()[:40],
                    acc.house[:10],
                    (acc.flat or "")[:10],
                    i + 1,
                    None,
                    _money(rng, 10, 300) if penalty else _money(rng, 200, 5000),
                )
            )
        if items:
            batches.append((batch, items))
    path = out / f"POST_390000_{dt.date(per.year, per.month, POST_DAY + 1):%Y%m%d}_001.txt"
    header = post.PostHeader(
        "390000", dt.date(per.year, per.month, POST_DAY + 1), 1, center.inn, center.account
    )
    post.write(str(path), header, batches)
    return path


def _szn_file(conn: Any, out: Path, per: Period) -> Path:
    be, bf, a, pr, b = m.Beneficiary, m.Benefit, m.Account, m.Premises, m.Building
    rows = conn.execute(
        select(
            be.id,
            be.external_id,
            be.snils,
            be.last_name,
            be.first_name,
            be.middle_name,
            be.birth_date,
            a.number,
            b.settlement,
            b.street_type,
            b.street,
            b.house,
            b.korp,
            pr.flat,
        )
        .join(a, a.id == be.account_id)
        .join(pr, pr.id == a.premises_id)
        .join(b, b.id == pr.building_id)
        .where(be.szn_code == SZN_CODE, be.status == "active")
        .order_by(be.id)
    ).all()
    benefits: dict[int, list[Any]] = {}
    for r in conn.execute(
        select(
            bf.beneficiary_id,
            bf.code,
            bf.kind,
            bf.date_from,
            bf.date_to,
            bf.share_percent,
            bf.covered_persons,
        )
        .join(be, be.id == bf.beneficiary_id)
        .where(be.szn_code == SZN_CODE)
        .order_by(bf.id)
    ):
        benefits.setdefault(int(r[0]), []).append(r)
    file_id = f"SZN_BEN_{SZN_CODE}_{per.yyyymm}_001"
    records: list[szn.Beneficiary] = []
    for i, r in enumerate(rows):
        records.append(
            szn.Beneficiary(
                r.external_id,
                "CHANGE",
                r.snils if r.snils and snils_is_valid(r.snils) else None,
                r.last_name,
                r.first_name,
                r.middle_name or None,
                r.birth_date,
                r.number if i % 3 != 2 else None,
                szn.Address(
                    r.settlement[:40],
                    f"{r.street_type} {r.street}"[:40],
                    r.house[:10],
                    r.korp[:10] if r.korp else None,
                    r.flat[:10] if r.flat else None,
                ),
                tuple(
                    szn.Benefit(
                        x.code,
                        x.kind,
                        x.date_from,
                        x.date_to or None,
                        share_percent=None if x.share_percent is None else x.share_percent.normalize(),
                        covered_persons=x.covered_persons,
                    )
                    for x in benefits.get(int(r.id), [])
                ),
            )
        )
    # a person the city does not know: answered NOT_FOUND
    records.append(
        szn.Beneficiary(
            "999001",
            "NEW",
            None,
            "Неизвестная",
            "Ольга",
            "Ивановна",
            dt.date(1950, 2, 3),
            None,
            szn.Address("г Рязань", "ул Несуществующая", "999"),
            (szn.Benefit("073", "EDK", per.first_day, share_percent=Decimal(50)),),
        )
    )
    header = szn.BeneficiaryHeader(
        file_id,
        SZN_CODE,
        "УСЗН Октябрьского района",
        per,
        dt.datetime(per.year, per.month, 3, 10, 15),
        len(records),
        sum(len(ben.benefits) for ben in records),
    )
    path = out / f"{file_id}.xml"
    szn.write_beneficiaries(str(path), header, records)
    return path


def _legacy_file(out: Path, per: Period, rng: Any) -> Path:
    kart, propis, schet, saldo = [], [], [], []
    surnames = ("НОВИКОВ", "СОКОЛОВ", "ЛЕБЕДЕВ", "КОЗЛОВ", "МОРОЗОВ")
    pid = 9000
    for i, ls in enumerate(LEGACY_ACCOUNTS):
        fam = surnames[i]
        residents = int(rng.integers(1, 4))
        area = Decimal(int(rng.integers(3000, 8000))) / 100
        kart.append(
            {
                "LS": ls,
                "FIO": f"{fam} ПЕТР ИВАНОВИЧ",
                "KUL": "0999",
                "ULICA": "УЛ НОВОСТРОЕК",
                "ND": "1",
                "KW": str(i + 1),
                "OPL": area,
                "PPL": (area * Decimal("0.6")).quantize(Decimal("0.01")),
                "KPR": residents,
                "PSCH": 0,
                "DATN": dt.date(2020, 1, 1),
            }
        )
        for j in range(residents):
            pid += 1
            first, middle, sex = (
                ("ПЕТР", "ИВАНОВИЧ", "М"),
                ("АННА", "СЕРГЕЕВНА", "Ж"),
                ("ИГОРЬ", "ПЕТРОВИЧ", "М"),
            )[j]
            propis.append(
                {
                    "LS": ls,
                    "ID": pid,
                    "FAM": fam + ("А" if sex == "Ж" else ""),
                    "IM": first,
                    "OT": middle,
                    "DROG": dt.date(1960 + 10 * j, 1 + i, 10),
                    "POL": sex,
                    "STATUS": 1,
                    "DPROP": dt.date(2020, 1, 1),
                    "KOD_L": 0,
                }
            )
        if i % 2 == 0:
            schet.append(
                {
                    "LS": ls,
                    "NSCH": f"N{770000 + i}",
                    "USL": "HVS",
                    "TARZ": 1,
                    "DUST": dt.date(2020, 1, 1),
                    "DPOV": dt.date(2026, 1, 1),
                    "POK": Decimal(int(rng.integers(10_000, 200_000))) / 1000,
                    "DPOK": per.add_months(-1).first_day + dt.timedelta(days=20),
                }
            )
        for usl in ("HVS", "OTP", "SOD"):
            debt = Decimal(int(rng.integers(0, 300_000))) / 100 if i != 4 else Decimal(0)
            saldo.append(
                {
                    "LS": ls,
                    "USL": usl,
                    "MG": per.yyyymm,
                    "SALDO": debt,
                    "PENI": (debt * Decimal("0.01")).quantize(Decimal("0.01")),
                }
            )
    path = out / f"LEGACY_KVPL_{per.yyyymm}.zip"
    legacy_dbf.write_set(
        str(path), kart=kart, propis=propis, schet=schet, saldo=saldo, header_date=per.first_day
    )
    return path


def write_partner_files(
    engine: Engine, out_dir: str | Path, period: int = 202611, seed: int = 1
) -> list[Path]:
    """Write one month of partner files for the city in the store; returns their paths (bank
    registries, post registry, beneficiaries list, legacy set — in that order)."""
    from hub.config import load_settings

    center = load_settings().center
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per = Period(period // 100, period % 100)
    rng = np.random.default_rng((seed, 77))
    with engine.connect() as conn:
        accounts, meters = _city(conn)
        if not accounts:
            raise ValueError("в хранилище нет открытых лицевых счетов: сначала сгенерируйте город")
        paths = _bank_files(out, accounts, meters, per, rng, center)
        paths.append(_post_file(out, accounts, per, rng, center))
        paths.append(_szn_file(conn, out, per))
    paths.append(_legacy_file(out, per, rng))
    return paths
