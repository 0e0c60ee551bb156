"""What comes back from the model: which statements are worth remembering, summaries,
decisions and action items, and recording an exchange."""
