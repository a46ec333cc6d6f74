"""A standalone, fault-injectable fake of the supplier APIs the back-office talks to.

The sandbox speaks the GamesDrop Partner API, its CodeGames dialect and the Telegram Bot API
``sendCustomRequest`` method over real HTTP, keeps all of its state in one SQLite file, and is
steered by tests through an admin API (accounts, prices, settings, faults).

It uses only the Python standard library on purpose: it is never imported by the back-office
and must start on a bare Python (``python -m sandbox``). See ``sandbox/README.md``.
"""
