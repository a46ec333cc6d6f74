"""``python -m sandbox``: start the fake supplier (see ``sandbox.server.main``)."""

from sandbox.server import main

if __name__ == "__main__":
    raise SystemExit(main())
