"""Batches: an operator's CSV or XLSX of orders, previewed, confirmed, then sent and followed.

- `reading`: the uploaded file read as a stream of raw rows (format, encoding, delimiter, limits);
- `parsing`: one raw row into typed values and the problems of that row alone;
- `validation`: the rows against the catalog, and the estimate (nothing written);
- `template`: the downloadable template, CSV and XLSX;
- `preview`: a file stored as a batch in PREVIEW with its rows, confirmed (a worker creates the
  orders) or discarded; the supplier look-ups it needs are `orders.lookups`;
- `states`: the table of a batch's allowed moves and the only writers of `Batch.status`;
- `services`: create, confirm, send, pause, resume; DONE when no order is open, RUNNING again when
  one is (also exported by `orders.services`);
- `selectors`: the list, progress and sending rate, orders and preview rows of a batch;
- `forms`, `views`, `urls`: the batch pages.

A batch's orders are orders like any other (`orders.services`, `orders.states`).
"""
