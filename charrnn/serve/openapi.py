"""GET /openapi.json: this server's API as an OpenAPI 3.1 document, with its own limits.

The plain fields' types and ranges are the validators' own fields.Field values
(validate.completion_fields, validate.look_fields, writer.N), and the structured ones
(prompt, stop, stream_options, the unsupported fields) use validate's constants, so the
document cannot drift from what the server checks; tests/test_serve_openapi.py holds the two
together over HTTP. Where the subset matches OpenAI's published schema for completions
(openai/openai-openapi: CreateCompletionRequest and -Response, CompletionUsage, Error,
ErrorResponse, ListModelsResponse, Model), names and shapes are OpenAI's; the ranges are
this server's. Null means absent, as in OpenAI's API (written `type: [T, "null"]`, 3.1's way).

A stream is `text/event-stream`; its schema describes one event, as OpenAPI 3.1 documents
(OpenAI's included) do: `data` is a JSON chunk or error, or `[DONE]`.
"""

from .. import __version__
from .body import MAX_BODY, MAX_DEPTH
from .charset import prompt_pattern
from .openapi_schemas import error_responses, inspect_schemas, openai_schemas, ref, writer_schemas
from .validate import INCLUDE_USAGE, MAX_STOP_CHARS, MAX_STOPS, UNSUPPORTED, completion_fields, look_fields
from .writer import N

JSON = "application/json"
DESCRIPTIONS = {
    "max_tokens": "Characters to generate per completion (a character model's token is a character).",
    "temperature": "Sampling temperature.",
    "top_p": "Nucleus sampling: the likeliest characters holding this much probability.",
    "top_k": "Sample from the k likeliest characters (an extension, as in `charrnn sample --top-k`).",
    "n": "Completions per prompt; the prompts times n are at most this maximum too.",
    "stream": "Stream the text as server-sent events, ending with `data: [DONE]`.",
    "seed": "The same seed and fields give the same text (`charrnn sample --random-seed`).",
    "echo": "Put the prompt before each completion's text.",
    "logprobs": "Each character's log-probability and this many likeliest alternatives.",
    "repetition_penalty": "An extension: CTRL's penalty on the characters of the last repetition_window.",
    "repetition_window": "An extension: characters the penalty looks back over (default 20).",
    "no_repeat_ngram": "An extension: no character n-gram of this length twice in a completion.",
}


def json_content(schema):
    return {JSON: {"schema": schema}}


def document(service, protected):
    """The OpenAPI document for `service` (app.Service): its model, limits and API key, which the
    paths starting with one of `protected` need."""
    backend, limits = service.backend, service.limits
    schemas = {"CreateCompletionRequest": completion_request(backend, limits), **openai_schemas(),
               **inspect_schemas(limits, look_fields(backend), prompt_pattern(backend)), **writer_schemas()}
    components = {"schemas": schemas, "responses": error_responses()}
    secured = {"security": [{"apiKey": []}]} if service.api_key else {}
    if service.api_key:
        components["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer",
                                                    "description": "charrnn serve --api-key KEY: Bearer KEY"}}
    return {"openapi": "3.1.0",
            "info": {"title": "charrnn serve", "version": __version__,
                     "description": f"A character-level model, {backend.model_id}, over HTTP: OpenAI's completions "
                     "subset, the page's inspect endpoint and rnn-writer's API. Bodies are JSON objects of at most "
                     f"{MAX_BODY:,} bytes nested at most {MAX_DEPTH} deep."},
            "paths": paths(backend.model_id, protected, secured, bool(service.api_key)), "components": components}


