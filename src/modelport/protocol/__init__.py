"""OpenAI wire models, one module per resource; the openai package's own types where they fit."""
