"""What providers post back to Herald (not through the doors): WhatsApp's status webhooks."""