def completion_request(backend, limits):
    """CreateCompletionRequest: OpenAI's fields this server reads, then the extensions."""
    prompt = {"type": "string", "maxLength": limits.max_prompt, "pattern": prompt_pattern(backend)}
    stop = {"type": "string", "minLength": 1, "maxLength": MAX_STOP_CHARS}
    fields = {name: spec.schema(DESCRIPTIONS[name]) for name, spec in completion_fields(limits).items()}
    unsupported = {name: {"enum": [default, None], "description": "Not supported by a character model: only "
                          f"{default!r} (the default) or null."} for name, default in UNSUPPORTED.items()}
    unsupported["logit_bias"] = {"type": ["object", "null"], "maxProperties": 0,
                                 "description": "Not supported by a character model: only {} or null."}
    return {"type": "object", "required": ["model"], "properties": {
        "model": {"type": "string", "enum": [backend.model_id], "description": "The model's id (GET /v1/models)."},
        "prompt": {"description": f"The text to continue, or up to {limits.max_n} of them; absent or null: \"\". "
                   "Each holds only characters of the model's vocabulary (the pattern) and at most maxLength of "
                   "them (charrnn serve --max-prompt).",
                   "anyOf": [prompt, {"type": "array", "minItems": 1, "maxItems": limits.max_n, "items": prompt},
                             {"type": "null"}]},
        "stop": {"description": f"Up to {MAX_STOPS} strings; a completion ends before the first it makes.",
                 "anyOf": [stop, {"type": "array", "maxItems": MAX_STOPS, "items": stop}, {"type": "null"}]},
        "stream_options": {"type": ["object", "null"], "properties": {
            "include_usage": INCLUDE_USAGE.schema("A last chunk with the usage, before [DONE].")}},
        **fields, **unsupported}}


def paths(model_id, protected, secured, keyed):
    """Every route but /static: (method, operationId, summary, request body schema, 200 content, errors)."""
    completion = {JSON: {"schema": ref("CreateCompletionResponse")},
                  "text/event-stream": {"schema": ref("CompletionStreamEvent")}}
    routes = {
        "/": ("get", "status", "rnn-writer's status (JSON), or the page for a browser (Accept: text/html)", None,
              {**json_content(ref("Status")), "text/html": {"schema": {"type": "string"}}}, []),
        "/health": ("get", "health", "Whether the server is up, and its load", None, json_content(ref("Health")),
                    ["503"]),
        "/openapi.json": ("get", "openapi", "This document", None, json_content({"type": "object"}), []),
        "/v1/models": ("get", "listModels", "The one model this server has", None,
                       json_content(ref("ListModelsResponse")), ["503"]),
        "/v1/models/{model}": ("get", "retrieveModel", "The model, by id", None, json_content(ref("Model")),
                               ["404", "503"]),
        "/v1/completions": ("post", "createCompletion", "Continue a prompt (OpenAI's completions)",
                            ref("CreateCompletionRequest"), completion, ["404", "413", "429", "503"]),
        "/v1/inspect": ("post", "inspect", "Score a text and show a unit's values (the page's look-inside tab)",
                        ref("InspectRequest"), json_content(ref("InspectResponse")), ["413", "503"]),
        "/generate": ("get", "generate", "rnn-writer's suggestions: sentences continuing start_text", None,
                      json_content(ref("WriterResponse")), ["429", "503"]),
    }
    found = {path: {method: operation(name, summary, body, content, errors, path,
                                      secured if path.startswith(protected) else None, keyed)}
             for path, (method, name, summary, body, content, errors) in routes.items()}
    found["/v1/models/{model}"]["get"]["parameters"] = [{"name": "model", "in": "path", "required": True,
                                                        "schema": {"type": "string", "enum": [model_id]}}]
    return found


def operation(name, summary, body, content, errors, path, secured, keyed):
    """One operation; `secured` is its security requirement when the server has a key and the path needs it."""
    writer = path == "/generate"
    codes = ["400", *(["401"] if keyed and secured is not None else []), *errors]  # 400: also a foreign Host header
    responses = {"200": {"description": "OK", "content": content},
                 **{code: {"$ref": f"#/components/responses/{'Writer' if writer else ''}{code}"} for code in codes}}
    if name == "listModels":
        responses["200"]["links"] = {"retrieveModel": {"operationId": "retrieveModel",
                                                       "parameters": {"model": "$response.body#/data/0/id"}}}
    out = {"operationId": name, "summary": summary, "responses": responses, **(secured or {})}
    if body:
        out["requestBody"] = {"required": True, "content": json_content(body)}
    if writer:
        out["parameters"] = [
            {"name": "start_text", "in": "query", "schema": {"type": "string"},
             "description": "The text before the cursor; characters outside the vocabulary are left out."},
            {"name": "n", "in": "query", "schema": N.schema("Suggestions wanted.") | {"type": "integer"}}]
    return out
