"""Fixtures of this folder's tests: ``clean_caches`` (an empty workspace and empty Streamlit
caches) from the page tests' support module, so a test names it as a parameter only."""

from tests.pages.support import clean_caches as clean_caches  # re-exported for pytest
