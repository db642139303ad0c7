"""Other OpenAI-compatible servers as model sources: their models served here as predictors that forward."""

from modelport.upstream.config import UpstreamConfig, speaches_upstream
from modelport.upstream.model import UpstreamModel, declared_upstream, upstream_specs

__all__ = ["UpstreamConfig", "UpstreamModel", "declared_upstream", "speaches_upstream", "upstream_specs"]
