"""Discord: discord.py's gateway client, app commands, buttons and modals → the core."""
