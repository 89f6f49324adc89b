"""Jinja2 templates shared by every platform (see bot.render); shipped as package data."""
