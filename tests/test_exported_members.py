"""The public API is exactly what ``__all__`` lists, and every listed name resolves."""

import pytest

import qmcontract


def test_all_is_sorted_and_unique():
    assert qmcontract.__all__ == sorted(set(qmcontract.__all__))


def test_every_exported_name_resolves():
    for name in qmcontract.__all__:
        assert getattr(qmcontract, name) is not None, name


def test_public_members_are_all_exported():
    public = {
        name
        for name, value in vars(qmcontract).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("qmcontract")
    }
    assert public <= set(qmcontract.__all__)


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = qmcontract.no_such_name  # type: ignore[attr-defined]
