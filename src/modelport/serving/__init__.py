"""Between the wire and the predictors: request fields to call arguments, results to OpenAI responses.

Nothing here knows about HTTP; the routers in `modelport.server` stay thin.
"""
