"""Privacy guard: prompts carry patient data, so nothing is sent off this machine without an explicit opt-in.

Only loopback hosts count as "this machine": 127.0.0.0/8, ::1 (also IPv4-mapped) and the name `localhost`.
Other names are not resolved: a LAN address or a name that happens to point here is still treated as remote,
because what it points to can change without the user noticing.
"""

import ipaddress
from typing import Optional
from urllib.parse import urlsplit

from mlxclin.errors import MlxclinError

MIN_SECRET_FRAGMENT = 8   # any run of this many characters of an API key is a secret; shorter ones are noise
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"   # where the openai SDK sends requests without a base URL
ALLOW_REMOTE_FLAG = "--allow-remote"


def url_host(base_url: str) -> str:
    """Host name of an http(s) URL (lower case, IPv6 without brackets); a one-line error for anything else."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MlxclinError(f"base URL {base_url!r} is not an http(s) URL such as http://127.0.0.1:8080/v1")
    return parts.hostname.lower()


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def check_base_url(base_url: Optional[str], allow_remote: bool) -> None:
    """Refuse, in one line, to send requests anywhere but this machine unless `allow_remote` is set.

    `base_url=None` means the OpenAI cloud (the SDK's default endpoint).
    """
    host = url_host(base_url or DEFAULT_OPENAI_BASE_URL)
    if allow_remote or is_loopback_host(host):
        return
    where = "the OpenAI cloud (no base URL given)" if base_url is None else f"{host}, which is not this machine"
    raise MlxclinError(f"refusing to send prompts to {where}: patient data would leave the machine; "
                       f"pass {ALLOW_REMOTE_FLAG} if that is intended and allowed")


def redact_secret(text: str, secret: Optional[str], min_length: int = MIN_SECRET_FRAGMENT) -> str:
    """`text` with every run of >= min_length characters that also occurs in `secret` replaced by ***.

    Providers echo keys whole, truncated ("sk-abc...xyz") or masked in the middle; replacing only the whole key
    would keep the echoed fragments. Shorter runs (a "sk-" prefix, a few end characters) carry no secret.
    """
    if not text or not secret or len(secret) < min_length:
        return text.replace(secret, "***") if text and secret else text
    windows = {secret[i:i + min_length] for i in range(len(secret) - min_length + 1)}
    spans, i = [], 0
    while i <= len(text) - min_length:
        if text[i:i + min_length] not in windows:
            i += 1
            continue
        end = i + min_length
        while end < len(text) and text[i:end + 1] in secret:   # grow the match as far as the key allows
            end += 1
        spans.append((i, end))
        i = end
    for start, end in reversed(spans):
        text = text[:start] + "***" + text[end:]
    return text
