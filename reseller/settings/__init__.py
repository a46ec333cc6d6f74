"""Settings modules: base (shared), local (a developer's machine), test, production."""
