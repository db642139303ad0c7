"""Other OpenAI-compatible servers as model sources: their models served here as predictors that forward."""

from modelport.upstream.config import UpstreamConfig, speaches_upstream
from modelport.upstream.model import UpstreamModel, upstream_specs

__all__ = ["UpstreamConfig", "UpstreamModel", "speaches_upstream", "upstream_specs"]
