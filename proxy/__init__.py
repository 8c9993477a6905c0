"""The pull-through proxy cache: a project created with a ``registry_id`` mirrors that
remote registry.

- ``directory``: which projects are proxy caches (cached across processes, invalidated
  through the coordination's generations when a project is created or deleted);
- ``fetch``: one blob fetched from upstream into the store while every client asking for
  it reads it as it arrives (single-flight in the process, a lease across processes and
  replicas);
- ``service``: the /v2 reads of a proxy project — manifests (tags re-checked upstream after
  an interval, the cached copy served when upstream fails) and blobs.
"""
