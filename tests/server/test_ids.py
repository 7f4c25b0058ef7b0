import pytest

from server.errors import ValidationFailed
from server.ids import check_id, new_id, new_ids


def test_ids_are_prefixed_unique_and_time_sorted() -> None:
    ids = [new_id("plan") for _ in range(500)]
    assert all(i.startswith("pln_") and len(i) == 30 for i in ids)
    assert len(set(ids)) == 500
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)


def test_wrong_prefix_names_the_expected_one() -> None:
    with pytest.raises(ValidationFailed) as err:
        check_id("target", "pln_123", "targetIds")
    assert err.value.field == "targetIds"
    assert "expected an id starting with 'tgt_'" in err.value.message


def test_ids_from_one_process_strictly_increase() -> None:
    ids = [new_id("event") for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_ids_made_together_strictly_increase_after_and_before_single_ones() -> None:
    before = new_id("job")
    batch = new_ids("job", 10_000)
    after = new_id("job")
    assert len(batch) == 10_000 and len(set(batch)) == 10_000
    assert all(i.startswith("job_") and len(i) == 30 for i in batch)
    assert [before, *batch, after] == sorted([before, *batch, after])
    assert new_ids("plan", 0) == []
