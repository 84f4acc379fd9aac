"""Where the client talks to and how it authenticates, resolved like the official SDK from arguments and env.

Arguments win over environment variables. Azure OpenAI is chosen by an ``api_version`` argument, or by Azure
environment variables when no plain OpenAI target (``base_url`` / ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``)
was given. With nothing configured at all the caller falls back to the embedded local server.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from . import __version__
from .dialects import ANTHROPIC_VERSION
from .errors import BatchWidgetsError, LocalServerWarning

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_AZURE_API_VERSION = "2024-10-21"  # the GA data-plane version that has /batches
AZURE_ENV = ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION")
#: Every environment variable resolve_config reads to find a provider (the local-server warning lists them).
OPENAI_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", *AZURE_ENV)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_warned_local = False


@dataclass(frozen=True)
class ClientConfig:
    base_url: str  # without a trailing slash; API paths ("/batches") are appended to it
    api_key: Optional[str] = field(default=None, repr=False)
    organization: Optional[str] = None
    project: Optional[str] = None
    api_version: Optional[str] = None  # Azure's api-version query parameter (not used by its /openai/v1 API)
    is_azure: bool = False
    is_local: bool = False
    provider: str = "openai"  # the dialect spoken: "openai", "anthropic" or "mistral" (see batch_widgets.providers)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"batch_widgets/{__version__}"}
        if self.provider == "anthropic":  # Anthropic authenticates by x-api-key and needs a version header
            headers["anthropic-version"] = ANTHROPIC_VERSION
            if self.api_key:
                headers["x-api-key"] = self.api_key
            return headers
        if self.api_key:
            if self.is_azure:
                headers["api-key"] = self.api_key
            else:
                headers["Authorization"] = f"Bearer {self.api_key}"
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        return headers

    def params(self, params: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
        """Query parameters with ``None`` values dropped and Azure's ``api-version`` added."""
        out = {k: v for k, v in (params or {}).items() if v is not None}
        if self.api_version:
            out["api-version"] = self.api_version
        return out

    def redact(self, text: str) -> str:
        """Remove the API key from text that came from outside (a server may echo it back)."""
        return text.replace(self.api_key, "<redacted>") if self.api_key and len(self.api_key) >= 4 else text


def _azure_base(endpoint: str) -> str:
    """``https://res.openai.azure.com`` -> ``https://res.openai.azure.com/openai`` (batches/files are not
    deployment-scoped, so nothing else is added)."""
    if urlsplit(endpoint).path.endswith(("/openai", "/openai/v1")):
        return endpoint
    return endpoint + "/openai"


def _looks_azure(url: Optional[str]) -> bool:
    host = urlsplit(url).hostname or "" if url else ""
    return host.endswith((".azure.com", ".azure-api.net"))


def resolve_config(
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    *,
    organization: Optional[str] = None,
    project: Optional[str] = None,
    api_version: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Optional[ClientConfig]:
    """The configuration to use, or ``None`` when nothing is configured (=> use the embedded local server)."""
    env = os.environ if env is None else env
    get = lambda name: env.get(name) or None  # noqa: E731 - empty env values count as unset
    organization = organization or get("OPENAI_ORG_ID")
    project = project or get("OPENAI_PROJECT_ID")

    openai_target = base_url or get("OPENAI_BASE_URL") or api_key or get("OPENAI_API_KEY")
    azure = (
        api_version is not None
        or _looks_azure(base_url)
        or (not openai_target and any(get(name) for name in AZURE_ENV))
    )
    if azure:
        endpoint = (base_url or get("AZURE_OPENAI_ENDPOINT") or "").rstrip("/")
        if not endpoint:
            raise BatchWidgetsError(
                "Azure OpenAI needs an endpoint: pass base_url='https://<resource>.openai.azure.com' "
                "or set AZURE_OPENAI_ENDPOINT"
            )
        # The newer v1 data plane ({endpoint}/openai/v1/...) takes no api-version unless one is asked for.
        v1 = urlsplit(endpoint).path.endswith("/openai/v1")
        return ClientConfig(
            base_url=_azure_base(endpoint),
            api_key=api_key or get("AZURE_OPENAI_API_KEY") or get("OPENAI_API_KEY"),
            organization=organization,
            project=project,
            api_version=api_version or (None if v1 else get("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION),
            is_azure=True,
        )

    api_key = api_key or get("OPENAI_API_KEY")
    base_url = base_url or get("OPENAI_BASE_URL")
    if api_key is None and base_url is None:
        return None
    return ClientConfig(
        base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
        api_key=api_key,
        organization=organization,
        project=project,
    )


def warn_local_fallback(
    server_url: str,
    looked_for: Sequence[str] = OPENAI_ENV,
    *,
    how: str = 'BatchClient(api_key="sk-...")',
    key_var: str = "OPENAI_API_KEY",
) -> None:
    """Say once per process (a notebook kernel), where the user sees it, that answers will be simulated.

    A ``LocalServerWarning``: shown under the cell that made the client; ``warnings.filterwarnings("ignore",
    category=LocalServerWarning)`` silences it.
    """
    global _warned_local
    if _warned_local:
        return
    _warned_local = True
    message = (
        f"No API key found, so batch_widgets uses its embedded local server ({server_url}). Its answers and "
        "costs are simulated: no model is called.\n"
        f"Looked for the api_key= and base_url= arguments, then {', '.join(looked_for)} in this process's "
        "environment (a key exported in a shell profile is only seen by a Jupyter started from that shell).\n"
        f"To use a provider: {how}, or set {key_var} and restart the kernel."
    )
    warnings.warn(message, LocalServerWarning, stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    """The stacklevel of the first caller outside this package, so the warning points at the user's line."""
    frame: Optional[types.FrameType] = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level
