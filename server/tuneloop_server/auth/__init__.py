"""Who is calling: API keys, the principal of each RPC, quotas, first-start key files."""

from .principal import Principal, current_principal

__all__ = ["Principal", "current_principal"]
