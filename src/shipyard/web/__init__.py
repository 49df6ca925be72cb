"""The dashboard: server-rendered pages over the same services as the API (docs/dashboard.md).

Pages log in with an API token kept in an HttpOnly, SameSite=Strict cookie; every form carries
a CSRF token; the token's role decides what a page offers and what the server accepts. Live
parts (rollouts, run logs) update with htmx (vendored under ``static/``) and server-sent events;
without JavaScript every page still reads.
"""
