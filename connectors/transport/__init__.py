"""Partner transports: how files travel between the center and its partners.

* :class:`LocalTransport` — a local (or mounted) folder; the embedded default.
* :class:`SftpTransport` — SFTP with key auth, pinned host keys and reconnect-and-retry.
* :func:`transport_for_partner` — the transport of a partner profile (``partners.toml``): the CLI
  takes the SFTP endpoint from the profile, DAGs from the Airflow Connection (``use_airflow=True``).

See docs/transports.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .base import (
    DEFAULT_MARKER_SUFFIX,
    DEFAULT_READINESS,
    PARTIAL_SUFFIXES,
    Readiness,
    ReadinessRules,
    RemoteFile,
    Transport,
)
from .errors import (
    HostKeyError,
    TransportAuthError,
    TransportConfigError,
    TransportConnectionError,
    TransportError,
)
from .local import LocalTransport
from .sftp import (
    RetryPolicy,
    SftpConfig,
    SftpTransport,
    fingerprint,
    load_private_key,
    parse_host_key,
    sftp_config_from_connection,
    sftp_transport_from_airflow,
)

if TYPE_CHECKING:
    from connectors.partners import PartnerProfile

__all__ = [
    "DEFAULT_MARKER_SUFFIX",
    "DEFAULT_READINESS",
    "PARTIAL_SUFFIXES",
    "HostKeyError",
    "LocalTransport",
    "Readiness",
    "ReadinessRules",
    "RemoteFile",
    "RetryPolicy",
    "SftpConfig",
    "SftpTransport",
    "Transport",
    "TransportAuthError",
    "TransportConfigError",
    "TransportConnectionError",
    "TransportError",
    "fingerprint",
    "load_private_key",
    "parse_host_key",
    "sftp_config_from_connection",
    "sftp_transport_from_airflow",
    "transport_for_partner",
]


def transport_for_partner(
    profile: PartnerProfile,
    *,
    use_airflow: bool = False,
    retry: RetryPolicy | None = None,
    base_dir: str | Path | None = None,
) -> Transport:
    """Build (not connect) the transport of a partner profile.

    ``transport = "local"``: a :class:`LocalTransport` on ``profile.local_root`` (relative roots are
    resolved against ``base_dir``, default the folder of the partners file).
    ``transport = "sftp"``: with ``use_airflow`` the endpoint comes from the Airflow Connection
    ``profile.airflow_conn_id`` (``AIRFLOW_CONN_<CODE>``), otherwise from the profile's ``[sftp]`` table.
    """
    if profile.transport == "local":
        if profile.local_root is None:
            raise TransportConfigError(f"Партнёр {profile.code}: не задан local.root (local root missing)")
        root = Path(profile.local_root).expanduser()
        if not root.is_absolute():
            base = Path(base_dir) if base_dir is not None else profile.base_dir
            root = base / root
        return LocalTransport(root)
    if use_airflow:
        root_override = profile.sftp.root if profile.sftp is not None and profile.sftp.root else None
        return sftp_transport_from_airflow(profile.airflow_conn_id, root=root_override, retry=retry)
    if profile.sftp is None:
        raise TransportConfigError(
            f'Партнёр {profile.code}: transport = "sftp", но нет таблицы [partners.{profile.code}.sftp] '
            "(sftp endpoint missing)"
        )
    ep = profile.sftp
    key_file = ep.key_file
    if key_file and not Path(key_file).expanduser().is_absolute():
        key_file = str((Path(base_dir) if base_dir is not None else profile.base_dir) / key_file)
    known_hosts = ep.known_hosts
    if known_hosts and not Path(known_hosts).expanduser().is_absolute():
        known_hosts = str((Path(base_dir) if base_dir is not None else profile.base_dir) / known_hosts)
    return SftpTransport(
        SftpConfig(
            host=ep.host,
            port=ep.port,
            user=ep.user,
            key_file=key_file,
            key_passphrase=ep.key_passphrase(),
            host_key=ep.host_key,
            known_hosts=known_hosts,
            root=ep.root,
            retry=retry if retry is not None else RetryPolicy(),
        )
    )
