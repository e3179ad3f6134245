"""djtop: a terminal debug toolbar for Django's SQL.

This package is the shim that runs inside the Django process. Add ``"djtop"`` to
``INSTALLED_APPS`` and ``"djtop.middleware.DjtopMiddleware"`` first in ``MIDDLEWARE``;
see docs/configuration.md.
"""

__version__ = "0.1.0"
