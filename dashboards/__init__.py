"""The Streamlit dashboards of unipay: ``streamlit run dashboards/app.py`` (see docs/dashboards.md)."""
