"""Skills: the tools the assistant can use."""
