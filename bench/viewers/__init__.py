"""The dashboard and the headless browsers that figures 9 and 11 watch a search with: the
server and the searches (``server``), Chromium and what its pages showed (``browser``), the
CPU pinning of both sides (``pinning``) and the pure measuring helpers (``measure``).
"""
