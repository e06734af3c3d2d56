"""The HTTP API: one router per resource (`routes/`), assembled by `main.api_router`.

Routes only fetch what they need through `deps` and call plain functions in the service modules
(`server.service`, `server.adapters`, `server.retraining.service`, ...), so the same behaviour
is reachable from the CLI and from tests without HTTP.
"""
