"""The unipay dashboards: ``streamlit run dashboards/app.py``.

The store comes from ``UNIPAY_DB_URL``, the users from ``UNIPAY_USERS`` (see docs/dashboards.md).

Pages (``dashboards/app_pages/``): exchange monitoring, money flow, analytics, account lookup. Which ones a
user sees depends on the role (hub/auth.py); each page checks the role again itself, and the reports it
calls filter a provider's data in SQL.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards.ui import PAGES, allowed_pages, current_user, login_form

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="unipay — ЕИРЦ", page_icon=":material/account_balance:", layout="wide")

user = current_user()
if user is None:
    page = st.navigation(
        [st.Page(login_form, title="Вход", icon=":material/login:", url_path="login")], position="hidden"
    )
else:
    pages = [
        st.Page(HERE / "app_pages" / f"{key}.py", title=PAGES[key][0], icon=PAGES[key][1], url_path=key)
        for key in allowed_pages(user)
    ]
    page = st.navigation(pages)
page.run()
