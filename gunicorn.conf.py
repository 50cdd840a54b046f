"""gunicorn's settings for a server started from this checkout: gunicorn reads ``./gunicorn.conf.py`` unless told
otherwise (``-c``), so ``gunicorn config.wsgi`` run here gets them without a flag to remember.

Only the logger class: with gunicorn's own logger, its default access-log format writes each request's query, and so
every password-reset and verification link's ticket (``GET /lo/reset?ticket=...``), and lets a ``%0D%0A`` in a path
write a line of its own (``core.access_log``). Everything else is given on the command line (README, *Production*).
"""

logger_class = "core.access_log.AccessLogLogger"
