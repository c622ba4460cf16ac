"""Reporting: the daily digest (gathered, rendered, sent), the mailer, and status."""
