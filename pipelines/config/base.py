"""What every settings section shares: strict frozen models and URLs that carry no secret."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A settings section: unknown keys are refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Words that make a URL query parameter a credential (`api_key`, `apikey`, `token`, `access_token`...).
_SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "auth", "signature", "sig"}


def url_without_secret(url: str, env_var: str) -> str:
    """An http(s) URL carrying no credential; a key belongs in `env_var`, never in the file."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://host/v1")  # not echoed: may hold a key
    where = None
    if parts.username or parts.password:
        where = "the user:password@ part"
    for name, _value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_WORDS & set(re.split(r"[_\-.]", name.lower())):
            where = f"the {name}= parameter"
    if where:  # never echo the value: it is a secret
        raise ValueError(f"the URL holds a secret ({where}); remove it and set {env_var} in the environment")
    return url
