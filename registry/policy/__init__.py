"""The policy gate: rules the content core asks before it changes anything."""
