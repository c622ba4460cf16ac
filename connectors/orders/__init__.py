"""Order sources: where the shop's orders come from (``[orders] kind``).

``csv`` reads a file (also ``recoverybot orders import FILE``); the shop APIs (``woocommerce``,
``shopify``) yield pages of parsed orders from a cursor. ``bot.orders`` stores what they yield.
Adding an API source is one module with a ``pages()`` function and one line in :data:`API_SOURCES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from connectors.orders import shopify, woocommerce
from connectors.orders.base import OrderApi, OrderPage, OrdersConfig, ParsedLine, ParsedOrder

__all__ = ["API_SOURCES", "OrderApi", "OrderPage", "OrdersConfig", "ParsedLine", "ParsedOrder"]

PageSource = Callable[[OrdersConfig, OrderApi, dict[str, Any], datetime], Iterator[OrderPage]]

# kind -> the function that pages through its orders.
API_SOURCES: dict[str, PageSource] = {
    "shopify": shopify.pages,
    "woocommerce": woocommerce.pages,
}
