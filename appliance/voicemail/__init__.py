"""Voicemail: personal and shared mailboxes, phone menus, MWI and e-mail notification."""
