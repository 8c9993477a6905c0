"""HTTP surface and content core of the Wharf registry."""
