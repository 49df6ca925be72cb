"""The ``notifications:`` section of shipyard.yaml: who hears about which events.

Secrets are never written in the file: each sink names the environment variable or file that
holds its URL, signing key or SMTP password.

```yaml
notifications:
  - webhook: {url: {env: DEPLOY_HOOK_URL}, secret: {env: DEPLOY_HOOK_SECRET}}
    kinds: [deployment.finished, "break-glass.*"]
  - slack: {url: {env: SLACK_RELEASES_URL}}
    kinds: [freeze.added, deployment.finished]
  - email:
      host: smtp.example.com
      port: 587
      from: shipyard@example.com
      to: [releases@example.com]
      username: shipyard
      password: {env: SMTP_PASSWORD}
      starttls: true
```
"""

from __future__ import annotations

from pydantic import Field, model_validator

from shipyard.spec.base import Model, SecretRef

DEFAULT_KINDS = ["deployment.finished", "freeze.added", "break-glass.*"]


class WebhookConfig(Model):
    url: SecretRef
    secret: SecretRef | None = None
    timeout: float = Field(5.0, gt=0, le=60)
    attempts: int = Field(3, ge=1, le=10)


class SlackConfig(Model):
    url: SecretRef


class EmailConfig(Model):
    host: str = Field(min_length=1)
    port: int = Field(25, ge=1, le=65535)
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretRef | None = None
    starttls: bool = False


class Subscription(Model):
    webhook: WebhookConfig | None = None
    slack: SlackConfig | None = None
    email: EmailConfig | None = None
    kinds: list[str] = Field(default_factory=lambda: list(DEFAULT_KINDS), min_length=1)

    @model_validator(mode="after")
    def _one_sink(self) -> Subscription:
        sinks = [s for s in (self.webhook, self.slack, self.email) if s is not None]
        if len(sinks) != 1:
            raise ValueError("a subscription has exactly one sink: webhook, slack or email")
        return self


Notifications = list[Subscription]
