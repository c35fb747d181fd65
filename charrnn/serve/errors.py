"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, for every path.

The `message` key at the top level as well is for rnn-writer, which shows `body.message`
to its user (a success reply never has one).
"""

import json

from starlette.responses import Response

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
         405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
         500: "server_error", 503: "server_error"}


class ApiError(Exception):
    def __init__(self, status, message, code=None, param=None, retry_after=None):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.retry_after = status, message, code, param, retry_after

    @property
    def body(self):
        return {"error": {"message": self.message, "type": TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def response(self, top_level_message=False):
        body = dict(self.body, message=self.message) if top_level_message else self.body
        headers = {"x-should-retry": "false"} if self.status < 429 or self.status == 500 else {}
        if self.retry_after:
            headers["retry-after"] = str(self.retry_after)
        return Response(json.dumps(body), self.status, headers, media_type="application/json")
