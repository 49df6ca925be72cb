"""A proposed ``notifications:`` section for shipyard.yaml (not wired into ``Spec`` yet).

Secrets are never written in the file: each sink names the environment variable or file that
holds its URL or signing key.

```yaml
notifications:
  - webhook: {url: {env: DEPLOY_HOOK_URL}, secret: {env: DEPLOY_HOOK_SECRET}}
    kinds: [deployment.finished, "break-glass.*"]
  - slack: {url: {env: SLACK_RELEASES_URL}}
    kinds: [freeze.added, deployment.finished]
```
"""

from __future__ import annotations

from pydantic import Field, model_validator

from shipyard.spec.models import Model, SecretRef


class WebhookConfig(Model):
    url: SecretRef
    secret: SecretRef | None = None
    timeout: float = Field(5.0, gt=0, le=60)
    attempts: int = Field(3, ge=1, le=10)


class SlackConfig(Model):
    url: SecretRef


class Subscription(Model):
    webhook: WebhookConfig | None = None
    slack: SlackConfig | None = None
    kinds: list[str] = ["deployment.finished", "freeze.added", "break-glass.*"]

    @model_validator(mode="after")
    def _one_sink(self) -> Subscription:
        if (self.webhook is None) == (self.slack is None):
            raise ValueError("a subscription has exactly one sink: webhook or slack")
        return self


Notifications = list[Subscription]
