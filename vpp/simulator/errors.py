"""Apple's error numbers, messages and HTTP statuses, and the exception the simulator raises with them."""

from __future__ import annotations

from typing import Any

# Wording follows the error table of Apple's "Handling error responses" page.
ERROR_MESSAGES: dict[int, str] = {
    9601: "Login required.",
    9602: "Invalid argument.",
    9603: "Internal error.",
    9609: "Unable to find the registered user.",
    9616: "License already assigned.",
    9619: "License not associated.",
    9621: "The token has expired. You need to generate a new token online using your organization's"
    " login ID and password.",
    9622: "Invalid authentication token",
    9625: "The server has revoked the sToken.",
    9646: "There are too many requests for the current organization. Try again later.",
    9650: "The page index is out of range.",
    9700: "The request includes too many assets.",
    9701: "The request includes too many client user IDs.",
    9702: "The request includes too many serial numbers.",
    9703: "The request includes duplicate assets.",
    9704: "The request includes duplicate client user IDs.",
    9705: "The request includes duplicate serial numbers.",
    9706: "An asset in the request isn't revocable.",
    9707: "An asset in the request isn't device assignable.",
    9708: "The event ID wasn't found.",
    9709: "There aren't enough assets available to complete this association.",
    9710: "You must provide the notification URL and the notification authentication token together.",
    9711: "The notification URL or authentication token is too long.",
    9712: "The notification URL isn't valid. It must use HTTPS.",
    9713: "The MDM metadata is too long.",
    9714: "The request includes too many users.",
    9715: "The request includes duplicate users.",
    9716: "An active user with this client user ID already exists.",
    9717: "The email address isn't valid.",
    9718: "The request doesn't include any assets.",
    9719: "The request doesn't include client user IDs or serial numbers.",
    9720: "The request doesn't include any users.",
    9721: "The version ID isn't valid.",
    9722: "The Authorization header isn't valid. It must be in the format 'Bearer {sToken}'.",
    9723: "The MDM info must include a name, an ID and metadata.",
    9724: "The MDM ID is too long.",
    9725: "The MDM name is too long.",
    9726: "The HTTP method isn't supported.",
    9727: "The Content-Type isn't supported. Use application/json.",
    9728: "The provided notification URL is unreachable.",
    9729: "The service is temporarily unavailable. Try again later.",
}

HTTP_STATUS: dict[int, int] = {
    9601: 401,
    9603: 500,
    9621: 401,
    9622: 401,
    9625: 401,
    9646: 429,
    9722: 401,
    9726: 405,
    9727: 415,
    9729: 503,
}

# Errors that only appear inside StatusResponse.failures / notifications, never as a synchronous answer.
ASYNC_ERRORS = (9603, 9609, 9709, 9716)


def error_body(number: int, error_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build Apple's ``ErrorResponse`` object for ``number``."""
    body: dict[str, Any] = {"errorNumber": number, "errorMessage": ERROR_MESSAGES.get(number, "Error.")}
    if error_info:
        body["errorInfo"] = error_info
    return body


class AppleError(Exception):
    """A synchronous Apple error, answered as ``ErrorResponse`` with the matching HTTP status."""

    def __init__(
        self,
        number: int,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        error_info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{number} {ERROR_MESSAGES.get(number, '')}")
        self.number = number
        self.status = status if status is not None else HTTP_STATUS.get(number, 400)
        self.headers = headers or {}
        self.error_info = error_info

    def body(self) -> dict[str, Any]:
        """The JSON body Apple would send."""
        return error_body(self.number, self.error_info)
