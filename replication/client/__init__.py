"""The outbound OCI distribution client: one ``RegistryClient`` per remote endpoint.

- ``endpoint``: what a remote is (URL, type, credential, TLS) and what each type can do;
- ``auth``: Docker token auth (GET and OAuth2 POST, refresh tokens), Basic, anonymous;
- ``transport``: one aiohttp session per endpoint, retries with backoff honouring
  ``Retry-After``, authentication on 401, the remote's OCI error bodies as exceptions;
- ``blobs``: where the bytes of a pushed blob come from (memory, a file, another remote),
  read in chunks and never held whole;
- ``client``: the distribution API itself (ping, catalog, tags, manifests, blobs, mounts,
  referrers with the tag-schema fallback) and ``copy_blob`` between two remotes.
"""
