"""The Starlette application: routes, the API-key and Host checks, and OpenAI-shaped errors
for everything, Starlette's own 404 and 405 included."""

import hmac
from dataclasses import dataclass
from importlib.resources import files

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .errors import ApiError
from .look import inspect
from .openapi import document
from .openai_api import completions, model_card, models
from .writer import generate, status

STATIC = files("charrnn.serve") / "static"
COLOUR_JS = files("charrnn.inspect") / "static" / "colour.js"  # the inspect report's colouring, shared
PROTECTED = ("/v1/", "/generate")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


@dataclass
class Service:
    backend: object
    engine: object
    limits: object
    api_key: str = None
    loopback: bool = True


def index(request):
    """The page for browsers, torch-rnn-server's JSON status for everyone else (rnn-writer, curl)."""
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse((STATIC / "index.html").read_bytes())
    return status(request)


def colour_js(request):
    return Response(COLOUR_JS.read_bytes(), media_type="text/javascript")


def health(request):
    service = request.app.state.service
    if service.engine.stopping:
        raise ApiError(503, "the server is shutting down", "unavailable", retry_after=5)
    active, waiting = service.engine.load
    return JSONResponse({"status": "ok", "model": service.backend.model_id, "active_streams": active,
                         "waiting_requests": waiting})


def openapi(request):
    return JSONResponse(document(request.app.state.service, PROTECTED))


def model(request):
    backend = request.app.state.service.backend
    if request.path_params["model"] != backend.model_id:
        raise ApiError(404, f"the model {request.path_params['model']!r} does not exist", "model_not_found", "model")
    return JSONResponse(model_card(backend))


class Guard:
    """Pure ASGI middleware (it leaves streaming alone): a Host header other than the loopback
    names is refused on a loopback server (DNS rebinding), and API paths need the key."""

    def __init__(self, app, service):
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            error = self.refusal(scope)
            if error:
                return await error.response(scope["path"] == "/generate")(scope, receive, send)
        await self.app(scope, receive, send)

    def refusal(self, scope):
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = host_name(headers.get("host", ""))
        if self.service.loopback and host not in LOOPBACK_NAMES:
            return ApiError(400, f"this server answers to localhost only, not to Host {host!r}", "bad_host")
        key = self.service.api_key
        if key and scope["path"].startswith(PROTECTED):
            given = headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
                return ApiError(401, "a valid API key is required: Authorization: Bearer KEY", "invalid_api_key")
        if scope["path"].startswith(PROTECTED) and self.service.engine.stopping:
            return ApiError(503, "the server is shutting down", "unavailable", retry_after=5)
        return None


def host_name(host):
    """A Host header without its port: "127.0.0.1:8080" → "127.0.0.1", "[::1]:80" → "[::1]"."""
    return host[:host.find("]") + 1] if host.startswith("[") else host.split(":")[0]


def http_error(request, exc):
    messages = {404: f"no such path: {request.url.path} (this server has /v1/models, /v1/completions, /v1/inspect, "
                     "/generate, /health, /openapi.json and the page at /; there is no chat endpoint: use "
                     "/v1/completions)",
                405: f"{request.method} is not allowed on {request.url.path}"}
    error = ApiError(exc.status_code, messages.get(exc.status_code, str(exc.detail)))
    response = error.response(request.url.path == "/generate")  # rnn-writer shows a top-level message
    response.headers.update(exc.headers or {})  # a 405's Allow, which HTTP requires
    return response


def api_error(request, exc):
    return exc.response(request.url.path == "/generate")


def server_error(request, exc):
    return ApiError(500, "internal server error; see the server log", "server_error").response()


def build_app(service):
    routes = [Route("/", index), Route("/health", health), Route("/openapi.json", openapi),
              Route("/generate", generate), Route("/v1/models", models), Route("/v1/models/{model:path}", model),
              Route("/v1/completions", completions, methods=["POST"]), Route("/v1/inspect", inspect, methods=["POST"]),
              Route("/static/colour.js", colour_js),
              Mount("/static", StaticFiles(packages=[("charrnn.serve", "static")]), name="static")]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, ApiError: api_error,
                                                       Exception: server_error})
    app.state.service = service
    app.add_middleware(Guard, service=service)
    return app
