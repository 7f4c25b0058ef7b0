"""The delivery workers, as the doors show them: who is alive and when each last took a batch."""
