"""A declarative tenant for local and CI runs: ``manage.py load_tenant`` reads the Auth0 Deploy CLI's formats.

No models: it reads a file (``reader``) and applies it through the services of ``connections``, ``clients`` and
``users`` (``loader``), which is why it sits above them and is not part of any of them. ``manage.py serve_setup``
(every step ``scripts/serve.sh`` takes before it serves, ``load_tenant`` among them) is here for the same reason.
"""
