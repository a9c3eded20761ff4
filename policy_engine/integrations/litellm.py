"""A LiteLLM Router whose deployments the mp-policy policy picks (optional extra ``mp-policy[litellm]``).

::

    from policy_engine import Engine
    from policy_engine.integrations.litellm import policy_router

    engine = Engine.load()
    router = policy_router(engine, accounts={
        "anthropic":      {"model": "anthropic/{model}", "api_key": KEY_A},
        "anthropic-2":    {"model": "anthropic/{model}", "api_key": KEY_B},
        "openai-codex":   {"model": "openai/{model}", "api_key": KEY_C, "api_base": BASE},
    })
    reply = router.completion(model="main", messages=[...])     # "main": a chain of the policy

How it fits LiteLLM (the interfaces of LiteLLM 1.110, ``Router.register_plugin`` and ``CustomLogger``):

* **One deployment per account.** Each account becomes one deployment of the model group
  ``mp-policy`` (``model_info.id`` = the account name); ``litellm_params`` are the account's, and
  ``{model}`` in its ``model`` is replaced on every pick by the model the policy chose (a chain
  entry's model, a preset entry's model), so one deployment serves every model of its account.
* **The policy picks.** The plugin is the router's custom routing strategy
  (``register_plugin``): the first pick of a request starts a turn (``Engine.select`` with the
  route the request's ``model`` names), every retry's pick follows the turn. The names a request
  may use are the policy's chains (``main`` or ``chain/main``), its presets (``preset/NAME``) and
  the ``routes`` given (``{"fast": {"pool": "codex", "model": "gpt-5-mini"}}``); each is a model
  group alias of ``mp-policy``.
* **Outcomes go to the engine.** The plugin is also a LiteLLM callback (``litellm.callbacks``):
  a failed call is reported with ``Engine.fail`` (status, headers, body of the provider's
  error, read by :mod:`policy_engine.engine.sdk_errors`), a successful one with
  ``Engine.succeed`` and the provider's response headers (passive quota capture). Calls that
  are not this router's are ignored.
* **LiteLLM's own reliability steps aside** where it would fight the engine: cooldowns are off
  (``disable_cooldowns``: the engine's cooldowns honour ``retry-after`` and reset headers and
  are shared by every process through the state store), model-group fallbacks are off (the
  policy's chains are the fallbacks), the SDKs' own retries are off (``max_retries: 0``), and
  LiteLLM's retry loop is only the carrier of the engine's decisions: it may retry every kind
  of error as many times as there are accounts, and each retry's pick asks the engine, which
  ends the request with the provider's own exception when the error does not rotate, or with
  :class:`~policy_engine.AttemptsExhausted` (``retry_after``, the last Decision, the classified
  error) when no account is left.

LiteLLM fetches its model price map from the network when it is imported; offline, set
``LITELLM_LOCAL_MODEL_COST_MAP=True``. ``litellm`` is imported when a router is built, never by
importing this module.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from policy_engine.common.records import dataclass
from policy_engine.engine.attempts import AttemptError, AttemptsExhausted, describe_end
from policy_engine.engine.sdk_errors import read_failure, read_headers

if TYPE_CHECKING:
    from policy_engine.engine import Engine
    from policy_engine.evaluate.decision import Decision

__all__ = ["DEFAULT_GROUP", "PolicyRouting", "policy_router"]

#: The model group every account's deployment belongs to.
DEFAULT_GROUP = "mp-policy"
_TURN_KEY = "mp_policy_turn"
_OWNER_KEY = "mp_policy_router"
_MAX_OPEN_TURNS = 4096  # turns of requests in flight (or abandoned) kept per router


@dataclass
class _Turn:
    """What the plugin remembers of one request's turn between LiteLLM's picks and callbacks."""

    decision: Decision
    provider: str | None = None  # the account of the attempt in flight
    model: str | None = None
    reported: bool = True  # whether the attempt in flight has been reported (fail or succeed)
    exception: BaseException | None = None  # the last provider exception
    seen: set[int] = field(default_factory=set)  # ids of exceptions already reported
    attempts: list[tuple[str, Decision | None]] = field(default_factory=list)  # account, its failure


class PolicyRouting:
    """The routing strategy and callback that put a LiteLLM Router under an mp-policy :class:`Engine`.

    Build routers with :func:`policy_router` (or pass :meth:`router_arguments` to ``litellm.Router``
    yourself and call :meth:`attach`). ``accounts`` maps each account to its ``litellm_params``
    (``{model}`` in ``model`` is the policy's model); ``routes`` adds request names; ``group`` is
    the model group of the deployments.
    """

    def __init__(self, engine: Engine, accounts: Mapping[str, Mapping[str, Any]], *,
                 routes: Mapping[str, Mapping[str, str]] | None = None, group: str = DEFAULT_GROUP) -> None:
        super().__init__()  # LiteLLM's CustomLogger state, when built by policy_router
        engine = getattr(engine, "engine", engine)  # an AsyncEngine's engine: LiteLLM's async picks run it off the loop
        if not accounts:
            raise ValueError("policy_router needs at least one account")
        graph = engine.graph
        for name, params in accounts.items():
            if name not in graph.accounts:
                raise ValueError(f"account {name!r} is not an account of the policy "
                                 f"(known: {', '.join(sorted(graph.accounts))})")
            if not isinstance(params.get("model"), str) or not params["model"]:
                raise ValueError(f"account {name!r}: litellm_params need a 'model', e.g. 'openai/{{model}}'")
        self.engine = engine
        self.accounts = {name: dict(params) for name, params in accounts.items()}
        self.group = group
        self.routes = self._routes(routes or {})
        self.router_id = secrets.token_hex(8)
        """Marks this plugin's requests (request metadata ``mp_policy_router``); unique per plugin, so that
        LiteLLM, which keeps one callback per class and public attributes, keeps every router's."""
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self._lock = threading.Lock()

    def _routes(self, extra: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
        graph = self.engine.graph
        routes: dict[str, dict[str, str]] = {}
        for name in graph.chains:
            routes[name] = {"chain": name}
            routes[f"chain/{name}"] = {"chain": name}
        for name in graph.presets:
            routes[f"preset/{name}"] = {"preset": name}
        allowed = {"provider", "pool", "chain", "preset", "model"}
        for name, request in extra.items():
            unknown = set(request) - allowed
            if unknown or not set(request) & {"provider", "pool", "chain", "preset"}:
                raise ValueError(f"route {name!r}: give one of provider/pool/chain/preset (and a model); "
                                 f"got {dict(request)!r}")
            routes[name] = dict(request)
        if self.group in routes:
            raise ValueError(f"route name {self.group!r} is the deployments' model group; choose another group")
        return routes

    # -- building the router ---------------------------------------------------------------------

    def model_list(self) -> list[dict[str, Any]]:
        """One deployment per account, in the group :attr:`group`, identified by the account name."""
        return [{"model_name": self.group, "litellm_params": dict(params), "model_info": {"id": name}}
                for name, params in self.accounts.items()]

    def router_arguments(self, **overrides: Any) -> dict[str, Any]:
        """``litellm.Router`` arguments: the deployments, the route aliases, and LiteLLM's reliability set aside.

        ``overrides`` are merged in (other Router settings: ``timeout``, ``redis_url`` …); the
        settings this plugin depends on cannot be overridden.
        """
        from litellm.types.router import RetryPolicy

        carriers = len(self.accounts)  # a turn tries each account at most once; one more pick ends it
        fixed: dict[str, Any] = {
            "model_list": self.model_list(),
            "model_group_alias": dict.fromkeys(self.routes, self.group),
            "num_retries": carriers,
            "retry_policy": RetryPolicy(**{name: carriers for name in RetryPolicy.model_fields}),
            "retry_after": 0,
            "disable_cooldowns": True,
            "fallbacks": [],
            "default_fallbacks": None,
            "context_window_fallbacks": [],
            "content_policy_fallbacks": [],
        }
        clash = sorted(set(overrides) & set(fixed))
        if clash:
            raise ValueError(f"policy_router sets {', '.join(clash)} itself (the policy decides failover)")
        params = dict(overrides.pop("default_litellm_params", None) or {})
        params["max_retries"] = 0  # the SDKs' own retries would hammer a rate-limited account
        return {**overrides, **fixed, "default_litellm_params": params}

    def attach(self, router: Any) -> Any:
        """Make this plugin ``router``'s routing strategy and a LiteLLM callback; returns ``router``."""
        import litellm

        router.register_plugin(self)
        litellm.logging_callback_manager.add_litellm_callback(self)
        return router

    def detach(self) -> None:
        """Stop receiving LiteLLM callbacks (the router keeps this plugin as its strategy)."""
        import litellm

        # LiteLLM copies ``litellm.callbacks`` into its success and failure lists: leave them all.
        litellm.logging_callback_manager.remove_callback_from_all_lists(self, require_self=False)

    # -- picks (LiteLLM's custom routing strategy interface) -----------------------------------

    def _request(self, model: str) -> dict[str, str]:
        route = self.routes.get(model)
        if route is None:
            raise ValueError(f"model {model!r} names no route of the policy; known: {', '.join(sorted(self.routes))}")
        return route

    @staticmethod
    def _prompt(messages: Any) -> str | None:
        """The last user message's text, for custom selectors (``ctx.prompt``)."""
        if not isinstance(messages, list):
            return None
        for message in reversed(messages):
            if isinstance(message, Mapping) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    parts = [p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
                    return "\n".join(parts) if parts else None
        return None

    def _deployment(self, turn: _Turn) -> dict[str, Any]:
        """The deployment of the turn's current target, its model filled in; raises when the turn is over.

        LiteLLM asks again after each of these raises until its retries are used up: the turn stays
        (in :attr:`_turns`) so that every such pick raises the same, and no new turn starts.
        """
        decision = turn.decision
        if decision.error is not None and not decision.error.rotate and turn.exception is not None:
            raise turn.exception  # the provider's own exception (LiteLLM's), as it was raised
        target = decision.target
        if target is None:
            tried = [(p, d.error.kind if d is not None and d.error else "failed") for p, d in turn.attempts]
            raise AttemptsExhausted(describe_end(decision, tried), decision=decision, attempts=(),
                                    exception=turn.exception) from turn.exception
        if target.provider not in self.accounts:
            raise ValueError(f"the policy chose {target.provider}, which has no LiteLLM deployment: add it to the "
                             f"accounts (now {', '.join(self.accounts)}) or leave it out of the engine's auth")
        if target.model is None:
            raise ValueError(f"the route gives no model for {target.provider}: name one in the route "
                             "(routes={'name': {'pool': ..., 'model': ...}})")
        params = dict(self.accounts[target.provider])
        params["model"] = params["model"].replace("{model}", target.model)
        turn.provider, turn.model, turn.reported = target.provider, target.model, False
        turn.attempts.append((target.provider, None))
        return {"model_name": self.group, "litellm_params": params, "model_info": {"id": target.provider}}

    def _remember(self, turn_id: str, turn: _Turn) -> None:
        with self._lock:
            self._turns[turn_id] = turn
            self._turns.move_to_end(turn_id)
            while len(self._turns) > _MAX_OPEN_TURNS:
                self._turns.popitem(last=False)

    def _pick(self, model: str, messages: Any, request_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
        metadata = _metadata(request_kwargs)
        turn_id = metadata.get(_TURN_KEY) if metadata.get(_OWNER_KEY) == self.router_id else None
        turn = self._turns.get(turn_id) if isinstance(turn_id, str) else None
        if turn is None:
            decision = self.engine.select(**self._request(model), prompt=self._prompt(messages))
            turn = _Turn(decision)
            self._remember(decision.turn, turn)
            metadata[_TURN_KEY], metadata[_OWNER_KEY] = decision.turn, self.router_id
        return self._deployment(turn)

    def get_available_deployment(self, model: str, messages: list[dict[str, Any]] | None = None,
                                 input: Any = None, specific_deployment: bool | None = False,
                                 request_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """LiteLLM's sync pick: the deployment of the turn's current target."""
        return self._pick(model, messages, request_kwargs)

    async def async_get_available_deployment(self, model: str, messages: list[dict[str, Any]] | None = None,
                                             input: Any = None, specific_deployment: bool | None = False,
                                             request_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """LiteLLM's async pick (the engine runs off the event loop)."""
        return await asyncio.to_thread(self._pick, model, messages, request_kwargs)

    # -- outcomes (LiteLLM's CustomLogger callbacks) -------------------------------------------

    def _ours(self, kwargs: Mapping[str, Any]) -> tuple[str, _Turn] | None:
        params = kwargs.get("litellm_params")
        metadata = params.get("metadata") if isinstance(params, Mapping) else None
        if not isinstance(metadata, Mapping) or metadata.get(_OWNER_KEY) != self.router_id:
            return None
        turn_id = metadata.get(_TURN_KEY)
        turn = self._turns.get(turn_id) if isinstance(turn_id, str) else None
        return (turn_id, turn) if turn is not None and isinstance(turn_id, str) else None

    def _failure(self, kwargs: Mapping[str, Any]) -> None:
        """Report the failed attempt of one of this router's requests (once: LiteLLM may log it twice)."""
        found = self._ours(kwargs)
        exc = kwargs.get("exception")
        if found is None or not isinstance(exc, BaseException) or isinstance(exc, AttemptError):
            return
        turn_id, turn = found
        with self._lock:
            if id(exc) in turn.seen or turn.reported or turn.provider is None:
                return
            turn.seen.add(id(exc))
            turn.reported = True
        report = read_failure(exc)  # an exception no adapter knows is taken at its word
        decision = self.engine.fail(turn_id, provider=turn.provider, model=turn.model, **report.fail_arguments())
        turn.decision, turn.exception = decision, exc
        if turn.attempts:
            turn.attempts[-1] = (turn.attempts[-1][0], decision)

    def _success(self, kwargs: Mapping[str, Any], response: Any) -> None:
        found = self._ours(kwargs)
        if found is None:
            return
        turn_id, turn = found
        with self._lock:
            self._turns.pop(turn_id, None)
        self.engine.succeed(turn_id, headers=read_headers(response), provider=turn.provider)

    def log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        """LiteLLM's sync failure callback: report the provider error to the engine."""
        self._failure(kwargs)

    async def async_log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        """LiteLLM's async failure callback."""
        await asyncio.to_thread(self._failure, kwargs)

    def log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        """LiteLLM's sync success callback: the turn ended well (quota headers captured)."""
        self._success(kwargs, response_obj)

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        """LiteLLM's async success callback (run in place: LiteLLM may run it while the loop shuts down)."""
        self._success(kwargs, response_obj)


def _metadata(request_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request's metadata dict (LiteLLM carries it from the first pick to every retry and callback)."""
    if not isinstance(request_kwargs, dict):
        return {}
    for key in ("metadata", "litellm_metadata"):
        value = request_kwargs.get(key)
        if isinstance(value, dict):
            return value
    value = {}
    request_kwargs["metadata"] = value
    return value


_PLUGIN_CLASS: type | None = None


def _plugin_class() -> type:
    """:class:`PolicyRouting` with LiteLLM's ``CustomLogger`` and ``CustomRoutingStrategyBase`` as bases.

    LiteLLM calls the failure and success methods only of ``CustomLogger`` instances; the class is
    built on first use so that importing this module does not import ``litellm``.
    """
    global _PLUGIN_CLASS
    if _PLUGIN_CLASS is None:
        from litellm.integrations.custom_logger import CustomLogger
        from litellm.types.router import CustomRoutingStrategyBase

        _PLUGIN_CLASS = type("LiteLLMPolicyRouting", (PolicyRouting, CustomLogger, CustomRoutingStrategyBase),
                             {"__doc__": PolicyRouting.__doc__, "__module__": __name__})
    return _PLUGIN_CLASS


def policy_router(engine: Engine, accounts: Mapping[str, Mapping[str, Any]], *,
                  routes: Mapping[str, Mapping[str, str]] | None = None, group: str = DEFAULT_GROUP,
                  **router_arguments: Any) -> Any:
    """A ``litellm.Router`` with one deployment per account, routed and failed over by ``engine``'s policy.

    ``accounts``: account name → ``litellm_params`` (``{model}`` in ``model`` is the policy's model).
    ``routes``: extra request names → ``select`` arguments. Other keyword arguments go to
    ``litellm.Router`` (except the reliability settings the plugin owns). The plugin is
    ``router.mp_policy``; ``router.mp_policy.detach()`` unregisters its callback.
    """
    from litellm import Router

    plugin = _plugin_class()(engine, accounts, routes=routes, group=group)
    router = Router(**plugin.router_arguments(**router_arguments))
    plugin.attach(router)
    router.mp_policy = plugin
    return router
