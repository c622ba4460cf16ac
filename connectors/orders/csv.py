"""`kind = "csv"`: a file with one row per order line (columns in :data:`CSV_COLUMNS`; other exports
are read through ``[orders] columns`` header mapping). Bad rows are reported with their line
numbers; the rest are read."""

from __future__ import annotations

import csv
import io

from bot.errors import OrderSyncError
from bot.match import mask_email
from connectors.orders.base import (
    CSV_COLUMNS,
    REQUIRED_COLUMNS,
    FULFILLMENT,
    FULFILLMENT_ALIASES,
    TRACKING,
    TRACKING_ALIASES,
    OrdersConfig,
    ParsedLine,
    ParsedOrder,
    money,
    parse_when,
    quantity,
    status_of,
)

def decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise OrderSyncError(f"{path}: cannot tell the file's text encoding",
                                 hint="save the export as UTF-8") from None
        return str(best)


def read_csv(text: str, config: OrdersConfig, path: str = "orders.csv") -> tuple[list[ParsedOrder], int, list[str]]:
    """Parse an orders csv: (orders, data rows, errors 'line N: ...'). Bad rows are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=config.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise OrderSyncError(f"{path}: the file is empty", hint="export orders with a header row") from None
    header = [h.strip() for h in header]
    index: dict[str, int] = {}
    for column in CSV_COLUMNS:
        wanted = config.columns.get(column, column)
        for i, name in enumerate(header):
            if name.lower() == wanted.lower():
                index[column] = i
                break
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if "sku" not in index and "product_name" not in index:
        missing.append("sku or product_name")
    if missing:
        hint = "map your export's headers in [orders] columns, e.g. order_number = \"Order ID\""
        if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
            # One column that holds the separators of another dialect: the delimiter is wrong.
            sep = next(sep for sep in ";\t|" if sep in header[0])
            hint = f"the file looks {'tab' if sep == chr(9) else repr(sep)}-separated: set [orders] delimiter = {sep!r}"
        raise OrderSyncError(
            f"{path}: line 1: missing column(s) {', '.join(missing)} (header: {', '.join(header)})",
            hint=hint,
        )
    orders: dict[str, ParsedOrder] = {}
    errors: list[str] = []
    rows = 0
    line_no = 1
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {start}: unreadable csv: {exc}")
            break
        line_no = start
        if not any(cell.strip() for cell in row):
            continue
        rows += 1

        def get(column: str, row: list[str] = row) -> str:
            i = index.get(column)
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            number = get("order_number")
            if not number:
                raise ValueError("order_number is empty")
            email = get("customer_email")
            if "@" not in email or email.startswith("@") or email.endswith("@"):
                raise ValueError(f"customer_email {mask_email(email) if '@' in email else repr(email)} is not an email")
            placed = parse_when(get("order_date"), "order_date")
            name = get("product_name") or get("sku")
            if not name:
                raise ValueError("the row names no product (sku and product_name are empty)")
            line = ParsedLine(
                name=name,
                sku=get("sku") or None,
                product_url=get("product_url") or None,
                quantity=quantity(get("quantity")),
                unit_price=money(get("unit_price"), "unit_price"),
            )
            fulfilment = status_of(get("fulfillment_status"), FULFILLMENT, FULFILLMENT_ALIASES, "fulfillment_status")
            tracking = status_of(get("tracking_status"), TRACKING, TRACKING_ALIASES, "tracking_status")
            delivered = parse_when(get("delivered_date"), "delivered_date") if get("delivered_date") else None
            expected = (parse_when(get("expected_delivery_date"), "expected_delivery_date")
                        if get("expected_delivery_date") else None)
            currency = (get("currency") or config.default_currency).upper()
            if len(currency) != 3 or not currency.isalpha():
                raise ValueError(f"currency {currency!r} is not a three-letter code")
            country = get("shipping_country").upper() or None
            if country is not None and (len(country) != 2 or not country.isalpha()):
                raise ValueError(f"shipping_country {country!r} is not a two-letter country code")
        except ValueError as exc:
            errors.append(f"line {line_no}: {exc}")
            continue
        order = orders.get(number)
        if order is None:
            orders[number] = ParsedOrder(
                number=number, placed_at=placed, email=email.lower(), name=get("customer_name") or None,
                handles=get("social_handles").split(), country=country, currency=currency,
                fulfillment_status=fulfilment, tracking_status=tracking, delivered_at=delivered,
                expected_delivery_at=expected, lines=[line],
            )
        elif order.email != email.lower():
            errors.append(f"line {line_no}: order {number} already belongs to {mask_email(order.email)}, "
                          f"this row says {mask_email(email)}; row skipped")
        else:
            order.lines.append(line)
            order.handles.extend(h for h in get("social_handles").split() if h not in order.handles)
    return list(orders.values()), rows, errors
