"""Order service: validates incoming orders, prices them and books them into the ledger.

This module is the bundled sample that `make run` compresses. It is ordinary, commented
Python of the kind agents paste into their context all day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

logger = logging.getLogger(__name__)

# Orders above this amount need a second approval (finance policy FIN-2023-14).
APPROVAL_THRESHOLD = Decimal("25000.00")

# VAT rates by country code; missing countries are charged the default rate.
VAT_RATES = {
    "DE": Decimal("0.19"),
    "FR": Decimal("0.20"),
    "NL": Decimal("0.21"),
    "GB": Decimal("0.20"),
}
DEFAULT_VAT = Decimal("0.20")


class OrderError(ValueError):
    """Raised when an order cannot be accepted."""


@dataclass
class LineItem:
    """One product line of an order."""

    sku: str  # stock keeping unit, e.g. "KB-104-BLK"
    quantity: int
    unit_price: Decimal

    def total(self) -> Decimal:
        """Price of the line before tax."""
        return self.unit_price * self.quantity


@dataclass
class Order:
    """A customer order as received from the storefront API."""

    order_id: str
    customer_id: str
    country: str
    items: list[LineItem] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def subtotal(self) -> Decimal:
        """Sum of all line totals, before tax."""
        return sum((item.total() for item in self.items), Decimal("0"))


def validate(order: Order) -> None:
    """Check an order before pricing it.

    Raises:
        OrderError: when the order has no items, a non-positive quantity,
            or a negative price.
    """
    if not order.items:
        raise OrderError(f"order {order.order_id} has no items")
    for item in order.items:
        # Quantities come from a free-form field in the legacy app, so check them here.
        if item.quantity <= 0:
            raise OrderError(f"{item.sku}: quantity must be positive, got {item.quantity}")
        if item.unit_price < 0:
            raise OrderError(f"{item.sku}: negative unit price {item.unit_price}")


def price(order: Order) -> dict[str, Decimal]:
    """Return subtotal, VAT and total for an order, rounded to cents."""
    rate = VAT_RATES.get(order.country, DEFAULT_VAT)
    subtotal = order.subtotal()
    vat = (subtotal * rate).quantize(Decimal("0.01"))
    total = subtotal + vat
    return {"subtotal": subtotal, "vat": vat, "total": total}


def needs_approval(totals: dict[str, Decimal]) -> bool:
    """Large orders go to a second approver before booking."""
    return totals["total"] >= APPROVAL_THRESHOLD


def book(order: Order, ledger: list[dict[str, object]]) -> dict[str, object]:
    """Validate, price and append the order to the ledger; return the ledger entry."""
    validate(order)
    totals = price(order)

    entry: dict[str, object] = {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "booked_at": datetime.now(timezone.utc).isoformat(),
        "status": "pending_approval" if needs_approval(totals) else "booked",
        **totals,
    }

    # The ledger is append-only; corrections are booked as new entries.
    ledger.append(entry)
    logger.info("booked order %s (%s)", order.order_id, entry["status"])
    return entry
