"""Who may list and step which objections and authorizations: the pure policy of the
governance routes (`credit.api.governance`), apart from the handlers."""

from __future__ import annotations

import pytest

from credit.api.access import Identity
from credit.api.governance import authorization_scope, check_step, objection_scope
from sinks.exceptions import ForbiddenError, GovernanceError, NotFoundError

PROVIDER = Identity("provider", "供水公司", "市水务局")
BANK = Identity("bank", "张三", "某银行")
SUBJECT = Identity("subject", "subject", "91320100MA1XXXXX0X")
ANALYST = Identity("analyst", "analyst")
ADMIN = Identity("admin", "admin")
OBJECTION = {"objection_id": "obj-1", "provider": "供水公司"}


def test_each_role_lists_its_own_objections_whatever_it_asks() -> None:
    asked = {"provider": "电力公司", "applicant": "别人", "subject": "X", "stage": "filed"}
    assert objection_scope(PROVIDER, asked)["provider"] == "供水公司"
    assert objection_scope(BANK, asked)["applicant"] == "张三"
    assert objection_scope(SUBJECT, asked)["subject_id"] == SUBJECT.org
    assert objection_scope(ANALYST, asked) == {"provider": "电力公司", "applicant": "别人",
                                              "subject_id": "X", "stage": "filed"}  # fmt: skip


def test_a_provider_resolves_only_its_own_queue_and_takes_no_office_step() -> None:
    check_step(PROVIDER, OBJECTION, "resolve")
    with pytest.raises(ForbiddenError, match="queue of '供水公司'"):
        check_step(Identity("provider", "电力公司"), OBJECTION, "resolve")
    for step in ("accept", "inform"):
        with pytest.raises(ForbiddenError, match="credit office's step"):
            check_step(PROVIDER, OBJECTION, step)
        check_step(ANALYST, OBJECTION, step)


def test_an_unknown_step_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="steps are accept, resolve, inform"):
        check_step(ADMIN, OBJECTION, "delete")


def test_authorizations_a_caller_may_list() -> None:
    assert authorization_scope(BANK, {"institution": "别家银行"}) == (None, "某银行")
    assert authorization_scope(SUBJECT, {}) == (SUBJECT.org, None)
    with pytest.raises(ForbiddenError, match="its own data only"):
        authorization_scope(SUBJECT, {"subject": "91OTHER"})
    with pytest.raises(GovernanceError, match=r"\?subject=CODE or \?institution=NAME"):
        authorization_scope(ADMIN, {})
    assert authorization_scope(ADMIN, {"subject": " 91x "}) == ("91X", None)
