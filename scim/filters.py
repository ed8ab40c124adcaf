"""SCIM filters (RFC 7644 §3.4.2.2) on the directory, through django-scim2's parser.

The parser turns a filter into SQL on these columns only; the views then read the matches as a queryset.
"""

from __future__ import annotations

from django_scim.filters import FilterQuery

from directory.models import DirectoryUser, Group


def _user_model():
    return DirectoryUser


def _group_model():
    return Group


class UserFilterQuery(FilterQuery):
    model_getter = staticmethod(_user_model)
    attr_map = {
        ("userName", None, None): "user_principal_name",
        ("externalId", None, None): "external_id",
        ("displayName", None, None): "display_name",
        ("emails", None, None): "email",
        ("emails", "value", None): "email",
    }


class GroupFilterQuery(FilterQuery):
    model_getter = staticmethod(_group_model)
    attr_map = {
        ("displayName", None, None): "name",
        ("externalId", None, None): "external_id",
    }
