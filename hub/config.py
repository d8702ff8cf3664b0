"""Configuration: where the store is and which settlement center this is.

Sources, later ones win:
1. built-in defaults — the example center of the partner format samples (ИНН 6234000011,
   р/с 40702810900000001234), so the samples load into a fresh store;
2. a TOML file: ``$UNIPAY_CONFIG`` or ``./unipay.toml`` when it exists (see ``unipay.example.toml``);
3. environment: ``UNIPAY_DB_URL`` selects the database (default: SQLite file ``./var/unipay.db``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration file is unreadable or holds a bad value; the message names the file and key."""


@dataclass(frozen=True)
class Center:
    """The settlement center itself: the payee of every payment agent's registry."""

    name: str = 'ООО "ЕИРЦ Пример"'
    inn: str = "6234000011"
    kpp: str = "623401001"
    account: str = "40702810900000001234"  # расчётный счёт
    bank_name: str = "ПАО СБЕРБАНК"
    bic: str = "044525225"
    corr_account: str = "30101810400000000225"
    address: str = "390000, г. Рязань, ул. Почтовая, д. 1"
    phone: str = "+7 (4912) 00-00-00"
    email: str = "info@eirc.example"
    region: str = "Рязанская область"
    settlement: str = "г Рязань"
    # Day of the month a period's charges fall due (domain §4.1: 10th, from 01.03.2026 the 15th).
    due_day_before_2026_03: int = 10
    due_day_from_2026_03: int = 15
    # Agency fee of the center withheld from transfers to providers, default when a provider sets none.
    default_fee_rate: Decimal = Decimal("0.015")


@dataclass(frozen=True)
class Settings:
    """Everything the hub needs to run: the store URL and the center."""

    db_url: str
    center: Center = field(default_factory=Center)
    var_dir: Path = Path("var")
    config_file: Path | None = None


def default_db_url(var_dir: Path) -> str:
    return f"sqlite:///{(var_dir / 'unipay.db').resolve()}"


def _center_from_toml(data: dict[str, Any], source: Path) -> Center:
    center = Center()
    known = {f.name: f for f in fields(Center)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{source}: неизвестный параметр [center].{key}")
        if known[key].type in ("Decimal",):
            try:
                value = Decimal(str(value))
            except Exception as exc:  # noqa: BLE001
                raise ConfigError(f"{source}: [center].{key} — не число: {value!r}") from exc
        elif known[key].type == "int" and not isinstance(value, int):
            raise ConfigError(f"{source}: [center].{key} — ожидается целое число, получено {value!r}")
        elif known[key].type == "str" and not isinstance(value, str):
            raise ConfigError(f"{source}: [center].{key} — ожидается строка, получено {value!r}")
        values[key] = value
    center = replace(center, **values)
    if not (center.inn.isdigit() and len(center.inn) in (10, 12)):
        raise ConfigError(f"{source}: [center].inn — ИНН должен состоять из 10 или 12 цифр: {center.inn!r}")
    if not (center.account.isdigit() and len(center.account) == 20):
        raise ConfigError(f"{source}: [center].account — р/с должен состоять из 20 цифр: {center.account!r}")
    return center


def load_settings(config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from defaults, the TOML file and the environment."""
    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
    elif os.environ.get("UNIPAY_CONFIG"):
        path = Path(os.environ["UNIPAY_CONFIG"])
    elif Path("unipay.toml").exists():
        path = Path("unipay.toml")
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: файл конфигурации не найден") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: ошибка синтаксиса TOML: {exc}") from exc
    var_dir = Path(os.environ.get("UNIPAY_VAR_DIR") or data.get("var_dir") or "var")
    center = _center_from_toml(data.get("center", {}), path) if path else Center()
    db_url = os.environ.get("UNIPAY_DB_URL") or data.get("db_url") or default_db_url(var_dir)
    return Settings(db_url=db_url, center=center, var_dir=var_dir, config_file=path)
