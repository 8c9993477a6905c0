"""wharf.jobs: a durable job queue in the database, and the runner every replica starts.

Jobs (a kind, a JSON payload) wait in the ``jobs`` table until a runner claims them; each
claim hands a job to exactly one worker across every process and replica (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, the single writer on SQLite) under a lease the worker renews
while it runs. A worker that dies stops renewing; once its lease runs out, the job is
claimed again. Failures are retried with backoff up to the job's ``max_attempts``; a stop
request ends a pending job at once and a running one at its worker's next heartbeat.
Replication tasks, retention runs and webhook deliveries are jobs.

Imports only ``wharf.db`` of Wharf's packages."""
