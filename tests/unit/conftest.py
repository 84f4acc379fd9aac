import pytest

#: Configuration the client reads from the environment; unit tests set what they need explicitly.
CLIENT_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
)


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch):
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
