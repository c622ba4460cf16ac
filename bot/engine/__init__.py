"""Where the jobs run when one machine is not enough: ``[engine] kind = "celery"``.

The embedded daemon (:mod:`bot.daemon`) stays the default; :mod:`bot.engine.celery_app` runs the
same stage functions as Celery tasks, enqueued by one scheduler on the daemon's own schedules.
"""
