"""One router per OpenAI resource."""
