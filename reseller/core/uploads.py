"""A cap on the files a request may upload, applied while the body streams in.

Django spools every uploaded file to disk before a view sees it, however large. A view that takes
files installs `CappedUploads` first (before anything reads the request's body, so under
`csrf_exempt` with `csrf_protect` inside: the CSRF check itself reads the body), and a file past
the cap is skipped as it arrives: nothing more of it is kept, and the view says so.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class CappedUploads(FileUploadHandler):
    """Passes each file's chunks on to Django's own handlers until the file passes `limit`
    bytes; then that file is skipped, and its field name is in `too_big`."""

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.too_big: set[str] = set()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.too_big.add(self.field_name)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file


def cap_uploads(request, *, limit: int) -> CappedUploads:
    """Install the cap on `request` (before its body is read) and return it."""
    handler = CappedUploads(request, limit=limit)
    request.upload_handlers.insert(0, handler)
    return handler
