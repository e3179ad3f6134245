"""A test-only wrapper around the demo project: Django's own record of each request's queries.

Every demo view is wrapped in ``CaptureQueriesContext`` on every database alias, and what Django
captured is written to ``$DJTOP_E2E_REF_DIR/<id>.json`` for the request's ``?e2e=<id>``, so the
end-to-end tests can compare djtop's recording with Django's own count and SQL, request by
request. Streaming responses are captured until their stream ends.
"""
