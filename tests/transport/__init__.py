"""Transport and partner-profile tests (real OpenSSH sshd; see tests/sshd.py)."""
