"""The local shell: Tocsin in a terminal, with no chat account (``tocsin shell``)."""
