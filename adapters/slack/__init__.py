"""Slack: the incident flow through slack-bolt's AsyncApp (HTTP mode or Socket Mode)."""
