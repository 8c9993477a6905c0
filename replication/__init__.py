"""wharf.replication: other registries — endpoints, the outbound OCI client, replication.

``client/`` is the one outbound OCI client (auth, retries, streaming, TLS per endpoint);
it imports only the OCI vocabulary (``wharf.registry.oci``) of the registry, so the
replication jobs and the pull-through proxy can both sit on it."""
