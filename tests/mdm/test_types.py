"""Reading NanoMDM's answer (api.APIResult) into a result per id, whatever another implementation sends."""

from hypothesis import given, settings
from hypothesis import strategies as st

from mdm.types import IdStatus, id_statuses, merged_status

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=15,
)
IDS = ["A", "B", "C"]


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "status": json_values | st.dictionaries(st.sampled_from(IDS), json_values, max_size=3),
            "command_error": json_values,
            "push_error": json_values,
            "command_uuid": json_values,
        },
    )
)
def test_any_answer_shape_gives_exactly_one_status_per_requested_id(data):
    statuses = id_statuses(data, IDS, "UUID-1")
    assert list(statuses) == IDS
    assert all(isinstance(s, IdStatus) and s.command_uuid == "UUID-1" for s in statuses.values())


def test_top_level_errors_apply_to_ids_without_their_own_result():
    data = {"command_error": "storage down", "status": {"A": {"command_error": "own"}}}
    statuses = id_statuses(data, IDS)
    assert statuses["A"].command_error == "own"
    assert statuses["B"].command_error == statuses["C"].command_error == "storage down"
    assert not any(s.queued for s in statuses.values())

    pushed = id_statuses({"push_error": "APNs down", "status": {"A": {"push_result": "P-1"}}}, IDS)
    assert pushed["A"].ok and pushed["A"].push_result == "P-1"
    assert pushed["B"].push_error == "APNs down" and pushed["B"].queued and not pushed["B"].ok


def test_merged_status_is_what_nanomdm_answers_for_the_whole_list():
    ok, bad = IdStatus(push_result="p"), IdStatus(push_error="x")
    assert merged_status([ok, ok]) == 200
    assert merged_status([ok, bad]) == 207
    assert merged_status([bad, bad]) == 500
    assert merged_status([]) == 200
