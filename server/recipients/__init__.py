"""Recipients: people or endpoints reached through an addressed target (email, WhatsApp, Telegram, …)."""
