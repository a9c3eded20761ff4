"""Provider families and accounts: base keys, credentials, and the built-in families' registration.

Takes in ``auth.json`` and the registered families (hook ``mp_policy_providers``); gives out
:class:`ProviderSpec` (a family: base key, display name, error rules, credential reader, model
catalogue), :func:`base_of` (``anthropic-2`` → ``anthropic``) and, in
:mod:`~policy_engine.providers.auth`, which accounts have a login. The five built-in families are
registered as a default plugin by :mod:`~policy_engine.providers.builtin`; their error rules live
with the classifier (:mod:`policy_engine.classify.provider_rules`). This face re-exports
:mod:`~policy_engine.providers.families`, the plugin-facing path of ``ProviderSpec``.
"""

from __future__ import annotations

from policy_engine.providers.families import (
    Credential,
    CredentialReader,
    ProviderSpec,
    base_of,
    read_credential,
    subscription_name,
)

__all__ = ["Credential", "CredentialReader", "ProviderSpec", "base_of", "read_credential", "subscription_name"]
