"""funchost: an event-driven function host on Dapr."""
