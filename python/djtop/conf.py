"""The shim's settings: one ``DJTOP`` dict in settings.py, read once.

Every key is optional::

    DJTOP = {
        "enabled": None,        # None: on when settings.DEBUG is true
        "address": "127.0.0.1:7878",  # collector address, "host:port" or "unix:/path"
        "queue_size": 10000,    # events held while the collector is slow or down
        "stacks": True,         # capture application stack frames per query
        "stack_depth": 20,      # application frames kept per query
        "hide_modules": [],     # extra module prefixes left out of stacks
        "library_frames": 8,    # Django/library frames kept between the query and your code
        "root": None,           # project root; None: settings.BASE_DIR, else the cwd
        "relations": True,      # ORM / relation attribution of queries (N+1 findings)
        "explain": True,        # answer the collector's EXPLAIN requests (docs/explain.md)
        "explain_memory": 2000, # statements remembered for EXPLAIN (by query id)
        "explain_timeout": 5,   # seconds an EXPLAIN (ANALYZE) may run before it is cancelled
    }

Environment variables override the settings: ``DJTOP_ENABLED=0/1`` forces the shim off or
on, ``DJTOP_ADDRESS`` replaces the address, ``DJTOP_RECORD=path`` appends events to that
file instead of sending them to a collector.
"""

import os
import warnings

DEFAULTS = {
    "enabled": None,
    "address": "127.0.0.1:7878",
    "queue_size": 10000,
    "stacks": True,
    "stack_depth": 20,
    "hide_modules": (),
    "library_frames": 8,
    "root": None,
    "relations": True,
    "explain": True,
    "explain_memory": 2000,
    "explain_timeout": 5,
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Config:
    """The resolved settings (see the module docstring for each key)."""

    def __init__(
        self,
        enabled,
        address,
        record,
        queue_size,
        stacks,
        stack_depth,
        hide,
        root,
        relations=True,
        explain=True,
        explain_memory=2000,
        explain_timeout=5.0,
        library_frames=8,
    ):
        self.enabled = enabled
        self.address = address
        self.record = record
        self.queue_size = queue_size
        self.stacks = stacks
        self.stack_depth = stack_depth
        self.hide_modules = hide
        self.root = root
        self.relations = relations
        self.explain = explain
        self.explain_memory = explain_memory
        self.explain_timeout = explain_timeout
        self.library_frames = library_frames

    def __repr__(self):
        return f"Config({self.__dict__!r})"


_config = None


def get():
    """The settings, read from django.conf.settings and the environment on first use."""
    global _config
    if _config is None:
        _config = load()
    return _config


def load(environ=None):
    from django.conf import settings

    env = os.environ if environ is None else environ
    user = getattr(settings, "DJTOP", None)
    if user is None:
        user = {}
    elif not isinstance(user, dict):
        warnings.warn(
            f"DJTOP must be a dict, not {type(user).__name__}; djtop is off", stacklevel=3
        )
        user = {"enabled": False}
    unknown = set(user) - set(DEFAULTS)
    if unknown:
        names = ", ".join(sorted(unknown))
        warnings.warn(f"DJTOP: unknown setting(s) ignored: {names}", stacklevel=3)

    def opt(key):
        return user.get(key, DEFAULTS[key])

    # Strict: only a real boolean or one of the documented words switches capture on; anything
    # else warns and means off (bool("false") is True, and capture ships every statement).
    enabled = None
    raw = env.get("DJTOP_ENABLED")
    if raw is not None and raw.strip():
        enabled = _env_flag(raw)
        if enabled is None:
            warnings.warn(
                f"DJTOP_ENABLED={raw!r} is not one of {'/'.join(_TRUE + _FALSE)}; djtop is off",
                stacklevel=3,
            )
            enabled = False
    if enabled is None and opt("enabled") is not None:
        enabled = _flag(opt("enabled"), "enabled", default=False)
    if enabled is None:
        enabled = bool(getattr(settings, "DEBUG", False))

    address = env.get("DJTOP_ADDRESS") or opt("address") or DEFAULTS["address"]
    record = env.get("DJTOP_RECORD") or None
    if record:
        record = os.path.abspath(os.path.expanduser(record))
    problem = address_problem(address)
    if problem and enabled and not record:
        # Capture with nowhere to send would queue and drop every statement, silently.
        where = "DJTOP_ADDRESS" if env.get("DJTOP_ADDRESS") else "DJTOP['address']"
        warnings.warn(f"{where}={address!r}: {problem}; djtop is off", stacklevel=3)
        enabled = False

    root = opt("root") or getattr(settings, "BASE_DIR", None) or os.getcwd()

    return Config(
        enabled=enabled,
        address=str(address),
        record=record,
        queue_size=_int(opt("queue_size"), "queue_size", minimum=1, maximum=10_000_000),
        stacks=_flag(opt("stacks"), "stacks"),
        stack_depth=_int(opt("stack_depth"), "stack_depth", minimum=0, maximum=1000),
        hide=_modules(opt("hide_modules")),
        root=os.path.abspath(str(root)),
        relations=_flag(opt("relations"), "relations"),
        explain=_flag(opt("explain"), "explain"),
        explain_memory=_int(opt("explain_memory"), "explain_memory", minimum=1, maximum=1_000_000),
        library_frames=_int(opt("library_frames"), "library_frames", minimum=0, maximum=1000),
        explain_timeout=_seconds(opt("explain_timeout"), "explain_timeout"),
    )


def address_problem(address):
    """Why ``address`` is not one the shim can connect to (None when it is): ``HOST:PORT``
    with a port from 1 to 65535, ``[v6]:PORT``, or ``unix:/path``."""
    if not isinstance(address, str):
        return f"must be a string, not {type(address).__name__}"
    if address.startswith("unix:"):
        return None if address[len("unix:") :] else "unix: needs a path (unix:/path/to.sock)"
    if "://" in address:
        return "is a URL; use HOST:PORT (127.0.0.1:7878) or unix:/path"
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return "must be HOST:PORT (127.0.0.1:7878) or unix:/path"
    if not 1 <= int(port) <= 65535:
        return f"port {port} is not from 1 to 65535"
    return None


def _env_flag(value):
    if value is None:
        return None
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def _flag(value, key, default=None):
    """A boolean setting: True/False, or one of the documented words ("true", "off", ...).
    Anything else warns and gives ``default`` (the key's own default when None)."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        flag = _env_flag(value)
        if flag is not None:
            return flag
    if default is None:
        default = DEFAULTS[key]
    warnings.warn(
        f"DJTOP[{key!r}] must be True or False, not {value!r}; using {default}", stacklevel=3
    )
    return default


def _int(value, key, minimum, maximum):
    if isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum:
        return value
    default = DEFAULTS[key]
    warnings.warn(
        f"DJTOP[{key!r}] must be an integer from {minimum} to {maximum}, not {value!r}; "
        f"using {default}",
        stacklevel=3,
    )
    return default


def _seconds(value, key, maximum=3600):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= maximum:
        return float(value)
    default = DEFAULTS[key]
    warnings.warn(
        f"DJTOP[{key!r}] must be a number of seconds above 0 and at most {maximum}, "
        f"not {value!r}; using {default}",
        stacklevel=3,
    )
    return float(default)


def _modules(value):
    if isinstance(value, str):
        value = [value]
    try:
        return tuple(str(m).strip(".") for m in value if m)
    except TypeError:
        warnings.warn("DJTOP['hide_modules'] must be a list of module names", stacklevel=3)
        return ()
