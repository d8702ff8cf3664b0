"""Reports for the dashboards: every SQL query the Streamlit pages show, with the role filter built in.

Modules: :mod:`~hub.reports.exchange` (registry monitoring and DAG runs), :mod:`~hub.reports.money`
(money flow: collected, split, transferred), :mod:`~hub.reports.analytics` (charged vs paid, debt aging,
debtors, penalties, recalculations), :mod:`~hub.reports.account` (account search, dossier, statement),
:mod:`~hub.reports.common` (filters, scope, data version), :mod:`~hub.reports.fmt` (Russian number and
date formatting) and :mod:`~hub.reports.mart` (the reporting mart: aggregate tables the money and
analytics reports read while they are fresh).

Every function that returns money takes ``provider_id``: ``None`` for the whole center, or the id of the
provider whose user is looking — then the SQL itself keeps only that provider's rows. Aggregation always
happens in SQL; what comes back is small (one row per day, partner, service, bucket…).
"""
