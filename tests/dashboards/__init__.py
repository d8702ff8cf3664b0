"""Tests of the Streamlit dashboards and of the reports (hub/reports) they show."""
