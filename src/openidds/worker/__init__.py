"""The background worker: the jobs that run on the clock rather than on a request (re-checking patients whose
projections passed, marking missed visits, queuing visit reminders, delivering the outbox). `idds worker` runs it
alone; `idds serve` runs it in a thread beside the web server unless told `--no-worker`."""
