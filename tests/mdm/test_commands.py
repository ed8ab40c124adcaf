"""The command plists the console sends through NanoMDM: keys, types, fresh UUIDs."""

import plistlib

import pytest

from mdm import commands


def _decoded(command: commands.Command) -> dict:
    data = plistlib.loads(command.to_plist(), fmt=plistlib.FMT_XML)
    assert data["CommandUUID"] == command.command_uuid
    assert data["Command"]["RequestType"] == command.request_type
    return data["Command"]


def test_s2_install_application_uses_the_adam_id_as_plist_integer_and_vpp_purchase_method():
    command = commands.install_application(itunes_store_id=361309726, management_flags=5)
    body = command.to_plist()
    assert b"<key>iTunesStoreID</key>\n\t\t<integer>361309726</integer>" in body
    sent = _decoded(command)
    assert sent == {
        "RequestType": "InstallApplication",
        "iTunesStoreID": 361309726,
        "ManagementFlags": 5,
        "Options": {"PurchaseMethod": 1},
    }
    assert "Attributes" not in sent  # only when the assignment says something about removability


def test_s2_install_application_sends_removable_attribute_only_when_given():
    assert _decoded(commands.install_application(itunes_store_id=1, removable=False))["Attributes"] == {
        "Removable": False
    }
    assert _decoded(commands.install_application(itunes_store_id=1, removable=True))["Attributes"] == {
        "Removable": True
    }


def test_t11_prevent_automatic_updates_adds_no_key_apple_has_none():
    sent = _decoded(commands.install_application(itunes_store_id=1, prevent_automatic_updates=True))
    assert set(sent) == {"RequestType", "iTunesStoreID", "ManagementFlags", "Options"}


@pytest.mark.parametrize("bad", ["361309726", 0, -1, True, 1.5, None])
def test_install_application_refuses_a_store_id_that_is_not_a_positive_integer(bad):
    with pytest.raises(ValueError, match="itunes_store_id"):
        commands.install_application(itunes_store_id=bad)


def test_install_application_refuses_negative_or_boolean_flags():
    with pytest.raises(ValueError, match="management_flags"):
        commands.install_application(itunes_store_id=1, management_flags=-1)
    with pytest.raises(ValueError, match="management_flags"):
        commands.install_application(itunes_store_id=1, management_flags=True)


def test_every_command_gets_a_fresh_uuid_unless_one_is_given():
    uuids = {commands.remove_application(identifier="com.example.app").command_uuid for _ in range(50)}
    assert len(uuids) == 50
    given = commands.remove_application(identifier="com.example.app", command_uuid="ABC-1")
    assert given.command_uuid == "ABC-1"
    with pytest.raises(ValueError):
        commands.remove_application(identifier="com.example.app", command_uuid="  ")


def test_s3_remove_application_names_the_bundle_identifier():
    assert _decoded(commands.remove_application(identifier="com.example.notes")) == {
        "RequestType": "RemoveApplication",
        "Identifier": "com.example.notes",
    }
    with pytest.raises(ValueError):
        commands.remove_application(identifier="")


def test_m3_inventory_commands_with_and_without_identifiers():
    assert _decoded(commands.managed_application_list()) == {"RequestType": "ManagedApplicationList"}
    assert _decoded(commands.managed_application_list(identifiers=["com.a", "com.b"])) == {
        "RequestType": "ManagedApplicationList",
        "Identifiers": ["com.a", "com.b"],
    }
    assert _decoded(commands.installed_application_list(managed_apps_only=True)) == {
        "RequestType": "InstalledApplicationList",
        "ManagedAppsOnly": True,
    }
    assert _decoded(commands.installed_application_list(identifiers=["com.a"])) == {
        "RequestType": "InstalledApplicationList",
        "Identifiers": ["com.a"],
    }


def test_s4_invite_to_program_names_the_vpp_program_and_url():
    url = "https://vpp.example/associate?inviteCode=abc"
    assert _decoded(commands.invite_to_program(invitation_url=url)) == {
        "RequestType": "InviteToProgram",
        "ProgramID": "com.apple.cloudvpp",
        "InvitationURL": url,
    }
    with pytest.raises(ValueError):
        commands.invite_to_program(invitation_url="javascript:alert(1)")
