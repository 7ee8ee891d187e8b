"""``Client`` (sync) and ``AsyncClient``: configuration, the send/retry loop, resources.

Both clients share :class:`~ehrconnect_client._base.ClientCore`; only sending and sleeping
differ. Sleeping, jitter and the wall clock are injectable so retry timing can be tested
without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, Unpack

import httpx
from pydantic import BaseModel

from ._base import DEFAULT_TIMEOUT, ClientCore, RequestOptions, Route
from ._config import ClientConfig, resolve_config
from ._errors import ConfigurationError
from ._models import Health
from ._pagination import ListPage, attach_async, attach_sync
from ._retry import RetryDecision, RetryPolicy
from .resources import AsyncConnections, AsyncPatients, AsyncSessions, Connections, Patients, Sessions

__all__ = ["AsyncClient", "Client"]

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound=ListPage[Any])
H = TypeVar("H", httpx.Client, httpx.AsyncClient)
S = TypeVar("S")

_HEALTH = Route.static("/health")


def _make_core(
    *,
    api_key: str | None,
    base_url: str | None,
    api_version: str | None,
    max_retries: int | None,
    retry_policy: RetryPolicy | None,
    auto_idempotency_keys: bool,
    default_headers: Mapping[str, str] | None,
    jitter_source: Callable[[], float],
    clock: Callable[[], float],
) -> ClientCore:
    config = resolve_config(api_key=api_key, base_url=base_url, api_version=api_version)
    policy = retry_policy or RetryPolicy()
    if max_retries is not None:
        policy = replace(policy, max_retries=max_retries)
    return ClientCore(
        config,
        retry_policy=policy,
        auto_idempotency_keys=auto_idempotency_keys,
        default_headers=default_headers,
        jitter_source=jitter_source,
        clock=clock,
    )


def _check_transport_args(transport: object, http_client: object) -> None:
    if transport is not None and http_client is not None:
        raise ConfigurationError("pass either transport= or http_client=, not both")


class _ClientBase(Generic[H, S]):
    """What the sync and async clients share: state, accessors, and cloning for ``with_options``."""

    _core: ClientCore
    _http: H
    _owns_http: bool
    _sleep: S

    def _attach(self, core: ClientCore, http: H, *, owns_http: bool, sleep: S) -> None:
        self._core = core
        self._http = http
        self._owns_http = owns_http
        self._sleep = sleep
        self._bind_resources()

    def _bind_resources(self) -> None:
        raise NotImplementedError

    def with_options(self, *, max_retries: int | None = None, api_version: str | None = None) -> Self:
        """A client sharing this one's connection pool with other defaults (closing it is a no-op)."""
        clone = type(self).__new__(type(self))
        core = _copy_core(self._core, max_retries=max_retries, api_version=api_version)
        clone._attach(core, self._http, owns_http=False, sleep=self._sleep)
        return clone

    @property
    def base_url(self) -> str:
        """The API root every path is appended to."""
        return self._core.config.base_url

    @property
    def api_version(self) -> str:
        """The ``Version`` header sent with every request."""
        return self._core.config.api_version

    @property
    def max_retries(self) -> int:
        """Default number of retries per call."""
        return self._core.retry_policy.max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_version={self.api_version!r})"


