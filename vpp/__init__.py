"""Apple App and Book Management API (v2): a typed client (``vpp.client``), its errors and types, the
token-file reader, and (in ``vpp.simulator``) a local Apple for development and tests.

Importing ``vpp`` does not import Django.
"""

from .client import PagedResult, VPPClient, clear_service_config_cache, default_base_url
from .errors import (
    AppleError,
    BadRequest,
    DataChangedDuringRead,
    NotEnoughLicenses,
    RateLimited,
    ServiceUnavailable,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TransportError,
    UserNotFound,
)
from .tokenfile import TokenFile, TokenFileError, parse_token_file
from .types import (
    AppleUser,
    AppMetadata,
    Asset,
    AssetRef,
    Assignment,
    ClientConfig,
    EventFailure,
    EventResponse,
    EventStatus,
    Limits,
    MdmInfo,
    Notification,
    RequestUser,
    ServiceConfig,
    parse_notification,
)

__all__ = [
    "AppMetadata",
    "AppleError",
    "AppleUser",
    "Asset",
    "AssetRef",
    "Assignment",
    "BadRequest",
    "ClientConfig",
    "DataChangedDuringRead",
    "EventFailure",
    "EventResponse",
    "EventStatus",
    "Limits",
    "MdmInfo",
    "NotEnoughLicenses",
    "Notification",
    "PagedResult",
    "RateLimited",
    "RequestUser",
    "ServiceConfig",
    "ServiceUnavailable",
    "TokenError",
    "TokenExpired",
    "TokenFile",
    "TokenFileError",
    "TokenInvalid",
    "TokenRevoked",
    "TransportError",
    "UserNotFound",
    "VPPClient",
    "clear_service_config_cache",
    "default_base_url",
    "parse_notification",
    "parse_token_file",
]
