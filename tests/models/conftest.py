"""pytest set-up of the model tests: the shared helpers' asserts report their values."""

import pytest

pytest.register_assert_rewrite('tests.models.helpers')
