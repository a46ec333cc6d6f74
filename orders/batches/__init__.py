"""Batches: an operator's CSV or XLSX of orders, previewed, confirmed, then sent and followed."""
