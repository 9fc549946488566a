"""Files on a fake root (the modules' ``kdump_root``), for tests of any tier."""


def put(root, path, text):
    """Write ``text`` at the minion path ``path`` under ``root``; returns the real path."""
    real = root / path.lstrip("/")
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(text, encoding="utf-8")
    return real
