"""The provider layer: one dialect per batch API, each mapped onto our one vocabulary (``models.Batch``, output
lines, typed errors), so everything above the transport works the same for every provider.

- ``openai``: OpenAI's ``/v1/files`` + ``/v1/batches`` — also Azure OpenAI, Groq, Together, gateways and our local
  server; their deviations are normalised in ``models`` (the transport's own request descriptions).
- ``anthropic``: Message Batches (:mod:`.anthropic`).
- ``mistral``: batch jobs and files (:mod:`.mistral`).

Choosing one: ``BatchClient(provider="anthropic")``, or detected from the base URL (``api.anthropic.com``,
``api.mistral.ai``, or a path ending in ``/mistral`` as the local server serves it). Each provider reads its usual
environment variables: ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``, ``MISTRAL_API_KEY`` / ``MISTRAL_BASE_URL``.
With neither a key nor a base URL, the embedded local server is used, in that provider's dialect.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Union
from urllib.parse import urlsplit

from .._config import ClientConfig, warn_local_fallback
from ..dialects import MISTRAL_PREFIX
from .anthropic import AnthropicDialect
from .mistral import MistralDialect

__all__ = [
    "PROVIDERS",
    "PROVIDER_ENV",
    "detect_provider",
    "make_dialect",
    "resolve_provider_config",
    "AnthropicDialect",
    "MistralDialect",
]

PROVIDERS = ("openai", "anthropic", "mistral")
#: provider -> (API key variable, base-URL variable, default base URL)
PROVIDER_ENV = {
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    "mistral": ("MISTRAL_API_KEY", "MISTRAL_BASE_URL", "https://api.mistral.ai"),
}

Dialect = Union[AnthropicDialect, MistralDialect]


def check_provider(provider: Optional[str]) -> Optional[str]:
    if provider is not None and provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}; got {provider!r}")
    return provider


def detect_provider(base_url: Optional[str]) -> str:
    """The dialect a base URL speaks: Anthropic's and Mistral's hosts, the local server's ``/mistral`` prefix,
    else OpenAI's (which Azure, Groq, Together and most gateways speak)."""
    if not base_url:
        return "openai"
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host == "api.anthropic.com" or host.endswith(".anthropic.com"):
        return "anthropic"
    if host == "api.mistral.ai" or host.endswith(".mistral.ai") or parts.path.rstrip("/").endswith(MISTRAL_PREFIX):
        return "mistral"
    return "openai"


def resolve_provider_config(
    provider: str,
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Optional[ClientConfig]:
    """Where an Anthropic or Mistral client talks to, from arguments then the provider's environment variables;
    ``None`` when nothing is configured (=> the embedded local server, in this dialect)."""
    env = os.environ if env is None else env
    key_var, url_var, default = PROVIDER_ENV[provider]
    api_key = api_key or env.get(key_var) or None
    base_url = base_url or env.get(url_var) or None
    if api_key is None and base_url is None:
        return None
    return ClientConfig(base_url=(base_url or default).rstrip("/"), api_key=api_key, provider=provider)


def local_provider_config(provider: str) -> ClientConfig:
    from ..server.local import shared_server  # FastAPI/uvicorn load only when needed

    server = shared_server()
    url = server.anthropic_base_url if provider == "anthropic" else server.mistral_base_url
    key_var, url_var, _ = PROVIDER_ENV[provider]
    warn_local_fallback(url, (key_var, url_var), how="pass api_key=", key_var=key_var)
    return ClientConfig(base_url=url, api_key=server.api_key, is_local=True, provider=provider)


def make_dialect(config: ClientConfig) -> Optional[Any]:
    """The dialect object for a configuration (``None`` for OpenAI's, which the transport describes itself)."""
    if config.provider == "anthropic":
        return AnthropicDialect(config.base_url)
    if config.provider == "mistral":
        return MistralDialect(config.base_url)
    return None
