"""Billing on the store: the monthly run (charges, benefits, reductions, recalculations, penalties,
balances), the daily settlement (payment splits, commissions, fees, provider transfers) and periods."""

from hub.billing.bill import BillingError, BillReport, bill_period, close_period, district_ids, open_period
from hub.billing.settle import SettleReport, settle_day

__all__ = [
    "BillReport",
    "BillingError",
    "SettleReport",
    "bill_period",
    "close_period",
    "district_ids",
    "open_period",
    "settle_day",
]
