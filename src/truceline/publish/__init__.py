"""Publishing: events and their evidence in the formats people and other tools read."""
