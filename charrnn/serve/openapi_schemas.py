"""The response side of the OpenAPI document (openapi.py): what each endpoint answers, and the
errors, in OpenAI's shapes where OpenAI has one (openai/openai-openapi's CreateCompletionResponse,
CompletionUsage, Model, ListModelsResponse, Error, ErrorResponse)."""

JSON = "application/json"
ERRORS = {"400": "The request is malformed, or a field is of the wrong type or out of range (`param` names it)",
          "401": "No valid API key (charrnn serve --api-key)",
          "404": "No such model",
          "413": "The body, a prompt or a text is over the server's limit",
          "429": "Every stream and queue place is taken; try again after Retry-After seconds",
          "503": "The server is shutting down (or, for /generate, made only blank text)"}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties, required=None, **more):
    """An object schema; every property required unless `required` says which."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, **more}


def array(items, **more):
    return {"type": "array", "items": items, **more}


INTEGER, NUMBER, STRING = {"type": "integer"}, {"type": "number"}, {"type": "string"}
COUNT = {"type": "integer", "minimum": 0}


def openai_schemas():
    """Models, completions (whole and streamed), usage, errors, health and status."""
    logprobs = obj({"tokens": array(STRING), "token_logprobs": array(NUMBER),
                    "top_logprobs": array({"type": ["object", "null"], "additionalProperties": NUMBER}),
                    "text_offset": array(INTEGER)})
    choice = obj({"index": INTEGER, "text": STRING, "logprobs": {"anyOf": [logprobs, {"type": "null"}]},
                  "finish_reason": {"enum": ["stop", "length"]}})
    head = {"id": STRING, "object": {"const": "text_completion"}, "created": INTEGER, "model": STRING}
    chunk_choice = dict(choice, properties=dict(choice["properties"], finish_reason={"enum": ["stop", "length", None]}))
    chunk_or_error = {"anyOf": [ref("CompletionChunk"), ref("ErrorResponse")]}
    event = {"type": "string", "if": {"const": "[DONE]"},
             "else": {"contentMediaType": JSON, "contentSchema": chunk_or_error}}
    meta = obj({"cell": STRING, "num_layers": INTEGER, "hidden_size": INTEGER, "vocab_size": INTEGER,
                "vocab_mode": {"enum": ["text", "bytes"]}, "kinds": array(STRING)})
    return {
        "Error": obj({"message": STRING, "type": STRING, "param": {"type": ["string", "null"]},
                      "code": {"type": ["string", "null"]}}, additionalProperties=False),
        "ErrorResponse": obj({"error": ref("Error")}),
        "Model": obj({"id": STRING, "object": {"const": "model"}, "created": INTEGER, "owned_by": STRING,
                      "meta": meta}, ["id", "object", "created", "owned_by"]),
        "ListModelsResponse": obj({"object": {"const": "list"}, "data": array(ref("Model"))}),
        "CompletionUsage": obj({"prompt_tokens": COUNT, "completion_tokens": COUNT, "total_tokens": COUNT}),
        "CreateCompletionResponse": obj({**head, "choices": array(choice), "usage": ref("CompletionUsage")}),
        "CompletionChunk": obj({**head, "choices": array(chunk_choice), "usage": ref("CompletionUsage")},
                               list(head) + ["choices"]),
        "CompletionStreamEvent": obj({"data": event}, ["data"], description="One server-sent event: a chunk, "
                                     "the usage chunk (choices []), an error, or the last, [DONE]."),
        "Health": obj({"status": {"const": "ok"}, "model": STRING, "active_streams": COUNT,
                       "waiting_requests": COUNT}),
        "Status": obj({"status": {"const": "ok"}, "model": STRING, "message": STRING}),
    }


def inspect_schemas(limits, fields, pattern):
    """/v1/inspect's request (its fields' ranges are the model's) and response (Model.look's)."""
    text = {"type": "string", "minLength": 2, "maxLength": limits.max_prompt, "pattern": pattern,
            "description": "The text to score (the first character is never scored)."}
    needs_layer = {"if": {"anyOf": [obj({"kind": STRING}), obj({"unit": INTEGER})]},
                   "then": obj({"layer": INTEGER}), "description": "kind and unit need layer."}
    unit = {"unit": STRING, "layer": INTEGER, "kind": STRING, "index": INTEGER}
    score = obj({"position": INTEGER, "char": STRING, "logprob": NUMBER, "rank": INTEGER, "entropy": NUMBER,
                 "top": array(array({"type": ["string", "number"]}, minItems=2, maxItems=2))})
    return {
        "InspectRequest": obj({"text": text, **{name: spec.schema() for name, spec in fields.items()}}, ["text"],
                              **needs_layer),
        "InspectResponse": obj({
            "model": STRING, "symbols": array(STRING), "vocab_size": INTEGER, "chars": COUNT, "nats": NUMBER,
            "scores": array(score), "unit": obj({**unit, "values": array(NUMBER)}),
            "units": array(obj({**unit, "variance": NUMBER, "saturation": NUMBER}))},
            ["model", "symbols", "vocab_size", "chars", "nats", "scores"]),
    }


def writer_schemas():
    """rnn-writer's GET /generate: its reply and its errors, which carry `message` at the top too."""
    return {"WriterResponse": obj({"start_text": STRING, "completions": array(STRING, minItems=1), "time": STRING}),
            "WriterError": obj({"error": ref("Error"), "message": STRING})}


def error_responses():
    """components.responses: each error status in OpenAI's shape, and rnn-writer's."""
    retry = {"Retry-After": {"schema": INTEGER, "description": "Seconds to wait"}}
    out = {}
    for code, description in ERRORS.items():
        headers = {"headers": {name: dict(h, required=code == "429") for name, h in retry.items()}} \
            if code in ("429", "503") else {}
        out[code] = {"description": description, "content": {JSON: {"schema": ref("ErrorResponse")}}, **headers}
        out[f"Writer{code}"] = dict(out[code], content={JSON: {"schema": ref("WriterError")}})
    return out