class Client(_ClientBase[httpx.Client, Callable[[float], None]]):
    """Synchronous client for an ehrconnect (or Medblocks-compatible) API.

    Arguments not given are read from ``EHRCONNECT_API_KEY`` / ``EHRCONNECT_API_URL`` /
    ``EHRCONNECT_API_VERSION``, then the ``MEDBLOCKS_*`` equivalents. ``base_url`` must be
    https (http only for localhost, 127.0.0.1, ::1). ``transport`` replaces the network (tests);
    ``http_client`` supplies a whole pre-configured ``httpx.Client`` (its own timeout applies and
    it is left open on close). ``sleep``, ``jitter_source`` and ``clock`` replace ``time.sleep``,
    ``random.random`` and ``time.time`` in the retry loop.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        api_version: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        auto_idempotency_keys: bool = True,
        default_headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter_source: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        core = _make_core(
            api_key=api_key,
            base_url=base_url,
            api_version=api_version,
            max_retries=max_retries,
            retry_policy=retry_policy,
            auto_idempotency_keys=auto_idempotency_keys,
            default_headers=default_headers,
            jitter_source=jitter_source,
            clock=clock,
        )
        _check_transport_args(transport, http_client)
        # Redirects are not followed: the bearer key must not be replayed to another origin.
        http = http_client or httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)
        self._attach(core, http, owns_http=http_client is None, sleep=sleep)

    def _bind_resources(self) -> None:
        self.patients = Patients(self)
        self.sessions = Sessions(self)
        self.connections = Connections(self)

    def health(self, **options: Unpack[RequestOptions]) -> Health:
        """``GET /health``: ``{ok: true, server_time}``."""
        return self._request("GET", _HEALTH, Health, options=options)

    def close(self) -> None:
        """Close the connection pool (if this client created it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals used by resources ---------------------------------------------------------
    def _request(
        self,
        method: str,
        route: Route,
        model: type[M],
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        options: RequestOptions | None = None,
    ) -> M:
        core = self._core
        call = core.prepare(method, route, params=params, body=body, idempotency_key=idempotency_key, options=options)
        retries_done = 0
        while True:
            request = core.build_request(self._http, call)
            started = time.monotonic()
            try:
                response = self._http.send(request)
            except httpx.HTTPError as exc:
                decision = core.after_send_error(call, exc, retries_done)
            else:
                outcome = core.after_response(call, response, model, retries_done, time.monotonic() - started)
                if not isinstance(outcome, RetryDecision):
                    return outcome
                decision = outcome
            self._sleep(decision.delay)
            retries_done += 1

    def _get_page(self, route: Route, model: type[P], params: Mapping[str, Any], options: RequestOptions | None) -> P:
        page = self._request("GET", route, model, params=params, options=options)

        def fetch(cursor: str) -> P:
            # Same filters, same page size; only the cursor moves forward.
            following = {**params, "starting_after": cursor, "ending_before": None}
            return self._get_page(route, model, following, options)

        attach_sync(page, fetch)
        return page


class AsyncClient(_ClientBase[httpx.AsyncClient, Callable[[float], Awaitable[None]]]):
    """Asynchronous twin of :class:`Client` (same arguments; ``sleep`` is awaited)."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        api_version: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        auto_idempotency_keys: bool = True,
        default_headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter_source: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        core = _make_core(
            api_key=api_key,
            base_url=base_url,
            api_version=api_version,
            max_retries=max_retries,
            retry_policy=retry_policy,
            auto_idempotency_keys=auto_idempotency_keys,
            default_headers=default_headers,
            jitter_source=jitter_source,
            clock=clock,
        )
        _check_transport_args(transport, http_client)
        http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)
        self._attach(core, http, owns_http=http_client is None, sleep=sleep)

    def _bind_resources(self) -> None:
        self.patients = AsyncPatients(self)
        self.sessions = AsyncSessions(self)
        self.connections = AsyncConnections(self)

    async def health(self, **options: Unpack[RequestOptions]) -> Health:
        """``GET /health``: ``{ok: true, server_time}``."""
        return await self._request("GET", _HEALTH, Health, options=options)

    async def aclose(self) -> None:
        """Close the connection pool (if this client created it)."""
        if self._owns_http:
            await self._http.aclose()

    close = aclose

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _request(
        self,
        method: str,
        route: Route,
        model: type[M],
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        options: RequestOptions | None = None,
    ) -> M:
        core = self._core
        call = core.prepare(method, route, params=params, body=body, idempotency_key=idempotency_key, options=options)
        retries_done = 0
        while True:
            request = core.build_request(self._http, call)
            started = time.monotonic()
            try:
                response = await self._http.send(request)
            except httpx.HTTPError as exc:
                decision = core.after_send_error(call, exc, retries_done)
            else:
                outcome = core.after_response(call, response, model, retries_done, time.monotonic() - started)
                if not isinstance(outcome, RetryDecision):
                    return outcome
                decision = outcome
            await self._sleep(decision.delay)
            retries_done += 1

    async def _get_page(
        self, route: Route, model: type[P], params: Mapping[str, Any], options: RequestOptions | None
    ) -> P:
        page = await self._request("GET", route, model, params=params, options=options)

        async def fetch(cursor: str) -> P:
            following = {**params, "starting_after": cursor, "ending_before": None}
            return await self._get_page(route, model, following, options)

        attach_async(page, fetch)
        return page


def _copy_core(core: ClientCore, *, max_retries: int | None, api_version: str | None) -> ClientCore:
    config = (
        core.config
        if api_version is None
        else ClientConfig(base_url=core.config.base_url, api_version=api_version, api_key=core.config.api_key)
    )
    policy = core.retry_policy if max_retries is None else replace(core.retry_policy, max_retries=max_retries)
    return ClientCore(
        config,
        retry_policy=policy,
        auto_idempotency_keys=core.auto_idempotency_keys,
        default_headers=core.default_headers,
        jitter_source=core.jitter_source,
        clock=core.clock,
    )
