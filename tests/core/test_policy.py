"""TurnPolicy composes its parts' policies: each default is written once, where it is used."""

import dataclasses

from turnscribe.core.activity import ActivityPolicy
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.transcriber import WindowPolicy


def test_parts_policies_are_composed_not_redeclared():
    p = TurnPolicy()
    assert p.activity == ActivityPolicy() and p.window == WindowPolicy()
    own = {f.name for f in dataclasses.fields(TurnPolicy)}
    for part in (ActivityPolicy, WindowPolicy):
        assert not own & {f.name for f in dataclasses.fields(part)}, f"{part.__name__} fields re-declared"
