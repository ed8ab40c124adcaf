"""What this service provider declares (RFC 7643 §5–7): only the attributes the console keeps.

Entra ID and Okta send more (names, titles, addresses, phone numbers…) in their default mappings; those are
accepted and ignored, so that provisioning works without editing the mappings first.
"""

from __future__ import annotations

from typing import Any

from django_scim.constants import SchemaURI

USER = SchemaURI.USER
GROUP = SchemaURI.GROUP
ENTERPRISE_USER = SchemaURI.ENTERPRISE_USER
# Our extension for the managed Apple ID (A3), for an IdP attribute mapping such as
# "urn:ietf:params:scim:schemas:extension:vppconsole:2.0:User:managedAppleId".
CONSOLE_USER = "urn:ietf:params:scim:schemas:extension:vppconsole:2.0:User"
APPLE_ID = "managedAppleId"


def _attribute(
    name: str,
    description: str,
    *,
    type_: str = "string",
    required: bool = False,
    multi: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    case_exact: bool = False,
    sub_attributes: list[dict[str, Any]] | None = None,
    reference_types: list[str] | None = None,
) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": description,
        "required": required,
        "mutability": mutability,
        "returned": returned,
    }
    if type_ in ("string", "reference"):
        attribute["caseExact"] = case_exact
        attribute["uniqueness"] = uniqueness
    if sub_attributes is not None:
        attribute["subAttributes"] = sub_attributes
    if reference_types is not None:
        attribute["referenceTypes"] = reference_types
    return attribute


USER_SCHEMA = {
    "id": USER,
    "name": "User",
    "description": "A person in the console's directory; userName is the user principal name.",
    "attributes": [
        _attribute("userName", "The user principal name, unique.", required=True, uniqueness="server"),
        # Required here: the directory always has a display name (userName when the provider sends none).
        _attribute("displayName", "The name shown in the console.", required=True),
        _attribute(
            "emails",
            "The user's email address (the console keeps one: the primary, else the first).",
            type_="complex",
            multi=True,
            sub_attributes=[_attribute("value", "The email address.")],
        ),
        # Required here: a user is active or deactivated (S11), never neither; `true` when not sent.
        _attribute(
            "active",
            "False deactivates the user: their user licenses are reclaimed.",
            type_="boolean",
            required=True,
        ),
        _attribute(
            "groups",
            "The user groups the user belongs to (change them through the groups).",
            type_="complex",
            multi=True,
            mutability="readOnly",
            sub_attributes=[
                _attribute("value", "The group's id.", mutability="readOnly"),
                _attribute(
                    "$ref",
                    "The group's URI.",
                    type_="reference",
                    mutability="readOnly",
                    reference_types=["Group"],
                ),
                _attribute("display", "The group's name.", mutability="readOnly"),
            ],
        ),
    ],
}

CONSOLE_USER_SCHEMA = {
    "id": CONSOLE_USER,
    "name": "VPP console user",
    "description": "What the VPP console needs beyond the core user.",
    "attributes": [
        _attribute(
            APPLE_ID,
            "The user's Apple ID or managed Apple ID for user licensing; one Apple ID belongs to one user.",
            uniqueness="server",
        )
    ],
}

GROUP_SCHEMA = {
    "id": GROUP,
    "name": "Group",
    "description": "A user group of the console; apps are assigned to groups.",
    "attributes": [
        _attribute("displayName", "The group's name, unique.", required=True, uniqueness="server"),
        _attribute(
            "members",
            "The users in the group, in join order (the first get licenses when there are too few).",
            type_="complex",
            multi=True,
            sub_attributes=[
                _attribute("value", "The user's id.", mutability="immutable"),
                _attribute(
                    "$ref",
                    "The user's URI.",
                    type_="reference",
                    mutability="immutable",
                    reference_types=["User"],
                ),
            ],
        ),
    ],
}

ALL = [USER_SCHEMA, CONSOLE_USER_SCHEMA, GROUP_SCHEMA]


def schemas_getter() -> list[dict[str, Any]]:
    """SCHEMAS_GETTER for django-scim2."""
    return ALL
