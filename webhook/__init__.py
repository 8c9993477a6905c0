"""wharf.webhook: Harbor's project webhooks. Policies (targets and the event types they
want) are stored per project; the subscriber turns the domain events of the bus into
deliveries on the durable job queue (``wharf.jobs``), each with a stable event id, which
the job runner sends with retries and exponential backoff."""
