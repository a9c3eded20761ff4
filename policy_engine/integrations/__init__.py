"""Integrations of the engine into agents and agent frameworks.

- ``integrations/pi/``: the pi extension, a pi package (JavaScript) shipped as package data;
  :mod:`policy_engine.integrations.pi_setup` registers it with pi (``mp-policy pi install``).
- :mod:`policy_engine.integrations.errors`: provider SDK errors and responses as ``Engine.fail`` arguments
  (the code lives with the failover loop, in :mod:`policy_engine.engine.sdk_errors`).
- :mod:`policy_engine.integrations.litellm`: a LiteLLM router whose deployments the policy picks.
"""
